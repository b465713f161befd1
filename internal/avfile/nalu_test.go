package avfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSplitAnnexB(t *testing.T) {
	cases := []struct {
		name    string
		in      []byte
		want    [][]byte
		wantErr bool
	}{
		{"4-byte codes", []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3}, [][]byte{{0x67, 1, 2}, {0x68, 3}}, false},
		{"3-byte codes", []byte{0, 0, 1, 0x65, 9, 0, 0, 1, 0x41}, [][]byte{{0x65, 9}, {0x41}}, false},
		{"leading zeros", []byte{0, 0, 0, 0, 0, 1, 0x09, 0xf0}, [][]byte{{0x09, 0xf0}}, false},
		{"trailing zeros dropped", []byte{0, 0, 1, 0x41, 7, 0, 0}, [][]byte{{0x41, 7}}, false},
		{"empty units skipped", []byte{0, 0, 1, 0, 0, 1, 0x41}, [][]byte{{0x41}}, false},
		{"emulation prevention kept", []byte{0, 0, 1, 0x41, 0, 0, 3, 1}, [][]byte{{0x41, 0, 0, 3, 1}}, false},
		{"no start code", []byte{0x41, 1, 2}, nil, true},
		{"junk before start code", []byte{7, 0, 0, 1, 0x41}, nil, true},
		{"empty", nil, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SplitAnnexB(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !equalUnits(got, tc.want) {
				t.Fatalf("got % x, want % x", got, tc.want)
			}
		})
	}
}

func TestSplitLengthPrefixed(t *testing.T) {
	cases := []struct {
		name    string
		in      []byte
		size    int
		want    [][]byte
		wantErr bool
	}{
		{"4-byte", []byte{0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x41}, 4, [][]byte{{0x65, 1}, {0x41}}, false},
		{"2-byte", []byte{0, 1, 0x65, 0, 2, 0x41, 5}, 2, [][]byte{{0x65}, {0x41, 5}}, false},
		{"1-byte", []byte{1, 0x65, 0, 1, 0x41}, 1, [][]byte{{0x65}, {0x41}}, false},
		{"length past end", []byte{0, 0, 0, 9, 0x65}, 4, nil, true},
		{"short prefix", []byte{0, 0}, 4, nil, true},
		{"bad size", []byte{0, 0, 1, 0x65}, 3, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SplitLengthPrefixed(tc.in, tc.size)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !equalUnits(got, tc.want) {
				t.Fatalf("got % x, want % x", got, tc.want)
			}
		})
	}
}

func TestJoinAnnexBRoundTrip(t *testing.T) {
	units := [][]byte{{0x67, 1, 2, 3}, {0x68, 4}, {0x65, 0, 0, 3, 0, 9}}
	got, err := SplitAnnexB(JoinAnnexB(units))
	if err != nil || !equalUnits(got, units) {
		t.Fatalf("round trip: % x, %v", got, err)
	}
}

func TestParseExtradata(t *testing.T) {
	sps := []byte{0x67, 0x64, 0x00, 0x1f, 0xac}
	pps := []byte{0x68, 0xee, 0x3c, 0x80}
	avcc := append([]byte{1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, byte(len(sps))}, sps...)
	avcc = append(append(avcc, 1, 0, byte(len(pps))), pps...)

	vps := []byte{0x40, 0x01, 0x0c}
	hsps := []byte{0x42, 0x01, 0x01}
	hpps := []byte{0x44, 0x01, 0xc1}
	hvcc := make([]byte, 22)
	hvcc[0] = 1
	hvcc[21] = 0x0f // lengthSizeMinusOne = 3
	hvcc = append(hvcc, 3)
	for _, u := range [][]byte{vps, hsps, hpps} {
		hvcc = append(hvcc, 0x80|(u[0]>>1), 0, 1, 0, byte(len(u)))
		hvcc = append(hvcc, u...)
	}

	cases := []struct {
		name    string
		codec   string
		in      []byte
		want    ParamSets
		lenSize int
		wantErr bool
	}{
		{"avcC", CodecH264, avcc, ParamSets{SPS: sps, PPS: pps}, 4, false},
		{"h264 annex-b", CodecH264, JoinAnnexB([][]byte{sps, pps}), ParamSets{SPS: sps, PPS: pps}, 0, false},
		{"hvcC", CodecH265, hvcc, ParamSets{VPS: vps, SPS: hsps, PPS: hpps}, 4, false},
		{"h265 annex-b", CodecH265, JoinAnnexB([][]byte{vps, hsps, hpps}), ParamSets{VPS: vps, SPS: hsps, PPS: hpps}, 0, false},
		{"empty", CodecH264, nil, ParamSets{}, 0, false},
		{"avcC truncated", CodecH264, avcc[:10], ParamSets{}, 0, true},
		{"hvcC truncated", CodecH265, hvcc[:30], ParamSets{}, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps, ls, err := parseExtradata(tc.codec, tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if ls != tc.lenSize || !bytes.Equal(ps.VPS, tc.want.VPS) || !bytes.Equal(ps.SPS, tc.want.SPS) || !bytes.Equal(ps.PPS, tc.want.PPS) {
				t.Fatalf("got %x len %d, want %x len %d", ps, ls, tc.want, tc.lenSize)
			}
		})
	}
}

func equalUnits(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// FuzzOpen feeds arbitrary bytes to libavformat through Open and ReadAU: any
// file a user points camsim at must give an error, never a crash or hang.
func FuzzOpen(f *testing.F) {
	f.Add(uint8(0), []byte("not a video"))
	f.Add(uint8(1), []byte{0, 0, 0, 1, 0x67, 0x42, 0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0x38, 0x80})
	exts := []string{".mp4", ".h264", ".hevc", ".mkv", ".ts"}
	f.Fuzz(func(t *testing.T, ext uint8, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		p := filepath.Join(t.TempDir(), "in"+exts[int(ext)%len(exts)])
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(p)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		defer r.Close()
		for i := 0; i < 1000; i++ {
			au, err := r.ReadAU()
			if err != nil {
				break
			}
			for _, n := range au.NALUs {
				if len(n) == 0 {
					t.Fatal("empty NAL unit")
				}
			}
		}
	})
}

// FuzzParseExtradata covers the avcC/hvcC/Annex-B parsers on their own.
func FuzzParseExtradata(f *testing.F) {
	f.Add(true, []byte{1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 2, 0x67, 1, 1, 0, 1, 0x68})
	f.Add(false, []byte{0, 0, 0, 1, 0x40, 1, 0, 0, 1, 0x42, 1, 0, 0, 1, 0x44, 1})
	f.Fuzz(func(t *testing.T, h265 bool, data []byte) {
		codec := CodecH264
		if h265 {
			codec = CodecH265
		}
		ps, ls, err := parseExtradata(codec, data)
		if err != nil {
			return
		}
		if ls != 0 && ls != 1 && ls != 2 && ls != 4 {
			t.Fatalf("length size %d", ls)
		}
		for _, u := range ps.List() {
			if !IsParamSet(codec, u) {
				t.Fatalf("non parameter set % x kept", u)
			}
		}
	})
}
