package mqttbus

import (
	"strings"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// splitStore keeps paho's outbound state (our QoS 1 publishes and
// subscribes awaiting their ack, keys "o.<id>") in a file store so it
// survives a restart, and inbound state (received QoS 1 messages until we
// ack them, keys "i.<id>") in memory. Persisting inbound QoS 1 buys nothing:
// we acknowledge only after handling, so the broker resends whatever we had
// not finished, and the file writes (two files per message) cut ingest
// throughput by about 8x (docs/perf-sensors.md).
type splitStore struct {
	out paho.Store // durable
	in  paho.Store // volatile
}

func newSplitStore(dir string) *splitStore {
	return &splitStore{out: paho.NewFileStore(dir), in: paho.NewMemoryStore()}
}

func (s *splitStore) pick(key string) paho.Store {
	if strings.HasPrefix(key, "i.") {
		return s.in
	}
	return s.out
}

func (s *splitStore) Open()                                   { s.out.Open(); s.in.Open() }
func (s *splitStore) Put(key string, m packets.ControlPacket) { s.pick(key).Put(key, m) }
func (s *splitStore) Get(key string) packets.ControlPacket    { return s.pick(key).Get(key) }
func (s *splitStore) Del(key string)                          { s.pick(key).Del(key) }
func (s *splitStore) Close()                                  { s.out.Close(); s.in.Close() }
func (s *splitStore) Reset()                                  { s.out.Reset(); s.in.Reset() }
func (s *splitStore) All() []string                           { return append(s.out.All(), s.in.All()...) }
