package sensors

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var testSalt = []byte("0123456789abcdef0123456789abcdef")

func TestDecodeAccepts(t *testing.T) {
	now := time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)
	d := &Decoder{Salt: testSalt}
	tests := []struct {
		name    string
		payload string
		want    Event
	}{
		{"plate read", `{"id":"e1","ts":"2026-11-26T22:59:58+08:00","type":"plate_read","plate":"青A12345","direction":"in","confidence":0.93,"lane":2}`,
			Event{ID: "e1", TS: time.Date(2026, 11, 26, 22, 59, 58, 0, time.FixedZone("", 8*3600)), Type: PlateRead, Plate: "青A12345", Direction: In, Confidence: 0.93, Lane: 2, HasLane: true}},
		{"middle dot", `{"type":"plate_read","plate":"粤B·D12345","direction":"out","confidence":1}`,
			Event{Type: PlateRead, Plate: "粤BD12345", Direction: Out, Confidence: 1}},
		{"dash and 学 suffix", `{"type":"plate_read","plate":"沪A-1234学","direction":"in","confidence":0}`,
			Event{Type: PlateRead, Plate: "沪A1234学", Direction: In}},
		{"new energy 8 chars", `{"type":"plate_read","plate":"京AD12345","direction":"in","confidence":0.5}`,
			Event{Type: PlateRead, Plate: "京AD12345", Direction: In, Confidence: 0.5}},
		{"港 suffix", `{"type":"plate_read","plate":"粤Z·1234港","direction":"in","confidence":0.5}`,
			Event{Type: PlateRead, Plate: "粤Z1234港", Direction: In, Confidence: 0.5}},
		{"澳 suffix", `{"type":"plate_read","plate":"粤Z 123A澳","direction":"in","confidence":0.5}`,
			Event{Type: PlateRead, Plate: "粤Z123A澳", Direction: In, Confidence: 0.5}},
		{"警 suffix", `{"type":"plate_read","plate":"京A.1234警","direction":"in","confidence":0.5}`,
			Event{Type: PlateRead, Plate: "京A1234警", Direction: In, Confidence: 0.5}},
		{"挂 trailer", `{"type":"plate_read","plate":"鲁B1234挂","direction":"out","confidence":0.5}`,
			Event{Type: PlateRead, Plate: "鲁B1234挂", Direction: Out, Confidence: 0.5}},
		{"foreign lower case", `{"type":"plate_read","plate":"abc 1234","direction":"in","confidence":0.7}`,
			Event{Type: PlateRead, Plate: "ABC1234", Direction: In, Confidence: 0.7}},
		{"barrier open with plate", `{"type":"barrier_open","plate":"青A12345"}`, Event{Type: BarrierOpen, Plate: "青A12345"}},
		{"barrier open unknown plate", `{"type":"barrier_open","plate":""}`, Event{Type: BarrierOpen}},
		{"barrier open no plate", `{"type":"barrier_open"}`, Event{Type: BarrierOpen}},
		{"barrier close", `{"type":"barrier_close","lane":0}`, Event{Type: BarrierClose, HasLane: true}},
		{"loop", `{"type":"loop","direction":"out"}`, Event{Type: Loop, Direction: Out}},
		{"access granted", `{"type":"access_granted","direction":"in","credential":"card-42"}`,
			Event{Type: AccessGranted, Direction: In, CredentialHash: (&Decoder{Salt: testSalt}).HashCredential("card-42")}},
		{"access denied", `{"type":"access_denied","credential":"1234"}`,
			Event{Type: AccessDenied, CredentialHash: (&Decoder{Salt: testSalt}).HashCredential("1234")}},
		{"door open", `{"type":"door_open"}`, Event{Type: DoorOpen}},
		{"door close", `  {"type":"door_close"}  ` + "\n", Event{Type: DoorClose}},
		{"sos", `{"type":"sos","id":"x"}`, Event{Type: SOS, ID: "x"}},
		{"heartbeat, unknown fields tolerated", `{"type":"heartbeat","firmware":"2.1","extra":{"a":[1,2]}}`, Event{Type: Heartbeat}},
		{"nulls are absent", `{"type":"heartbeat","id":null,"ts":null,"lane":null}`, Event{Type: Heartbeat}},
		{"plate ignored on loop", `{"type":"loop","direction":"in","plate":"!!"}`, Event{Type: Loop, Direction: In}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Decode("north", []byte(tt.payload), now)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := tt.want
			want.Gate, want.Received = "north", now
			if want.TS.IsZero() {
				want.TS = now
			}
			if !got.TS.Equal(want.TS) {
				t.Errorf("TS = %v, want %v", got.TS, want.TS)
			}
			got.TS, want.TS = time.Time{}, time.Time{}
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	d := &Decoder{Salt: testSalt}
	big := `{"type":"heartbeat","pad":"` + strings.Repeat("x", MaxPayload) + `"}`
	tests := []struct {
		name, gate, payload, reason, field string
	}{
		{"not json", "north", `type=plate_read`, ReasonInvalidJSON, ""},
		{"empty", "north", ``, ReasonInvalidJSON, ""},
		{"array", "north", `[{"type":"sos"}]`, ReasonInvalidJSON, ""},
		{"string", "north", `"sos"`, ReasonInvalidJSON, ""},
		{"null", "north", `null`, ReasonInvalidJSON, ""},
		{"truncated", "north", `{"type":"sos"`, ReasonInvalidJSON, ""},
		{"trailing garbage", "north", `{"type":"sos"} x`, ReasonInvalidJSON, ""},
		{"two objects", "north", `{"type":"sos"}{"type":"sos"}`, ReasonInvalidJSON, ""},
		{"bad utf-8", "north", "{\"type\":\"sos\",\"note\":\"\xff\"}", ReasonInvalidJSON, ""},
		{"too large", "north", big, ReasonTooLarge, ""},
		{"missing type", "north", `{"plate":"青A12345"}`, ReasonMissingField, "type"},
		{"unknown type", "north", `{"type":"teleport"}`, ReasonUnknownType, "type"},
		{"type not string", "north", `{"type":3}`, ReasonUnknownType, "type"},
		{"type case", "north", `{"type":"SOS"}`, ReasonUnknownType, "type"},
		{"plate missing", "north", `{"type":"plate_read","direction":"in","confidence":0.5}`, ReasonMissingField, "plate"},
		{"plate null", "north", `{"type":"plate_read","plate":null,"direction":"in","confidence":0.5}`, ReasonMissingField, "plate"},
		{"plate empty", "north", `{"type":"plate_read","plate":"","direction":"in","confidence":0.5}`, ReasonBadPlate, "plate"},
		{"plate too short", "north", `{"type":"plate_read","plate":"A","direction":"in","confidence":0.5}`, ReasonBadPlate, "plate"},
		{"plate too long", "north", `{"type":"plate_read","plate":"ABCDEFGHJKLMN","direction":"in","confidence":0.5}`, ReasonBadPlate, "plate"},
		{"plate symbols", "north", `{"type":"plate_read","plate":"AB$123","direction":"in","confidence":0.5}`, ReasonBadPlate, "plate"},
		{"plate emoji", "north", `{"type":"plate_read","plate":"AB🚗12","direction":"in","confidence":0.5}`, ReasonBadPlate, "plate"},
		{"plate number", "north", `{"type":"plate_read","plate":12345,"direction":"in","confidence":0.5}`, ReasonBadPlate, "plate"},
		{"barrier plate bad", "north", `{"type":"barrier_open","plate":"<script>"}`, ReasonBadPlate, "plate"},
		{"direction missing", "north", `{"type":"plate_read","plate":"青A12345","confidence":0.5}`, ReasonMissingField, "direction"},
		{"direction missing loop", "north", `{"type":"loop"}`, ReasonMissingField, "direction"},
		{"direction missing granted", "north", `{"type":"access_granted","credential":"c"}`, ReasonMissingField, "direction"},
		{"direction bad", "north", `{"type":"loop","direction":"up"}`, ReasonBadDirection, "direction"},
		{"direction upper", "north", `{"type":"loop","direction":"IN"}`, ReasonBadDirection, "direction"},
		{"direction bad on sos", "north", `{"type":"sos","direction":1}`, ReasonBadDirection, "direction"},
		{"confidence missing", "north", `{"type":"plate_read","plate":"青A12345","direction":"in"}`, ReasonMissingField, "confidence"},
		{"confidence > 1", "north", `{"type":"plate_read","plate":"青A12345","direction":"in","confidence":1.01}`, ReasonBadConfidence, "confidence"},
		{"confidence < 0", "north", `{"type":"plate_read","plate":"青A12345","direction":"in","confidence":-0.1}`, ReasonBadConfidence, "confidence"},
		{"confidence string", "north", `{"type":"plate_read","plate":"青A12345","direction":"in","confidence":"0.9"}`, ReasonBadConfidence, "confidence"},
		{"confidence percent", "north", `{"type":"plate_read","plate":"青A12345","direction":"in","confidence":93}`, ReasonBadConfidence, "confidence"},
		{"ts not rfc3339", "north", `{"type":"sos","ts":"2026-11-26 23:00:00"}`, ReasonBadTimestamp, "ts"},
		{"ts number", "north", `{"type":"sos","ts":1764198000}`, ReasonBadTimestamp, "ts"},
		{"lane fraction", "north", `{"type":"sos","lane":1.5}`, ReasonBadLane, "lane"},
		{"lane negative", "north", `{"type":"sos","lane":-1}`, ReasonBadLane, "lane"},
		{"lane string", "north", `{"type":"sos","lane":"2"}`, ReasonBadLane, "lane"},
		{"id number", "north", `{"type":"sos","id":7}`, ReasonBadID, "id"},
		{"id too long", "north", `{"type":"sos","id":"` + strings.Repeat("i", 129) + `"}`, ReasonBadID, "id"},
		{"credential missing", "north", `{"type":"access_denied"}`, ReasonMissingField, "credential"},
		{"credential empty", "north", `{"type":"access_denied","credential":""}`, ReasonBadCredential, "credential"},
		{"credential number", "north", `{"type":"access_denied","credential":1234}`, ReasonBadCredential, "credential"},
		{"gate upper case", "North", `{"type":"sos"}`, ReasonBadGate, ""},
		{"gate empty", "", `{"type":"sos"}`, ReasonBadGate, ""},
		{"gate too long", strings.Repeat("g", 65), `{"type":"sos"}`, ReasonBadGate, ""},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Decode(tt.gate, []byte(tt.payload), time.Now())
			var re *RejectError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *RejectError", err)
			}
			if re.Reason != tt.reason || re.Field != tt.field {
				t.Errorf("reason %q field %q, want %q %q (%v)", re.Reason, re.Field, tt.reason, tt.field, err)
			}
			seen[re.Reason] = true
		})
	}
	for _, r := range Reasons {
		if !seen[r] {
			t.Errorf("no test case for reason %q", r)
		}
	}
}

// The credential must not survive in any form but the salted hash: not in
// the event and not in a reject message.
func TestCredentialNeverKept(t *testing.T) {
	const secret = "CARD-SECRET-99"
	a := &Decoder{Salt: testSalt}
	b := &Decoder{Salt: []byte("another-installation-salt-000000")}
	ev, err := a.Decode("north", []byte(`{"type":"access_granted","direction":"in","credential":"`+secret+`"}`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ev.CredentialHash, secret) || len(ev.CredentialHash) != 64 {
		t.Fatalf("hash %q", ev.CredentialHash)
	}
	if ev.CredentialHash != a.HashCredential(secret) || ev.CredentialHash == b.HashCredential(secret) {
		t.Fatal("hash must be stable per salt and differ across salts")
	}
	_, err = a.Decode("north", []byte(`{"type":"access_granted","direction":"sideways","credential":"`+secret+`"}`), time.Now())
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("err %v leaks or is nil", err)
	}
}

// FuzzDecode: never panics, and whatever is accepted satisfies the
// contract's invariants.
func FuzzDecode(f *testing.F) {
	f.Add("north", []byte(`{"type":"plate_read","plate":"青A12345","direction":"in","confidence":0.9}`))
	d := &Decoder{Salt: testSalt}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, gate string, payload []byte) {
		ev, err := d.Decode(gate, payload, now)
		if d.Urgent(gate, payload) && (err != nil || ev.Type != SOS || ev.ID == "") {
			t.Fatalf("urgent but decodes to %+v, %v", ev, err)
		}
		if err != nil {
			var re *RejectError
			if !errors.As(err, &re) || re.Reason == "" {
				t.Fatalf("error %v is not a RejectError with a reason", err)
			}
			return
		}
		if _, ok := types[ev.Type]; !ok {
			t.Fatalf("accepted type %q", ev.Type)
		}
		if !GateIDPattern.MatchString(ev.Gate) {
			t.Fatalf("accepted gate %q", ev.Gate)
		}
		if ev.Type == PlateRead && ev.Plate == "" {
			t.Fatal("plate_read without plate")
		}
		if ev.Plate != "" {
			n := utf8.RuneCountInString(ev.Plate)
			if n < 2 || n > 12 || ev.Plate != strings.ToUpper(ev.Plate) || strings.ContainsAny(ev.Plate, " .-·") {
				t.Fatalf("plate %q not normalised", ev.Plate)
			}
		}
		if ev.Confidence < 0 || ev.Confidence > 1 {
			t.Fatalf("confidence %v", ev.Confidence)
		}
		if ev.Direction != "" && ev.Direction != In && ev.Direction != Out {
			t.Fatalf("direction %q", ev.Direction)
		}
		if (ev.Type == AccessGranted || ev.Type == AccessDenied) && len(ev.CredentialHash) != 64 {
			t.Fatal("credential event without hash")
		}
		if len(payload) > MaxPayload {
			t.Fatal("accepted an oversized payload")
		}
	})
}

// Urgent picks only what may be raised before it is stored: a valid SOS
// with an id (its stored copy must be recognised as a duplicate).
func TestUrgent(t *testing.T) {
	d := &Decoder{}
	for _, c := range []struct {
		payload string
		want    bool
	}{
		{`{"id":"s1","type":"sos"}`, true},
		{` {"type":"sos","id":"s1","ts":"2026-12-03T10:00:00Z"}`, true},
		{`{"type":"sos"}`, false},                                // no id: its copy would be raised again
		{`{"id":"","type":"sos"}`, false},                        // the same
		{`{"id":"p1","type":"plate_read","plate":"sos"}`, false}, // "sos" elsewhere
		{`{"id":"s1","type":"sos","ts":"yesterday"}`, false},     // rejected anyway
		{`{"id":"s1","type":"sos"`, false},
		{`{"id":"s1","type":"door_open"}`, false},
		{`{"id":"s1","type":"\u0073os"}`, false}, // escaped: left to the stored copy
	} {
		if got := d.Urgent("north", []byte(c.payload)); got != c.want {
			t.Errorf("Urgent(%s) = %v, want %v", c.payload, got, c.want)
		}
	}
	if d.Urgent("Bad Gate", []byte(`{"id":"s1","type":"sos"}`)) {
		t.Error("an SOS of an invalid gate id is urgent")
	}
}
