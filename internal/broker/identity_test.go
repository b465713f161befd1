package broker

import (
	"testing"
	"time"
)

// An ack carries the account that published it, whatever its payload says;
// a publish that did not come through the import has no account.
func TestCommandsCarryTheAccount(t *testing.T) {
	b := startBroker(t, Config{Listen: "127.0.0.1:0", Users: roleUsers, Topics: siteTopics, Gateway: gw,
		Username: "legacy", Password: "legacy-pw"})
	got := make(chan Command, 10)
	stop, err := b.Commands(base+"/incidents/+/ack", func(c Command) { got <- c })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	patrol := userClient(t, b.URL(), "patrol-07", "pw-patrol", "p1")
	wait(t, patrol.Publish(base+"/incidents/i1/ack", 1, false, `{"by":"someone-else"}`))
	select {
	case c := <-got:
		if c.Account != "patrol-07" || c.Topic != base+"/incidents/i1/ack" || string(c.Payload) != `{"by":"someone-else"}` {
			t.Fatalf("got %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no command")
	}
	// Refused by the role: never reaches the handler.
	gate := userClient(t, b.URL(), "gate-north", "pw-north", "g1")
	wait(t, gate.Publish(base+"/incidents/i2/ack", 1, false, `{}`))
	// Straight onto the internal subject, by an account with every right.
	legacy := userClient(t, b.URL(), "legacy", "legacy-pw", "l1")
	wait(t, legacy.Publish("_lanewatch_identity/lanewatch/s/incidents/i3/ack", 1, false, `{}`))
	select {
	case c := <-got:
		if c.Account != "" {
			t.Fatalf("forged: %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the direct publish did not arrive (want it with no account)")
	}
	select {
	case c := <-got:
		t.Fatalf("unexpected %+v", c)
	case <-time.After(300 * time.Millisecond):
	}
}
