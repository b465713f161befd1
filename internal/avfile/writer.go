package avfile

/*
#cgo pkg-config: libavformat libavcodec libavutil
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <string.h>
#include <stdlib.h>

static int lw_create_mp4(AVFormatContext **out, AVStream **outst, const char *path, int hevc,
                         int w, int h, const uint8_t *ed, int edsize, int frag) {
	AVFormatContext *oc = NULL;
	AVDictionary *opts = NULL;
	AVStream *st;
	int ret = avformat_alloc_output_context2(&oc, NULL, "mp4", path);
	if (ret < 0) return ret;
	st = avformat_new_stream(oc, NULL);
	if (st == NULL) { avformat_free_context(oc); return AVERROR(ENOMEM); }
	st->time_base = (AVRational){1, 90000};
	st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
	st->codecpar->codec_id = hevc ? AV_CODEC_ID_HEVC : AV_CODEC_ID_H264;
	// hvc1 rather than hev1: the tag browsers and QuickTime play. It
	// requires parameter sets out of band, which is why WriteAU strips them.
	if (hevc) st->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
	st->codecpar->width = w;
	st->codecpar->height = h;
	st->codecpar->extradata = av_mallocz(edsize + AV_INPUT_BUFFER_PADDING_SIZE);
	if (st->codecpar->extradata == NULL) { avformat_free_context(oc); return AVERROR(ENOMEM); }
	memcpy(st->codecpar->extradata, ed, edsize);
	st->codecpar->extradata_size = edsize;
	ret = avio_open(&oc->pb, path, AVIO_FLAG_WRITE);
	if (ret < 0) { avformat_free_context(oc); return ret; }
	// faststart: the moov box up front, so a browser plays the clip while it downloads.
	// Fragmented (recordings): a fragment per key frame after an empty moov, so
	// the file plays while it is written and up to its last fragment after a crash.
	av_dict_set(&opts, "movflags", frag ? "+frag_keyframe+empty_moov+default_base_moof" : "+faststart", 0);
	ret = avformat_write_header(oc, &opts);
	av_dict_free(&opts);
	if (ret < 0) { avio_closep(&oc->pb); avformat_free_context(oc); return ret; }
	*out = oc;
	*outst = st;
	return 0;
}

static int lw_write(AVFormatContext *oc, AVStream *st, AVPacket *pkt, const uint8_t *data, int size,
                    int64_t pts_ns, int64_t dts_ns, int64_t dur_ns, int key) {
	AVRational ns = {1, 1000000000};
	int ret = av_new_packet(pkt, size);
	if (ret < 0) return ret;
	memcpy(pkt->data, data, size);
	pkt->pts = av_rescale_q(pts_ns, ns, st->time_base);
	pkt->dts = av_rescale_q(dts_ns, ns, st->time_base);
	pkt->duration = av_rescale_q(dur_ns, ns, st->time_base);
	pkt->stream_index = st->index;
	if (key) pkt->flags |= AV_PKT_FLAG_KEY;
	ret = av_write_frame(oc, pkt);
	av_packet_unref(pkt);
	return ret;
}

static int lw_finish(AVFormatContext *oc, int trailer) {
	int ret = 0;
	if (trailer) ret = av_write_trailer(oc);
	avio_closep(&oc->pb);
	avformat_free_context(oc);
	return ret;
}
*/
import "C"

import (
	"time"
	"unsafe"
)

// Writer muxes access units into an MP4 file without re-encoding. It is not
// safe for concurrent use.
type Writer struct {
	path    string
	codec   string
	ctx     *C.AVFormatContext
	st      *C.AVStream
	pkt     *C.AVPacket
	started bool
	origin  time.Duration // DTS of the first AU: clips start at zero
	prev    *AU           // held back until the next DTS gives its duration
	prevDur time.Duration
	closed  bool
	buf     []byte
}

// CreateMP4 creates (truncates) an MP4 file at path for codec (CodecH264 or
// CodecH265) with the given parameter sets (VPS, SPS, PPS without start
// codes, in any order) and picture size.
func CreateMP4(path, codec string, params [][]byte, width, height int) (*Writer, error) {
	return createMP4(path, codec, params, width, height, false)
}

// CreateFragmentedMP4 is CreateMP4 for long recordings: the file is written
// as fragments starting at key frames, with no rewrite at Close, and is
// playable while it grows and up to its last whole fragment after a crash.
func CreateFragmentedMP4(path, codec string, params [][]byte, width, height int) (*Writer, error) {
	return createMP4(path, codec, params, width, height, true)
}

func createMP4(path, codec string, params [][]byte, width, height int, frag bool) (*Writer, error) {
	fail := func(kind error, detail string) (*Writer, error) {
		return nil, &Error{Op: "create", Path: path, Kind: kind, Detail: detail}
	}
	if codec != CodecH264 && codec != CodecH265 {
		return fail(ErrUnsupportedCodec, codec)
	}
	if width <= 0 || height <= 0 {
		return fail(ErrBadArgument, "width and height must be positive")
	}
	var ps ParamSets
	for _, p := range params {
		ps.take(codec, p)
	}
	if !ps.complete(codec) {
		return fail(ErrBadArgument, "parameter sets incomplete (need SPS and PPS, and VPS for H.265)")
	}
	// Annex-B extradata: the MP4 muxer converts it to avcC/hvcC itself and
	// then converts each Annex-B sample to length-prefixed NAL units.
	ed := JoinAnnexB(ps.List())
	w := &Writer{path: path, codec: codec}
	cpath := C.CString("file:" + path) // a colon in the name is not a protocol
	defer C.free(unsafe.Pointer(cpath))
	hevc := C.int(0)
	if codec == CodecH265 {
		hevc = 1
	}
	fr := C.int(0)
	if frag {
		fr = 1
	}
	ret := C.lw_create_mp4(&w.ctx, &w.st, cpath, hevc, C.int(width), C.int(height),
		(*C.uint8_t)(unsafe.Pointer(&ed[0])), C.int(len(ed)), fr)
	if ret < 0 {
		return fail(ErrIO, avErr(ret))
	}
	w.pkt = C.av_packet_alloc()
	if w.pkt == nil {
		C.lw_finish(w.ctx, 0)
		return fail(ErrIO, "out of memory")
	}
	return w, nil
}

// WriteAU appends one access unit. The first must be a key frame; DTS must
// increase. Timestamps are shifted so the clip starts at zero. Parameter
// sets inside the AU are dropped: the file carries them in its sample entry.
func (w *Writer) WriteAU(au AU) error {
	if w.closed {
		return &Error{Op: "write", Path: w.path, Kind: ErrClosed}
	}
	if !w.started {
		if !au.KeyFrame {
			return &Error{Op: "write", Path: w.path, Kind: ErrNeedKeyFrame}
		}
		w.started = true
		w.origin = au.DTS
	}
	if w.prev != nil {
		d := au.DTS - w.prev.DTS
		if d <= 0 {
			return &Error{Op: "write", Path: w.path, Kind: ErrBadArgument,
				Detail: "DTS does not increase"}
		}
		if err := w.emit(w.prev, d); err != nil {
			return err
		}
		w.prevDur = d
	}
	cp := au
	w.prev = &cp
	return nil
}

func (w *Writer) emit(au *AU, dur time.Duration) error {
	w.buf = w.buf[:0]
	for _, n := range au.NALUs {
		if len(n) == 0 || IsParamSet(w.codec, n) {
			continue
		}
		w.buf = append(w.buf, 0, 0, 0, 1)
		w.buf = append(w.buf, n...)
	}
	if len(w.buf) == 0 {
		return nil // nothing but parameter sets: no picture to store
	}
	key := C.int(0)
	if au.KeyFrame {
		key = 1
	}
	pts, dts := au.PTS-w.origin, au.DTS-w.origin
	if pts < dts {
		pts = dts
	}
	ret := C.lw_write(w.ctx, w.st, w.pkt, (*C.uint8_t)(unsafe.Pointer(&w.buf[0])), C.int(len(w.buf)),
		C.int64_t(pts), C.int64_t(dts), C.int64_t(dur), key)
	if ret < 0 {
		return &Error{Op: "write", Path: w.path, Kind: ErrIO, Detail: avErr(ret)}
	}
	return nil
}

// Close writes the held-back last AU (lasting as long as the one before it)
// and the trailer, and closes the file. Safe to call more than once.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	var err error
	if w.prev != nil {
		d := w.prevDur
		if d <= 0 {
			d = time.Second / 25 // a single-frame clip: any sane duration
		}
		err = w.emit(w.prev, d)
		w.prev = nil
	}
	C.av_packet_free(&w.pkt)
	if ret := C.lw_finish(w.ctx, 1); ret < 0 && err == nil {
		err = &Error{Op: "close", Path: w.path, Kind: ErrIO, Detail: avErr(ret)}
	}
	w.ctx = nil
	return err
}
