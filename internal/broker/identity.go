package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Who published a message: NATS gives no publisher identity per message,
// except on a service import with sharing, where the server itself writes
// the publisher's client info (account, user, client type) into the
// Nats-Request-Info header. MQTT 3.1.1 clients cannot send headers and there
// is no NATS client port, so the header cannot be forged. Commands sets up,
// in the one account all clients share, an import of the command topics to
// identityPrefix+<subject> and subscribes to that in process: every publish
// on them reaches the handler with the account that sent it. (Per-user
// accounts would give the same, but retained messages are per account, so
// patrol apps would lose the retained incident states.)
//
// Delivery is at most once (core NATS): the handler runs in the gateway,
// in the same process as the broker, so only a crash between the broker's
// PUBACK and the handler loses a command; the patrol app then sees no state
// change and sends it again.
const identityPrefix = "_lanewatch_identity."

// Command is an MQTT publish with the account that sent it.
type Command struct {
	Topic   string
	Account string // "" when the broker could not tell
	Payload []byte
}

// Commands delivers every publish matching the MQTT topic filter to h, with
// the authenticated account, until stop is called. It needs the gateway's
// account (Config.Gateway). h runs on one goroutine, in order.
func (b *Broker) Commands(filter string, h func(Command)) (stop func(), err error) {
	srv := b.server()
	if srv == nil {
		return nil, errors.New("broker: not started")
	}
	if b.cfg.Gateway.Username == "" {
		return nil, errors.New("broker: Commands needs the gateway's account")
	}
	acc := srv.GlobalAccount()
	from := natsSubject(filter)
	to := identityPrefix + from
	b.mu.Lock()
	if !b.exported {
		if err := acc.AddServiceExport(identityPrefix+">", nil); err != nil {
			b.mu.Unlock()
			return nil, fmt.Errorf("broker: export: %w", err)
		}
		b.exported = true
	}
	b.mu.Unlock()
	if err := acc.AddServiceImport(acc, from, to); err != nil {
		return nil, fmt.Errorf("broker: import %s: %w", from, err)
	}
	if err := acc.SetServiceImportSharing(acc, to, true); err != nil {
		return nil, fmt.Errorf("broker: import %s: %w", from, err)
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.UserInfo(b.cfg.Gateway.Username, b.cfg.Gateway.Password),
		nats.Name("lanewatch-commands"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("broker: in-process connection: %w", err)
	}
	_, err = nc.Subscribe(to, func(m *nats.Msg) {
		h(Command{Topic: mqttTopic(strings.TrimPrefix(m.Subject, identityPrefix)), Account: publisher(m), Payload: m.Data})
	})
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("broker: subscribe %s: %w", to, err)
	}
	return nc.Close, nil
}

// publisher reads the account the server wrote into the message. Only an
// MQTT client's publish counts: anything else reached the subject without
// going through the import.
func publisher(m *nats.Msg) string {
	var ci server.ClientInfo
	if err := json.Unmarshal([]byte(m.Header.Get(server.ClientInfoHdr)), &ci); err != nil {
		return ""
	}
	if ci.ClientType != "mqtt" {
		return ""
	}
	return ci.User
}

// mqttTopic reverses natsSubject for topic names without empty levels.
func mqttTopic(subject string) string {
	return strings.NewReplacer("//", ".", ".", "/").Replace(subject)
}
