package config

import (
	"net/url"
	"strings"
)

// ONVIF is cameras[].onvif (contract section 11): the camera's ONVIF device
// service, and whether its own events become incidents.
type ONVIF struct {
	// URL of the device service, e.g. http://10.0.0.21/onvif/device_service;
	// credentials may be in its userinfo.
	URL    string `yaml:"url"`
	Events bool   `yaml:"events"` // subscribe (PullPoint) to the camera's events
	// Username and Password win over the URL's userinfo.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Credentials are the user name and password for the camera: the fields,
// else the URL's userinfo.
func (o *ONVIF) Credentials() (user, password string) {
	user, password = o.Username, o.Password
	if u, err := url.Parse(o.URL); err == nil && u.User != nil {
		if user == "" {
			user = u.User.Username()
		}
		if p, ok := u.User.Password(); ok && password == "" {
			password = p
		}
	}
	return user, password
}

// Endpoint is URL without its userinfo: what is dialled and logged.
func (o *ONVIF) Endpoint() string {
	u, err := url.Parse(o.URL)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}

func (v *validator) onvif(p string, o *ONVIF) {
	if o == nil {
		return
	}
	if v.required(p+".url", o.URL) {
		u, err := url.Parse(o.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			// The URL may carry credentials: say what is wrong, not what it is.
			v.errf(p+".url", "must be an http:// or https:// URL with a host")
		}
	}
	user, pass := o.Credentials()
	if pass != "" && user == "" {
		v.errf(p+".password", "needs a user name (onvif.username or the url's userinfo)")
	}
	if strings.ContainsAny(user, "\x00\r\n") {
		v.errf(p+".username", "must not contain control characters")
	}
}

// detectURL checks cameras[].detect.url, the optional sub-stream.
func (v *validator) detectURL(p, raw string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Hostname() == "" {
		v.errf(p, "must be an rtsp:// or rtsps:// URL with a host")
	}
}
