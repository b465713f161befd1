package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// The peer service over a real NATS server with a small max_payload: a
// reply larger than it arrives whole, in parts; refusals keep their
// meaning; a gateway that does not serve is unavailable at once.
func TestPeerRequestReply(t *testing.T) {
	url := testenv.StartNATS(t, false, 8<<10)
	conn := func() *nats.Conn {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 10_000) // 160 kB: 40 parts of 4 kB
	stop, err := servePeers(conn(), "gw-a", map[string]peerHandler{
		peerIncidentClip: func(_ context.Context, r peerRequest) (peerReply, error) {
			if r.ID != "inc_1" {
				return peerReply{}, fmt.Errorf("%w: %s", console.ErrNotFound, r.ID)
			}
			return peerReply{body: big, hdr: map[string]string{hdrTime: "2026-12-03T10:00:00Z"}}, nil
		},
		peerAck: func(context.Context, peerRequest) (peerReply, error) {
			return peerReply{}, fmt.Errorf("%w: resolved", console.ErrConflict)
		},
	}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	nc := conn()
	ctx := context.Background()
	body, hdr, err := askPeer(ctx, nc, "gw-a", peerRequest{Op: peerIncidentClip, ID: "inc_1"}, 5*time.Second)
	if err != nil || !bytes.Equal(body, big) || hdr.Get(hdrTime) != "2026-12-03T10:00:00Z" {
		t.Fatalf("large reply: %d bytes (want %d), time %q, %v", len(body), len(big), hdr.Get(hdrTime), err)
	}
	tests := []struct {
		name string
		gw   string
		req  peerRequest
		want error
	}{
		{"not found", "gw-a", peerRequest{Op: peerIncidentClip, ID: "inc_2"}, console.ErrNotFound},
		{"conflict", "gw-a", peerRequest{Op: peerAck, ID: "inc_1", By: "ops"}, console.ErrConflict},
		{"unknown operation", "gw-a", peerRequest{Op: "shell", ID: "inc_1"}, console.ErrInvalid},
		{"bad id", "gw-a", peerRequest{Op: peerIncidentClip, ID: "../../etc/passwd"}, console.ErrInvalid},
		{"no such gateway", "gw-b", peerRequest{Op: peerIncidentClip, ID: "inc_1"}, console.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, _, err := askPeer(ctx, nc, tc.gw, tc.req, 5*time.Second)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("answered after %v: not at once", time.Since(start))
			}
		})
	}
}

// FuzzPeerRequest: whatever a peer sends, decoding never panics, and what it
// accepts has ids the console could have sent and bounded texts.
func FuzzPeerRequest(f *testing.F) {
	f.Add([]byte(`{"op":"incident.ack","id":"inc_01m8y82562q2ba0b8kyw","by":"ops","note":"on my way"}`))
	f.Add([]byte(`{"op":"camera.frame","camera":"cam-0"}`))
	f.Add([]byte(`{"op":"incident.clip","id":"../../etc/passwd"}`))
	f.Add([]byte(`{"op":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodePeerRequest(data)
		if err != nil {
			if !errors.Is(err, console.ErrInvalid) {
				t.Fatalf("refusal not ErrInvalid: %v", err)
			}
			return
		}
		if (r.ID != "" && !peerIDRE.MatchString(r.ID)) || (r.Camera != "" && !peerIDRE.MatchString(r.Camera)) ||
			len(r.By) > 256 || len(r.Note) > 4096 {
			t.Fatalf("accepted %+v", r)
		}
		if i, n, ok := parsePart(string(data)); ok && (i < 1 || i > n) {
			t.Fatalf("part %d/%d accepted", i, n)
		}
	})
}
