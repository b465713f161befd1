package incidents

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	bolt "go.etcd.io/bbolt"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type memSnaps struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memSnaps) PutSnapshot(id string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = b
	return nil
}

func newTestEngine(t *testing.T, dir string, cfg config.Incidents) (*Engine, *clock, <-chan Change) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 26, 22, 0, 0, 0, time.UTC)}
	e, err := New(EngineConfig{Site: "s1", Incidents: cfg, DataDir: dir, Now: clk.Now, Evidence: &memSnaps{m: map[string][]byte{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ch, cancel := e.Subscribe()
	t.Cleanup(func() { cancel(); e.Close() })
	return e, clk, ch
}

func next(t *testing.T, ch <-chan Change) Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no change within 5s")
	}
	return Change{}
}

func none(t *testing.T, ch <-chan Change, d time.Duration) {
	t.Helper()
	select {
	case c := <-ch:
		t.Fatalf("unexpected change %s v%d", c.Kind, c.Incident.Version)
	case <-time.After(d):
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var lawn = incident.Source{Camera: "lawn", Zone: "lawn"}

func TestOpenFoldAndCooldown(t *testing.T) {
	e, clk, ch := newTestEngine(t, t.TempDir(), config.Incidents{Cooldown: map[string]time.Duration{"intrusion": time.Minute}})
	e.Raise(incident.Signal{Type: incident.Intrusion, Source: lawn, At: clk.Now(), Objects: []incident.Object{{Label: "person", Track: 1}}, Snapshot: []byte("jpeg")})
	c := next(t, ch)
	if c.Kind != Opened || !c.Alert() || c.Incident.Version != 1 || c.Incident.Count != 1 || c.Incident.State != incident.Open {
		t.Fatalf("open: %+v", c)
	}
	id := c.Incident.ID
	if !strings.HasPrefix(id, "inc_") || len(id) != 24 {
		t.Fatalf("id %q", id)
	}
	if c.Incident.Severity != incident.Medium || c.Incident.Site != "s1" {
		t.Fatalf("severity/site: %+v", c.Incident)
	}
	if c.Incident.Evidence.Snapshot != "/api/incidents/"+id+"/snapshot.jpg" {
		t.Fatalf("snapshot link %q", c.Incident.Evidence.Snapshot)
	}
	// Repeats within the cooldown fold; subscribers see at most one change a second.
	for i := 2; i <= 20; i++ {
		e.Raise(incident.Signal{Type: incident.Intrusion, Source: lawn, At: clk.Now(), Objects: []incident.Object{{Label: "person", Track: i}}})
	}
	eventually(t, func() bool { inc, _ := e.Get(id); return inc.Count == 20 })
	none(t, ch, 400*time.Millisecond)
	clk.Add(time.Second)
	last := next(t, ch)
	if last.Kind != Folded || last.Incident.Count != 20 || last.Incident.Objects[0].Track != 20 || last.Incident.Version != 2 {
		t.Fatalf("fold: kind %s count %d objects %+v version %d", last.Kind, last.Incident.Count, last.Incident.Objects, last.Incident.Version)
	}
	if last.Alert() {
		t.Fatal("a fold is not an alert")
	}
	none(t, ch, 400*time.Millisecond)
	// Quiet past the cooldown: a new incident, the old one untouched and still open.
	clk.Add(2 * time.Minute)
	e.Raise(incident.Signal{Type: incident.Intrusion, Source: lawn, At: clk.Now()})
	c2 := next(t, ch)
	if c2.Kind != Opened || c2.Incident.ID == id || c2.Incident.ID <= id {
		t.Fatalf("after cooldown: %+v (old %s)", c2, id)
	}
	old, _ := e.Get(id)
	if old.State != incident.Open || old.Count != 20 {
		t.Fatalf("old incident changed: %+v", old)
	}
	// Another source is another incident.
	e.Raise(incident.Signal{Type: incident.Intrusion, Source: incident.Source{Camera: "lawn", Zone: "pool"}, At: clk.Now()})
	if c3 := next(t, ch); c3.Kind != Opened {
		t.Fatalf("other zone: %+v", c3)
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		typ  incident.Type
		cfg  map[string]string
		sig  incident.Severity
		want incident.Severity
	}{
		{incident.SOS, nil, "", incident.Critical},
		{incident.GateForced, nil, "", incident.High},
		{incident.Intrusion, nil, "", incident.Medium},
		{incident.LineCrossing, nil, "", incident.Low},
		{incident.LineCrossing, map[string]string{"line_crossing": "high"}, "", incident.High},
		{incident.Intrusion, map[string]string{"line_crossing": "high"}, incident.Critical, incident.Critical},
	}
	for _, tt := range tests {
		e, _, ch := newTestEngine(t, t.TempDir(), config.Incidents{Severity: tt.cfg})
		e.Raise(incident.Signal{Type: tt.typ, Source: lawn, Severity: tt.sig})
		if c := next(t, ch); c.Incident.Severity != tt.want {
			t.Errorf("%s cfg %v sig %q: severity %s, want %s", tt.typ, tt.cfg, tt.sig, c.Incident.Severity, tt.want)
		}
	}
	if _, err := New(EngineConfig{DataDir: t.TempDir(), Incidents: config.Incidents{Severity: map[string]string{"sos": "urgent"}}}); err == nil {
		t.Fatal("unknown severity accepted")
	}
}

func TestSeverityRaisedByFoldAlerts(t *testing.T) {
	e, _, ch := newTestEngine(t, t.TempDir(), config.Incidents{})
	e.Raise(incident.Signal{Type: incident.Crowd, Source: lawn})
	next(t, ch)
	e.Raise(incident.Signal{Type: incident.Crowd, Source: lawn, Severity: incident.High})
	c := next(t, ch)
	if c.Kind != SeverityChanged || !c.Alert() || c.Incident.Severity != incident.High || c.Incident.Count != 2 {
		t.Fatalf("%+v", c)
	}
}

func TestLifeCycle(t *testing.T) {
	e, clk, ch := newTestEngine(t, t.TempDir(), config.Incidents{})
	e.Raise(incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: "north"}})
	id := next(t, ch).Incident.ID

	if _, err := e.Ack("inc_nope", "p", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ack unknown: %v", err)
	}
	// Not acknowledged within 2 min (critical default) → escalated.
	clk.Add(119 * time.Second)
	none(t, ch, 400*time.Millisecond)
	clk.Add(time.Second)
	c := next(t, ch)
	if c.Kind != Escalation || !c.Escalated() || !c.Alert() || c.Incident.State != incident.Escalated || c.Incident.Version != 2 {
		t.Fatalf("escalation: %+v", c)
	}
	inc, err := e.Ack(id, "patrol-07", "on my way")
	if err != nil || inc.State != incident.Acknowledged || len(inc.Acks) != 1 || inc.Acks[0].By != "patrol-07" || inc.Version != 3 {
		t.Fatalf("ack: %+v %v", inc, err)
	}
	if c := next(t, ch); c.Kind != Acked || c.Incident.Version != 3 {
		t.Fatalf("ack change %+v", c)
	}
	// Acknowledged incidents do not escalate again.
	clk.Add(time.Hour)
	none(t, ch, 400*time.Millisecond)
	inc, err = e.Resolve(id, "patrol-07", "false alarm")
	if err != nil || inc.State != incident.Resolved || inc.ResolvedAt == nil || inc.Version != 4 {
		t.Fatalf("resolve: %+v %v", inc, err)
	}
	next(t, ch)
	for _, f := range []func(string, string, string) (incident.Incident, error){e.Ack, e.Resolve} {
		if _, err := f(id, "p", ""); !errors.Is(err, ErrInvalidTransition) {
			t.Fatalf("transition from resolved: %v", err)
		}
	}
	// A signal on a resolved key opens a new incident.
	e.Raise(incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: "north"}})
	if c := next(t, ch); c.Kind != Opened || c.Incident.ID == id {
		t.Fatalf("%+v", c)
	}
}

func TestEscalationPerSeverityConfig(t *testing.T) {
	e, clk, ch := newTestEngine(t, t.TempDir(), config.Incidents{Escalate: map[string]time.Duration{"low": time.Minute, "medium": 0}})
	e.Raise(incident.Signal{Type: incident.LineCrossing, Source: lawn})
	e.Raise(incident.Signal{Type: incident.Intrusion, Source: lawn})
	next(t, ch)
	next(t, ch)
	clk.Add(time.Hour)
	c := next(t, ch)
	if c.Kind != Escalation || c.Incident.Type != incident.LineCrossing {
		t.Fatalf("%+v", c)
	}
	none(t, ch, 400*time.Millisecond) // medium: 0 disables
}

func TestClearAutoResolves(t *testing.T) {
	e, _, ch := newTestEngine(t, t.TempDir(), config.Incidents{})
	cam := incident.Source{Camera: "gate-cam"}
	e.Raise(incident.Signal{Type: incident.CameraOffline, Source: cam, Clear: true}) // nothing open: ignored
	e.Raise(incident.Signal{Type: incident.CameraOffline, Source: cam})
	id := next(t, ch).Incident.ID
	e.Raise(incident.Signal{Type: incident.CameraOffline, Source: cam, Clear: true})
	c := next(t, ch)
	if c.Kind != ResolvedKind || c.Incident.ID != id || c.Incident.Acks[len(c.Incident.Acks)-1].By != "system" {
		t.Fatalf("%+v", c)
	}
}

func TestPersistAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	e, clk, ch := newTestEngine(t, dir, config.Incidents{})
	e.Raise(incident.Signal{Type: incident.Intrusion, Source: lawn})
	a := next(t, ch).Incident.ID
	clk.Add(time.Millisecond)
	e.Raise(incident.Signal{Type: incident.GateForced, Source: incident.Source{Gate: "north"}})
	b := next(t, ch).Incident.ID
	if _, err := e.Ack(a, "patrol-01", "seen"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Resolve(b, "patrol-02", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e2, clk2, ch2 := newTestEngine(t, dir, config.Incidents{})
	clk2.Add(2 * time.Second)
	inc, err := e2.Get(a)
	if err != nil || inc.State != incident.Acknowledged || inc.Acks[0].By != "patrol-01" || inc.Version != 2 {
		t.Fatalf("after restart: %+v %v", inc, err)
	}
	// Folding continues into the reloaded incident with the next version.
	e2.Raise(incident.Signal{Type: incident.Intrusion, Source: lawn})
	c := next(t, ch2)
	if c.Incident.ID != a || c.Incident.Count != 2 || c.Incident.Version != 3 {
		t.Fatalf("fold after restart: %+v", c)
	}
	if _, err := e2.Ack(b, "x", ""); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("resolved after restart: %v", err)
	}
	list, _ := e2.List(Filter{})
	if len(list) != 2 || list[0].ID != b || list[1].ID != a {
		t.Fatalf("list order: %+v", list)
	}
	tests := []struct {
		f    Filter
		want []string
	}{
		{Filter{State: incident.Resolved}, []string{b}},
		{Filter{Type: incident.Intrusion}, []string{a}},
		{Filter{Limit: 1}, []string{b}},
		{Filter{Since: clk.Now().Add(time.Hour)}, nil},
		// The wall's history paging and filters.
		{Filter{Before: b}, []string{a}},
		{Filter{Before: a}, nil},
		{Filter{Before: "inc_zzzz"}, []string{b, a}},
		{Filter{Before: b + "0", Limit: 1}, []string{b}},
		{Filter{Camera: lawn.Camera}, []string{a}},
		{Filter{Gate: "north"}, []string{b}},
		{Filter{Gate: "south"}, nil},
		{Filter{Until: clk.Now().Add(-time.Hour)}, nil},
		{Filter{Until: clk.Now().Add(time.Hour)}, []string{b, a}},
	}
	for _, tt := range tests {
		got, _ := e2.List(tt.f)
		var ids []string
		for _, g := range got {
			ids = append(ids, g.ID)
		}
		if strings.Join(ids, ",") != strings.Join(tt.want, ",") {
			t.Errorf("List(%+v) = %v, want %v", tt.f, ids, tt.want)
		}
	}
}

func TestRaiseNeverBlocks(t *testing.T) {
	reg := prometheus.NewRegistry()
	clk := &clock{t: time.Now()}
	e, err := New(EngineConfig{DataDir: t.TempDir(), Now: clk.Now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.mu.Lock() // a stalled engine (slow disk)
	start := time.Now()
	for i := 0; i < signalQueue+1000; i++ {
		e.Raise(incident.Signal{Type: incident.Intrusion, Source: lawn})
	}
	took := time.Since(start)
	e.mu.Unlock()
	if took > time.Second {
		t.Fatalf("Raise blocked: %v", took)
	}
	if d := testutil.ToFloat64(e.m.dropped); d < 999 {
		t.Fatalf("dropped %v, want >= 999", d)
	}
}

func TestSubscriberCancelAndOrder(t *testing.T) {
	e, clk, ch := newTestEngine(t, t.TempDir(), config.Incidents{})
	other, cancel := e.Subscribe()
	cancel()
	if _, ok := <-other; ok {
		t.Fatal("cancelled subscription still open")
	}
	v := &versions{}
	f := &Follower{Name: "test", Source: e, Handle: v.handle}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e.Raise(incident.Signal{Type: incident.SOS, Source: lawn})
	id := next(t, ch).Incident.ID
	for i := 0; i < 5; i++ {
		clk.Add(time.Second)
		if _, err := e.Ack(id, "p", ""); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func() bool { return len(v.list()) == 6 })
	got := v.list()
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("versions out of order: %v", got)
		}
	}
}

func TestIsOpenAndAttachClip(t *testing.T) {
	e, _, ch := newTestEngine(t, t.TempDir(), config.Incidents{})
	e.Raise(incident.Signal{Type: incident.Tailgating, Source: incident.Source{Gate: "north"}})
	id := next(t, ch).Incident.ID
	if !e.IsOpen(id) || e.IsOpen("inc_other") {
		t.Fatal("IsOpen")
	}
	inc, err := e.AttachClip(id)
	if err != nil || inc.Evidence.Clip != "/api/incidents/"+id+"/clip.mp4" {
		t.Fatalf("%+v %v", inc, err)
	}
	if c := next(t, ch); c.Kind != EvidenceAdded || c.Incident.Version != 2 || c.Alert() {
		t.Fatalf("%+v", c)
	}
	e.Resolve(id, "p", "")
	if e.IsOpen(id) {
		t.Fatal("resolved incident still open")
	}
}

// A sensor clock hours behind must not escalate an incident the moment it opens.
func TestEscalationCountsFromOpening(t *testing.T) {
	e, clk, ch := newTestEngine(t, t.TempDir(), config.Incidents{})
	e.Raise(incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: "north"}, At: clk.Now().Add(-3 * time.Hour)})
	if c := next(t, ch); c.Kind != Opened || !c.Incident.StartedAt.Equal(clk.Now().Add(-3*time.Hour)) {
		t.Fatalf("%+v", c)
	}
	none(t, ch, 400*time.Millisecond)
	clk.Add(2 * time.Minute)
	if c := next(t, ch); c.Kind != Escalation {
		t.Fatalf("%+v", c)
	}
}

// Close sends folds still waiting for their coalescing slot, so the outbox
// and MQTT see the final count.
func TestCloseFlushesPendingFolds(t *testing.T) {
	e, clk, ch := newTestEngine(t, t.TempDir(), config.Incidents{})
	e.Raise(incident.Signal{Type: incident.Loitering, Source: lawn, At: clk.Now()})
	id := next(t, ch).Incident.ID
	for i := 0; i < 4; i++ {
		e.Raise(incident.Signal{Type: incident.Loitering, Source: lawn, At: clk.Now()})
	}
	eventually(t, func() bool { inc, _ := e.Get(id); return inc.Count == 5 })
	e.Close()
	c := next(t, ch)
	if c.Kind != Folded || c.Incident.Count != 5 || c.Incident.Version != 2 {
		t.Fatalf("%+v", c)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel not closed after Close")
	}
}

func TestPruneResolvedPastRetention(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e, err := New(EngineConfig{DataDir: dir, Now: clk.Now, Retention: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ch, cancel := e.Subscribe()
	defer cancel()
	var ids []string
	for _, gate := range []string{"a", "b", "c"} {
		e.Raise(incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: gate}})
		ids = append(ids, next(t, ch).Incident.ID)
	}
	e.Resolve(ids[0], "p", "")
	clk.Add(20 * 24 * time.Hour)
	e.Resolve(ids[1], "p", "")
	clk.Add(11 * 24 * time.Hour) // ids[0] resolved 31 days ago, ids[1] 11 days ago, ids[2] open
	e.prune()
	for i, want := range []bool{false, true, true} {
		if _, err := e.Get(ids[i]); (err == nil) != want {
			t.Errorf("incident %d kept=%v, want %v (%v)", i, err == nil, want, err)
		}
	}
	e.Close()
}

func TestBacklogMetricShowsStuckSubscriber(t *testing.T) {
	e, _, ch := newTestEngine(t, t.TempDir(), config.Incidents{})
	stuck, cancel := e.Subscribe()
	defer cancel()
	for _, z := range []string{"a", "b", "c"} {
		e.Raise(incident.Signal{Type: incident.Crowd, Source: incident.Source{Camera: "c", Zone: z}})
		next(t, ch)
	}
	// The reader of ch kept up; stuck holds one in its hand-off and two queued.
	eventually(t, func() bool { return e.backlog() >= 2 })
	for i := 0; i < 3; i++ {
		<-stuck
	}
	eventually(t, func() bool { return e.backlog() == 0 })
}

// Two different watch-list cars at one gate are two incidents; the same car
// seen again folds.
func TestVehicleIncidentsFoldPerPlate(t *testing.T) {
	e, clk, ch := newTestEngine(t, t.TempDir(), config.Incidents{})
	gate := incident.Source{Gate: "north"}
	e.Raise(incident.Signal{Type: incident.BlacklistedVehicle, Source: gate, Plate: "苏E99999", At: clk.Now()})
	first := next(t, ch)
	e.Raise(incident.Signal{Type: incident.BlacklistedVehicle, Source: gate, Plate: "沪A12345", At: clk.Now()})
	second := next(t, ch)
	if first.Kind != Opened || second.Kind != Opened || first.Incident.ID == second.Incident.ID {
		t.Fatalf("want two incidents, got %s %s and %s %s", first.Kind, first.Incident.ID, second.Kind, second.Incident.ID)
	}
	e.Raise(incident.Signal{Type: incident.BlacklistedVehicle, Source: gate, Plate: "苏E99999", At: clk.Now()})
	eventually(t, func() bool { inc, _ := e.Get(first.Incident.ID); return inc.Count == 2 })
	// Other types still fold on the source alone.
	e.Raise(incident.Signal{Type: incident.GateForced, Source: gate, Plate: "A", At: clk.Now()})
	g1 := next(t, ch)
	e.Raise(incident.Signal{Type: incident.GateForced, Source: gate, Plate: "B", At: clk.Now()})
	eventually(t, func() bool { inc, _ := e.Get(g1.Incident.ID); return inc.Count == 2 })
}

// RaiseWait returns only once the incident is stored: read back straight
// after, and found again by a new engine on the same data after an abrupt
// stop (the database closed without the engine's orderly shutdown).
// A full queue makes it wait, not drop; after Close it says so.
func TestRaiseWaitStoresBeforeReturning(t *testing.T) {
	dir := t.TempDir()
	e, _, _ := newTestEngine(t, dir, config.Incidents{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.RaiseWait(ctx, incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: "north"}, Title: "SOS at North"}); err != nil {
		t.Fatal(err)
	}
	list, err := e.List(Filter{Type: incident.SOS})
	if err != nil || len(list) != 1 {
		t.Fatalf("straight after RaiseWait: %v %v", list, err)
	}
	// No engine Close: only the file handle, as a crash would leave it.
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, "incidents.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	db.View(func(tx *bolt.Tx) error { //nolint:errcheck
		return tx.Bucket(bucketIncidents).ForEach(func(k, v []byte) error {
			found = found || strings.Contains(string(v), "SOS at North")
			return nil
		})
	})
	db.Close()
	if !found {
		t.Fatal("the incident RaiseWait reported stored is not in the database")
	}

	// A stalled engine: RaiseWait waits for room instead of dropping, and
	// gives up with its context.
	e2, err := New(EngineConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e2.mu.Lock()
	for i := 0; i < signalQueue+10; i++ {
		e2.Raise(incident.Signal{Type: incident.Intrusion, Source: lawn})
	}
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err = e2.RaiseWait(short, incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: "north"}})
	cancelShort()
	e2.mu.Unlock()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled engine: %v, want the context's deadline", err)
	}
	e2.Close()
	if err := e2.RaiseWait(context.Background(), incident.Signal{Type: incident.SOS}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// The camera's own report of a line crossing is an incident of its own,
// carrying source.origin; lanewatch's own rules have none in their JSON.
func TestOriginFoldsApart(t *testing.T) {
	e, clk, ch := newTestEngine(t, t.TempDir(), config.Incidents{})
	own := incident.Source{Camera: "lawn", Line: "path"}
	cam := incident.Source{Camera: "lawn", Line: "path", Origin: "camera"}
	e.Raise(incident.Signal{Type: incident.LineCrossing, Source: own, At: clk.Now()})
	a := next(t, ch)
	e.Raise(incident.Signal{Type: incident.LineCrossing, Source: cam, At: clk.Now()})
	b := next(t, ch)
	if a.Kind != Opened || b.Kind != Opened || a.Incident.ID == b.Incident.ID || b.Incident.Source.Origin != "camera" {
		t.Fatalf("a %+v\nb %+v", a.Incident, b.Incident)
	}
	e.Raise(incident.Signal{Type: incident.LineCrossing, Source: cam, At: clk.Now()})
	eventually(t, func() bool { inc, _ := e.Get(b.Incident.ID); return inc.Count == 2 })
	ja, _ := json.Marshal(a.Incident.Source)
	jb, _ := json.Marshal(b.Incident.Source)
	if string(ja) != `{"camera":"lawn","line":"path"}` || string(jb) != `{"camera":"lawn","line":"path","origin":"camera"}` {
		t.Fatalf("json %s %s", ja, jb)
	}
}
