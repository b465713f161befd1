package console_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/evlink"
	"github.com/lanewatch/lanewatch/internal/incident"
)

func withLinks(s *evlink.Signer) envOpt {
	return func(srv *console.Server) { srv.Patrol.Links = s }
}

func TestEvidenceLinks(t *testing.T) {
	now := time.Now()
	sig := &evlink.Signer{DataDir: t.TempDir(), Now: func() time.Time { return now }}
	if err := sig.Initialize(); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withLinks(sig))
	snapA, clipA := []byte("\xff\xd8A-snapshot\xff\xd9"), []byte("....ftypA-clip")
	e.incs.Put(sampleIncident("inc-A", incident.High), snapA, clipA)
	e.incs.Put(sampleIncident("inc-B", incident.High), []byte("\xff\xd8B\xff\xd9"), []byte("B-clip"))
	e.incs.Put(sampleIncident("inc-C", incident.Low), nil, nil)

	tok := func(id string, a evlink.Asset) string { t, _ := sig.Sign(id, a); return t }
	tampered := []byte(tok("inc-A", evlink.Snapshot))
	tampered[5] ^= 2
	anon := e.anon(t) // no login at all
	cases := []struct {
		name   string
		path   string
		status int
		body   []byte
	}{
		{"snapshot", "/e/" + tok("inc-A", evlink.Snapshot), 200, snapA},
		{"clip", "/e/" + tok("inc-A", evlink.Clip), 200, clipA},
		{"other incident's token", "/e/" + tok("inc-B", evlink.Snapshot), 200, []byte("\xff\xd8B\xff\xd9")},
		{"tampered", "/e/" + string(tampered), 403, nil},
		{"garbage", "/e/not-a-token", 403, nil},
		{"token as a session", "/api/incidents/inc-A/snapshot.jpg?t=" + tok("inc-A", evlink.Snapshot), 401, nil},
		{"no evidence", "/e/" + tok("inc-C", evlink.Snapshot), 404, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := anon.do("GET", c.path, nil)
			if resp.StatusCode != c.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, c.status)
			}
			if c.body != nil && !bytes.Equal(body, c.body) {
				t.Errorf("body %q, want %q", body, c.body)
			}
			if c.status >= 400 {
				errorBody(t, resp, body)
			}
		})
	}
	// A clip token opens the clip with Range, as a phone's video player asks.
	resp, body := anon.doHeaders("GET", "/e/"+tok("inc-A", evlink.Clip), nil, map[string]string{"Range": "bytes=4-7"})
	if resp.StatusCode != http.StatusPartialContent || string(body) != "ftyp" {
		t.Errorf("range: %d %q", resp.StatusCode, body)
	}
	// Expired: 410, and the same token works again for nobody.
	old := tok("inc-A", evlink.Snapshot)
	now = now.Add(25 * time.Hour)
	resp, body = anon.do("GET", "/e/"+old, nil)
	if resp.StatusCode != http.StatusGone || !strings.Contains(errorBody(t, resp, body), "expired") {
		t.Errorf("expired link: %d %s", resp.StatusCode, body)
	}
	_, m := anon.do("GET", "/metrics", nil)
	for _, want := range []string{`lanewatch_console_evidence_links_total{result="expired"} 1`, `lanewatch_console_evidence_links_total{result="refused"} 2`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestEvidenceLinksUnwired(t *testing.T) {
	e := newEnv(t)
	resp, body := e.anon(t).do("GET", "/e/x.y", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}
