package avfile

/*
#cgo pkg-config: libavcodec libavutil
#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
#include <libavutil/imgutils.h>
#include <string.h>

static int lw_enc_open(AVCodecContext **out, AVFrame **frame, AVPacket **pkt, int w, int h, int fps) {
	const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
	if (codec == NULL) codec = avcodec_find_encoder(AV_CODEC_ID_H264);
	if (codec == NULL) return AVERROR_ENCODER_NOT_FOUND;
	AVCodecContext *c = avcodec_alloc_context3(codec);
	if (c == NULL) return AVERROR(ENOMEM);
	c->width = w;
	c->height = h;
	c->time_base = (AVRational){1, 90000};
	c->framerate = (AVRational){fps, 1};
	c->pix_fmt = AV_PIX_FMT_YUV420P;
	c->gop_size = fps * 2;
	c->max_b_frames = 0;          // decode order = presentation order, like cameras
	c->thread_count = 1;          // evidence is small; leave the cores to analysis
	c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER; // SPS/PPS in extradata for the MP4
	av_opt_set(c->priv_data, "preset", "veryfast", 0);
	av_opt_set(c->priv_data, "crf", "23", 0);
	int ret = avcodec_open2(c, codec, NULL);
	if (ret < 0) { avcodec_free_context(&c); return ret; }
	AVFrame *f = av_frame_alloc();
	AVPacket *p = av_packet_alloc();
	if (f == NULL || p == NULL) { av_frame_free(&f); av_packet_free(&p); avcodec_free_context(&c); return AVERROR(ENOMEM); }
	f->format = AV_PIX_FMT_YUV420P;
	f->width = w;
	f->height = h;
	ret = av_frame_get_buffer(f, 0);
	if (ret < 0) { av_frame_free(&f); av_packet_free(&p); avcodec_free_context(&c); return ret; }
	*out = c; *frame = f; *pkt = p;
	return 0;
}

// lw_enc_send copies one I420 picture (planes back to back, no padding)
// into the frame and sends it; data NULL flushes.
static int lw_enc_send(AVCodecContext *c, AVFrame *f, const uint8_t *data, int64_t pts) {
	if (data == NULL) return avcodec_send_frame(c, NULL);
	int ret = av_frame_make_writable(f);
	if (ret < 0) return ret;
	const uint8_t *src[4];
	int lines[4] = {f->width, f->width / 2, f->width / 2, 0};
	src[0] = data;
	src[1] = data + f->width * f->height;
	src[2] = src[1] + (f->width / 2) * (f->height / 2);
	src[3] = NULL;
	av_image_copy(f->data, f->linesize, src, lines, AV_PIX_FMT_YUV420P, f->width, f->height);
	f->pts = pts;
	return avcodec_send_frame(c, f);
}

static void lw_enc_close(AVCodecContext *c, AVFrame *f, AVPacket *p) {
	av_frame_free(&f);
	av_packet_free(&p);
	avcodec_free_context(&c);
}
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"
)

// Encoder encodes I420 pictures to H.264 (libx264 when libavcodec has it)
// for evidence that must be re-encoded: clips of privacy-masked cameras.
// Not safe for concurrent use.
type Encoder struct {
	ctx    *C.AVCodecContext
	frame  *C.AVFrame
	pkt    *C.AVPacket
	w, h   int
	params [][]byte
	closed bool
}

// NewEncoder opens an H.264 encoder for w x h pictures (both even) at
// about fps frames a second (it sets the key-frame interval, 2 s).
func NewEncoder(w, h, fps int) (*Encoder, error) {
	if w <= 0 || h <= 0 || w%2 != 0 || h%2 != 0 || w > 8192 || h > 8192 {
		return nil, &Error{Op: "encode", Kind: ErrBadArgument, Detail: fmt.Sprintf("size %dx%d: want even, up to 8192", w, h)}
	}
	fps = min(max(fps, 1), 60)
	e := &Encoder{w: w, h: h}
	if ret := C.lw_enc_open(&e.ctx, &e.frame, &e.pkt, C.int(w), C.int(h), C.int(fps)); ret < 0 {
		return nil, &Error{Op: "encode", Kind: ErrIO, Detail: avErr(ret)}
	}
	ed := C.GoBytes(unsafe.Pointer(e.ctx.extradata), e.ctx.extradata_size)
	nalus, err := SplitAnnexB(ed)
	if err != nil || len(nalus) < 2 {
		e.Close()
		return nil, &Error{Op: "encode", Kind: ErrIO, Detail: "encoder gave no SPS/PPS"}
	}
	e.params = nalus
	return e, nil
}

// Params are the stream's parameter sets (SPS, PPS) for CreateMP4.
func (e *Encoder) Params() [][]byte { return e.params }

// Encode takes one picture in I420 layout (w*h*3/2 bytes: Y, then U, then
// V) at pts and returns the access units the encoder finished meanwhile.
func (e *Encoder) Encode(i420 []byte, pts time.Duration) ([]AU, error) {
	if e.closed {
		return nil, &Error{Op: "encode", Kind: ErrClosed}
	}
	if len(i420) != e.w*e.h*3/2 {
		return nil, &Error{Op: "encode", Kind: ErrBadArgument, Detail: fmt.Sprintf("%d bytes for %dx%d I420", len(i420), e.w, e.h)}
	}
	ticks := C.int64_t(int64(pts) * 9 / 100000) // 90 kHz
	if ret := C.lw_enc_send(e.ctx, e.frame, (*C.uint8_t)(unsafe.Pointer(&i420[0])), ticks); ret < 0 {
		return nil, &Error{Op: "encode", Kind: ErrIO, Detail: avErr(ret)}
	}
	return e.receive()
}

// Flush ends the stream and returns the access units still held.
func (e *Encoder) Flush() ([]AU, error) {
	if e.closed {
		return nil, &Error{Op: "encode", Kind: ErrClosed}
	}
	if ret := C.lw_enc_send(e.ctx, e.frame, nil, 0); ret < 0 {
		return nil, &Error{Op: "encode", Kind: ErrIO, Detail: avErr(ret)}
	}
	return e.receive()
}

func (e *Encoder) receive() ([]AU, error) {
	var out []AU
	for {
		ret := C.avcodec_receive_packet(e.ctx, e.pkt)
		if ret == C.AVERROR_EOF || ret == -C.int(C.EAGAIN) {
			return out, nil
		}
		if ret < 0 {
			return out, &Error{Op: "encode", Kind: ErrIO, Detail: avErr(ret)}
		}
		data := C.GoBytes(unsafe.Pointer(e.pkt.data), e.pkt.size)
		nalus, err := SplitAnnexB(data)
		pts := time.Duration(int64(e.pkt.pts) * 100000 / 9)
		dts := time.Duration(int64(e.pkt.dts) * 100000 / 9)
		key := e.pkt.flags&C.AV_PKT_FLAG_KEY != 0
		C.av_packet_unref(e.pkt)
		if err != nil {
			return out, &Error{Op: "encode", Kind: ErrIO, Detail: "encoder output: " + err.Error()}
		}
		out = append(out, AU{NALUs: nalus, PTS: pts, DTS: dts, KeyFrame: key})
	}
}

// Close frees the encoder. Safe to call twice.
func (e *Encoder) Close() {
	if e.closed || e.ctx == nil {
		return
	}
	e.closed = true
	C.lw_enc_close(e.ctx, e.frame, e.pkt)
}
