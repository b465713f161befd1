package webpush

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzSubscription: subscriptions are POSTed by browsers (or anyone with a
// viewer token); any JSON must be stored valid or refused, never panic.
func FuzzSubscription(f *testing.F) {
	f.Add(`{"endpoint":"https://fcm.googleapis.com/fcm/send/x","keys":{"p256dh":"BPcMbnWQL5GOYX_5sp-3x7e_N5Lr8UexhP6G3BVBwCx4_AxbA_nDsA9GDS0Yx5M3wRMf3O5iyKqrkRYNgE0wKPk","auth":"8eDyX_uCN0XRhSbY5hs7Hg"}}`)
	f.Add(`{"endpoint":"http://x","keys":{}}`)
	f.Add(`{}`)
	st := &Store{}
	f.Fuzz(func(t *testing.T, in string) {
		var s Subscription
		if json.Unmarshal([]byte(in), &s) != nil {
			return
		}
		s.User = "u"
		if err := st.Validate(s); err == nil {
			a, err := decodeKey(s.Keys.Auth)
			p, perr := decodeKey(s.Keys.P256dh)
			if err != nil || len(a) != 16 || perr != nil || len(p) != 65 || !strings.HasPrefix(s.Endpoint, "https://") {
				t.Fatalf("accepted %+v", s)
			}
		}
	})
}
