package logx

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rtsp://admin:s3cret@10.0.0.21/stream1", "rtsp://admin:REDACTED@10.0.0.21/stream1"},
		{"rtsp://10.0.0.21/stream1", "rtsp://10.0.0.21/stream1"},
		{"rtsp://user@10.0.0.21/", "rtsp://user@10.0.0.21/"},
		{"rtsp://a:b c@%zz/", "rtsp://REDACTED@%zz/"},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLoggerNeverPrintsCredentials(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, Options{Format: "json"})
	url := "rtsp://admin:s3cret@10.0.0.21/stream1"
	log.Info("dial "+url, "url", url, "err", errors.New(`dial `+url+`: refused`))
	log.Error("x", "nested", struct{ U string }{url})
	out := buf.String()
	if strings.Contains(out, "s3cret") {
		t.Fatalf("secret leaked into log: %s", out)
	}
	if !strings.Contains(out, "10.0.0.21") {
		t.Fatalf("host should stay visible: %s", out)
	}
}
