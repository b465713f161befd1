package camera

import (
	"testing"
	"time"
)

func TestClipUnitsTiming(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	au := func(pts, at int, key bool) AU {
		return AU{PTS: ms(pts), At: t0.Add(ms(at)), Key: key}
	}
	tests := []struct {
		name string
		in   []AU
		want []time.Duration // DTS of the units written
	}{
		{"starts at the first key frame, keeps the stream's spacing",
			[]AU{au(0, 0, false), au(100, 100, true), au(200, 200, false), au(300, 300, false)},
			[]time.Duration{ms(100), ms(200), ms(300)}},
		{"a reconnect restarts the timestamps: continue after the wall-clock gap",
			[]AU{au(5000, 0, true), au(5100, 100, false), au(0, 2100, true), au(100, 2200, false)},
			[]time.Duration{ms(5000), ms(5100), ms(7100), ms(7200)}},
		{"equal timestamps still increase",
			[]AU{au(0, 0, true), au(0, 0, false)},
			[]time.Duration{0, ms(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := ClipUnits(tt.in)
			if len(out) != len(tt.want) {
				t.Fatalf("%d units, want %d", len(out), len(tt.want))
			}
			for i, u := range out {
				if u.DTS != tt.want[i] || u.PTS != u.DTS {
					t.Errorf("unit %d: pts %v dts %v, want %v", i, u.PTS, u.DTS, tt.want[i])
				}
			}
		})
	}
}
