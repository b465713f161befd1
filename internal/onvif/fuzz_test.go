package onvif

import (
	"strings"
	"testing"
	"time"
)

// Every parser of what a device (or, for the simulator, a client) sends is
// fuzzed: none may panic, and what they accept must hold their promises.
// Seed corpora are in testdata/fuzz/<FuzzName>/ (the builders' output plus
// vendor-shaped messages with other prefixes and SOAP 1.1).

func FuzzParseMessage(f *testing.F) {
	f.Add(ProbeMessage("urn:uuid:1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMessage(data)
		if err != nil {
			return
		}
		if m.Operation == "" || len(m.Body) == 0 || len(m.Body) > len(data) {
			t.Fatalf("accepted without an operation: %+v", m)
		}
		if tok := m.Header.Security; tok != nil {
			_ = tok.Verify("admin", "pw", tok.createdOrZero(), 0)
		}
	})
}

func FuzzParseProbeMatches(f *testing.F) {
	f.Add(ProbeMatchesMessage("urn:uuid:1", []ProbeMatch{{Endpoint: "urn:uuid:2", XAddrs: []string{"http://h/"}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, ms, err := ParseProbeMatches(data)
		if err != nil {
			return
		}
		for _, m := range ms {
			if len(m.XAddrs) == 0 {
				t.Fatalf("match without an address: %+v", m)
			}
			for _, a := range m.XAddrs {
				if !strings.HasPrefix(a, "http://") && !strings.HasPrefix(a, "https://") {
					t.Fatalf("non-http address %q", a)
				}
			}
			_, _ = m.Name(), m.Hardware()
		}
	})
}

func FuzzParseProfiles(f *testing.F) {
	f.Add(Envelope(Header{}, ProfilesResponse([]Profile{{Token: "t", Name: "n", Encoding: "H264", Width: 640, Height: 360, FPS: 10}})))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := ParseProfiles(data)
		if err != nil {
			return
		}
		if len(ps) > maxProfiles {
			t.Fatalf("%d profiles", len(ps))
		}
		for _, p := range ps {
			if p.Token == "" || p.Width < 0 || p.Height < 0 || p.Width > 16384 || p.Height > 16384 || (p.Width == 0) != (p.Height == 0) {
				t.Fatalf("bad profile %+v", p)
			}
		}
	})
}

func FuzzParseStreamURI(f *testing.F) {
	f.Add(Envelope(Header{}, StreamURIResponse("rtsp://h:554/s")))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseStreamURI(data)
		if err != nil {
			return
		}
		if !strings.HasPrefix(u, "rtsp://") && !strings.HasPrefix(u, "rtsps://") {
			t.Fatalf("accepted %q", u)
		}
	})
}

func FuzzParsePullMessages(f *testing.F) {
	f.Add(Envelope(Header{}, PullMessagesResponse(PullResult{Messages: []Notification{{Topic: "tns1:VideoSource/SignalLoss", Data: map[string]string{"State": "true"}}}})))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParsePullMessages(data)
		if err != nil {
			return
		}
		if len(r.Messages) > maxPulled {
			t.Fatalf("%d messages", len(r.Messages))
		}
		for _, n := range r.Messages {
			ev := Classify(n)
			if ev.Kind == KindNone && ev.Active {
				t.Fatalf("active event of no kind: %+v", ev)
			}
		}
	})
}

func FuzzParseSubscription(f *testing.F) {
	f.Add(Envelope(Header{}, SubscriptionResponse(Subscription{Address: "http://h/sub/1"})))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSubscription(data)
		if err != nil {
			return
		}
		if !strings.HasPrefix(s.Address, "http") {
			t.Fatalf("accepted address %q", s.Address)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	f.Add("PT60S")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil && (d < 0 || d > 366*24*3600*1e9) {
			t.Fatalf("%q: %v", s, d)
		}
	})
}

func FuzzParseSystemDateAndTime(f *testing.F) {
	f.Add(Envelope(Header{}, SystemDateAndTimeResponse(time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC))))
	f.Fuzz(func(t *testing.T, data []byte) {
		tm, err := ParseSystemDateAndTime(data)
		if err == nil && (tm.Year() < 1970 || tm.Year() > 10000) {
			t.Fatalf("accepted %v", tm)
		}
	})
}
