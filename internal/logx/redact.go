// Package logx sets up structured logging and keeps secrets out of it.
package logx

import (
	"net/url"
	"regexp"
)

// RedactURL removes the password from a URL (RTSP URLs carry camera
// credentials); the user name stays so that operators can tell accounts apart.
// Unparseable input is redacted whole rather than risk leaking it.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return userinfoRE.ReplaceAllString(raw, "${1}REDACTED@")
	}
	if u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	return u.String()
}

var userinfoRE = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\n]*@`)

// RedactText replaces any credentials embedded in URLs inside free text, such
// as error messages from libraries that quote the URL they dialled.
func RedactText(s string) string {
	return userinfoRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := userinfoRE.FindStringSubmatch(m)
		return sub[1] + "REDACTED@"
	})
}
