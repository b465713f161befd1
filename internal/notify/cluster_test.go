package notify

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/outbox"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// journaled is one gateway's Notifier of a cluster: each channel's
// messages are accepted into its stream on the shared JetStream.
func journaled(t *testing.T, js jetstream.JetStream, chans []config.Notify) *Notifier {
	t.Helper()
	cfg := testNotifyConfig(t, chans, nil)
	cfg.Journal = func(ch string) *outbox.Journal {
		return &outbox.Journal{JS: js, Stream: "lanewatch_notify_" + ch, Subject: "_lanewatch.notify." + ch}
	}
	return startNotifier(t, cfg)
}

// In a cluster a channel's message is accepted by any gateway and sent by
// the one that Holds the sender role; when the role moves, the next sender
// sends what is left and nothing already delivered.
func TestChannelsSentByTheHolderOnly(t *testing.T) {
	s := newStandIn(t, "wecom", "", nil)
	js := testenv.JetStream(t)
	chans := []config.Notify{{ID: "patrol", Kind: "wecom", URL: s.url()}}
	a, b := journaled(t, js, chans), journaled(t, js, chans)
	if err := a.Notify(sos("inc_a")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(s.messages()); n != 0 {
		t.Fatalf("%d messages sent while no gateway holds the sender role", n)
	}
	b.Hold(true)
	testenv.WaitFor(t, "inc_a sent by b", 10*time.Second, func() bool { return len(s.messages()) == 1 })
	b.Hold(false)
	if err := b.Notify(sos("inc_b")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(s.messages()); n != 1 {
		t.Fatalf("%d messages after b stopped sending, want 1", n)
	}
	a.Hold(true)
	testenv.WaitFor(t, "inc_b sent by a", 10*time.Second, func() bool { return len(s.messages()) == 2 })
	time.Sleep(200 * time.Millisecond)
	if n := len(s.messages()); n != 2 || !contains(s.messages()[1], "北门") {
		t.Fatalf("messages %q: want inc_a once and inc_b once", s.messages())
	}
	if st := b.Stats(); st.Pending != 0 || st.Dead != 0 {
		t.Fatalf("a gateway that does not send counts %+v", st)
	}
}
