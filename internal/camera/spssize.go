package camera

import (
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/lanewatch/lanewatch/internal/decode"
)

// sizeFromSPS sets the camera's picture size from the stream's SPS when it
// does not decode (NoDecode): clips, recordings and status need it.
func (st *source) sizeFromSPS() {
	if st.c.dec != nil || len(st.sps) == 0 {
		return
	}
	if w, h, ok := spsSize(st.codec, st.sps); ok {
		st.c.srcW.Store(int32(w))
		st.c.srcH.Store(int32(h))
	}
}

// spsSize reads the picture size from an SPS; ok is false for one that does
// not parse (the camera's bytes: a parser panic is an answer too).
func spsSize(codec string, sps []byte) (w, h int, ok bool) {
	defer func() {
		if recover() != nil {
			w, h, ok = 0, 0, false
		}
	}()
	switch codec {
	case decode.H264:
		var s h264.SPS
		if s.Unmarshal(sps) != nil {
			return 0, 0, false
		}
		w, h = s.Width(), s.Height()
	case decode.H265:
		var s h265.SPS
		if s.Unmarshal(sps) != nil {
			return 0, 0, false
		}
		w, h = s.Width(), s.Height()
	}
	return w, h, w > 0 && h > 0 && w <= 16384 && h <= 16384
}
