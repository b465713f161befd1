package mqttbus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// pki is a throw-away CA with a server and a client certificate.
type pki struct {
	caFile, certFile, keyFile string
	server                    tls.Certificate
	pool                      *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage, ip bool) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if ip {
			tpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := &pki{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = write("ca.pem", "CERTIFICATE", caDER)
	sDER, sKey := issue(2, x509.ExtKeyUsageServerAuth, true)
	p.server = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cDER, cKey := issue(3, x509.ExtKeyUsageClientAuth, false)
	p.certFile = write("client.pem", "CERTIFICATE", cDER)
	kb, _ := x509.MarshalECPrivateKey(cKey)
	p.keyFile = write("client.key", "EC PRIVATE KEY", kb)
	return p
}

// tlsBroker runs a NATS server (the embedded broker's engine) with a TLS
// MQTT listener that requires a client certificate signed by the test CA.
func tlsBroker(t *testing.T, p *pki) string {
	t.Helper()
	tc := &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert}
	opts := &server.Options{
		ServerName: "tls-test", DontListen: true, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: t.TempDir(),
		MQTT: server.MQTTOpts{Host: "127.0.0.1", Port: -1, TLSConfig: tc, TLSTimeout: 2},
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("TLS broker not ready")
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.MQTT.Port))
}

func TestTLSWithClientCertificate(t *testing.T) {
	p := newPKI(t)
	addr := tlsBroker(t, p)
	c := newClient(t, "mqtts://"+addr, "tls-gw", func(c *Config) {
		c.TLS = TLS{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile}
	})
	start(t, c)
	got := newCollector()
	if err := c.Subscribe("lanewatch/test/alerts", got.handle); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Publish(ctx, topics.Alerts(), false, []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 5*time.Second, "message over TLS", hasSeq("over tls"))
}

// Without the CA the server is not trusted, and without the client
// certificate the server refuses: either way no connection.
func TestTLSRefusedWithoutTrust(t *testing.T) {
	p := newPKI(t)
	addr := tlsBroker(t, p)
	for name, tlsc := range map[string]TLS{
		"system roots only": {CertFile: p.certFile, KeyFile: p.keyFile},
		"no client cert":    {CAFile: p.caFile},
	} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, "ssl://"+addr, "tls-"+name, func(c *Config) { c.TLS = tlsc })
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			if err := c.Start(ctx); err == nil {
				t.Fatal("connected")
			}
		})
	}
}
