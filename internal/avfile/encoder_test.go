package avfile

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestEncoderToMP4(t *testing.T) {
	const w, h, n = 320, 240, 30
	e, err := NewEncoder(w, h, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	out := filepath.Join(t.TempDir(), "enc.mp4")
	mw, err := CreateMP4(out, CodecH264, e.Params(), w, h)
	if err != nil {
		t.Fatal(err)
	}
	pic := make([]byte, w*h*3/2)
	var aus []AU
	for i := 0; i < n; i++ {
		for k := range pic[:w*h] { // a moving gradient
			pic[k] = byte(k%w + 4*i)
		}
		got, err := e.Encode(pic, time.Duration(i)*100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		aus = append(aus, got...)
	}
	rest, err := e.Flush()
	if err != nil {
		t.Fatal(err)
	}
	aus = append(aus, rest...)
	if len(aus) != n || !aus[0].KeyFrame {
		t.Fatalf("%d units (first key %v), want %d starting with a key frame", len(aus), len(aus) > 0 && aus[0].KeyFrame, n)
	}
	for _, au := range aus {
		if err := mw.WriteAU(au); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	m := probe(t, out, "stream=codec_name,width,height,nb_read_frames")
	if m["codec_name"] != "h264" || m["width"] != strconv.Itoa(w) || m["nb_read_frames"] != strconv.Itoa(n) {
		t.Fatalf("ffprobe: %v", m)
	}
}

func TestEncoderRejectsBadInput(t *testing.T) {
	for _, sz := range [][2]int{{0, 10}, {321, 240}, {320, 9999}} {
		if e, err := NewEncoder(sz[0], sz[1], 10); err == nil {
			e.Close()
			t.Errorf("NewEncoder(%dx%d) accepted", sz[0], sz[1])
		}
	}
	e, err := NewEncoder(64, 64, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Encode(make([]byte, 10), 0); err == nil {
		t.Error("a short picture was accepted")
	}
	e.Close()
	e.Close()
	if _, err := e.Encode(make([]byte, 64*64*3/2), 0); err == nil {
		t.Error("Encode after Close succeeded")
	}
}
