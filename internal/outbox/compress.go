package outbox

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sync"
)

// Ticket bodies are stored deflated: JSON and base64 shrink 2-4x, so the cap
// holds more tickets and a deep queue touches fewer pages of the mmap'd file
// (which count towards RSS). The first byte tells the format apart: '{' is
// plain JSON, bodyDeflate a deflate stream.
const bodyDeflate = 0x01

var writers = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

func packBody(body []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(body)/2 + 16)
	buf.WriteByte(bodyDeflate)
	w := writers.Get().(*flate.Writer)
	w.Reset(&buf)
	w.Write(body) // writes to a bytes.Buffer cannot fail
	w.Close()
	writers.Put(w)
	return buf.Bytes()
}

func unpackBody(stored []byte) ([]byte, error) {
	if len(stored) == 0 || stored[0] == '{' {
		return stored, nil
	}
	if stored[0] != bodyDeflate {
		return nil, fmt.Errorf("outbox: stored body has unknown format %#x", stored[0])
	}
	return io.ReadAll(flate.NewReader(bytes.NewReader(stored[1:])))
}
