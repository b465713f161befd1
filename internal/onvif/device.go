package onvif

import (
	"fmt"
	"strings"
	"time"
)

// SOAP actions of the device service.
const (
	ActionGetDeviceInformation = NSDevice + "/GetDeviceInformation"
	ActionGetCapabilities      = NSDevice + "/GetCapabilities"
	ActionGetServices          = NSDevice + "/GetServices"
)

// DeviceInfo is GetDeviceInformation's answer.
type DeviceInfo struct {
	Manufacturer    string `json:"manufacturer"`
	Model           string `json:"model"`
	FirmwareVersion string `json:"firmware_version"`
	SerialNumber    string `json:"serial_number"`
	HardwareID      string `json:"hardware_id"`
}

// Services are the addresses of a device's services; empty when not offered.
type Services struct {
	Device string
	Media  string
	Events string
}

// Request bodies of the device service.
const (
	GetDeviceInformationBody = `<tds:GetDeviceInformation/>`
	GetCapabilitiesBody      = `<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>`
	GetServicesBody          = `<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>`
)

type deviceInfoXML struct {
	Manufacturer    string `xml:"Manufacturer"`
	Model           string `xml:"Model"`
	FirmwareVersion string `xml:"FirmwareVersion"`
	SerialNumber    string `xml:"SerialNumber"`
	HardwareID      string `xml:"HardwareId"`
}

// ParseDeviceInformation decodes a GetDeviceInformationResponse envelope.
func ParseDeviceInformation(data []byte) (DeviceInfo, error) {
	_, x, err := parseBody[deviceInfoXML](data, "GetDeviceInformationResponse")
	if err != nil {
		return DeviceInfo{}, err
	}
	return DeviceInfo{Manufacturer: clean(x.Manufacturer), Model: clean(x.Model), FirmwareVersion: clean(x.FirmwareVersion),
		SerialNumber: clean(x.SerialNumber), HardwareID: clean(x.HardwareID)}, nil
}

// DeviceInformationResponse is the body a device answers with.
func DeviceInformationResponse(d DeviceInfo) string {
	return "<tds:GetDeviceInformationResponse><tds:Manufacturer>" + esc(d.Manufacturer) + "</tds:Manufacturer><tds:Model>" +
		esc(d.Model) + "</tds:Model><tds:FirmwareVersion>" + esc(d.FirmwareVersion) + "</tds:FirmwareVersion><tds:SerialNumber>" +
		esc(d.SerialNumber) + "</tds:SerialNumber><tds:HardwareId>" + esc(d.HardwareID) + "</tds:HardwareId></tds:GetDeviceInformationResponse>"
}

type xaddrXML struct {
	XAddr string `xml:"XAddr"`
}

type capabilitiesXML struct {
	Capabilities struct {
		Device *xaddrXML `xml:"Device"`
		Media  *xaddrXML `xml:"Media"`
		Events *xaddrXML `xml:"Events"`
	} `xml:"Capabilities"`
}

// ParseCapabilities decodes a GetCapabilitiesResponse envelope into the
// services' addresses.
func ParseCapabilities(data []byte) (Services, error) {
	_, x, err := parseBody[capabilitiesXML](data, "GetCapabilitiesResponse")
	if err != nil {
		return Services{}, err
	}
	var s Services
	c := x.Capabilities
	if c.Device != nil {
		s.Device = clean(c.Device.XAddr)
	}
	if c.Media != nil {
		s.Media = clean(c.Media.XAddr)
	}
	if c.Events != nil {
		s.Events = clean(c.Events.XAddr)
	}
	return s, nil
}

// CapabilitiesResponse is the body a device answers GetCapabilities with.
func CapabilitiesResponse(s Services) string {
	var b strings.Builder
	b.WriteString("<tds:GetCapabilitiesResponse><tds:Capabilities>")
	for _, c := range []struct{ name, addr string }{{"Device", s.Device}, {"Events", s.Events}, {"Media", s.Media}} {
		if c.addr != "" {
			fmt.Fprintf(&b, "<tt:%s><tt:XAddr>%s</tt:XAddr></tt:%s>", c.name, esc(c.addr), c.name)
		}
	}
	b.WriteString("</tds:Capabilities></tds:GetCapabilitiesResponse>")
	return b.String()
}

type servicesXML struct {
	Service []struct {
		Namespace string `xml:"Namespace"`
		XAddr     string `xml:"XAddr"`
	} `xml:"Service"`
}

// ParseServices decodes a GetServicesResponse envelope.
func ParseServices(data []byte) (Services, error) {
	_, x, err := parseBody[servicesXML](data, "GetServicesResponse")
	if err != nil {
		return Services{}, err
	}
	var s Services
	for _, sv := range x.Service {
		switch clean(sv.Namespace) {
		case NSDevice:
			s.Device = clean(sv.XAddr)
		case NSMedia:
			s.Media = clean(sv.XAddr)
		case NSEvents:
			s.Events = clean(sv.XAddr)
		}
	}
	return s, nil
}

// ServicesResponse is the body a device answers GetServices with.
func ServicesResponse(s Services) string {
	var b strings.Builder
	b.WriteString("<tds:GetServicesResponse>")
	for _, sv := range []struct{ ns, addr string }{{NSDevice, s.Device}, {NSMedia, s.Media}, {NSEvents, s.Events}} {
		if sv.addr != "" {
			fmt.Fprintf(&b, "<tds:Service><tds:Namespace>%s</tds:Namespace><tds:XAddr>%s</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>",
				esc(sv.ns), esc(sv.addr))
		}
	}
	b.WriteString("</tds:GetServicesResponse>")
	return b.String()
}

// clean trims text and bounds its length: names and addresses from a
// device end up in YAML, logs and JSON.
func clean(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 1024 {
		s = s[:1024]
	}
	return s
}

// ActionGetSystemDateAndTime is the one call a device answers without credentials.
const ActionGetSystemDateAndTime = NSDevice + "/GetSystemDateAndTime"

// GetSystemDateAndTimeBody is its request body.
const GetSystemDateAndTimeBody = `<tds:GetSystemDateAndTime/>`

type dateTimeXML struct {
	UTC *struct {
		Time struct {
			Hour   int `xml:"Hour"`
			Minute int `xml:"Minute"`
			Second int `xml:"Second"`
		} `xml:"Time"`
		Date struct {
			Year  int `xml:"Year"`
			Month int `xml:"Month"`
			Day   int `xml:"Day"`
		} `xml:"Date"`
	} `xml:"SystemDateAndTime>UTCDateTime"`
}

// ParseSystemDateAndTime decodes a GetSystemDateAndTimeResponse envelope:
// the device's UTC clock.
func ParseSystemDateAndTime(data []byte) (time.Time, error) {
	_, x, err := parseBody[dateTimeXML](data, "GetSystemDateAndTimeResponse")
	if err != nil {
		return time.Time{}, err
	}
	u := x.UTC
	if u == nil {
		return time.Time{}, fmt.Errorf("%w: no UTCDateTime", ErrMalformed)
	}
	d, c := u.Date, u.Time
	if d.Year < 1970 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 || d.Day > 31 ||
		c.Hour < 0 || c.Hour > 23 || c.Minute < 0 || c.Minute > 59 || c.Second < 0 || c.Second > 60 {
		return time.Time{}, fmt.Errorf("%w: UTCDateTime out of range", ErrMalformed)
	}
	return time.Date(d.Year, time.Month(d.Month), d.Day, c.Hour, c.Minute, c.Second, 0, time.UTC), nil
}

// SystemDateAndTimeResponse is the body a device answers with.
func SystemDateAndTimeResponse(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"+
		"<tt:UTCDateTime><tt:Time><tt:Hour>%d</tt:Hour><tt:Minute>%d</tt:Minute><tt:Second>%d</tt:Second></tt:Time><tt:Date><tt:Year>%d</tt:Year><tt:Month>%d</tt:Month><tt:Day>%d</tt:Day></tt:Date></tt:UTCDateTime>"+
		"</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>", t.Hour(), t.Minute(), t.Second(), t.Year(), int(t.Month()), t.Day())
}
