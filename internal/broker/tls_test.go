package broker

import (
	"crypto/tls"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// Over the TLS listener the roles hold as on the plain one.
func TestTLSListener(t *testing.T) {
	cert, key, pool := testenv.SelfSignedCert(t)
	b := startBroker(t, Config{Listen: "127.0.0.1:0", Users: roleUsers, Topics: siteTopics, Gateway: gw,
		TLSListen: "127.0.0.1:0", TLSCert: cert, TLSKey: key})
	tlsURL := "ssl://" + b.TLSAddr()
	withTLS := func(user, pass string) func(*paho.ClientOptions) {
		return func(o *paho.ClientOptions) {
			o.SetTLSConfig(&tls.Config{RootCAs: pool})
			o.SetUsername(user)
			o.SetPassword(pass)
		}
	}
	patrol, err := client(t, tlsURL, "patrol-tls", true, withTLS("patrol-07", "pw-patrol"))
	if err != nil {
		t.Fatal(err)
	}
	got := receive(t, patrol, base+"/alerts")
	g := userClient(t, b.URL(), gw.Username, gw.Password, gw.ClientID)
	wait(t, g.Publish(base+"/alerts", 1, false, "over tls"))
	if m := got(1, 5*time.Second); len(m) != 1 || m[0] != "over tls" {
		t.Fatalf("patrol over TLS got %q", m)
	}
	if _, err := client(t, tlsURL, "bad", true, withTLS("patrol-07", "wrong")); err == nil {
		t.Fatal("wrong password admitted over TLS")
	}
	if _, err := client(t, tlsURL, "anon", true, withTLS("", "")); err == nil {
		t.Fatal("anonymous client admitted over TLS (it reaches the broker from loopback)")
	}
	if _, err := client(t, "tcp://"+b.TLSAddr(), "plain", true, func(o *paho.ClientOptions) {
		o.SetUsername("patrol-07")
		o.SetPassword("pw-patrol")
		o.SetConnectTimeout(2 * time.Second)
	}); err == nil {
		t.Fatal("plain MQTT admitted on the TLS listener")
	}
	if _, err := New(Config{TLSListen: "127.0.0.1:0", TLSCert: cert, TLSKey: key}); err == nil {
		t.Fatal("TLS listener without users accepted")
	}
}
