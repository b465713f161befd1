package webpush

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var b64 = base64.RawURLEncoding

// browser is what a browser keeps for one subscription: the private half of
// p256dh and the auth secret.
type browser struct {
	priv *ecdh.PrivateKey
	auth []byte
}

func newBrowser(t testing.TB) *browser {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]byte, 16)
	rand.Read(a)
	return &browser{priv: k, auth: a}
}

func (b *browser) keys() SubKeys {
	return SubKeys{P256dh: b64.EncodeToString(b.priv.PublicKey().Bytes()), Auth: b64.EncodeToString(b.auth)}
}

// decrypt undoes RFC 8291 (aes128gcm, RFC 8188) as the browser does.
func (b *browser) decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, fmt.Errorf("keyid of %d bytes, want the 65-byte server key", idlen)
	}
	asPub, err := ecdh.P256().NewPublicKey(body[21 : 21+idlen])
	if err != nil {
		return nil, fmt.Errorf("keyid: %w", err)
	}
	ct := body[21+idlen:]
	if rs < 18 || len(ct) > int(rs) {
		return nil, fmt.Errorf("record size %d for %d bytes: want one record", rs, len(ct))
	}
	secret, err := b.priv.ECDH(asPub)
	if err != nil {
		return nil, err
	}
	info := append(append([]byte("WebPush: info\x00"), b.priv.PublicKey().Bytes()...), asPub.Bytes()...)
	ikm, err := hkdf.Key(sha256.New, secret, b.auth, string(info), 32)
	if err != nil {
		return nil, err
	}
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	blk, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(blk)
	pt, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	pt = bytes.TrimRight(pt, "\x00")
	if len(pt) == 0 || pt[len(pt)-1] != 2 {
		return nil, errors.New("no last-record delimiter 0x02")
	}
	return pt[:len(pt)-1], nil
}

// pushService stands in for FCM/Mozilla autopush: it checks VAPID as they do
// and hands the decrypted payload to the test.
type pushService struct {
	t      testing.TB
	srv    *httptest.Server
	vapid  string // expected k=
	mu     sync.Mutex
	got    [][]byte
	errs   []error
	answer func(w http.ResponseWriter) bool // true: answered, stop
	subs   map[string]*browser              // by endpoint path
}

func newPushService(t testing.TB, vapidPublic string) *pushService {
	p := &pushService{t: t, vapid: vapidPublic, subs: map[string]*browser{}}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pushService) subscribe(name string) (Subscription, *browser) {
	b := newBrowser(p.t)
	p.mu.Lock()
	p.subs["/push/"+name] = b
	p.mu.Unlock()
	return Subscription{Endpoint: p.srv.URL + "/push/" + name, Keys: b.keys(), User: "olga"}, b
}

func (p *pushService) serve(w http.ResponseWriter, r *http.Request) {
	err := p.check(r)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.errs = append(p.errs, err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if p.answer != nil && p.answer(w) {
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (p *pushService) check(r *http.Request) error {
	if r.Method != http.MethodPost {
		return fmt.Errorf("method %s", r.Method)
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		return fmt.Errorf("Content-Encoding %q", ce)
	}
	ttl, err := strconv.Atoi(r.Header.Get("TTL"))
	if err != nil || ttl < 0 {
		return fmt.Errorf("TTL %q", r.Header.Get("TTL"))
	}
	if err := p.checkVAPID(r.Header.Get("Authorization")); err != nil {
		return err
	}
	p.mu.Lock()
	b := p.subs[r.URL.Path]
	p.mu.Unlock()
	if b == nil {
		return fmt.Errorf("unknown endpoint %s", r.URL.Path)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8192))
	if err != nil {
		return err
	}
	if len(body) > 4096 {
		return fmt.Errorf("body of %d bytes, push services take 4096", len(body))
	}
	pt, err := b.decrypt(body)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.got = append(p.got, pt)
	p.mu.Unlock()
	return nil
}

// checkVAPID verifies RFC 8292: "vapid t=<JWT>, k=<key>", ES256 over the
// JWT with k, aud the push service's origin, exp within 24 h, sub a contact.
func (p *pushService) checkVAPID(h string) error {
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return fmt.Errorf("Authorization %q: want the vapid scheme", h)
	}
	params := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		params[k] = v
	}
	if params["k"] != p.vapid {
		return fmt.Errorf("k=%q, want the gateway's public key", params["k"])
	}
	kb, err := b64.DecodeString(params["k"])
	if err != nil || len(kb) != 65 || kb[0] != 4 {
		return fmt.Errorf("k is not an uncompressed P-256 point")
	}
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(kb[1:33]), Y: new(big.Int).SetBytes(kb[33:])}
	parts := strings.Split(params["t"], ".")
	if len(parts) != 3 {
		return fmt.Errorf("t is not a JWT")
	}
	var hdr struct{ Alg, Typ string }
	hb, _ := b64.DecodeString(parts[0])
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "ES256" {
		return fmt.Errorf("JWT header %s", hb)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return fmt.Errorf("JWT signature is not 64 bytes r||s")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return errors.New("JWT signature does not verify with k")
	}
	var c struct {
		Aud string
		Exp int64
		Sub string
	}
	cb, _ := b64.DecodeString(parts[1])
	if err := json.Unmarshal(cb, &c); err != nil {
		return fmt.Errorf("JWT claims %s", cb)
	}
	if c.Aud != p.srv.URL {
		return fmt.Errorf("aud %q, want %q", c.Aud, p.srv.URL)
	}
	if exp := time.Unix(c.Exp, 0); exp.Before(time.Now()) || exp.After(time.Now().Add(24*time.Hour)) {
		return fmt.Errorf("exp %v not within 24 h", exp)
	}
	if !strings.HasPrefix(c.Sub, "mailto:") && !strings.HasPrefix(c.Sub, "https:") {
		return fmt.Errorf("sub %q", c.Sub)
	}
	return nil
}

func setup(t *testing.T) (*Sender, *Store, *pushService, *prometheus.Registry) { return setupB(t) }

func setupB(t testing.TB) (*Sender, *Store, *pushService, *prometheus.Registry) {
	dir := t.TempDir()
	keys, err := LoadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ps := newPushService(t, keys.Public)
	reg := prometheus.NewRegistry()
	s := &Sender{Keys: keys, Store: st, Client: ps.srv.Client(), Registerer: reg, Subscriber: "mailto:ops@compound.example"}
	if err := s.Initialize(); err != nil {
		t.Fatal(err)
	}
	return s, st, ps, reg
}

func TestPushDecryptsInBrowser(t *testing.T) {
	s, st, ps, _ := setup(t)
	sub, _ := ps.subscribe("phone-1")
	if err := st.Add(sub); err != nil {
		t.Fatal(err)
	}
	for _, payload := range [][]byte{
		[]byte(`{"title":"北门 有人翻越","incident":"inc-1","url":"https://gw/e/abc"}`),
		bytes.Repeat([]byte("x"), MaxPayload),
		{},
	} {
		if err := s.Push(context.Background(), sub, payload, Options{Urgent: true, Topic: "inc-1"}); err != nil {
			t.Fatalf("push %d bytes: %v (stand-in: %v)", len(payload), err, ps.errs)
		}
	}
	if len(ps.errs) > 0 || len(ps.got) != 3 {
		t.Fatalf("stand-in errors %v, %d messages", ps.errs, len(ps.got))
	}
	if string(ps.got[0]) != `{"title":"北门 有人翻越","incident":"inc-1","url":"https://gw/e/abc"}` || len(ps.got[1]) != MaxPayload || len(ps.got[2]) != 0 {
		t.Errorf("decrypted %q", ps.got[0])
	}
	var rf *RefusedError
	if err := s.Push(context.Background(), sub, make([]byte, MaxPayload+1)); !errors.As(err, &rf) {
		t.Errorf("oversized payload: %v", err)
	}
	// Another browser's keys cannot read it: the stand-in's decryption is real.
	other := newBrowser(t)
	ps.mu.Lock()
	ps.subs["/push/phone-1"] = other
	ps.mu.Unlock()
	if err := s.Push(context.Background(), sub, []byte("x")); err == nil {
		t.Error("a message decrypted with the wrong browser key")
	}
}

func TestPushAnswers(t *testing.T) {
	s, st, ps, reg := setup(t)
	sub, _ := ps.subscribe("p")
	if err := st.Add(sub); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		status int
		header string
		check  func(error) bool
	}{
		{"accepted", 201, "", func(err error) bool { return err == nil }},
		{"busy with seconds", 429, "120", func(err error) bool {
			var r *RetryLaterError
			return errors.As(err, &r) && r.After == 2*time.Minute && r.Status == 429
		}},
		{"down with a date", 503, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), func(err error) bool {
			var r *RetryLaterError
			return errors.As(err, &r) && r.After > 58*time.Minute && r.After <= time.Hour
		}},
		{"refused", 400, "", func(err error) bool { var r *RefusedError; return errors.As(err, &r) && r.Status == 400 }},
		{"too large", 413, "", func(err error) bool { var r *RefusedError; return errors.As(err, &r) && r.Status == 413 }},
		{"gone", 410, "", func(err error) bool { return errors.Is(err, ErrGone) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps.mu.Lock()
			ps.answer = func(w http.ResponseWriter) bool {
				if c.header != "" {
					w.Header().Set("Retry-After", c.header)
				}
				w.WriteHeader(c.status)
				return true
			}
			ps.mu.Unlock()
			if err := s.Push(context.Background(), sub, []byte("hi")); !c.check(err) {
				t.Errorf("got %v", err)
			}
		})
	}
	if list, _ := st.List("olga"); len(list) != 0 {
		t.Errorf("gone subscription kept: %+v", list)
	}
	// 404 too removes it.
	sub2, _ := ps.subscribe("q")
	st.Add(sub2)
	ps.answer = func(w http.ResponseWriter) bool { w.WriteHeader(404); return true }
	if err := s.Push(context.Background(), sub2, []byte("hi")); !errors.Is(err, ErrGone) {
		t.Errorf("404: %v", err)
	}
	if list, _ := st.List(""); len(list) != 0 {
		t.Errorf("404 subscription kept: %+v", list)
	}
	// Unreachable: retry later.
	ps.srv.Close()
	var r *RetryLaterError
	if err := s.Push(context.Background(), sub2, []byte("hi")); !errors.As(err, &r) {
		t.Errorf("service down: %v", err)
	}
	if got := testutil.ToFloat64(s.sent.WithLabelValues("retry")); got != 3 {
		t.Errorf("retry counter %v", got)
	}
	if n, _ := testutil.GatherAndCount(reg, "lanewatch_webpush_messages_total"); n != 4 {
		t.Errorf("%d result series", n)
	}
}

func TestStore(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	good := Subscription{Endpoint: "https://fcm.googleapis.com/fcm/send/abc", Keys: b.keys(), User: "olga"}
	bad := func(f func(*Subscription)) Subscription { s := good; f(&s); return s }
	for name, s := range map[string]Subscription{
		"http endpoint":  bad(func(s *Subscription) { s.Endpoint = "http://push.example/x" }),
		"no host":        bad(func(s *Subscription) { s.Endpoint = "https:///x" }),
		"credentials":    bad(func(s *Subscription) { s.Endpoint = "https://u:p@push.example/x" }),
		"long endpoint":  bad(func(s *Subscription) { s.Endpoint = "https://p.example/" + strings.Repeat("a", 1100) }),
		"p256dh garbage": bad(func(s *Subscription) { s.Keys.P256dh = "!!" }),
		"p256dh off curve": bad(func(s *Subscription) {
			s.Keys.P256dh = b64.EncodeToString(append([]byte{4}, make([]byte, 64)...))
		}),
		"short auth": bad(func(s *Subscription) { s.Keys.Auth = b64.EncodeToString([]byte("short")) }),
		"no user":    bad(func(s *Subscription) { s.User = "" }),
	} {
		if err := st.Add(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Padded keys, as some browsers send them, are fine.
	padded := good
	padded.Keys.Auth = base64.URLEncoding.EncodeToString(b.auth)
	if err := st.Add(padded); err != nil {
		t.Fatal(err)
	}
	// Same endpoint again replaces, never duplicates.
	if err := st.Add(good); err != nil {
		t.Fatal(err)
	}
	if l, _ := st.List("olga"); len(l) != 1 {
		t.Fatalf("list %+v", l)
	}
	// Another user cannot remove olga's subscription.
	if ok, _ := st.Remove("vic", good.Endpoint); ok {
		t.Error("removed by another user")
	}
	for i := 1; i < MaxPerUser; i++ {
		s := good
		s.Endpoint = fmt.Sprintf("https://fcm.googleapis.com/fcm/send/%d", i)
		if err := st.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	over := good
	over.Endpoint = "https://fcm.googleapis.com/fcm/send/over"
	if err := st.Add(over); !errors.Is(err, ErrInvalid) {
		t.Errorf("over the per-user cap: %v", err)
	}
	st.Close()
	// Kept across restarts.
	st, err = OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if l, _ := st.List("olga"); len(l) != MaxPerUser {
		t.Errorf("%d after reopen", len(l))
	}
	if ok, _ := st.Remove("olga", good.Endpoint); !ok {
		t.Error("remove")
	}
	if l, _ := st.List(""); len(l) != MaxPerUser-1 {
		t.Errorf("%d after remove", len(l))
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(dir, "vapid.key"))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	b, err := LoadKeys(dir)
	if err != nil || b.Public != a.Public {
		t.Errorf("key changed on restart: %v", err)
	}
	if strings.Contains(fmt.Sprint(a), a.private) || strings.Contains(fmt.Sprintf("%+v", *a), a.private) ||
		strings.Contains(fmt.Sprintf("%#v", a), a.private) {
		t.Error("private key printed")
	}
	if pk, _ := b64.DecodeString(a.Public); len(pk) != 65 {
		t.Errorf("public key of %d bytes", len(pk))
	}
	os.WriteFile(filepath.Join(dir, "vapid.key"), []byte("not a key"), 0o600)
	if _, err := LoadKeys(dir); err == nil || strings.Contains(err.Error(), "not a key") {
		t.Errorf("bad key file: %v", err)
	}
}
