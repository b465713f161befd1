package onvif

import (
	"encoding/base64"
	"errors"
	"reflect"
	"testing"
	"time"
)

// The worked example of the ONVIF Application Programmer's Guide (5.12.2).
func TestPasswordDigestGuideExample(t *testing.T) {
	nonce, _ := base64.StdEncoding.DecodeString("LKqI6G/AikKCQrN0zqZFlg==")
	got := PasswordDigest(nonce, "2010-09-16T07:50:45Z", "userpassword")
	if got != "tuOSpGlFlIXsozq4HFNeeGeFLEI=" {
		t.Fatalf("digest %s", got)
	}
}

func TestUsernameTokenRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	env := Envelope(Header{Action: ActionGetProfiles, Security: NewUsernameToken("admin", "s3cret", now)}, GetProfilesBody)
	m, err := ParseMessage(env)
	if err != nil {
		t.Fatal(err)
	}
	if m.Operation != "GetProfiles" || m.Header.Action != ActionGetProfiles {
		t.Fatalf("operation %q action %q", m.Operation, m.Header.Action)
	}
	tok := m.Header.Security
	cases := []struct {
		name, user, pass string
		at               time.Time
		want             error
	}{
		{"right", "admin", "s3cret", now.Add(time.Minute), nil},
		{"wrong password", "admin", "s3cret!", now, ErrBadDigest},
		{"wrong user", "root", "s3cret", now, ErrBadDigest},
		{"stale", "admin", "s3cret", now.Add(time.Hour), ErrStaleToken},
	}
	for _, c := range cases {
		if err := tok.Verify(c.user, c.pass, c.at, 5*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	var none *UsernameToken
	if err := none.Verify("a", "b", now, 0); !errors.Is(err, ErrNoToken) {
		t.Errorf("no token: %v", err)
	}
	plain := &UsernameToken{Username: "admin", Digest: "s3cret", Plain: true}
	if err := plain.Verify("admin", "s3cret", now, 0); !errors.Is(err, ErrPlainToken) {
		t.Errorf("plain: %v", err)
	}
}

func TestFaultIsAuth(t *testing.T) {
	m, err := ParseMessage(Envelope(Header{}, FaultBody("Sender", "NotAuthorized", "Sender not authorized")))
	if err != nil {
		t.Fatal(err)
	}
	if m.Fault == nil || !errors.Is(m.Fault, ErrAuth) || m.Fault.Reason != "Sender not authorized" {
		t.Fatalf("fault %+v", m.Fault)
	}
	if _, err := ParseProfiles(Envelope(Header{}, FaultBody("Receiver", "ActionNotSupported", "no media"))); err == nil || errors.Is(err, ErrAuth) {
		t.Fatalf("non-auth fault: %v", err)
	}
}

func TestRoundTrips(t *testing.T) {
	svc := Services{Device: "http://h/onvif/device_service", Media: "http://h/onvif/media", Events: "http://h/onvif/events"}
	if got, err := ParseCapabilities(Envelope(Header{}, CapabilitiesResponse(svc))); err != nil || got != svc {
		t.Errorf("capabilities %+v %v", got, err)
	}
	if got, err := ParseServices(Envelope(Header{}, ServicesResponse(svc))); err != nil || got != svc {
		t.Errorf("services %+v %v", got, err)
	}
	di := DeviceInfo{Manufacturer: "lanewatch", Model: "camsim <&>", FirmwareVersion: "1", SerialNumber: "42", HardwareID: "x"}
	if got, err := ParseDeviceInformation(Envelope(Header{}, DeviceInformationResponse(di))); err != nil || got != di {
		t.Errorf("device info %+v %v", got, err)
	}
	ps := []Profile{{Token: "main", Name: "mainStream", Encoding: "H264", Width: 1920, Height: 1080, FPS: 25},
		{Token: "sub", Name: "subStream", Encoding: "H265", Width: 640, Height: 360, FPS: 10}, {Token: "audio", Name: "audio only"}}
	if got, err := ParseProfiles(Envelope(Header{}, ProfilesResponse(ps))); err != nil || !reflect.DeepEqual(got, ps) {
		t.Errorf("profiles %+v %v", got, err)
	}
	if got, err := ParseStreamURI(Envelope(Header{}, StreamURIResponse("rtsp://10.0.0.2:554/ch1?a=1&b=2"))); err != nil || got != "rtsp://10.0.0.2:554/ch1?a=1&b=2" {
		t.Errorf("stream uri %q %v", got, err)
	}
	if _, err := ParseStreamURI(Envelope(Header{}, StreamURIResponse("file:///etc/passwd"))); !errors.Is(err, ErrMalformed) {
		t.Errorf("non-rtsp uri: %v", err)
	}
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	sub := Subscription{Address: "http://h/onvif/events/sub/1", CurrentTime: now, TerminationTime: now.Add(time.Minute)}
	if got, err := ParseSubscription(Envelope(Header{}, SubscriptionResponse(sub))); err != nil || got != sub {
		t.Errorf("subscription %+v %v", got, err)
	}
	pr := PullResult{CurrentTime: now, TerminationTime: now.Add(time.Minute), Messages: []Notification{
		{Topic: "tns1:RuleEngine/LineDetector/Crossed", Operation: "Changed", Time: now,
			Source: map[string]string{"VideoSourceConfigurationToken": "vsc", "Rule": "gate line"}, Data: map[string]string{"ObjectId": "7"}},
		{Topic: "tns1:VideoSource/SignalLoss", Time: now, Data: map[string]string{"State": "true"}},
	}}
	if got, err := ParsePullMessages(Envelope(Header{}, PullMessagesResponse(pr))); err != nil || !reflect.DeepEqual(got, pr) {
		t.Errorf("pull %+v %v", got, err)
	}
	if c, term, err := ParseRenew(Envelope(Header{}, RenewResponse(now, now.Add(time.Hour)))); err != nil || !c.Equal(now) || !term.Equal(now.Add(time.Hour)) {
		t.Errorf("renew %v %v %v", c, term, err)
	}
	id := NewMessageID()
	if got, types, err := ParseProbe(ProbeMessage(id)); err != nil || got != id || !reflect.DeepEqual(types, []string{TypeNVT}) {
		t.Errorf("probe %q %v %v", got, types, err)
	}
	pm := []ProbeMatch{{Endpoint: "urn:uuid:1", Types: []string{TypeNVT}, Scopes: []string{"onvif://www.onvif.org/name/North%20Gate", "onvif://www.onvif.org/hardware/camsim"},
		XAddrs: []string{"http://10.0.0.2/onvif/device_service"}}}
	rel, got, err := ParseProbeMatches(ProbeMatchesMessage(id, pm))
	if err != nil || rel != id || !reflect.DeepEqual(got, pm) {
		t.Errorf("probe matches %q %+v %v", rel, got, err)
	}
	if got[0].Name() != "North Gate" || got[0].Hardware() != "camsim" {
		t.Errorf("scopes: %q %q", got[0].Name(), got[0].Hardware())
	}
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT60S", time.Minute, true}, {"PT1M30S", 90 * time.Second, true}, {"PT0.5S", 500 * time.Millisecond, true},
		{"P1DT1H", 25 * time.Hour, true}, {" PT10S ", 10 * time.Second, true},
		{"", 0, false}, {"P", 0, false}, {"PT", 0, false}, {"60", 0, false}, {"P1H", 0, false}, {"PT1D", 0, false},
		{"PTT1S", 0, false}, {"PT1", 0, false}, {"P99999DT", 0, false}, {"PT1.2.3S", 0, false},
	}
	for _, c := range cases {
		got, err := ParseDuration(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%q: %v %v", c.in, got, err)
		}
	}
	if FormatDuration(1500*time.Millisecond) != "PT2S" || FormatDuration(time.Minute) != "PT60S" {
		t.Error("FormatDuration")
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		topic  string
		op     string
		data   map[string]string
		kind   Kind
		active bool
	}{
		{"tns1:RuleEngine/LineDetector/Crossed", "", map[string]string{"ObjectId": "1"}, KindLineCrossing, true},
		{"tns1:RuleEngine/tnsaxis:LineDetector/Crossed", "", nil, KindLineCrossing, true},
		{"tns1:RuleEngine/FieldDetector/ObjectsInside", "Changed", map[string]string{"IsInside": "true"}, KindIntrusion, true},
		{"tns1:RuleEngine/FieldDetector/ObjectsInside", "Changed", map[string]string{"IsInside": "false"}, KindIntrusion, false},
		{"tns1:VideoSource/GlobalSceneChange/ImagingService", "Changed", map[string]string{"State": "true"}, KindTamper, true},
		{"tns1:RuleEngine/TamperDetector/Tamper", "Changed", map[string]string{"IsTamper": "1"}, KindTamper, true},
		{"tns1:VideoSource/SignalLoss", "Changed", map[string]string{"State": "false"}, KindSignalLoss, false},
		{"tns1:VideoSource/MotionAlarm", "Changed", map[string]string{"State": "true"}, KindMotion, true},
		{"tns1:RuleEngine/CellMotionDetector/Motion", "Initialized", map[string]string{"IsMotion": "false"}, KindMotion, false},
		{"tns1:Device/Trigger/DigitalInput", "Changed", map[string]string{"LogicalState": "true"}, KindNone, false},
		{"", "", nil, KindNone, false},
	}
	for _, c := range cases {
		ev := Classify(Notification{Topic: c.topic, Operation: c.op, Data: c.data, Source: map[string]string{"Rule": "r1"}})
		if ev.Kind != c.kind || ev.Active != c.active || ev.Initial != (c.op == "Initialized") || ev.Rule != "r1" {
			t.Errorf("%s %v: %+v", c.topic, c.data, ev)
		}
	}
}

func TestParseMessageRejects(t *testing.T) {
	for _, in := range []string{"", "<x/>", "<Envelope><Body></Body></Envelope>", "<Envelope><Body>text</Body></Envelope>",
		string(make([]byte, MaxMessage+1))} {
		if _, err := ParseMessage([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.30q: %v", in, err)
		}
	}
	// The wrong answer to a question is malformed, not silently empty.
	if _, err := ParseProfiles(Envelope(Header{}, StreamURIResponse("rtsp://h/"))); !errors.Is(err, ErrMalformed) {
		t.Errorf("wrong operation: %v", err)
	}
}
