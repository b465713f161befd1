package avfile

import (
	"errors"
	"fmt"
	"io/fs"
)

// Sentinel kinds; test with errors.Is. Every error this package returns for a
// file is an *Error whose Kind is one of these.
var (
	// ErrNotFound also matches fs.ErrNotExist.
	ErrNotFound = fmt.Errorf("file not found: %w", fs.ErrNotExist)
	// ErrUnsupportedCodec: the file's video is neither H.264 nor H.265.
	ErrUnsupportedCodec = errors.New("unsupported codec (want H.264 or H.265)")
	// ErrUnsupportedFormat: the container is not MP4/MOV, MKV, MPEG-TS or raw Annex-B.
	ErrUnsupportedFormat = errors.New("unsupported container (want MP4, MKV, MPEG-TS or raw H.264/H.265)")
	// ErrNoVideo: the container has no video stream.
	ErrNoVideo = errors.New("no video stream")
	// ErrInvalidData: the file cannot be demuxed or its bitstream is malformed.
	ErrInvalidData = errors.New("invalid or corrupt data")
	// ErrIO: reading or writing the file failed.
	ErrIO = errors.New("i/o error")
	// ErrNeedKeyFrame: a clip must start with a key frame to be playable.
	ErrNeedKeyFrame = errors.New("first access unit is not a key frame")
	// ErrBadArgument: a caller passed something unusable (codec, size, timestamps).
	ErrBadArgument = errors.New("bad argument")
	// ErrClosed: the Reader or Writer was already closed.
	ErrClosed = errors.New("already closed")
)

// Error describes a failed operation on a media file.
type Error struct {
	Op     string // "open", "read", "create", "write" or "close"
	Path   string
	Kind   error  // one of the Err* sentinels
	Detail string // FFmpeg's message, the codec name, ...; may be empty
}

func (e *Error) Error() string {
	s := "avfile: " + e.Op + " " + e.Path + ": " + e.Kind.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *Error) Unwrap() error { return e.Kind }
