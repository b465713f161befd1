package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// tlsFront is the embedded broker's TLS listener (mqtt.tls_listen). NATS has
// one MQTT listener, plain or TLS; the gateway and loopback devices use the
// plain one, so TLS is terminated here and each connection is relayed to
// the plain listener on loopback. The broker therefore sees TLS clients as
// loopback clients: config validation requires mqtt.users with tls_listen,
// so that every one of them still has to log in.
type tlsFront struct {
	ln     net.Listener
	target string
	cfg    *tls.Config

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startTLSFront(listen, certFile, keyFile, target string) (*tlsFront, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("tls listen: %w", err)
	}
	f := &tlsFront{ln: ln, target: target, conns: map[net.Conn]struct{}{},
		cfg: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

func (f *tlsFront) addr() string { return f.ln.Addr().String() }

func (f *tlsFront) track(c net.Conn, add bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		return false
	}
	if add {
		f.conns[c] = struct{}{}
	} else {
		delete(f.conns, c)
	}
	return true
}

func (f *tlsFront) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors
			continue
		}
		f.wg.Add(1)
		go f.relay(c)
	}
}

func (f *tlsFront) relay(raw net.Conn) {
	defer f.wg.Done()
	defer raw.Close()
	if !f.track(raw, true) {
		return
	}
	defer f.track(raw, false)
	tc := tls.Server(raw, f.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		return
	}
	up, err := net.DialTimeout("tcp", f.target, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, tc); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(tc, up); tc.CloseWrite(); done <- struct{}{} }()
	<-done
}

func (f *tlsFront) close() {
	f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.conns = nil
	f.mu.Unlock()
	f.wg.Wait()
}
