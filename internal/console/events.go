package console

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// eventHub fans incident and camera changes out to SSE clients. Each event is
// marshalled and framed once; clients get the same bytes.
type eventHub struct {
	m   *serverMetrics
	log *slog.Logger

	mu      sync.Mutex
	seq     uint64
	clients map[*sseClient]struct{}
}

// sseBuffer is how many events a client may lag behind before it is dropped;
// the browser's EventSource reconnects and reloads the lists.
const sseBuffer = 256

type sseClient struct {
	ch      chan []byte
	dropped chan struct{}
}

func newEventHub(m *serverMetrics, log *slog.Logger) *eventHub {
	return &eventHub{m: m, log: log, clients: map[*sseClient]struct{}{}}
}

func (h *eventHub) publish(kind string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		h.log.Error("sse marshal", "event", kind, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	frame := []byte("id: " + strconv.FormatUint(h.seq, 10) + "\nevent: " + kind + "\ndata: " + string(data) + "\n\n")
	for c := range h.clients {
		select {
		case c.ch <- frame:
		default:
			delete(h.clients, c)
			close(c.dropped)
			h.m.sseDropped.Inc()
			h.m.sseClients.Dec()
		}
	}
}

func (h *eventHub) add() *sseClient {
	c := &sseClient{ch: make(chan []byte, sseBuffer), dropped: make(chan struct{})}
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
	h.m.sseClients.Inc()
	return c
}

func (h *eventHub) remove(c *sseClient) {
	h.mu.Lock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.m.sseClients.Dec()
	}
	h.mu.Unlock()
}

func (s *Server) sse(w http.ResponseWriter, r *http.Request) {
	release, ok := s.live.acquire(w, r)
	if !ok {
		return
	}
	defer release()
	c := s.events.add()
	defer s.events.remove(c)
	beforeWrite := streamDeadlines(w, s.Limits.StreamStall)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(b []byte) bool {
		beforeWrite()
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: 3000\n: connected\n\n")) {
		return
	}
	hb := time.NewTicker(s.Heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.dropped:
			return
		case <-hb.C:
			// A comment line keeps proxies and the browser from timing the
			// stream out, and lets a dead peer be noticed.
			if !write([]byte(": heartbeat\n\n")) {
				return
			}
		case frame := <-c.ch:
			if !write(frame) {
				return
			}
		}
	}
}
