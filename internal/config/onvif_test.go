package config

import "testing"

func TestCheckONVIFAndDetectURL(t *testing.T) {
	t.Setenv("LW_TEST_ONVIF_PW", "p@ss:word")
	tests := []struct {
		name  string
		yml   string
		wants []want
	}{
		{"valid with fields and sub-stream", cam + `    detect: {url: "rtsp://10.0.0.2/sub", fps: 5}
    onvif: {url: "http://10.0.0.2/onvif/device_service", events: true, username: admin, password: "${LW_TEST_ONVIF_PW}"}
`, nil},
		{"valid with userinfo", cam + `    onvif: {url: "http://admin:pw@10.0.0.2/onvif/device_service"}
`, nil},
		{"bad urls", cam + `    detect: {url: "http://10.0.0.2/sub"}
    onvif: {url: "rtsp://admin:secret@10.0.0.2/"}
`, []want{{5, "cameras[0].detect.url", "rtsp://"}, {6, "cameras[0].onvif.url", "must be an http:// or https:// URL"}}},
		{"missing url, password without user", cam + `    onvif:
      events: true
      password: x
`, []want{{5, "cameras[0].onvif.url", "required"}, {7, "cameras[0].onvif.password", "needs a user name"}}},
		{"unknown key", cam + `    onvif: {url: "http://h/", event: true}
`, []want{{5, "cameras[0].onvif.event", "did you mean events"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkProblems(t, tc.yml, tc.wants) })
	}
}

func TestONVIFCredentials(t *testing.T) {
	cases := []struct {
		o                 ONVIF
		user, pass, endpt string
	}{
		{ONVIF{URL: "http://u:p@h/onvif/device_service"}, "u", "p", "http://h/onvif/device_service"},
		{ONVIF{URL: "http://u:p@h/x", Username: "admin", Password: "pw"}, "admin", "pw", "http://h/x"},
		{ONVIF{URL: "http://u@h/x", Password: "pw"}, "u", "pw", "http://h/x"},
		{ONVIF{URL: "http://h:8080/x"}, "", "", "http://h:8080/x"},
	}
	for _, c := range cases {
		u, p := c.o.Credentials()
		if u != c.user || p != c.pass || c.o.Endpoint() != c.endpt {
			t.Errorf("%+v: %q %q %q", c.o, u, p, c.o.Endpoint())
		}
	}
}
