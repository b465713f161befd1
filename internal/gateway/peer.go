package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/logx"
)

// The peer service: what a gateway asks the gateway that owns an incident or
// holds a camera (issue 16 item 4) — acks and resolves, incident evidence,
// camera snapshots and wall frames — as NATS request/reply over the
// cluster's own connection. The cluster is already authenticated (routes
// need cluster.secret; inside, the subject is in the gateway's account,
// which MQTT accounts cannot publish to), so no credential of our own is
// added; the viewer's rights are checked by the console of the gateway the
// viewer uses, before it asks. Replies larger than the servers' max_payload
// are sent in parts.

// peerSubject is where a gateway serves its peers.
func peerSubject(gateway string) string { return "_lanewatch.peer." + gateway }

// Peer operations.
const (
	peerAck            = "incident.ack"
	peerResolve        = "incident.resolve"
	peerIncidentSnap   = "incident.snapshot"
	peerIncidentClip   = "incident.clip"
	peerCameraSnapshot = "camera.snapshot"
	peerCameraFrame    = "camera.frame"
)

// peerRequest is a request's JSON body.
type peerRequest struct {
	Op     string `json:"op"`
	ID     string `json:"id,omitempty"`     // incident
	Camera string `json:"camera,omitempty"` // camera
	By     string `json:"by,omitempty"`     // ack/resolve: the operator, as the asking gateway authenticated them
	Note   string `json:"note,omitempty"`
}

// Reply headers.
const (
	hdrStatus = "Lw-Status" // ok, not_found, conflict, unavailable, invalid, error
	hdrError  = "Lw-Error"
	hdrPart   = "Lw-Part" // i/n, from 1
	hdrTime   = "Lw-Time" // a clip's modification time, RFC 3339
)

// peerMaxReply bounds what a gateway takes from a peer (a clip is a few MB).
const peerMaxReply = 256 << 20

var peerIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// peerStatus names err for the reply; peerErr maps it back.
func peerStatus(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, console.ErrNotFound):
		return "not_found"
	case errors.Is(err, console.ErrConflict):
		return "conflict"
	case errors.Is(err, console.ErrInvalid):
		return "invalid"
	case errors.Is(err, console.ErrUnavailable):
		return "unavailable"
	}
	return "error"
}

// PeerError is a peer's refusal or failure, wrapping the console error it stands for.
type PeerError struct {
	Gateway, Status, Msg string
}

func (e *PeerError) Error() string {
	return fmt.Sprintf("gateway %s: %s: %s", e.Gateway, e.Status, e.Msg)
}

func (e *PeerError) Unwrap() error {
	switch e.Status {
	case "not_found":
		return console.ErrNotFound
	case "conflict":
		return console.ErrConflict
	case "invalid":
		return console.ErrInvalid
	}
	return console.ErrUnavailable
}

// peerReply is one answer: body (sent in parts) and extra headers.
type peerReply struct {
	body []byte
	hdr  map[string]string
}

// peerHandler answers one request.
type peerHandler func(ctx context.Context, r peerRequest) (peerReply, error)

// servePeers answers requests on this gateway's subject until stop. Each
// request runs on its own goroutine (a slow clip read must not hold up wall
// frames), at most 32 at once.
func servePeers(nc *nats.Conn, self string, handlers map[string]peerHandler, log func(msg string, args ...any)) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	sem := make(chan struct{}, 32)
	sub, err := nc.Subscribe(peerSubject(self), func(m *nats.Msg) {
		if m.Reply == "" {
			return // nobody to answer: not a request of ours
		}
		select {
		case sem <- struct{}{}:
		default:
			replyErr(nc, m.Reply, fmt.Errorf("%w: busy", console.ErrUnavailable))
			return
		}
		go func() {
			defer func() { <-sem }()
			r, err := decodePeerRequest(m.Data)
			if err != nil {
				replyErr(nc, m.Reply, err)
				return
			}
			h := handlers[r.Op]
			if h == nil {
				replyErr(nc, m.Reply, fmt.Errorf("%w: unknown peer operation", console.ErrInvalid))
				return
			}
			rctx, cancelReq := context.WithTimeout(ctx, 30*time.Second)
			defer cancelReq()
			rep, err := h(rctx, r)
			if err != nil {
				replyErr(nc, m.Reply, err)
				return
			}
			if err := sendParts(nc, m.Reply, rep); err != nil {
				log("peer reply not sent", "op", r.Op, "err", err)
			}
		}()
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return func() { _ = sub.Drain(); cancel() }, nil
}

// decodePeerRequest parses and checks a request: ids as the console's,
// operator and note bounded.
func decodePeerRequest(data []byte) (peerRequest, error) {
	var r peerRequest
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%w: bad peer request: %v", console.ErrInvalid, err)
	}
	if (r.ID != "" && !peerIDRE.MatchString(r.ID)) || (r.Camera != "" && !peerIDRE.MatchString(r.Camera)) ||
		len(r.By) > 256 || len(r.Note) > 4096 {
		return r, fmt.Errorf("%w: bad peer request", console.ErrInvalid)
	}
	return r, nil
}

func replyErr(nc *nats.Conn, reply string, err error) {
	msg := nats.NewMsg(reply)
	msg.Header.Set(hdrStatus, peerStatus(err))
	msg.Header.Set(hdrError, logx.RedactText(err.Error())) // a camera's error may name its URL
	msg.Header.Set(hdrPart, "1/1")
	_ = nc.PublishMsg(msg)
}

// sendParts sends rep's body in parts that fit the servers' max_payload.
func sendParts(nc *nats.Conn, reply string, rep peerReply) error {
	chunk := int(nc.MaxPayload()) - 4096 // room for the headers
	if chunk < 4096 {
		chunk = 4096
	}
	n := max(1, (len(rep.body)+chunk-1)/chunk)
	for i := range n {
		msg := nats.NewMsg(reply)
		msg.Header.Set(hdrStatus, "ok")
		msg.Header.Set(hdrPart, strconv.Itoa(i+1)+"/"+strconv.Itoa(n))
		for k, v := range rep.hdr {
			msg.Header.Set(k, v)
		}
		msg.Data = rep.body[i*chunk : min(len(rep.body), (i+1)*chunk)]
		if err := nc.PublishMsg(msg); err != nil {
			return err
		}
	}
	return nc.Flush()
}

// askPeer sends r to gateway gw and gathers its reply. Errors wrap the
// console's: ErrUnavailable when the peer does not answer in time.
func askPeer(ctx context.Context, nc *nats.Conn, gw string, r peerRequest, timeout time.Duration) ([]byte, nats.Header, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", console.ErrUnavailable, err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishMsg(&nats.Msg{Subject: peerSubject(gw), Reply: inbox, Data: data}); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", console.ErrUnavailable, err)
	}
	var body []byte
	var hdr nats.Header
	for got := 0; ; {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: gateway %s did not answer: %v", console.ErrUnavailable, gw, err)
		}
		if m.Header.Get("Status") == "503" {
			return nil, nil, fmt.Errorf("%w: gateway %s is not serving", console.ErrUnavailable, gw)
		}
		if st := m.Header.Get(hdrStatus); st != "ok" {
			return nil, nil, &PeerError{Gateway: gw, Status: st, Msg: m.Header.Get(hdrError)}
		}
		i, n, ok := parsePart(m.Header.Get(hdrPart))
		if !ok || i != got+1 {
			return nil, nil, fmt.Errorf("%w: gateway %s: reply parts out of order", console.ErrUnavailable, gw)
		}
		got = i
		if len(body)+len(m.Data) > peerMaxReply {
			return nil, nil, fmt.Errorf("%w: gateway %s: reply larger than %d bytes", console.ErrUnavailable, gw, peerMaxReply)
		}
		body = append(body, m.Data...)
		hdr = m.Header
		if i == n {
			return body, hdr, nil
		}
	}
}

func parsePart(s string) (i, n int, ok bool) {
	a, b, found := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	return i, n, found && err1 == nil && err2 == nil && i >= 1 && i <= n
}
