package console_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files and returns their paths and the pool that trusts it.
func selfSigned(t *testing.T) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lanewatch test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "console.crt"), filepath.Join(dir, "console.key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

// TestTLS: with console.tls the console speaks only HTTPS and the session
// cookie is Secure; a missing key file fails Start with a clear error.
func TestTLS(t *testing.T) {
	certPath, keyPath, pool := selfSigned(t)
	logs := &testenv.SyncBuffer{}
	e := newEnv(t, func(s *console.Server) {
		s.TLS = &config.ConsoleTLS{Cert: certPath, Key: keyPath}
		s.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	base := "https://" + e.srv.Addr()
	jar, _ := cookiejar.New(nil)
	c := &client{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	resp, body := c.do("POST", "/api/login", map[string]string{"name": "olga", "password": password})
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("login over TLS: %d %s", resp.StatusCode, body)
	}
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == auth.CookieName {
			ck = k
		}
	}
	if ck == nil || !ck.Secure || !ck.HttpOnly {
		t.Fatalf("session cookie over TLS %+v: want Secure and HttpOnly", ck)
	}
	if resp, _ := c.do("GET", "/api/me", nil); resp.StatusCode != 200 {
		t.Errorf("me with the cookie over TLS: %d", resp.StatusCode)
	}
	// Plain HTTP to the TLS port gets no API answer.
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + e.srv.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on the TLS port")
		}
	}

	// Handshake garbage is the client's doing: at most a throttled debug line.
	for i := 0; i < 50; i++ {
		if c, err := net.Dial("tcp", e.srv.Addr()); err == nil {
			_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			_, _ = io.ReadAll(c)
			c.Close()
		}
	}
	if n := strings.Count(logs.String(), "handshake"); n < 1 || n > 2 {
		t.Errorf("%d lines about handshake errors for 50 bad clients, want 1 (throttled):\n%s", n, logs)
	}

	s := &console.Server{Listen: "127.0.0.1:0", Auth: e.srv.Auth, TLS: &config.ConsoleTLS{Cert: certPath, Key: keyPath + ".missing"}}
	if err := s.Start(t.Context()); err == nil {
		s.Close()
		t.Error("Start with a missing key file succeeded")
	}
}
