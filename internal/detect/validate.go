package detect

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ModelError says why a model file was refused before OpenCV saw it. OpenCV
// aborts the whole process on a model it cannot parse, so every check that can
// be made in Go is made here first.
type ModelError struct {
	Path   string
	Reason string
	Err    error // the cause, when there is one
}

func (e *ModelError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("detector model %s: %s: %v", e.Path, e.Reason, e.Err)
	}
	return fmt.Sprintf("detector model %s: %s", e.Path, e.Reason)
}

func (e *ModelError) Unwrap() error { return e.Err }

// Reasons, for errors.Is on a *ModelError via these sentinels.
var (
	ErrMissing   = errors.New("model file missing")
	ErrSize      = errors.New("model file size implausible")
	ErrChecksum  = errors.New("sha256 mismatch")
	ErrFormat    = errors.New("not a model of the configured kind")
	ErrTruncated = errors.New("model file truncated or padded")
	ErrOutputs   = errors.New("model outputs are not what the decoder expects")
)

const (
	minModelBytes = 64 << 10  // the smallest useful detectors are ~1 MB
	maxModelBytes = 512 << 20 // beyond this it is no edge model
)

func modelErr(path, reason string, err error) error {
	return &ModelError{Path: path, Reason: reason, Err: err}
}

// readModel reads a model file after checking its existence, size and
// (when want is set) its sha256.
func readModel(path, wantSHA string, minBytes int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, modelErr(path, "cannot stat", errors.Join(ErrMissing, err))
	}
	if !st.Mode().IsRegular() {
		return nil, modelErr(path, "not a regular file", ErrMissing)
	}
	if st.Size() < minBytes || st.Size() > maxModelBytes {
		return nil, modelErr(path, fmt.Sprintf("%d bytes", st.Size()), ErrSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, modelErr(path, "cannot read", errors.Join(ErrMissing, err))
	}
	if wantSHA != "" {
		sum := sha256.Sum256(b)
		got := hex.EncodeToString(sum[:])
		if !strings.EqualFold(got, strings.TrimSpace(wantSHA)) {
			return nil, modelErr(path, fmt.Sprintf("sha256 is %s, configured %s", got, wantSHA), ErrChecksum)
		}
	}
	return b, nil
}

// darknetCfg is what the validator and decoder need from a darknet cfg.
type darknetCfg struct {
	width, height, channels int
	classes                 int // of the [yolo] layers
	yolo                    int // number of [yolo]/[region] layers
	weights                 int64
}

type cfgSection struct {
	name string
	kv   map[string]string
	line int
}

// parseDarknetCfg parses a darknet cfg and counts the float32 weights the
// layers need, so that a truncated .weights file is refused before OpenCV's
// importer (which aborts on it) reads it.
func parseDarknetCfg(path string, b []byte) (darknetCfg, error) {
	var secs []cfgSection
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return darknetCfg{}, modelErr(path, fmt.Sprintf("line %d: bad section %q", n, line), ErrFormat)
			}
			secs = append(secs, cfgSection{name: line[1 : len(line)-1], kv: map[string]string{}, line: n})
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || len(secs) == 0 {
			return darknetCfg{}, modelErr(path, fmt.Sprintf("line %d: not key=value: %.40q", n, line), ErrFormat)
		}
		secs[len(secs)-1].kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return darknetCfg{}, modelErr(path, "cannot read cfg", errors.Join(ErrFormat, err))
	}
	if len(secs) < 2 || (secs[0].name != "net" && secs[0].name != "network") {
		return darknetCfg{}, modelErr(path, "no [net] section first", ErrFormat)
	}
	var c darknetCfg
	geti := func(s cfgSection, k string, def int) (int, error) {
		v, ok := s.kv[k]
		if !ok {
			return def, nil
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			return 0, modelErr(path, fmt.Sprintf("line %d [%s]: %s=%q", s.line, s.name, k, v), ErrFormat)
		}
		return i, nil
	}
	var err error
	if c.width, err = geti(secs[0], "width", 0); err != nil {
		return c, err
	}
	if c.height, err = geti(secs[0], "height", 0); err != nil {
		return c, err
	}
	if c.channels, err = geti(secs[0], "channels", 3); err != nil {
		return c, err
	}
	if c.width < 32 || c.height < 32 || c.width%32 != 0 || c.height%32 != 0 {
		return c, modelErr(path, fmt.Sprintf("[net] input %dx%d", c.width, c.height), ErrFormat)
	}
	outCh := []int{} // output channels per layer
	prev := c.channels
	for _, s := range secs[1:] {
		ch := prev
		switch s.name {
		case "convolutional":
			filters, err := geti(s, "filters", 1)
			if err != nil {
				return c, err
			}
			size, err := geti(s, "size", 1)
			if err != nil {
				return c, err
			}
			groups, err := geti(s, "groups", 1)
			if err != nil {
				return c, err
			}
			bn, err := geti(s, "batch_normalize", 0)
			if err != nil {
				return c, err
			}
			if groups < 1 || prev%groups != 0 || filters < 1 {
				return c, modelErr(path, fmt.Sprintf("line %d: groups=%d on %d channels", s.line, groups, prev), ErrFormat)
			}
			c.weights += int64(filters) * int64(prev/groups) * int64(size*size)
			if bn != 0 {
				c.weights += 4 * int64(filters) // biases, scales, rolling mean, rolling variance
			} else {
				c.weights += int64(filters)
			}
			ch = filters
		case "route":
			ch = 0
			for _, f := range strings.Split(s.kv["layers"], ",") {
				i, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil {
					return c, modelErr(path, fmt.Sprintf("line %d: route layers %q", s.line, s.kv["layers"]), ErrFormat)
				}
				if i < 0 {
					i += len(outCh)
				}
				if i < 0 || i >= len(outCh) {
					return c, modelErr(path, fmt.Sprintf("line %d: route to layer %d of %d", s.line, i, len(outCh)), ErrFormat)
				}
				ch += outCh[i]
			}
		case "yolo", "region":
			c.yolo++
			if c.classes, err = geti(s, "classes", 80); err != nil {
				return c, err
			}
		case "shortcut", "dropout", "maxpool", "upsample", "avgpool":
		default:
			return c, modelErr(path, fmt.Sprintf("line %d: unsupported layer [%s]", s.line, s.name), ErrFormat)
		}
		outCh = append(outCh, ch)
		prev = ch
	}
	if c.yolo == 0 {
		return c, modelErr(path, "no [yolo] or [region] output layer", ErrFormat)
	}
	return c, nil
}

// checkDarknetWeights checks the weights header and that the file holds
// exactly the weights the cfg asks for.
func checkDarknetWeights(path string, b []byte, want int64) error {
	if len(b) < 20 {
		return modelErr(path, "no header", ErrTruncated)
	}
	major := binary.LittleEndian.Uint32(b[0:])
	minor := binary.LittleEndian.Uint32(b[4:])
	if major > 10 || minor > 100 {
		return modelErr(path, fmt.Sprintf("header version %d.%d", major, minor), ErrFormat)
	}
	header := int64(12 + 4)
	if major*10+minor >= 2 {
		header = 12 + 8 // "seen" became 64-bit in format 0.2
	}
	if got := int64(len(b)); got != header+4*want {
		return modelErr(path, fmt.Sprintf("%d bytes, the cfg needs %d", got, header+4*want), ErrTruncated)
	}
	return nil
}

// checkONNX walks the top level of the protobuf ModelProto: every field must
// have a known wire type and fit in the file, and the graph (field 7) must be
// there. Garbage and truncated files fail here instead of aborting in OpenCV.
func checkONNX(path string, b []byte) error {
	if len(b) < 2 || b[0] != 0x08 { // field 1 (ir_version), varint
		return modelErr(path, "does not start with an ONNX protobuf header", ErrFormat)
	}
	graph := false
	for i := 0; i < len(b); {
		key, n := binary.Uvarint(b[i:])
		if n <= 0 {
			return modelErr(path, fmt.Sprintf("bad field key at byte %d", i), ErrTruncated)
		}
		i += n
		field, wire := key>>3, key&7
		if field == 0 || field > 30 {
			return modelErr(path, fmt.Sprintf("unknown ModelProto field %d at byte %d", field, i), ErrFormat)
		}
		switch wire {
		case 0:
			v, n := binary.Uvarint(b[i:])
			if n <= 0 {
				return modelErr(path, fmt.Sprintf("bad varint at byte %d", i), ErrTruncated)
			}
			if field == 1 && (v < 3 || v > 20) {
				return modelErr(path, fmt.Sprintf("ir_version %d", v), ErrFormat)
			}
			i += n
		case 2:
			l, n := binary.Uvarint(b[i:])
			if n <= 0 {
				return modelErr(path, fmt.Sprintf("bad length at byte %d", i), ErrTruncated)
			}
			i += n
			if l > uint64(len(b)-i) {
				return modelErr(path, fmt.Sprintf("field %d of %d bytes at byte %d runs past the end (%d bytes)", field, l, i, len(b)), ErrTruncated)
			}
			if field == 7 {
				graph = true
			}
			i += int(l)
		default:
			return modelErr(path, fmt.Sprintf("wire type %d at byte %d", wire, i), ErrFormat)
		}
	}
	if !graph {
		return modelErr(path, "no graph", ErrFormat)
	}
	return nil
}
