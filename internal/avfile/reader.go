// Package avfile reads H.264/H.265 video from media files (MP4, MKV, MPEG-TS,
// raw Annex-B) into access units, and writes access units into MP4 clips
// without re-encoding. It uses FFmpeg's libavformat through cgo.
package avfile

/*
#cgo pkg-config: libavformat libavcodec libavutil
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/log.h>
#include <errno.h>
#include <stdlib.h>

enum {
	lw_AVERROR_EOF = AVERROR_EOF,
	lw_AVERROR_EAGAIN = AVERROR(EAGAIN),
	lw_AVERROR_ENOENT = AVERROR(ENOENT),
	lw_AVERROR_EACCES = AVERROR(EACCES),
	lw_AVERROR_EINVAL = AVERROR(EINVAL),
};

static int lw_open(AVFormatContext **ctx, const char *path, const char *fmtname, const char *framerate) {
	const AVInputFormat *fmt = NULL;
	AVDictionary *opts = NULL;
	int ret;
	if (fmtname != NULL && fmtname[0] != 0) {
		fmt = av_find_input_format(fmtname);
		if (fmt == NULL) return AVERROR_DEMUXER_NOT_FOUND;
	}
	if (framerate != NULL && framerate[0] != 0) av_dict_set(&opts, "framerate", framerate, 0);
	// Local files only, in the containers lanewatch supports: a crafted
	// playlist or concat file must not make libavformat open URLs or
	// wander the disk.
	av_dict_set(&opts, "protocol_whitelist", "file", 0);
	av_dict_set(&opts, "format_whitelist", "mov,matroska,mpegts,h264,hevc", 0);
	ret = avformat_open_input(ctx, path, fmt, &opts);
	av_dict_free(&opts);
	if (ret < 0) return ret;
	return avformat_find_stream_info(*ctx, NULL);
}

static AVStream *lw_stream(AVFormatContext *ctx, int i) { return ctx->streams[i]; }

static void lw_discard_others(AVFormatContext *ctx, int keep) {
	for (unsigned i = 0; i < ctx->nb_streams; i++) {
		if ((int)i != keep) ctx->streams[i]->discard = AVDISCARD_ALL;
	}
}

static int64_t lw_to_ns(int64_t ts, AVRational tb) {
	return av_rescale_q(ts, tb, (AVRational){1, 1000000000});
}

static void lw_quiet(void) { av_log_set_level(AV_LOG_FATAL); }
*/
import "C"

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// noPTS is libavutil's AV_NOPTS_VALUE.
const noPTS = math.MinInt64

// AU is one access unit: the NAL units of one picture, without start codes or
// length prefixes. Times are relative to the start of the stream.
type AU struct {
	NALUs    [][]byte
	PTS, DTS time.Duration
	KeyFrame bool
}

// Options tune Open for inputs that need help.
type Options struct {
	// Format forces a libavformat demuxer ("h264", "hevc", "mpegts", ...).
	// Empty: derived from the extension for raw streams, else probed.
	Format string
	// FrameRate sets the rate of raw Annex-B streams, overriding the SPS's
	// timing info; it is also the fallback for any stream that states no
	// rate. Zero: the SPS's rate, else DefaultRawFrameRate.
	FrameRate float64
}

// DefaultRawFrameRate is what a raw Annex-B stream plays at without Options.FrameRate.
const DefaultRawFrameRate = 25.0

// maxParamScan bounds how far Open reads ahead for in-band parameter sets
// when the container's extradata has none (some MPEG-TS and raw streams).
const maxParamScan = 300

// Reader demuxes the best video stream of a file. It is not safe for
// concurrent use.
type Reader struct {
	path       string
	ctx        *C.AVFormatContext
	pkt        *C.AVPacket
	st         *C.AVStream
	index      C.int
	codec      string
	width      int
	height     int
	fps        float64
	params     ParamSets
	lengthSize int // 0: packets are Annex-B
	startTS    int64
	timeScale  float64 // applied to libavformat's timestamps (raw streams with a given rate)
	count      int64   // packets returned, for streams without timestamps
	pending    []AU    // read ahead while looking for parameter sets
	closed     bool
}

// Open opens path with default Options.
func Open(path string) (*Reader, error) { return OpenWith(path, Options{}) }

// rawFormats maps extensions of raw Annex-B files to libavformat demuxers:
// their content is too weak a signature for probing to be reliable.
var rawFormats = map[string]string{
	".h264": "h264", ".264": "h264", ".avc": "h264",
	".h265": "hevc", ".265": "hevc", ".hevc": "hevc",
}

// OpenWith opens path and selects its best video stream, which must be H.264
// or H.265.
func OpenWith(path string, opt Options) (*Reader, error) {
	fail := func(kind error, detail string) (*Reader, error) {
		return nil, &Error{Op: "open", Path: path, Kind: kind, Detail: detail}
	}
	st, err := os.Stat(path)
	switch {
	case os.IsNotExist(err):
		return fail(ErrNotFound, "")
	case err != nil:
		return fail(ErrIO, err.Error())
	case st.IsDir():
		return fail(ErrInvalidData, "is a directory")
	}
	format := opt.Format
	if format == "" {
		format = rawFormats[strings.ToLower(filepath.Ext(path))]
	}
	raw := format == "h264" || format == "hevc"
	rate := ""
	if raw {
		fr := opt.FrameRate
		if fr <= 0 {
			fr = DefaultRawFrameRate
		}
		rate = strconv.FormatFloat(fr, 'f', -1, 64)
	}

	r := &Reader{path: path}
	// "file:" keeps a name with a colon from being taken for a protocol.
	cpath := C.CString("file:" + path)
	defer C.free(unsafe.Pointer(cpath))
	cfmt := C.CString(format)
	defer C.free(unsafe.Pointer(cfmt))
	crate := C.CString(rate)
	defer C.free(unsafe.Pointer(crate))

	if ret := C.lw_open(&r.ctx, cpath, cfmt, crate); ret < 0 {
		r.Close()
		kind := ErrInvalidData
		switch ret {
		case C.lw_AVERROR_ENOENT:
			kind = ErrNotFound
		case C.lw_AVERROR_EACCES:
			kind = ErrIO
		case C.lw_AVERROR_EINVAL: // what a demuxer off the whitelist gives
			kind = ErrUnsupportedFormat
		}
		return fail(kind, avErr(ret))
	}
	if r.ctx.nb_streams == 0 {
		r.Close()
		return fail(ErrInvalidData, "no streams found")
	}
	idx := C.av_find_best_stream(r.ctx, C.AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
	if idx < 0 {
		r.Close()
		return fail(ErrNoVideo, "")
	}
	r.index = idx
	r.st = C.lw_stream(r.ctx, idx)
	C.lw_discard_others(r.ctx, idx)
	par := r.st.codecpar
	switch par.codec_id {
	case C.AV_CODEC_ID_H264:
		r.codec = CodecH264
	case C.AV_CODEC_ID_HEVC:
		r.codec = CodecH265
	default:
		name := C.GoString(C.avcodec_get_name(par.codec_id))
		r.Close()
		return fail(ErrUnsupportedCodec, name)
	}
	r.width, r.height = int(par.width), int(par.height)
	if r.width <= 0 || r.height <= 0 {
		r.Close()
		return fail(ErrInvalidData, "video size unknown")
	}
	r.fps = rateOf(r.st.avg_frame_rate)
	if r.fps == 0 {
		r.fps = rateOf(r.st.r_frame_rate)
	}
	if r.fps > 1000 { // a time base leaking through, not a rate
		r.fps = 0
	}
	r.timeScale = 1
	switch {
	case raw && opt.FrameRate > 0 && r.fps > 0:
		// The caller's rate beats the SPS's VUI timing, which libavformat
		// used for the timestamps: stretch them, keeping any reordering.
		r.timeScale = r.fps / opt.FrameRate
		r.fps = opt.FrameRate
	case r.fps == 0 && opt.FrameRate > 0:
		r.fps = opt.FrameRate
	case r.fps == 0:
		r.fps = DefaultRawFrameRate
	}
	r.startTS = int64(r.st.start_time)

	var ed []byte
	if par.extradata != nil && par.extradata_size > 0 {
		ed = C.GoBytes(unsafe.Pointer(par.extradata), par.extradata_size)
	}
	r.params, r.lengthSize, err = parseExtradata(r.codec, ed)
	if err != nil {
		r.Close()
		return fail(ErrInvalidData, "codec configuration: "+err.Error())
	}
	r.pkt = C.av_packet_alloc()
	if r.pkt == nil {
		r.Close()
		return fail(ErrIO, "out of memory")
	}
	if !r.params.complete(r.codec) {
		if err := r.scanParams(); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// scanParams reads ahead for in-band parameter sets, keeping what it read
// for ReadAU.
func (r *Reader) scanParams() error {
	for i := 0; i < maxParamScan && !r.params.complete(r.codec); i++ {
		au, err := r.readPacket()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		for _, n := range au.NALUs {
			r.params.take(r.codec, n)
		}
		r.pending = append(r.pending, au)
	}
	if !r.params.complete(r.codec) {
		return &Error{Op: "open", Path: r.path, Kind: ErrInvalidData, Detail: "no parameter sets (SPS/PPS) found"}
	}
	return nil
}

func rateOf(q C.AVRational) float64 {
	if q.num <= 0 || q.den <= 0 {
		return 0
	}
	return float64(q.num) / float64(q.den)
}

func avErr(ret C.int) string {
	buf := make([]byte, 256)
	C.av_strerror(ret, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
}

// Codec is CodecH264 or CodecH265.
func (r *Reader) Codec() string { return r.codec }

// Width is the coded picture width in pixels.
func (r *Reader) Width() int { return r.width }

// Height is the coded picture height in pixels.
func (r *Reader) Height() int { return r.height }

// FrameRate is the stream's frame rate in frames per second.
func (r *Reader) FrameRate() float64 { return r.fps }

// FrameDuration is 1/FrameRate.
func (r *Reader) FrameDuration() time.Duration {
	return time.Duration(float64(time.Second) / r.fps)
}

// Params returns the parameter sets (VPS only for H.265). Callers must not
// modify the slices.
func (r *Reader) Params() ParamSets { return r.params }

// Duration is the container's duration, or 0 when it does not say (raw streams).
func (r *Reader) Duration() time.Duration {
	if r.ctx == nil || int64(r.ctx.duration) == noPTS || r.ctx.duration <= 0 {
		return 0
	}
	return time.Duration(int64(r.ctx.duration) * int64(time.Second) / int64(C.AV_TIME_BASE))
}

// ReadAU returns the next access unit, or io.EOF after the last. After an
// *Error of kind ErrInvalidData (one broken packet) the reader may be read on.
func (r *Reader) ReadAU() (AU, error) {
	if r.closed {
		return AU{}, &Error{Op: "read", Path: r.path, Kind: ErrClosed}
	}
	if len(r.pending) > 0 {
		au := r.pending[0]
		r.pending[0] = AU{}
		r.pending = r.pending[1:]
		return au, nil
	}
	return r.readPacket()
}

func (r *Reader) readPacket() (AU, error) {
	for {
		ret := C.av_read_frame(r.ctx, r.pkt)
		if ret == C.lw_AVERROR_EOF {
			return AU{}, io.EOF
		}
		if ret == C.lw_AVERROR_EAGAIN {
			continue
		}
		if ret < 0 {
			return AU{}, &Error{Op: "read", Path: r.path, Kind: ErrIO, Detail: avErr(ret)}
		}
		if r.pkt.stream_index != r.index || r.pkt.size <= 0 {
			C.av_packet_unref(r.pkt)
			continue
		}
		au, err := r.convert()
		C.av_packet_unref(r.pkt)
		return au, err
	}
}

// convert turns the current packet into an AU, copying its data into Go memory.
func (r *Reader) convert() (AU, error) {
	p := r.pkt
	data := C.GoBytes(unsafe.Pointer(p.data), p.size)
	var nalus [][]byte
	var err error
	if r.lengthSize > 0 {
		nalus, err = SplitLengthPrefixed(data, r.lengthSize)
	} else {
		nalus, err = SplitAnnexB(data)
	}
	r.count++
	if err != nil {
		return AU{}, &Error{Op: "read", Path: r.path, Kind: ErrInvalidData,
			Detail: fmt.Sprintf("packet %d: %v", r.count, err)}
	}
	pts, dts := int64(p.pts), int64(p.dts)
	au := AU{NALUs: nalus, KeyFrame: p.flags&C.AV_PKT_FLAG_KEY != 0 || hasIDR(r.codec, nalus)}
	if pts == noPTS && dts == noPTS {
		// Raw streams may carry no timing at all: count frames instead.
		t := time.Duration(r.count-1) * r.FrameDuration()
		au.PTS, au.DTS = t, t
		return au, nil
	}
	if pts == noPTS {
		pts = dts
	}
	if dts == noPTS {
		dts = pts
	}
	if r.startTS != noPTS {
		pts -= r.startTS
		dts -= r.startTS
	}
	au.PTS = time.Duration(C.lw_to_ns(C.int64_t(pts), r.st.time_base))
	au.DTS = time.Duration(C.lw_to_ns(C.int64_t(dts), r.st.time_base))
	if r.timeScale != 1 {
		au.PTS = time.Duration(math.Round(float64(au.PTS) * r.timeScale))
		au.DTS = time.Duration(math.Round(float64(au.DTS) * r.timeScale))
	}
	return au, nil
}

// hasIDR reports an IDR/IRAP picture, for containers that do not flag key
// frames (raw and some MPEG-TS streams).
func hasIDR(codec string, nalus [][]byte) bool {
	for _, n := range nalus {
		t := NALUType(codec, n)
		if codec == CodecH265 && t >= 16 && t <= 21 || codec == CodecH264 && t == 5 {
			return true
		}
	}
	return false
}

// Close releases the file. It is safe to call more than once.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.pkt != nil {
		C.av_packet_free(&r.pkt)
	}
	if r.ctx != nil {
		C.avformat_close_input(&r.ctx)
	}
	r.pending = nil
	return nil
}

// quietFFmpegLogs silences libav's own logging (process-wide); tests and the
// fuzzer feed it garbage on purpose.
func quietFFmpegLogs() { C.lw_quiet() }
