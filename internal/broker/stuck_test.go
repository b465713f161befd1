package broker

import (
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func peer(name string, current, offline bool, active time.Duration) *server.PeerInfo {
	return &server.PeerInfo{Name: name, Current: current, Offline: offline, Active: active}
}

func TestStuckReplicas(t *testing.T) {
	info := func(leader string, replicas ...*server.PeerInfo) *server.JSInfo {
		return &server.JSInfo{
			AccountDetails: []*server.AccountDetail{{Id: "$G", Streams: []server.StreamDetail{
				{Name: "$MQTT_msgs", Cluster: &server.ClusterInfo{Leader: leader, Replicas: replicas}},
			}}},
		}
	}
	live := map[string]bool{"gw-1-a": true, "gw-0-new": true, "gw-2-a": true}
	for _, c := range []struct {
		name string
		jsi  *server.JSInfo
		live map[string]bool
		want string // the stuck follower, "" for none
	}{
		{"a live follower unheard for minutes", info("gw-1-a", peer("gw-0-new", false, false, 109*time.Second), peer("gw-2-a", true, false, 0)), live, "gw-0-new"},
		{"catching up: heard from", info("gw-1-a", peer("gw-0-new", false, false, time.Second), peer("gw-2-a", true, false, 0)), live, ""},
		{"not yet a minute", info("gw-1-a", peer("gw-0-new", false, false, 30*time.Second), peer("gw-2-a", true, false, 0)), live, ""},
		{"its server is dead (no route)", info("gw-1-a", peer("gw-0-old", false, false, 2*time.Minute), peer("gw-2-a", true, false, 0)), live, ""},
		{"flagged offline in the stream", info("gw-1-a", peer("gw-0-new", false, true, 2*time.Minute), peer("gw-2-a", true, false, 0)), live, ""},
		{"led elsewhere", info("gw-2-a", peer("gw-0-new", false, false, 2*time.Minute), peer("gw-1-a", true, false, 0)), live, ""},
		{"nothing", &server.JSInfo{}, live, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := stuckReplicas(c.jsi, "gw-1-a", c.live)
			switch {
			case c.want == "" && len(got) != 0:
				t.Fatalf("stuck: %+v, want none", got)
			case c.want != "" && (len(got) != 1 || got[0].peer != c.want || got[0].stream != "$MQTT_msgs" || got[0].account != "$G"):
				t.Fatalf("stuck: %+v, want %s in $G > $MQTT_msgs", got, c.want)
			}
		})
	}
}

// An earlier incarnation is retired when it has no route while its gateway
// has one under another instance, whatever JetStream's peer list says of
// its contact (a new meta leader reports none for a peer dead before).
func TestStaleIncarnations(t *testing.T) {
	meta := func(leader string, replicas ...*server.PeerInfo) *server.JSInfo {
		return &server.JSInfo{Meta: &server.MetaClusterInfo{Leader: leader, Replicas: replicas}}
	}
	for _, c := range []struct {
		name string
		jsi  *server.JSInfo
		live []string
		want []string
	}{
		{"wiped box back, killed meta leader's view (no contact time)",
			meta("gw-1-aaaaaaaa", peer("gw-2-cabda58c", false, false, 0), peer("gw-0-11111111", true, false, 0), peer("gw-2-0badf00d", false, false, 0)),
			[]string{"gw-1-aaaaaaaa", "gw-0-11111111", "gw-2-0badf00d"}, []string{"gw-2-cabda58c"}},
		{"killed, not back yet: its gateway has no live instance",
			meta("gw-1-aaaaaaaa", peer("gw-2-cabda58c", false, true, time.Minute), peer("gw-0-11111111", true, false, 0)),
			[]string{"gw-1-aaaaaaaa", "gw-0-11111111"}, nil},
		{"back with its disk: the same name",
			meta("gw-1-aaaaaaaa", peer("gw-2-cabda58c", true, false, 0), peer("gw-0-11111111", true, false, 0)),
			[]string{"gw-1-aaaaaaaa", "gw-0-11111111", "gw-2-cabda58c"}, nil},
		{"split off: no route, but no other instance either",
			meta("gw-1-aaaaaaaa", peer("gw-2-cabda58c", false, false, 0), peer("gw-0-11111111", true, false, 0)),
			[]string{"gw-1-aaaaaaaa", "gw-0-11111111"}, nil},
		{"names that are not <gateway>-<instance>",
			meta("a", peer("gw-2", false, false, 0), peer("b", true, false, 0)),
			[]string{"a", "b", "gw-2-cabda58c"}, nil},
		{"no meta", &server.JSInfo{}, []string{"x"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			live := map[string]bool{}
			for _, n := range c.live {
				live[n] = true
			}
			got := staleIncarnations(c.jsi, live)
			if !slices.Equal(got, c.want) {
				t.Fatalf("stale: %v, want %v", got, c.want)
			}
		})
	}
}
