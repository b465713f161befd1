// Package onvif is the small part of ONVIF lanewatch speaks, written with
// encoding/xml: WS-Discovery probes, the device service (GetDeviceInformation,
// GetCapabilities, GetServices), the media service (GetProfiles,
// GetStreamUri) and the event service's PullPoint interface
// (CreatePullPointSubscription, PullMessages, Renew, Unsubscribe), all with
// WS-UsernameToken PasswordDigest authentication.
//
// No maintained Go ONVIF library is served by the module proxy this project
// builds from (use-go/onvif, kerberos-io/onvif and IOTechSystems/onvif are
// refused), and the generated ones are large; the handful of typed messages
// here cover what discovery and events need. Responses are decoded by local
// element names, so that any namespace prefix a camera picks is accepted.
package onvif

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
)

// Namespaces of the messages lanewatch sends and answers.
const (
	NSSoap    = "http://www.w3.org/2003/05/soap-envelope"
	NSAddr    = "http://www.w3.org/2005/08/addressing"
	NSAddr04  = "http://schemas.xmlsoap.org/ws/2004/08/addressing" // WS-Discovery's addressing
	NSDisc    = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
	NSNetwork = "http://www.onvif.org/ver10/network/wsdl"
	NSDevice  = "http://www.onvif.org/ver10/device/wsdl"
	NSMedia   = "http://www.onvif.org/ver10/media/wsdl"
	NSEvents  = "http://www.onvif.org/ver10/events/wsdl"
	NSSchema  = "http://www.onvif.org/ver10/schema"
	NSWSNT    = "http://docs.oasis-open.org/wsn/b-2"
	NSWSSE    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NSWSU     = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	NSTopics  = "http://www.onvif.org/ver10/topics"
	NSError   = "http://www.onvif.org/ver10/error"
)

// MaxMessage bounds a SOAP message read from the network: a camera's
// answers are a few KB; anything larger is refused, not buffered.
const MaxMessage = 1 << 20

// Errors callers branch on.
var (
	// ErrAuth: the device refused the credentials (HTTP 401 or a
	// NotAuthorized fault).
	ErrAuth = errors.New("onvif: credentials refused")
	// ErrMalformed: the message is not the SOAP envelope expected.
	ErrMalformed = errors.New("onvif: malformed message")
	// ErrNoService: the device does not offer the service asked for.
	ErrNoService = errors.New("onvif: service not offered")
)

// Fault is a SOAP 1.2 fault. Code is the top-level code (Sender,
// Receiver), Subcode the innermost one (e.g. ter:NotAuthorized).
type Fault struct {
	Code    string
	Subcode string
	Reason  string
}

func (f *Fault) Error() string {
	s := "onvif: SOAP fault " + f.Code
	if f.Subcode != "" {
		s += "/" + f.Subcode
	}
	if f.Reason != "" {
		s += ": " + f.Reason
	}
	return s
}

// Is makes a NotAuthorized fault match ErrAuth.
func (f *Fault) Is(target error) bool {
	return target == ErrAuth && localName(f.Subcode) == "NotAuthorized"
}

// localName strips a namespace prefix: "ter:NotAuthorized" -> "NotAuthorized".
func localName(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// faultXML is the wire shape of a fault, decoded by local names.
type faultXML struct {
	Code struct {
		Value   string `xml:"Value"`
		Subcode struct {
			Value   string `xml:"Value"`
			Subcode *struct {
				Value string `xml:"Value"`
			} `xml:"Subcode"`
		} `xml:"Subcode"`
	} `xml:"Code"`
	Reason struct {
		Text []string `xml:"Text"`
	} `xml:"Reason"`
	// SOAP 1.1 cameras still exist.
	FaultCode   string `xml:"faultcode"`
	FaultString string `xml:"faultstring"`
}

func (x *faultXML) fault() *Fault {
	f := &Fault{Code: localName(x.Code.Value), Subcode: localName(x.Code.Subcode.Value)}
	if x.Code.Subcode.Subcode != nil && x.Code.Subcode.Subcode.Value != "" {
		f.Subcode = localName(x.Code.Subcode.Subcode.Value)
	}
	if len(x.Reason.Text) > 0 {
		f.Reason = strings.TrimSpace(x.Reason.Text[0])
	}
	if f.Code == "" {
		f.Code = localName(x.FaultCode)
		f.Reason = strings.TrimSpace(x.FaultString)
	}
	return f
}

// Header is what lanewatch reads from and writes to SOAP headers.
type Header struct {
	Action    string
	MessageID string
	RelatesTo string
	To        string
	Security  *UsernameToken // nil: none
	// Discovery: WS-Discovery's 2004/08 addressing rather than 2005/08.
	Discovery bool
}

type envelopeIn struct {
	XMLName xml.Name `xml:"Envelope"`
	Header  struct {
		Action    string `xml:"Action"`
		MessageID string `xml:"MessageID"`
		RelatesTo string `xml:"RelatesTo"`
		To        string `xml:"To"`
		Security  *struct {
			UsernameToken *usernameTokenXML `xml:"UsernameToken"`
		} `xml:"Security"`
	} `xml:"Header"`
	Body struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"Body"`
}

// Message is a decoded SOAP envelope: its header, the name of the body's
// first element (the operation or response) and that element's XML.
type Message struct {
	Header    Header
	Operation string // local name of the body's first element
	Body      []byte // the first element, whole
	Fault     *Fault // set when the body is a fault
}

// ParseMessage decodes a SOAP envelope.
func ParseMessage(data []byte) (*Message, error) {
	if len(data) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(data), MaxMessage)
	}
	var env envelopeIn
	if err := xml.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	m := &Message{Header: Header{
		Action:    strings.TrimSpace(env.Header.Action),
		MessageID: strings.TrimSpace(env.Header.MessageID),
		RelatesTo: strings.TrimSpace(env.Header.RelatesTo),
		To:        strings.TrimSpace(env.Header.To),
	}}
	if s := env.Header.Security; s != nil && s.UsernameToken != nil {
		m.Header.Security = s.UsernameToken.token()
	}
	name, elem, err := firstElement(env.Body.Inner)
	if err != nil {
		return nil, err
	}
	m.Operation, m.Body = name, elem
	if name == "Fault" {
		var fx faultXML
		if err := xml.Unmarshal(elem, &fx); err != nil {
			return nil, fmt.Errorf("%w: fault: %v", ErrMalformed, err)
		}
		m.Fault = fx.fault()
	}
	return m, nil
}

// firstElement finds the first child element of a body and returns its
// local name and its bytes (start to end tag).
func firstElement(inner []byte) (string, []byte, error) {
	d := xml.NewDecoder(bytes.NewReader(inner))
	for {
		start := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return "", nil, fmt.Errorf("%w: empty SOAP body", ErrMalformed)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if err := d.Skip(); err != nil {
			return "", nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return se.Name.Local, inner[start:d.InputOffset()], nil
	}
}

// decodeBody decodes a message's body element into v, checking its name.
func (m *Message) decodeBody(want string, v any) error {
	if m.Fault != nil {
		return m.Fault
	}
	if m.Operation != want {
		return fmt.Errorf("%w: got %q, want %q", ErrMalformed, m.Operation, want)
	}
	if err := xml.Unmarshal(m.Body, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, want, err)
	}
	return nil
}

// parseBody decodes an envelope whose body must be the element op.
func parseBody[T any](data []byte, op string) (*Message, *T, error) {
	m, err := ParseMessage(data)
	if err != nil {
		return nil, nil, err
	}
	x := new(T)
	if err := m.decodeBody(op, x); err != nil {
		return nil, nil, err
	}
	return m, x, nil
}

// Envelope builds a SOAP 1.2 envelope around body, an XML fragment that
// may use the prefixes declared here (env, wsa, a, d, dn, tds, trt, tt, tev,
// wsnt, tns1, ter, wsse, wsu) as cameras' own messages do.
func Envelope(h Header, body string) []byte {
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString(`<env:Envelope xmlns:env="` + NSSoap + `" xmlns:wsa="` + NSAddr + `" xmlns:a="` + NSAddr04 +
		`" xmlns:d="` + NSDisc + `" xmlns:dn="` + NSNetwork + `" xmlns:tds="` + NSDevice + `" xmlns:trt="` + NSMedia +
		`" xmlns:tt="` + NSSchema + `" xmlns:tev="` + NSEvents + `" xmlns:wsnt="` + NSWSNT + `" xmlns:tns1="` + NSTopics +
		`" xmlns:ter="` + NSError + `" xmlns:wsse="` + NSWSSE + `" xmlns:wsu="` + NSWSU + `"><env:Header>`)
	p := "wsa"
	if h.Discovery {
		p = "a"
	}
	for _, e := range []struct{ name, v string }{{"Action", h.Action}, {"MessageID", h.MessageID}, {"RelatesTo", h.RelatesTo}, {"To", h.To}} {
		if e.v != "" {
			b.WriteString("<" + p + ":" + e.name + ">" + esc(e.v) + "</" + p + ":" + e.name + ">")
		}
	}
	if t := h.Security; t != nil {
		b.WriteString(`<wsse:Security env:mustUnderstand="1"><wsse:UsernameToken><wsse:Username>` + esc(t.Username) +
			`</wsse:Username><wsse:Password Type="` + PasswordDigestType + `">` + esc(t.Digest) +
			`</wsse:Password><wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-soap-message-security-1.0#Base64Binary">` +
			base64.StdEncoding.EncodeToString(t.Nonce) + `</wsse:Nonce><wsu:Created>` + esc(t.Created) +
			`</wsu:Created></wsse:UsernameToken></wsse:Security>`)
	}
	b.WriteString("</env:Header><env:Body>")
	b.WriteString(body)
	b.WriteString("</env:Body></env:Envelope>")
	return []byte(b.String())
}

// FaultBody is the body of a SOAP 1.2 fault, for servers; code is Sender or
// Receiver, subcode a ter: name such as "NotAuthorized" (may be empty).
func FaultBody(code, subcode, reason string) string {
	sub := ""
	if subcode != "" {
		sub = "<env:Subcode><env:Value>ter:" + esc(subcode) + "</env:Value></env:Subcode>"
	}
	return "<env:Fault><env:Code><env:Value>env:" + esc(code) + "</env:Value>" + sub +
		`</env:Code><env:Reason><env:Text xml:lang="en">` + esc(reason) + "</env:Text></env:Reason></env:Fault>"
}

// esc escapes text for an XML element or attribute.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // writes to a strings.Builder never fail
	return b.String()
}
