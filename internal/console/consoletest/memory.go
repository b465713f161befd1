// Package consoletest holds in-memory implementations of the console's data
// interfaces and the browser steps of the monitor wall, for the console's own
// tests and for end-to-end tests of the whole gateway.
package consoletest

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/incident"
	"gocv.io/x/gocv"
)

// Cameras is a CameraSource whose frames are drawn with gocv: a moving bar
// and the frame number, so that a viewer can tell the stream is live.
type Cameras struct {
	Width, Height int

	mu       sync.Mutex
	status   []console.CameraStatus
	frame    map[string]int
	subs     map[chan console.CameraStatus]struct{}
	annotate int // Annotated calls, for the encode-once check
}

// NewCameras returns cameras with the given ids, all online, 640x360 frames.
func NewCameras(ids ...string) *Cameras {
	c := &Cameras{Width: 640, Height: 360, frame: map[string]int{}, subs: map[chan console.CameraStatus]struct{}{}}
	now := time.Now()
	for _, id := range ids {
		c.status = append(c.status, console.CameraStatus{ID: id, Name: "Camera " + id, State: "online",
			FPSIn: 25, FPSDecoded: 25, FPSAnalyzed: 5, LastFrameAt: &now, Since: &now})
	}
	return c
}

func (c *Cameras) Cameras() []console.CameraStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]console.CameraStatus(nil), c.status...)
}

func (c *Cameras) known(id string) (int, bool) {
	for i, s := range c.status {
		if s.ID == id {
			return i, true
		}
	}
	return 0, false
}

// Snapshot is the raw frame (no overlay) as JPEG.
func (c *Cameras) Snapshot(ctx context.Context, id string) ([]byte, error) {
	m := gocv.NewMat()
	defer m.Close()
	if !c.draw(id, &m, false) {
		return nil, fmt.Errorf("camera %s: %w", id, console.ErrNotFound)
	}
	buf, err := gocv.IMEncode(gocv.JPEGFileExt, m)
	if err != nil {
		return nil, err
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}

func (c *Cameras) Annotated(id string, dst *gocv.Mat) bool {
	return c.draw(id, dst, true)
}

// AnnotatedCalls counts Annotated calls over all cameras.
func (c *Cameras) AnnotatedCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.annotate
}

func (c *Cameras) draw(id string, dst *gocv.Mat, annotated bool) bool {
	c.mu.Lock()
	i, ok := c.known(id)
	if !ok || c.status[i].State == "offline" {
		c.mu.Unlock()
		return false
	}
	if annotated {
		c.annotate++
	}
	c.frame[id]++
	n := c.frame[id]
	c.mu.Unlock()
	if dst.Empty() || dst.Cols() != c.Width || dst.Rows() != c.Height || dst.Type() != gocv.MatTypeCV8UC3 {
		dst.Close()
		*dst = gocv.NewMatWithSize(c.Height, c.Width, gocv.MatTypeCV8UC3)
	}
	dst.SetTo(gocv.NewScalar(40, 60, 30, 0))
	x := (n * 8) % c.Width
	gocv.Rectangle(dst, image.Rect(x, c.Height/4, x+c.Width/10, c.Height*3/4), color.RGBA{200, 200, 200, 0}, -1)
	gocv.PutText(dst, fmt.Sprintf("%s #%d", id, n), image.Pt(10, 30), gocv.FontHersheySimplex, 0.8, color.RGBA{255, 255, 255, 0}, 2)
	if annotated {
		gocv.Rectangle(dst, image.Rect(x-4, c.Height/4-4, x+c.Width/10+4, c.Height*3/4+4), color.RGBA{0, 0, 255, 0}, 2)
	}
	return true
}

// SetState changes a camera's state and tells subscribers.
func (c *Cameras) SetState(id, state string) { c.SetStateReason(id, state, "") }

// SetStateReason changes a camera's state and the reason for it.
func (c *Cameras) SetStateReason(id, state, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.known(id)
	if !ok {
		return
	}
	now := time.Now()
	c.status[i].State, c.status[i].Since, c.status[i].Reason = state, &now, reason
	for ch := range c.subs {
		select {
		case ch <- c.status[i]:
		default:
		}
	}
}

func (c *Cameras) SubscribeStatus() (<-chan console.CameraStatus, func()) {
	ch := make(chan console.CameraStatus, 64)
	c.mu.Lock()
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			c.mu.Lock()
			delete(c.subs, ch)
			c.mu.Unlock()
			close(ch)
		})
	}
}

// Incidents is an IncidentStore over a map, with the engine's life cycle
// rules for ack and resolve.
type Incidents struct {
	mu    sync.Mutex
	byID  map[string]incident.Incident
	snaps map[string][]byte
	clips map[string][]byte
	subs  map[chan incident.Incident]struct{}
}

func NewIncidents() *Incidents {
	return &Incidents{byID: map[string]incident.Incident{}, snaps: map[string][]byte{},
		clips: map[string][]byte{}, subs: map[chan incident.Incident]struct{}{}}
}

// Put stores inc (with optional evidence) and tells subscribers, as the
// engine does on every change.
func (s *Incidents) Put(inc incident.Incident, snapshot, clip []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if snapshot != nil {
		s.snaps[inc.ID] = snapshot
	}
	if clip != nil {
		s.clips[inc.ID] = clip
	}
	s.putLocked(inc)
}

func (s *Incidents) putLocked(inc incident.Incident) {
	s.byID[inc.ID] = inc
	for ch := range s.subs {
		select {
		case ch <- inc:
		default:
		}
	}
}

func (s *Incidents) List(f console.IncidentFilter) ([]incident.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []incident.Incident{}
	ef := f.Engine()
	for _, inc := range s.byID {
		if ef.Match(inc) && (f.Before == "" || inc.ID < f.Before) {
			out = append(out, inc)
		}
	}
	// The engine's order: ids sort by time (the tests' ids are made so too).
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

func (s *Incidents) Get(id string) (incident.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inc, ok := s.byID[id]
	if !ok {
		return inc, fmt.Errorf("incident %s: %w", id, console.ErrNotFound)
	}
	return inc, nil
}

func (s *Incidents) change(id, by, note string, to incident.State) (incident.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inc, ok := s.byID[id]
	if !ok {
		return inc, fmt.Errorf("incident %s: %w", id, console.ErrNotFound)
	}
	if inc.State == incident.Resolved {
		return inc, fmt.Errorf("incident %s is resolved: %w", id, console.ErrConflict)
	}
	now := time.Now()
	inc.Acks = append(append([]incident.Ack(nil), inc.Acks...), incident.Ack{By: by, At: now, Note: note})
	inc.State, inc.UpdatedAt = to, now
	if to == incident.Resolved {
		inc.ResolvedAt = &now
	}
	s.putLocked(inc)
	return inc, nil
}

func (s *Incidents) Ack(id, by, note string) (incident.Incident, error) {
	return s.change(id, by, note, incident.Acknowledged)
}

func (s *Incidents) Resolve(id, by, note string) (incident.Incident, error) {
	return s.change(id, by, note, incident.Resolved)
}

func (s *Incidents) Subscribe() (<-chan incident.Incident, func()) {
	ch := make(chan incident.Incident, 256)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.subs, ch)
			s.mu.Unlock()
			close(ch)
		})
	}
}

func (s *Incidents) Snapshot(id string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.snaps[id]
	if !ok {
		return nil, fmt.Errorf("snapshot of %s: %w", id, console.ErrNotFound)
	}
	return b, nil
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

func (s *Incidents) Clip(id string) (io.ReadSeekCloser, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.clips[id]
	if !ok {
		return nil, time.Time{}, fmt.Errorf("clip of %s: %w", id, console.ErrNotFound)
	}
	return nopCloser{strings.NewReader(string(b))}, s.byID[id].UpdatedAt, nil
}

// Vehicles is a VehicleLog over slices.
type Vehicles struct {
	mu        sync.Mutex
	passages  []console.Passage // oldest first
	inside    []console.Inside
	visitors  map[string]console.Visitor
	LastQuery console.PassageQuery
	// Overstay marks vehicles inside longer than this (vehicles.overstay); 0: none.
	Overstay time.Duration
}

func NewVehicles() *Vehicles { return &Vehicles{visitors: map[string]console.Visitor{}} }

// AddPassage records a passage and keeps the inside set as the log would.
func (v *Vehicles) AddPassage(p console.Passage) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.passages = append(v.passages, p)
	if p.Direction == "in" {
		v.inside = append(v.inside, console.Inside{Plate: p.Plate, Class: p.Class, Gate: p.Gate, EntryAt: p.At})
		return
	}
	for i, in := range v.inside {
		if in.Plate == p.Plate {
			v.inside = append(v.inside[:i], v.inside[i+1:]...)
			break
		}
	}
}

func (v *Vehicles) Passages(ctx context.Context, q console.PassageQuery) ([]console.Passage, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.LastQuery = q
	out := []console.Passage{}
	for i := len(v.passages) - 1; i >= 0 && (q.Limit == 0 || len(out) < q.Limit); i-- {
		p := v.passages[i]
		if (q.Plate == "" || p.Plate == q.Plate) && (q.Gate == "" || p.Gate == q.Gate) &&
			(q.Since.IsZero() || !p.At.Before(q.Since)) && (q.Until.IsZero() || p.At.Before(q.Until)) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (v *Vehicles) Inside(ctx context.Context) ([]console.Inside, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]console.Inside, len(v.inside))
	for i, in := range v.inside {
		in.DwellS = int64(time.Since(in.EntryAt) / time.Second)
		in.Overstay = v.Overstay > 0 && time.Since(in.EntryAt) > v.Overstay
		out[i] = in
	}
	return out, nil
}

func (v *Vehicles) Visitors(ctx context.Context) ([]console.Visitor, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := []console.Visitor{}
	for _, vis := range v.visitors {
		out = append(out, vis)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Plate < out[j].Plate })
	return out, nil
}

func (v *Vehicles) AddVisitor(ctx context.Context, vis console.Visitor) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.visitors[vis.Plate] = vis
	return nil
}

func (v *Vehicles) RemoveVisitor(ctx context.Context, plate string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.visitors[plate]; !ok {
		return fmt.Errorf("visitor %s: %w", plate, console.ErrNotFound)
	}
	delete(v.visitors, plate)
	return nil
}

// Outbox is an OutboxAdmin over a slice.
type Outbox struct {
	mu      sync.Mutex
	Tickets []console.OutboxTicket
}

func (o *Outbox) List(ctx context.Context) ([]console.OutboxTicket, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]console.OutboxTicket(nil), o.Tickets...), nil
}

// Add appends a ticket.
func (o *Outbox) Add(t console.OutboxTicket) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.Tickets = append(o.Tickets, t)
}

func (o *Outbox) Resend(ctx context.Context, key string) error {
	return o.dead(key, func(i int) { o.Tickets[i].State = "pending" })
}

func (o *Outbox) Discard(ctx context.Context, key string) error {
	return o.dead(key, func(i int) { o.Tickets = append(o.Tickets[:i], o.Tickets[i+1:]...) })
}

// dead calls do with the index of the dead-lettered ticket key.
func (o *Outbox) dead(key string, do func(i int)) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.Tickets {
		if o.Tickets[i].Key == key {
			if o.Tickets[i].State != "dead" {
				return fmt.Errorf("ticket %s is not dead-lettered: %w", key, console.ErrConflict)
			}
			do(i)
			return nil
		}
	}
	return fmt.Errorf("ticket %s: %w", key, console.ErrNotFound)
}

// GateCommand is a command Gates recorded.
type GateCommand struct {
	ID, Gate, By, Reason string
}

// Gates is a GateOpener that records commands for known gates.
type Gates struct {
	Known []string

	mu       sync.Mutex
	Commands []GateCommand
}

func (g *Gates) OpenGate(ctx context.Context, gate, by, reason string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range g.Known {
		if k == gate {
			id := fmt.Sprintf("cmd-%d", len(g.Commands)+1)
			g.Commands = append(g.Commands, GateCommand{ID: id, Gate: gate, By: by, Reason: reason})
			return id, nil
		}
	}
	return "", fmt.Errorf("gate %s: %w", gate, console.ErrNotFound)
}

// Sent returns the recorded commands.
func (g *Gates) Sent() []GateCommand {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GateCommand(nil), g.Commands...)
}
