package vehicles

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/sensors"
)

var t0 = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

// clock is an injectable, settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type env struct {
	dir   string
	clk   *clock
	vcfg  config.Vehicles
	reg   *prometheus.Registry
	log   *Log
	mu    sync.Mutex
	seen  []Passage
	overs []InsideVehicle
}

func newEnv(t *testing.T, vcfg config.Vehicles) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), clk: &clock{t: t0}, vcfg: vcfg}
	e.open(t)
	return e
}

func (e *env) open(t *testing.T) {
	t.Helper()
	e.reg = prometheus.NewRegistry()
	l, err := Open(Config{DataDir: e.dir, Site: "zl", Vehicles: e.vcfg, Now: e.clk.Now, Registerer: e.reg, Logger: slog.New(slog.DiscardHandler),
		ResidentsPoll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l.OnPassage = func(p Passage) { e.mu.Lock(); e.seen = append(e.seen, p); e.mu.Unlock() }
	l.OnOverstay = func(v InsideVehicle) { e.mu.Lock(); e.overs = append(e.overs, v); e.mu.Unlock() }
	e.log = l
	t.Cleanup(func() { l.Close() })
}

func (e *env) reopen(t *testing.T) {
	t.Helper()
	if err := e.log.Close(); err != nil {
		t.Fatal(err)
	}
	e.open(t)
}

func ev(typ sensors.Type, gate string, sec float64, plate string, dir sensors.Direction) sensors.Event {
	at := t0.Add(time.Duration(sec * float64(time.Second)))
	return sensors.Event{Gate: gate, Type: typ, Plate: plate, Direction: dir, TS: at, Received: at}
}

func lane(e sensors.Event, n int) sensors.Event { e.Lane, e.HasLane = n, true; return e }

func TestPairing(t *testing.T) {
	const (
		pr = sensors.PlateRead
		bo = sensors.BarrierOpen
		lp = sensors.Loop
	)
	in, out := sensors.In, sensors.Out
	type want struct {
		gate, plate string
		dir         sensors.Direction
		confirmed   bool
	}
	cases := []struct {
		name   string
		events []sensors.Event
		want   []want // oldest first
	}{
		{"plate read only", []sensors.Event{ev(pr, "n", 0, "A12345", in)},
			[]want{{"n", "A12345", in, false}}},
		{"repeated reads within 60s are one passage",
			[]sensors.Event{ev(pr, "n", 0, "A12345", in), ev(pr, "n", 30, "A12345", in), ev(pr, "n", 80, "A12345", in)},
			[]want{{"n", "A12345", in, false}}},
		{"a read delivered out of order is the same passage",
			[]sensors.Event{ev(pr, "n", 10, "A12345", in), ev(pr, "n", 8, "A12345", in)},
			[]want{{"n", "A12345", in, false}}},
		{"read again after 61s is a new passage",
			[]sensors.Event{ev(pr, "n", 0, "A12345", out), ev(pr, "n", 61, "A12345", out)},
			[]want{{"n", "A12345", out, false}, {"n", "A12345", out, false}}},
		{"same plate at another gate is another passage",
			[]sensors.Event{ev(pr, "n", 0, "A12345", in), ev(pr, "s", 5, "A12345", in)},
			[]want{{"n", "A12345", in, false}, {"s", "A12345", in, false}}},
		{"loop within 10s confirms",
			[]sensors.Event{ev(pr, "n", 0, "A12345", in), ev(lp, "n", 4, "", in)},
			[]want{{"n", "A12345", in, true}}},
		{"barrier_open without plate confirms",
			[]sensors.Event{ev(pr, "n", 0, "A12345", in), ev(bo, "n", 2, "", "")},
			[]want{{"n", "A12345", in, true}}},
		{"loop after the window does not confirm",
			[]sensors.Event{ev(pr, "n", 0, "A12345", in), ev(lp, "n", 11, "", in)},
			[]want{{"n", "A12345", in, false}}},
		{"loop at another gate does not confirm",
			[]sensors.Event{ev(pr, "n", 0, "A12345", in), ev(lp, "s", 1, "", in)},
			[]want{{"n", "A12345", in, false}}},
		{"loop confirms only its own lane",
			[]sensors.Event{lane(ev(pr, "n", 0, "A111", in), 1), lane(ev(pr, "n", 1, "B222", out), 2), lane(ev(lp, "n", 2, "", in), 1)},
			[]want{{"n", "A111", in, true}, {"n", "B222", out, false}}},
		{"barrier_open with plate and no read makes a confirmed passage",
			[]sensors.Event{ev(bo, "n", 0, "A12345", "")},
			[]want{{"n", "A12345", in, true}}},
		{"barrier_open with plate confirms the read",
			[]sensors.Event{ev(pr, "n", 0, "A12345", in), ev(bo, "n", 3, "A12345", "")},
			[]want{{"n", "A12345", in, true}}},
		{"read without direction: in when outside, out when inside",
			[]sensors.Event{ev(pr, "n", 0, "A12345", ""), ev(pr, "n", 3600, "A12345", "")},
			[]want{{"n", "A12345", in, false}, {"n", "A12345", out, false}}},
		{"opposite direction within 60s is a new passage",
			[]sensors.Event{ev(pr, "n", 0, "A12345", in), ev(pr, "n", 20, "A12345", out)},
			[]want{{"n", "A12345", in, false}, {"n", "A12345", out, false}}},
		{"unnormalised or bad plates", []sensors.Event{ev(pr, "n", 0, "a-123 45", in), ev(pr, "n", 1, "!", in)},
			[]want{{"n", "A12345", in, false}}},
		{"other event types make no passage", []sensors.Event{ev(sensors.DoorOpen, "n", 0, "", ""),
			ev(sensors.AccessGranted, "n", 1, "", in), ev(lp, "n", 2, "", in)}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, config.Vehicles{})
			for _, x := range c.events {
				e.log.Handle(x)
			}
			got := e.log.Passages(Query{})
			if len(got) != len(c.want) || len(e.seen) != len(c.want) {
				t.Fatalf("%d passages stored, %d announced, want %d: %+v", len(got), len(e.seen), len(c.want), got)
			}
			for i, w := range c.want {
				g := got[len(got)-1-i] // Passages is newest first
				if g.Gate != w.gate || g.Plate != w.plate || g.Direction != w.dir || g.Confirmed != w.confirmed {
					t.Errorf("passage %d = %s %s %s confirmed=%v, want %+v", i, g.Gate, g.Plate, g.Direction, g.Confirmed, w)
				}
				if e.seen[i].ID != g.ID || g.Site != "zl" {
					t.Errorf("announced %q, stored %q (site %q)", e.seen[i].ID, g.ID, g.Site)
				}
			}
		})
	}
}

func TestEntryExitDwellAndRestart(t *testing.T) {
	e := newEnv(t, config.Vehicles{})
	e.log.Handle(ev(sensors.PlateRead, "n", 0, "A12345", sensors.In))
	e.log.Handle(ev(sensors.PlateRead, "n", 10, "B99", sensors.In))
	e.clk.Set(t0.Add(30 * time.Minute))
	ins := e.log.Inside()
	if len(ins) != 2 || ins[0].Plate != "A12345" || ins[0].Dwell != 30*time.Minute || ins[0].Gate != "n" {
		t.Fatalf("inside = %+v", ins)
	}

	e.reopen(t) // the inside set survives a restart
	if ins := e.log.Inside(); len(ins) != 2 {
		t.Fatalf("after restart inside = %+v", ins)
	}
	e.log.Handle(ev(sensors.PlateRead, "s", 7200, "A12345", sensors.Out))
	e.log.Handle(ev(sensors.PlateRead, "s", 7300, "C77", sensors.Out)) // never seen entering
	ps := e.log.Passages(Query{Gate: "s"})
	if len(ps) != 2 {
		t.Fatalf("passages = %+v", ps)
	}
	outA, outC := ps[1], ps[0]
	if outA.EntryAt == nil || !outA.EntryAt.Equal(t0) || outA.DwellS == nil || *outA.DwellS != 7200 {
		t.Fatalf("out passage entry/dwell = %v/%v", outA.EntryAt, outA.DwellS)
	}
	if outC.EntryAt != nil || outC.DwellS != nil {
		t.Fatalf("out without entry has entry_at %v dwell %v", outC.EntryAt, outC.DwellS)
	}
	if ins := e.log.Inside(); len(ins) != 1 || ins[0].Plate != "B99" {
		t.Fatalf("inside after exit = %+v", ins)
	}
	if v := testutil.ToFloat64(e.log.m.passages.WithLabelValues("out", "unknown")); v != 2 {
		t.Fatalf("passages metric out/unknown = %v", v)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestClassification(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "residents.csv")
	writeFile(t, res, "plate,owner,unit\n青A 12345,Li,3-201\nbad!plate\nB-77\n")
	e := newEnv(t, config.Vehicles{ResidentsFile: res, Watchlist: []string{"青a00000", "B77"}})
	if err := e.log.AddVisitor(Visitor{Plate: "v 1000", ValidFrom: t0.Add(time.Hour), ValidUntil: t0.Add(3 * time.Hour), Unit: "5-1"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		plate string
		at    time.Duration
		want  Class
	}{
		{"青A12345", 0, ClassResident},
		{"青A00000", 0, ClassBlacklisted},
		{"B77", 0, ClassBlacklisted}, // on the watch list and a resident: the watch list wins
		{"V1000", 30 * time.Minute, ClassUnknown},
		{"V1000", time.Hour, ClassVisitor},
		{"V1000", 2 * time.Hour, ClassVisitor},
		{"V1000", 3 * time.Hour, ClassUnknown},
		{"ZZ999", 0, ClassUnknown},
	}
	for _, c := range cases {
		if got := e.log.Classify(c.plate, t0.Add(c.at)); got != c.want {
			t.Errorf("Classify(%s, +%v) = %s, want %s", c.plate, c.at, got, c.want)
		}
	}
	// The class is stamped on the passage at its time.
	e.log.Handle(ev(sensors.PlateRead, "n", 2*3600, "V1000", sensors.In))
	if ps := e.log.Passages(Query{}); ps[0].Class != ClassVisitor {
		t.Fatalf("passage class = %s", ps[0].Class)
	}
	n, bad := e.log.Residents()
	if n != 2 || len(bad) != 1 || bad[0].Line != 3 {
		t.Fatalf("residents = %d, bad = %+v", n, bad)
	}
}

func TestResidentsReloadedWhenFileChanges(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "residents.csv")
	writeFile(t, res, "A12345\n")
	e := newEnv(t, config.Vehicles{ResidentsFile: res})
	if err := e.log.Start(context.Background()); err != nil { // stopped by newEnv's Close
		t.Fatal(err)
	}

	if e.log.Classify("B678", t0) != ClassUnknown {
		t.Fatal("B678 resident before it was added")
	}
	writeFile(t, res, "A12345\nB678,Wang\n")
	// Make sure the mtime moves even on coarse-grained file systems.
	_ = os.Chtimes(res, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	waitFor(t, func() bool { return e.log.Classify("B678", t0) == ClassResident })

	// A vanished file keeps the list rather than making everyone unknown.
	if err := os.Remove(res); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if e.log.Classify("A12345", t0) != ClassResident {
		t.Fatal("residents forgotten when the file vanished")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met within 4s")
}

func TestOverstayReportedOnceUntilLeaving(t *testing.T) {
	e := newEnv(t, config.Vehicles{Overstay: 24 * time.Hour})
	e.log.Handle(ev(sensors.PlateRead, "n", 0, "A12345", sensors.In))
	e.log.Handle(ev(sensors.PlateRead, "n", 3600, "B99", sensors.In))

	steps := []struct {
		at   time.Duration
		want []string
	}{
		{23 * time.Hour, nil},
		{24 * time.Hour, nil}, // "longer than", not equal
		{24*time.Hour + time.Minute, []string{"A12345"}},
		{25*time.Hour + time.Minute, []string{"B99"}},
		{30 * time.Hour, nil},
	}
	for _, s := range steps {
		got := e.log.CheckOverstay(t0.Add(s.at))
		var plates []string
		for _, v := range got {
			plates = append(plates, v.Plate)
		}
		if fmt.Sprint(plates) != fmt.Sprint(s.want) {
			t.Fatalf("at +%v overstays = %v, want %v", s.at, plates, s.want)
		}
	}
	if len(e.overs) != 2 || e.overs[0].Dwell != 24*time.Hour+time.Minute {
		t.Fatalf("OnOverstay got %+v", e.overs)
	}
	e.reopen(t) // reported state survives a restart
	if got := e.log.CheckOverstay(t0.Add(40 * time.Hour)); len(got) != 0 {
		t.Fatalf("reported again after restart: %+v", got)
	}
	// Leave and come back: a new stay, reported again when it is too long.
	e.log.Handle(ev(sensors.PlateRead, "n", 41*3600, "A12345", sensors.Out))
	e.log.Handle(ev(sensors.PlateRead, "n", 42*3600, "A12345", sensors.In))
	if got := e.log.CheckOverstay(t0.Add(67 * time.Hour)); len(got) != 1 || got[0].Plate != "A12345" {
		t.Fatalf("second stay overstays = %+v", got)
	}
}

func TestPseudonymiseAfterRetention(t *testing.T) {
	e := newEnv(t, config.Vehicles{}) // default retention 90 days
	day := 24 * 3600.0
	e.log.Handle(ev(sensors.PlateRead, "n", 0, "A12345", sensors.In))
	e.log.Handle(ev(sensors.PlateRead, "n", 1*day, "A12345", sensors.Out))
	e.log.Handle(ev(sensors.PlateRead, "n", 10*day, "B99", sensors.In))

	n, err := e.log.Pseudonymise(t0.Add(90*24*time.Hour + 12*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pseudonymised %d (%v), want 1", n, err)
	}
	ps := e.log.Passages(Query{})
	if ps[2].Plate == "A12345" || !strings.HasPrefix(ps[2].Plate, AnonPrefix) || len(ps[2].Plate) != len(AnonPrefix)+64 {
		t.Fatalf("old plate = %q", ps[2].Plate)
	}
	if ps[1].Plate != "A12345" || ps[0].Plate != "B99" {
		t.Fatalf("recent plates changed: %q %q", ps[1].Plate, ps[0].Plate)
	}
	// Start-up pseudonymises what became old meanwhile, with the same secret:
	// the same plate gets the same pseudonym across restarts.
	e.clk.Set(t0.Add(95 * 24 * time.Hour))
	e.reopen(t)
	ps = e.log.Passages(Query{})
	if ps[1].Plate != ps[2].Plate {
		t.Fatalf("pseudonyms differ for one plate: %q %q", ps[1].Plate, ps[2].Plate)
	}
	if ps[0].Plate != "B99" {
		t.Fatalf("B99 pseudonymised early: %q", ps[0].Plate)
	}
	if n, _ := e.log.Pseudonymise(t0.Add(95 * 24 * time.Hour)); n != 0 {
		t.Fatalf("second run changed %d passages", n)
	}
	if e.log.Passages(Query{Plate: "A12345"}) != nil {
		t.Fatal("a pseudonymised plate is still found by its plate")
	}
	// A passage arriving with a time stamp already past retention (a sensor
	// clock far behind) is stored pseudonymised.
	e.log.Handle(ev(sensors.PlateRead, "n", 2*day, "C333", sensors.In))
	if ps := e.log.Passages(Query{Until: t0.Add(3 * 24 * time.Hour)}); ps[0].Plate != e.log.pseudonym("C333") {
		t.Fatalf("late old passage stored as %q", ps[0].Plate)
	}
}

func TestPassagesQueryAndExport(t *testing.T) {
	e := newEnv(t, config.Vehicles{})
	for i := 0; i < 10; i++ {
		gate := "n"
		if i%2 == 1 {
			gate = "s"
		}
		e.log.Handle(ev(sensors.PlateRead, gate, float64(i*100), fmt.Sprintf("P%d", i%3), sensors.In))
	}
	plates := func(ps []Passage) string {
		var s []string
		for _, p := range ps {
			s = append(s, fmt.Sprintf("%s@%d", p.Plate, int(p.At.Sub(t0)/time.Second)))
		}
		return strings.Join(s, " ")
	}
	cases := []struct {
		q    Query
		want string
	}{
		{Query{Limit: 3}, "P0@900 P2@800 P1@700"},
		{Query{Plate: "p1"}, "P1@700 P1@400 P1@100"},
		{Query{Gate: "s", Limit: 2}, "P0@900 P1@700"},
		{Query{Since: t0.Add(300 * time.Second), Until: t0.Add(600 * time.Second)}, "P2@500 P1@400 P0@300"},
		{Query{Until: t0.Add(250 * time.Second)}, "P2@200 P1@100 P0@0"},
		{Query{Since: t0.Add(2000 * time.Second)}, ""},
		{Query{Plate: "P1", Gate: "n"}, "P1@400"},
	}
	for _, c := range cases {
		if got := plates(e.log.Passages(c.q)); got != c.want {
			t.Errorf("Passages(%+v) = %q, want %q", c.q, got, c.want)
		}
	}

	var buf bytes.Buffer
	if err := e.log.WriteCSV(&buf, Query{Plate: "P1", Gate: "n"}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || strings.Join(rows[0], ",") != "id,site,gate,direction,plate,class,at,entry_at,dwell_s,snapshot" {
		t.Fatalf("csv = %v", rows)
	}
	if r := rows[1]; r[1] != "zl" || r[2] != "n" || r[3] != "in" || r[4] != "P1" || r[5] != "unknown" ||
		r[6] != t0.Add(400*time.Second).Format(time.RFC3339) || r[7] != "" || r[8] != "" {
		t.Fatalf("csv row = %v", r)
	}

	buf.Reset()
	if err := e.log.WriteJSON(&buf, Query{Limit: 1}); err != nil {
		t.Fatal(err)
	}
	var objs []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &objs); err != nil {
		t.Fatal(err)
	}
	keys := []string{"id", "site", "gate", "direction", "plate", "class", "at", "entry_at", "dwell_s"}
	if len(objs) != 1 || len(objs[0]) != len(keys) {
		t.Fatalf("json = %s", buf.String())
	}
	for _, k := range keys {
		if _, ok := objs[0][k]; !ok {
			t.Errorf("json lacks %q: %s", k, buf.String())
		}
	}
	if objs[0]["entry_at"] != nil || objs[0]["dwell_s"] != nil {
		t.Errorf("entry_at/dwell_s not null: %s", buf.String())
	}
	buf.Reset()
	_ = e.log.WriteJSON(&buf, Query{Plate: "NONE1"})
	if strings.TrimSpace(buf.String()) != "[]" {
		t.Fatalf("empty result = %q", buf.String())
	}
}

func TestVisitors(t *testing.T) {
	e := newEnv(t, config.Vehicles{})
	if err := e.log.AddVisitor(Visitor{Plate: "?", ValidFrom: t0, ValidUntil: t0.Add(time.Hour)}); !errors.Is(err, ErrBadPlate) {
		t.Fatalf("bad plate: %v", err)
	}
	if err := e.log.AddVisitor(Visitor{Plate: "AB12", ValidFrom: t0, ValidUntil: t0}); !errors.Is(err, ErrBadVisit) {
		t.Fatalf("empty window: %v", err)
	}
	for _, p := range []string{"zz 1", "aa-2"} {
		if err := e.log.AddVisitor(Visitor{Plate: p, ValidFrom: t0, ValidUntil: t0.Add(time.Hour), Note: "guest"}); err != nil {
			t.Fatal(err)
		}
	}
	e.reopen(t)
	vs := e.log.Visitors()
	if len(vs) != 2 || vs[0].Plate != "AA2" || vs[1].Plate != "ZZ1" || vs[0].Note != "guest" || !vs[0].ValidFrom.Equal(t0) {
		t.Fatalf("visitors after restart = %+v", vs)
	}
	if err := e.log.RemoveVisitor("aa 2"); err != nil {
		t.Fatal(err)
	}
	if err := e.log.RemoveVisitor("AA2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	if vs := e.log.Visitors(); len(vs) != 1 || vs[0].Plate != "ZZ1" {
		t.Fatalf("visitors = %+v", vs)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(Config{}); err == nil {
		t.Fatal("empty data dir accepted")
	}
	dir := t.TempDir()
	l, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A second gateway on the same data dir must fail rather than hang.
	if _, err := Open(Config{DataDir: dir}); err == nil {
		t.Fatal("second Open of a locked db succeeded")
	}
}

func TestGetAndSetSnapshot(t *testing.T) {
	e := newEnv(t, config.Vehicles{})
	e.log.Handle(ev(sensors.PlateRead, "n", 0, "A12345", sensors.In))
	id := e.seen[0].ID
	if e.seen[0].Snapshot != "" {
		t.Fatalf("snapshot link before any snapshot: %q", e.seen[0].Snapshot)
	}
	link, err := e.log.SetSnapshot(id)
	if err != nil || link != "/api/vehicles/passages/"+id+"/snapshot.jpg" {
		t.Fatalf("SetSnapshot = %q, %v", link, err)
	}
	p, err := e.log.Get(id)
	if err != nil || p.Snapshot != link || p.Plate != "A12345" || !p.At.Equal(t0) {
		t.Fatalf("Get = %+v, %v", p, err)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("0", 32)} {
		if _, err := e.log.Get(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v", bad, err)
		}
		if _, err := e.log.SetSnapshot(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetSnapshot(%q) = %v", bad, err)
		}
	}
}

// BenchmarkHandlePassage measures a new passage end to end: classification,
// one bbolt transaction (with fsync) for the passage and the inside set.
func BenchmarkHandlePassage(b *testing.B) {
	l, err := Open(Config{DataDir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	dirs := []sensors.Direction{sensors.In, sensors.Out}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Handle(sensors.Event{Gate: "n", Type: sensors.PlateRead, Plate: fmt.Sprintf("B%05d", i%5000),
			Direction: dirs[(i/5000)%2], TS: t0.Add(time.Duration(i) * time.Second)})
	}
}

// BenchmarkPassagesQuery measures the console's default query (newest 1000)
// over a log of 20000 passages.
func BenchmarkPassagesQuery(b *testing.B) {
	l, err := Open(Config{DataDir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	l.db.NoSync = true // only the setup; the query does not write
	for i := 0; i < 20000; i++ {
		l.Handle(sensors.Event{Gate: "n", Type: sensors.PlateRead, Plate: fmt.Sprintf("B%05d", i),
			Direction: sensors.In, TS: t0.Add(time.Duration(i) * time.Second)})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n := len(l.Passages(Query{})); n != DefaultQueryLimit {
			b.Fatalf("%d passages", n)
		}
	}
}
