package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/lanewatch/lanewatch/internal/broker"
	"github.com/lanewatch/lanewatch/internal/config"
)

// brokerCredentials are the gateway's own account on the embedded broker,
// generated at first start and kept in data_dir (mode 0600) so that they
// stay the same across restarts. Nobody configures them and they are never
// logged; with them the broker reserves the gateway's client id, so no other
// client can take its session over.
type brokerCredentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

const credentialsFile = "mqtt-gateway.json"

func loadOrCreateCredentials(path, gatewayID string) (brokerCredentials, error) {
	var c brokerCredentials
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &c); err != nil || c.Username == "" || len(c.Password) < 32 {
			return c, fmt.Errorf("%s is damaged: move it aside and restart (new credentials are generated)", path)
		}
		return c, nil
	case !errors.Is(err, fs.ErrNotExist):
		return c, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return c, err
	}
	c = brokerCredentials{Username: "lanewatch-gateway-" + gatewayID, Password: hex.EncodeToString(secret)}
	b, _ = json.Marshal(c)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return c, err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return c, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return c, err
	}
	if err := f.Close(); err != nil {
		return c, err
	}
	return c, os.Rename(tmp, path)
}

func tlsFile(t *config.MQTTTLS, cert bool) string {
	switch {
	case t == nil:
		return ""
	case cert:
		return t.Cert
	}
	return t.Key
}

// newBroker configures the embedded broker from mqtt.*: the roles of
// mqtt.users and the gateway's own account.
func (g *Gateway) newBroker() (*broker.Broker, brokerCredentials, error) {
	m := g.Config.MQTT
	cred, err := loadOrCreateCredentials(g.path(credentialsFile), g.Config.GatewayID)
	if err != nil {
		return nil, cred, err
	}
	users := make([]broker.User, len(m.Users))
	for i, u := range m.Users {
		users[i] = broker.User{Name: u.Name, Password: u.Password, Role: u.Role, Gates: u.Gates}
	}
	b, err := broker.New(broker.Config{Listen: m.Listen, DataDir: g.path("broker"), Username: m.Username, Password: m.Password,
		Users: users, Topics: g.Topics,
		Gateway:   broker.Gateway{Username: cred.Username, Password: cred.Password, ClientID: m.ClientID},
		TLSListen: m.TLSListen, TLSCert: tlsFile(m.TLS, true), TLSKey: tlsFile(m.TLS, false),
		Cluster: brokerCluster(g.Config), HoldDevices: true, Registerer: g.Registry, Logger: g.log})
	return b, cred, err
}
