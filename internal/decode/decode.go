// Package decode turns H.264/H.265 access units into BGR gocv Mats with
// FFmpeg's libavcodec and libswscale. It is the gateway's main CPU cost, so the
// per-frame path reuses one C packet buffer, one AVFrame and the caller's Mat:
// nothing is allocated per frame once the stream size is known.
package decode

/*
#cgo pkg-config: libavcodec libavutil libswscale
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>

// lw_scaler converts decoded pictures to packed BGR24. A downscale runs in
// two passes, planar downscale to YUV 4:2:0 at the output size, then
// libswscale's unscaled YUV->BGR converter: about a third cheaper per frame
// than one scaled pass straight to BGR24 (docs/perf-ingest.md). When no
// downscale is needed it is the converter alone.
typedef struct {
	struct SwsContext *down;
	struct SwsContext *conv;
	uint8_t *mid[4];
	int mid_ls[4];
	int mid_w, mid_h, mid_fmt;
	int one_pass;      // benchmarks compare against the single scaled pass
} lw_scaler;

static void lw_scaler_free(lw_scaler *s) {
	if (s->down) sws_freeContext(s->down);
	if (s->conv) sws_freeContext(s->conv);
	if (s->mid[0]) av_freep(&s->mid[0]);
	memset(s, 0, sizeof(*s));
}

static int lw_scaler_run(lw_scaler *s, const AVFrame *f, uint8_t *dst, int stride, int w, int h, int flags) {
	uint8_t *dd[4] = {dst, NULL, NULL, NULL};
	int ds[4] = {stride, 0, 0, 0};
	if (f->width <= 0 || f->height <= 0 || f->data[0] == NULL) return AVERROR(EINVAL);
	if ((w == f->width && h == f->height) || s->one_pass) {
		s->conv = sws_getCachedContext(s->conv, f->width, f->height, f->format, w, h, AV_PIX_FMT_BGR24, flags, NULL, NULL, NULL);
		if (s->conv == NULL) return AVERROR(EINVAL);
		int res = sws_scale(s->conv, (const uint8_t * const *)f->data, f->linesize, 0, f->height, dd, ds);
		return res < 0 ? res : 0;
	}
	// Full-range (JPEG) 4:2:0 stays full range in the middle, so that the
	// converter applies the camera's own range; anything else goes to
	// limited-range 8-bit 4:2:0.
	int mid_fmt = f->format == AV_PIX_FMT_YUVJ420P ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_YUV420P;
	if (s->mid[0] == NULL || s->mid_w != w || s->mid_h != h || s->mid_fmt != mid_fmt) {
		if (s->mid[0]) av_freep(&s->mid[0]);
		// Alignment 64 also leaves room for SIMD writers past a line's end.
		if (av_image_alloc(s->mid, s->mid_ls, w, h, mid_fmt, 64) < 0) return AVERROR(ENOMEM);
		s->mid_w = w; s->mid_h = h; s->mid_fmt = mid_fmt;
	}
	s->down = sws_getCachedContext(s->down, f->width, f->height, f->format, w, h, mid_fmt, flags, NULL, NULL, NULL);
	s->conv = sws_getCachedContext(s->conv, w, h, mid_fmt, w, h, AV_PIX_FMT_BGR24, flags, NULL, NULL, NULL);
	if (s->down == NULL || s->conv == NULL) return AVERROR(EINVAL);
	int res = sws_scale(s->down, (const uint8_t * const *)f->data, f->linesize, 0, f->height, s->mid, s->mid_ls);
	if (res < 0) return res;
	res = sws_scale(s->conv, (const uint8_t * const *)s->mid, s->mid_ls, 0, h, dd, ds);
	return res < 0 ? res : 0;
}

typedef struct {
	AVCodecContext *ctx;
	AVFrame *frame;
	AVPacket *pkt;
	uint8_t *buf;      // Annex-B staging buffer, padded as libavcodec requires
	int buf_cap;       // usable bytes (without padding)
	int send_err;      // status of the last avcodec_send_packet
} lw_dec;

static int lw_open(lw_dec *d, int codec_id, int threads, int64_t max_pixels) {
	const AVCodec *codec = avcodec_find_decoder(codec_id);
	if (codec == NULL) return AVERROR_DECODER_NOT_FOUND;
	d->ctx = avcodec_alloc_context3(codec);
	if (d->ctx == NULL) return AVERROR(ENOMEM);
	d->ctx->thread_count = threads;
	// A corrupt SPS can declare an 80000x2600 picture; libavcodec would
	// allocate and decode it (seconds of CPU, hundreds of MB) before noticing.
	d->ctx->max_pixels = max_pixels;
	// Packets carry microsecond PTS; say so, so that frames keep them.
	d->ctx->pkt_timebase = (AVRational){1, 1000000};
	int res = avcodec_open2(d->ctx, codec, NULL);
	if (res < 0) return res;
	d->frame = av_frame_alloc();
	d->pkt = av_packet_alloc();
	if (d->frame == NULL || d->pkt == NULL) return AVERROR(ENOMEM);
	return 0;
}

static void lw_close(lw_dec *d) {
	if (d->frame) av_frame_free(&d->frame);
	if (d->pkt) av_packet_free(&d->pkt);
	if (d->ctx) avcodec_free_context(&d->ctx);
	if (d->buf) av_free(d->buf);
	memset(d, 0, sizeof(*d));
}

// lw_reserve makes room for n bytes plus the zeroed padding the bitstream
// readers may over-read.
static int lw_reserve(lw_dec *d, int n) {
	if (n <= d->buf_cap) return 0;
	int cap = n + n / 2;
	uint8_t *b = av_realloc(d->buf, (size_t)cap + AV_INPUT_BUFFER_PADDING_SIZE);
	if (b == NULL) return AVERROR(ENOMEM);
	d->buf = b;
	d->buf_cap = cap;
	return 0;
}

// lw_send sends n staged bytes (NULL packet when n < 0: drain) and tries to
// receive one frame. Returns 1 with a frame, 0 without, <0 on error;
// send_err gets the send status so that the caller can tell bad input from
// no output (a field, not an out-parameter: a Go pointer would escape and
// allocate on every call).
static int lw_send(lw_dec *d, int n, int64_t pts, int key) {
	int res;
	int *send_err = &d->send_err;
	*send_err = 0;
	if (n >= 0) {
		memset(d->buf + n, 0, AV_INPUT_BUFFER_PADDING_SIZE);
		d->pkt->data = d->buf;
		d->pkt->size = n;
		d->pkt->pts = pts;
		d->pkt->dts = AV_NOPTS_VALUE;
		d->pkt->flags = key ? AV_PKT_FLAG_KEY : 0;
		res = avcodec_send_packet(d->ctx, d->pkt);
		if (res == AVERROR(EAGAIN)) {
			// A frame is waiting: take it first, then the packet fits.
			res = avcodec_receive_frame(d->ctx, d->frame);
			if (res < 0) return res;
			res = avcodec_send_packet(d->ctx, d->pkt);
			*send_err = res;
			return 1;
		}
		d->pkt->data = NULL;
		d->pkt->size = 0;
	} else {
		res = avcodec_send_packet(d->ctx, NULL);
	}
	*send_err = res;
	res = avcodec_receive_frame(d->ctx, d->frame);
	if (res == AVERROR(EAGAIN) || res == AVERROR_EOF) return 0;
	if (res < 0) return res;
	return 1;
}

// lw_take moves the current frame into dst (a reference to the decoder's
// pooled buffer, no pixel copy), dropping what dst held.
static void lw_take(lw_dec *d, AVFrame *dst) {
	av_frame_unref(dst);
	av_frame_move_ref(dst, d->frame);
}

static int lw_ref(AVFrame *dst, const AVFrame *src) {
	av_frame_unref(dst);
	if (src->buf[0] == NULL) return 0;
	return av_frame_ref(dst, src);
}

static AVFrame *lw_frame_alloc(void) { return av_frame_alloc(); }
static void lw_frame_free(AVFrame *f) { av_frame_free(&f); }
static void lw_frame_unref(AVFrame *f) { av_frame_unref(f); }
static int lw_frame_empty(const AVFrame *f) { return f->buf[0] == NULL; }

static void lw_skip(lw_dec *d, int nonkey) {
	d->ctx->skip_frame = nonkey ? AVDISCARD_NONKEY : AVDISCARD_DEFAULT;
}

static int lw_frame_key(lw_dec *d) { return d->frame->key_frame; }
static int lw_frame_corrupt(lw_dec *d) { return (d->frame->flags & AV_FRAME_FLAG_CORRUPT) || d->frame->decode_error_flags; }

static void lw_quiet(void) { av_log_set_level(AV_LOG_FATAL); }

static void lw_strerror(int code, char *buf, int n) { av_strerror(code, buf, n); }
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"gocv.io/x/gocv"
)

// Codec names as used in RTSP/SDP and the configuration.
const (
	H264 = "H264"
	H265 = "H265"
)

var (
	// ErrUnsupportedCodec is returned by New for anything but H264/H265.
	ErrUnsupportedCodec = errors.New("decode: unsupported codec")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("decode: decoder closed")
	// ErrBadMat is returned when a destination Mat cannot be written safely.
	ErrBadMat = errors.New("decode: destination Mat is not a continuous CV_8UC3 Mat")
)

// Error is a libav failure; Op says which step failed. Callers count these
// as decode errors and carry on with the next access unit.
type Error struct {
	Op   string // "send", "receive", "scale", "open"
	Code int    // negative AVERROR
}

func (e *Error) Error() string {
	var buf [128]C.char
	C.lw_strerror(C.int(e.Code), &buf[0], C.int(len(buf)))
	return fmt.Sprintf("decode: %s: %s (%d)", e.Op, C.GoString(&buf[0]), e.Code)
}

// Stats are a decoder's counters since New.
type Stats struct {
	AccessUnits uint64 // handed to Decode
	Frames      uint64 // frames produced
	Skipped     uint64 // access units not sent: key-frame-only mode or waiting for a key frame
	Errors      uint64 // send/receive/scale failures and corrupt frames
}

// Frame describes the frame written by the last successful Decode.
type Frame struct {
	PTS           time.Duration
	KeyFrame      bool
	Width, Height int // source (coded picture) size
	OutW, OutH    int // size written into dst
}

// Options configure a decoder; New covers the usual case.
type Options struct {
	Codec string // H264 or H265
	// Width of the output Mat; the height follows the aspect ratio, rounded
	// to even. 0, or wider than the source, keeps the source size.
	Width int
	// Threads is libavcodec's thread_count. 1 keeps decoding on the calling
	// goroutine's thread, so per-camera CPU accounting is honest and 16
	// cameras do not start 16×N threads on a small box.
	Threads int
	// ScaleFlags are libswscale flags; default SWS_FAST_BILINEAR, which is
	// plenty for detection input and the cheapest per frame.
	ScaleFlags int
	// MaxPixels bounds the coded picture size a stream may declare; larger
	// pictures are decode errors. Default DefaultMaxPixels (8K UHD).
	MaxPixels int64
}

// DefaultMaxPixels is 7680x4320: no surveillance camera sends more.
const DefaultMaxPixels = 7680 * 4320

// Decoder decodes one stream. It is not safe for concurrent use: one camera
// goroutine owns it.
type Decoder struct {
	c       C.lw_dec
	codec   string
	width   int
	keyOnly bool
	// needKey: references are missing (we skipped or lost access units), so
	// non-key units would only produce garbage until the next key frame.
	needKey bool
	closed  bool
	stats   Stats
	frame   Frame
	// pending holds parameter sets that came without a picture, in
	// Annex-B, to go in front of the next unit sent.
	pending []byte
	// sc converts the current frame for dst and for full.
	sc [2]Scaler
}

var quietOnce sync.Once

// New opens a single-threaded decoder for codec that scales to width.
func New(codec string, width int) (*Decoder, error) {
	return NewWithOptions(Options{Codec: codec, Width: width, Threads: 1})
}

// NewWithOptions opens a decoder.
func NewWithOptions(o Options) (*Decoder, error) {
	// libav prints every concealed slice to stderr; a camera sending garbage
	// would flood the log. Errors reach callers as *Error instead.
	quietOnce.Do(func() { C.lw_quiet() })
	var id C.int
	switch o.Codec {
	case H264:
		id = C.AV_CODEC_ID_H264
	case H265:
		id = C.AV_CODEC_ID_HEVC
	default:
		return nil, fmt.Errorf("%w %q", ErrUnsupportedCodec, o.Codec)
	}
	if o.Width < 0 {
		return nil, fmt.Errorf("decode: negative width %d", o.Width)
	}
	if o.Threads <= 0 {
		o.Threads = 1
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.ScaleFlags == 0 {
		o.ScaleFlags = C.SWS_FAST_BILINEAR
	}
	d := &Decoder{codec: o.Codec, width: o.Width, needKey: true}
	d.sc[0].flags, d.sc[1].flags = C.int(o.ScaleFlags), C.int(o.ScaleFlags)
	if res := C.lw_open(&d.c, id, C.int(o.Threads), C.int64_t(o.MaxPixels)); res < 0 {
		C.lw_close(&d.c)
		return nil, &Error{Op: "open", Code: int(res)}
	}
	return d, nil
}

// Codec returns H264 or H265.
func (d *Decoder) Codec() string { return d.codec }

// Stats returns the counters.
func (d *Decoder) Stats() Stats { return d.stats }

// Frame describes the last frame written.
func (d *Decoder) Frame() Frame { return d.frame }

// SetKeyframesOnly switches key-frame-only decoding, used when a scene is
// idle: non-key access units are dropped before they reach libavcodec (the
// cheapest possible skip) and skip_frame is set to AVDISCARD_NONKEY for
// anything that slips through. Turning it off resumes full decoding at the
// next key frame, because the skipped units were references of the ones that
// follow; callers that need frames sooner replay the access units since the
// last key frame (see camera's pre-roll ring).
func (d *Decoder) SetKeyframesOnly(on bool) {
	if d.closed || on == d.keyOnly {
		return
	}
	d.keyOnly = on
	C.lw_skip(&d.c, boolInt(on))
}

// KeyframesOnly reports the mode.
func (d *Decoder) KeyframesOnly() bool { return d.keyOnly }

// Decode feeds one access unit (NAL units without start codes) and, when the
// decoder outputs a frame, converts it into dst as BGR at the detection size.
// dst is reallocated only when the size changes; nil dst decodes without
// converting (to rebuild references cheaply). ok reports whether dst holds a
// new frame. dst is managed by the decoder: pass the same Mat every time; a
// Mat it did not allocate is closed and replaced by one with hidden padding
// after the last row, which libswscale needs. Errors are *Error (or ErrBadMat/ErrClosed); the decoder stays
// usable after them.
func (d *Decoder) Decode(nalus [][]byte, pts time.Duration, dst *gocv.Mat) (bool, error) {
	return d.decode(nalus, pts, dst, nil, false)
}

// DecodeFull is Decode that also writes the same frame at full source
// resolution into full, for snapshots; only call it when one is wanted.
func (d *Decoder) DecodeFull(nalus [][]byte, pts time.Duration, dst, full *gocv.Mat) (bool, error) {
	return d.decode(nalus, pts, dst, full, false)
}

// Flush drains one frame held back by the decoder (streams with B-frames)
// into dst; call it until ok is false. The decoder must not be fed afterwards.
func (d *Decoder) Flush(dst *gocv.Mat) (bool, error) {
	return d.decode(nil, 0, dst, nil, true)
}

func (d *Decoder) decode(nalus [][]byte, pts time.Duration, dst, full *gocv.Mat, drain bool) (bool, error) {
	if d.closed {
		return false, ErrClosed
	}
	n := C.int(-1)
	key := false
	if !drain {
		d.stats.AccessUnits++
		if !hasPicture(d.codec, nalus) {
			// Parameter sets or SEI in a unit of their own (some cameras
			// do that before each IDR): libavcodec calls a packet without a
			// picture invalid, so keep them for the next unit instead.
			if len(d.pending) > 1<<16 {
				d.pending = d.pending[:0] // only ever the latest sets matter
			}
			d.pending = appendAnnexB(d.pending, nalus)
			return false, nil
		}
		key = IsKeyframe(d.codec, nalus)
		if key {
			d.needKey = false
		} else if d.keyOnly || d.needKey {
			d.needKey = true
			d.stats.Skipped++
			return false, nil
		}
		var err error
		if n, err = d.stage(nalus); err != nil {
			return false, err
		}
	}
	got := C.lw_send(&d.c, n, C.int64_t(pts/time.Microsecond), C.int(boolInt(key)))
	sendErr := d.c.send_err
	if sendErr < 0 && sendErr != C.AVERROR_EOF {
		d.stats.Errors++
		// References may now be broken: wait for a clean key frame.
		d.needKey = true
		if got <= 0 {
			return false, &Error{Op: "send", Code: int(sendErr)}
		}
	}
	if got < 0 {
		d.stats.Errors++
		return false, &Error{Op: "receive", Code: int(got)}
	}
	if got == 0 {
		return false, nil
	}
	d.stats.Frames++
	if C.lw_frame_corrupt(&d.c) != 0 {
		d.stats.Errors++
	}
	f := d.c.frame
	sw, sh := int(f.width), int(f.height)
	d.frame = Frame{PTS: time.Duration(f.pts) * time.Microsecond, KeyFrame: C.lw_frame_key(&d.c) != 0, Width: sw, Height: sh}
	if dst != nil {
		w, h := OutputSize(sw, sh, d.width)
		if err := d.scale(dst, 0, w, h); err != nil {
			return false, err
		}
		d.frame.OutW, d.frame.OutH = w, h
	}
	if full != nil {
		if err := d.scale(full, 1, sw, sh); err != nil {
			return false, err
		}
	}
	return true, nil
}

// stage copies the NAL units with Annex-B start codes into the C buffer.
// Copying from Go into C memory via a slice over it needs no allocation.
func (d *Decoder) stage(nalus [][]byte) (C.int, error) {
	total := len(d.pending)
	for _, n := range nalus {
		total += 4 + len(n)
	}
	if total > 1<<28 {
		d.stats.Errors++
		return 0, &Error{Op: "send", Code: int(C.AVERROR_INVALIDDATA)}
	}
	if res := C.lw_reserve(&d.c, C.int(total)); res < 0 {
		return 0, &Error{Op: "send", Code: int(res)}
	}
	buf := unsafe.Slice((*byte)(unsafe.Pointer(d.c.buf)), total)
	off := copy(buf, d.pending)
	d.pending = d.pending[:0]
	for _, n := range nalus {
		buf[off], buf[off+1], buf[off+2], buf[off+3] = 0, 0, 0, 1
		off += 4
		off += copy(buf[off:], n)
	}
	return C.int(total), nil
}

func (d *Decoder) scale(m *gocv.Mat, full, w, h int) error {
	err := d.sc[full].convert(d.c.frame, m, w, h)
	if _, ok := err.(*Error); ok {
		d.stats.Errors++ // a libav failure, not a bad destination Mat
	}
	return err
}

// matPadBytes is the slack kept after a destination's last row: libswscale's
// SIMD writers store whole vectors and may run past the end of a line (a
// fuzzer found heap corruption with a 12x28 picture); libav's own frames
// have that padding, OpenCV's do not.
const matPadBytes = 256

// matOwner remembers the one destination Mat it allocated with padding.
type matOwner struct{ data uintptr }

// ensure makes m an h x w CV_8UC3 Mat whose buffer this owner allocated
// with padding after its last row, and returns its bytes. A Mat it did not
// allocate (or of another type or size) is closed and replaced, so that no
// caller-made buffer is ever written past its end.
func (o *matOwner) ensure(m *gocv.Mat, w, h int) ([]byte, error) {
	if w <= 0 || h <= 0 {
		return nil, ErrBadMat
	}
	if !m.Empty() && m.Rows() == h && m.Cols() == w && m.Type() == gocv.MatTypeCV8UC3 && m.IsContinuous() && m.Step() == w*3 {
		if data, err := m.DataPtrUint8(); err == nil && len(data) >= w*h*3 && uintptr(unsafe.Pointer(&data[0])) == o.data {
			return data, nil
		}
	}
	padRows := (matPadBytes + w*3 - 1) / (w * 3)
	big := gocv.NewMatWithSize(h+padRows, w, gocv.MatTypeCV8UC3)
	// The row range shares big's buffer (OpenCV reference-counts it), is
	// continuous, and leaves the padding rows outside the visible Mat.
	view := big.RowRange(0, h)
	big.Close()
	data, err := view.DataPtrUint8()
	if view.Empty() || err != nil || len(data) < w*h*3 {
		view.Close()
		return nil, ErrBadMat
	}
	m.Close()
	*m = view
	o.data = uintptr(unsafe.Pointer(&data[0]))
	return data, nil
}

// OutputSize is the detection size for a source of sw x sh scaled to width:
// aspect kept, both even (chroma subsampling and most detectors like that),
// never upscaled.
func OutputSize(sw, sh, width int) (int, int) {
	if width <= 0 || width >= sw || sw <= 0 {
		return sw, sh
	}
	w := width &^ 1
	h := (sh*w + sw/2) / sw
	h = (h + 1) &^ 1
	if w < 2 {
		w = 2
	}
	if h < 2 {
		h = 2
	}
	return w, h
}

// Close frees the decoder. Safe to call twice.
func (d *Decoder) Close() error {
	if !d.closed {
		d.closed = true
		C.lw_close(&d.c)
		d.sc[0].Close()
		d.sc[1].Close()
	}
	return nil
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// IsKeyframe reports whether an access unit starts a picture that decodes
// without earlier ones: an IDR slice for H.264, an IRAP (BLA/IDR/CRA) for
// H.265.
func IsKeyframe(codec string, nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch codec {
		case H264:
			if n[0]&0x1f == 5 {
				return true
			}
		case H265:
			if t := (n[0] >> 1) & 0x3f; t >= 16 && t <= 21 {
				return true
			}
		}
	}
	return false
}

// hasPicture reports whether an access unit holds a coded picture (VCL
// NAL units), as opposed to only parameter sets, SEI or delimiters.
func hasPicture(codec string, nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		if codec == H264 {
			if t := n[0] & 0x1f; t >= 1 && t <= 5 {
				return true
			}
		} else if t := (n[0] >> 1) & 0x3f; t <= 31 {
			return true
		}
	}
	return false
}

func appendAnnexB(b []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

// Picture is a decoded picture at source size, held as a reference to the
// decoder's pooled buffer: handing it from the decoder to an analysis loop
// copies no pixels, and converting it to BGR happens only for the pictures
// the loop actually takes (see Scaler). Not safe for concurrent use; Ref
// gives another goroutine its own reference.
type Picture struct {
	f *C.AVFrame
}

// NewPicture allocates an empty picture. Close frees it.
func NewPicture() *Picture {
	return &Picture{f: C.lw_frame_alloc()}
}

// Empty reports whether p holds no picture.
func (p *Picture) Empty() bool { return p == nil || p.f == nil || C.lw_frame_empty(p.f) != 0 }

// Size is the picture's coded size.
func (p *Picture) Size() (w, h int) {
	if p.Empty() {
		return 0, 0
	}
	return int(p.f.width), int(p.f.height)
}

// Ref makes p another reference to src's picture (no pixel copy); the
// buffer lives until every reference is released.
func (p *Picture) Ref(src *Picture) error {
	if p.f == nil {
		return ErrClosed
	}
	if src.Empty() {
		C.lw_frame_unref(p.f)
		return nil
	}
	if res := C.lw_ref(p.f, src.f); res < 0 {
		return &Error{Op: "ref", Code: int(res)}
	}
	return nil
}

// Release drops the picture p holds, keeping p usable.
func (p *Picture) Release() {
	if p.f != nil {
		C.lw_frame_unref(p.f)
	}
}

// Close frees p. Safe to call twice.
func (p *Picture) Close() {
	if p.f != nil {
		C.lw_frame_free(p.f)
		p.f = nil
	}
}

// DecodePicture is Decode without the conversion: the frame goes into pic
// as a reference (whatever pic held is released). Convert it later with a
// Scaler, on whichever goroutine needs it.
func (d *Decoder) DecodePicture(nalus [][]byte, pts time.Duration, pic *Picture) (bool, error) {
	if pic == nil || pic.f == nil {
		return false, ErrClosed
	}
	ok, err := d.decode(nalus, pts, nil, nil, false)
	if ok {
		C.lw_take(&d.c, pic.f)
	}
	return ok, err
}

// Scaler converts Pictures to BGR Mats at a detection width (aspect kept,
// as OutputSize). One per consuming goroutine: it keeps libswscale
// contexts and an intermediate buffer between calls.
type Scaler struct {
	sc     C.lw_scaler
	flags  C.int
	mat    matOwner
	closed bool
}

// NewScaler returns a scaler with libswscale flags (0: SWS_FAST_BILINEAR).
func NewScaler(flags int) *Scaler {
	if flags == 0 {
		flags = C.SWS_FAST_BILINEAR
	}
	return &Scaler{flags: C.int(flags)}
}

// Scale writes pic into dst at width (0: source size) and returns the
// size written. dst is managed like Decode's: pass the same Mat each time.
func (s *Scaler) Scale(pic *Picture, dst *gocv.Mat, width int) (w, h int, err error) {
	if s.closed {
		return 0, 0, ErrClosed
	}
	if pic.Empty() {
		return 0, 0, &Error{Op: "scale", Code: int(C.AVERROR_INVALIDDATA)}
	}
	sw, sh := pic.Size()
	w, h = OutputSize(sw, sh, width)
	if err := s.convert(pic.f, dst, w, h); err != nil {
		return 0, 0, err
	}
	return w, h, nil
}

// convert writes frame f into dst at w x h, (re)making dst as matOwner does.
func (s *Scaler) convert(f *C.AVFrame, dst *gocv.Mat, w, h int) error {
	data, err := s.mat.ensure(dst, w, h)
	if err != nil {
		return err
	}
	if res := C.lw_scaler_run(&s.sc, f, (*C.uint8_t)(unsafe.Pointer(&data[0])), C.int(dst.Step()), C.int(w), C.int(h), s.flags); res < 0 {
		return &Error{Op: "scale", Code: int(res)}
	}
	return nil
}

// Close frees the scaler's contexts. Safe to call twice.
func (s *Scaler) Close() {
	if !s.closed {
		s.closed = true
		C.lw_scaler_free(&s.sc)
	}
}
