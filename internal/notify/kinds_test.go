package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/outbox"
	"github.com/lanewatch/lanewatch/internal/testenv"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// recorder is a sender of a kind added from outside (as webpush is).
type recorder struct {
	mu    sync.Mutex
	notes []Note
}

func (r *recorder) Send(_ context.Context, m outbox.Message) outbox.Result {
	n, err := DecodeNote(m.Body)
	if err != nil {
		return outbox.Result{Outcome: outbox.Dead, Response: []byte(err.Error())}
	}
	r.mu.Lock()
	r.notes = append(r.notes, n)
	r.mu.Unlock()
	return outbox.Result{Outcome: outbox.Delivered}
}

// A new channel kind is one Sender: registered through Config.Kinds it gets
// the same durable, filtered, ordered delivery.
func TestAddedKind(t *testing.T) {
	rec := &recorder{}
	var got config.Notify
	kinds := map[string]Kind{"webpush": func(ch config.Notify, env Env) (outbox.Sender, outbox.Budget, error) {
		got = ch
		return rec, outbox.Budget{}, nil
	}}
	n, err := New(Config{Channels: []config.Notify{{ID: "phones", Kind: "webpush", Severities: []string{"critical"}}}, Dir: t.TempDir(),
		Composer: &Composer{L: &Localizer{Lang: Zh, Names: testNames(), Loc: cst}, Links: PlainLinks("https://gw")},
		Kinds:    kinds, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	n.Start(t.Context())
	defer n.Close()
	n.Notify(sos("inc_p"))
	testenv.WaitFor(t, "the push", 5*time.Second, func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.notes) == 1 })
	if nt := rec.notes[0]; got.ID != "phones" || nt.TitleLocal != "北门 SOS 求助" || nt.Links.Snapshot != "https://gw/api/incidents/inc_p/snapshot.jpg" || nt.Event != "opened" {
		t.Fatalf("note %+v (channel %+v)", nt, got)
	}

	// Without a registered sender the kind is refused at start, clearly.
	_, err = New(Config{Channels: []config.Notify{{ID: "phones", Kind: "webpush"}}, Dir: t.TempDir(),
		Composer: &Composer{L: &Localizer{}}, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), `no sender for kind "webpush"`) {
		t.Fatalf("unregistered kind: %v", err)
	}
}

// A channel's queue at its cap refuses new messages loudly (OnFull with
// the channel, an error from Notify, the metric) and keeps what it has.
func TestChannelFull(t *testing.T) {
	full := make(chan string, 1)
	n, err := New(Config{Channels: []config.Notify{{ID: "g", Kind: "wecom", URL: "http://127.0.0.1:9/"}}, Dir: t.TempDir(),
		Composer: &Composer{L: &Localizer{Lang: Zh}}, MaxBytes: 1500,
		OnFull: func(ch string, st outbox.Stats) { full <- ch }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var refused error
	for i := 0; i < 20 && refused == nil; i++ {
		refused = n.Notify(sos(fmt.Sprintf("inc_%d", i)))
	}
	if !errors.Is(refused, outbox.ErrFull) {
		t.Fatalf("never refused: %v", refused)
	}
	select {
	case ch := <-full:
		if ch != "g" {
			t.Fatalf("OnFull for %q", ch)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnFull not called")
	}
	if st := n.Stats(); !st.Full || st.Pending == 0 {
		t.Fatalf("stats %+v", st)
	}
	if v := testutil.ToFloat64(n.failed.WithLabelValues("g")); v != 1 {
		t.Fatalf("enqueue_failed_total %v", v)
	}
}

// What a channel has queued survives a restart (the queue file under Dir)
// and goes out once the robot is back, once.
func TestChannelSurvivesRestart(t *testing.T) {
	s := newStandIn(t, "feishu", "SEC-r", nil)
	s.set(func(s *robotStandIn) { s.down = true })
	dir := t.TempDir()
	cfg := Config{Channels: []config.Notify{{ID: "ops", Kind: "feishu", URL: s.url(), Secret: "SEC-r"}}, Dir: dir,
		Composer:    &Composer{L: &Localizer{Lang: Zh, Names: testNames(), Loc: cst}, Links: PlainLinks("https://gw")},
		BaseBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Start(t.Context())
	for i := range 5 {
		n.Notify(sos(fmt.Sprintf("inc_%d", i)))
	}
	n.Close()
	s.set(func(s *robotStandIn) { s.down = false })
	n2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if st := n2.Stats(); st.Pending != 5 {
		t.Fatalf("after restart: %+v", st)
	}
	n2.Start(t.Context())
	testenv.WaitFor(t, "delivery after restart", 5*time.Second, func() bool { return n2.Stats().Pending == 0 })
	got := reached(s.messages())
	if len(got) != 5 {
		t.Fatalf("reached %v", got)
	}
	for id, c := range got {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}
}
