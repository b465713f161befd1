package broker

import "testing"

func TestPacketIDFromKey(t *testing.T) {
	tests := []struct {
		key  string
		want uint16
	}{
		{"IFM_patrol-07:1", 1},
		{"IFM_a:b:c:65535", 65535},
		{"IFM_x:65536", 0},
		{"IFM_x:", 0},
		{"IFM_x:-1", 0},
		{"no-colon", 0},
	}
	for _, tt := range tests {
		if got := packetIDFromKey(tt.key); got != tt.want {
			t.Errorf("%q: %d, want %d", tt.key, got, tt.want)
		}
	}
}
