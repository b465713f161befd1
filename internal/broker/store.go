package broker

import (
	"strconv"
	"strings"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
)

// boltStore is mochi's bolt storage hook with one fix. In mochi v2.7.9 the
// bolt hook's OnQosPublish does not save the packet id of an in-flight
// message (the badger hook does). After a restart every restored QoS 1
// message has id 0, mochi refuses to resend it ("protocol violation:
// missing packet id") and drops the reconnecting client: a persistent
// session would lose all messages queued for it. The id is still in the
// record's key ("if_<client>:<packet id>"), so we take it from there.
type boltStore struct {
	*bolt.Hook
}

func (h *boltStore) StoredInflightMessages() ([]storage.Message, error) {
	v, err := h.Hook.StoredInflightMessages()
	if err != nil {
		return nil, err
	}
	out := v[:0]
	for _, m := range v {
		if m.PacketID == 0 {
			m.PacketID = packetIDFromKey(m.ID)
		}
		if m.PacketID == 0 {
			// Unrecoverable; resending it would cost the client its session.
			h.Log.Warn("dropping stored in-flight message without packet id", "client", m.Client, "topic", m.TopicName)
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

func packetIDFromKey(key string) uint16 {
	i := strings.LastIndexByte(key, ':')
	if i < 0 {
		return 0
	}
	n, err := strconv.ParseUint(key[i+1:], 10, 16)
	if err != nil {
		return 0
	}
	return uint16(n)
}
