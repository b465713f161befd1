package mqttbus

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// splitStore keeps paho's outbound state (our QoS 1 publishes and
// subscribes awaiting their ack, keys "o.<id>") in a file store so it
// survives a restart, and inbound state (received QoS 1 messages until we
// ack them, keys "i.<id>") in memory. Persisting inbound QoS 1 buys nothing:
// we acknowledge only after handling, so the broker resends whatever we had
// not finished, and the file writes (two files per message) cut ingest
// throughput by about 8x (docs/perf-sensors.md). Publishes on a volatile
// topic (Config.Volatile) stay in memory too: their publisher queues them
// in memory anyway, so a file each would keep nothing a restart needs.
type splitStore struct {
	out      *FileStore // durable
	in       paho.Store // volatile
	vol      paho.Store // outbound on volatile topics
	volatile map[string]bool
	volKeys  sync.Map // keys of the packets in vol
}

func newSplitStore(out *FileStore, volatile []string) *splitStore {
	s := &splitStore{out: out, in: paho.NewMemoryStore(), vol: paho.NewMemoryStore(), volatile: map[string]bool{}}
	for _, t := range volatile {
		s.volatile[t] = true
	}
	return s
}

func (s *splitStore) pick(key string) paho.Store {
	if strings.HasPrefix(key, "i.") {
		return s.in
	}
	if _, ok := s.volKeys.Load(key); ok {
		return s.vol
	}
	return s.out
}

func (s *splitStore) Open() { s.out.Open(); s.in.Open(); s.vol.Open() }

func (s *splitStore) Put(key string, m packets.ControlPacket) {
	if p, ok := m.(*packets.PublishPacket); ok && strings.HasPrefix(key, "o.") && s.volatile[p.TopicName] {
		s.volKeys.Store(key, true)
		s.vol.Put(key, m)
		return
	}
	if _, ok := s.volKeys.LoadAndDelete(key); ok { // an id reused for a durable packet
		s.vol.Del(key)
	}
	s.pick(key).Put(key, m)
}

func (s *splitStore) Get(key string) packets.ControlPacket { return s.pick(key).Get(key) }

func (s *splitStore) Del(key string) {
	if _, ok := s.volKeys.LoadAndDelete(key); ok {
		s.vol.Del(key)
		return
	}
	s.pick(key).Del(key)
}

func (s *splitStore) Close() { s.out.Close(); s.in.Close(); s.vol.Close() }

func (s *splitStore) Reset() {
	s.out.Reset()
	s.in.Reset()
	s.vol.Reset()
	s.volKeys.Clear()
}

func (s *splitStore) All() []string {
	return append(append(s.out.All(), s.in.All()...), s.vol.All()...)
}

// StoreError is a failed operation of the FileStore: paho's Store methods
// return no error, so the store records it, and the Client reports it
// (Publish, StoreErr, lanewatch_mqttbus_store_errors_total).
type StoreError struct {
	Op   string // put, get, del, list, reset
	Key  string // paho's key ("o.12"); empty for list and reset
	Path string
	Err  error
}

func (e *StoreError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("mqttbus: store %s %s: %v", e.Op, e.Path, e.Err)
	}
	return fmt.Sprintf("mqttbus: store %s %s (%s): %v", e.Op, e.Key, e.Path, e.Err)
}
func (e *StoreError) Unwrap() error { return e.Err }

// ErrNotStored is returned (wrapped with the StoreError) by Publish when its
// packet could not be written to the store (disk full, read-only, …) and the
// broker had not acknowledged it before ctx ended: unlike ErrQueued, the
// message would NOT survive a restart of the gateway.
var ErrNotStored = errors.New("mqttbus: message could not be stored")

// FileStore is paho's Store over one file per packet (<key>.msg, the same
// names paho's own FileStore uses, so an upgrade keeps what was in flight),
// written to a temporary file and renamed into place: a crash of the process
// leaves either the old state or the new, never half a packet. The fsync
// runs on a goroutine of its own, for all files written since its last
// round at once: an fsync per Put costs about 2 ms on the gateway's disk
// (BenchmarkFileStorePut), and Put runs on the publisher's goroutine (the
// passage of every gate event). Most packets are acknowledged and deleted
// before their round comes; only those still in flight are synced. Unlike paho's
// FileStore it never panics: a failed write or read is recorded (Err,
// PutErr, Errors, OnError) and the operation is skipped. A packet that could
// not be written is then only in memory; paho still sends it while the
// process lives.
type FileStore struct {
	dir string
	// OnError, when set, is called with every failure (from paho's
	// goroutines; it must not block).
	OnError func(error)

	mu      sync.Mutex
	failed  map[string]error // keys whose last Put failed
	lastErr error            // nil after a successful write
	errs    atomic.Uint64
	dirty   map[string]struct{} // written, not yet fsynced
	kick    chan struct{}
	stop    chan struct{} // nil while the syncer is not running
	synced  chan struct{} // closed when the syncer has returned
}

// NewFileStore returns a store in dir (created at Open).
func NewFileStore(dir string) *FileStore {
	return &FileStore{dir: dir, failed: map[string]error{}, dirty: map[string]struct{}{}, kick: make(chan struct{}, 1)}
}

const (
	storeExt = ".msg"
	tmpExt   = ".tmp"
)

func (s *FileStore) path(key string) string { return filepath.Join(s.dir, key+storeExt) }

func (s *FileStore) fail(op, key, path string, err error) {
	se := &StoreError{Op: op, Key: key, Path: path, Err: err}
	s.errs.Add(1)
	s.mu.Lock()
	s.lastErr = se
	if op == "put" {
		s.failed[key] = se
	}
	s.mu.Unlock()
	if s.OnError != nil {
		s.OnError(se)
	}
}

func (s *FileStore) ok(key string) {
	s.mu.Lock()
	s.lastErr = nil
	delete(s.failed, key)
	s.mu.Unlock()
}

// Err is the last failure, nil when the most recent write succeeded.
func (s *FileStore) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// PutErr is the failure of key's last Put, nil when it is stored (or was
// deleted since).
func (s *FileStore) PutErr(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed[key]
}

// Errors counts failures since the store was made.
func (s *FileStore) Errors() uint64 { return s.errs.Load() }

// Open creates the directory and removes temporary files a crash left.
func (s *FileStore) Open() {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		s.fail("open", "", s.dir, err)
		return
	}
	tmps, _ := filepath.Glob(filepath.Join(s.dir, "*"+tmpExt))
	for _, t := range tmps {
		_ = os.Remove(t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop == nil {
		s.stop, s.synced = make(chan struct{}), make(chan struct{})
		go s.syncer(s.stop, s.synced)
	}
}

// Close stops the syncer after a last round.
func (s *FileStore) Close() {
	s.mu.Lock()
	stop, synced := s.stop, s.synced
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-synced
	}
}

// Sync fsyncs what was written so far (and not deleted since).
func (s *FileStore) Sync() {
	s.mu.Lock()
	keys := s.dirty
	s.dirty = map[string]struct{}{}
	s.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	for k := range keys {
		p := s.path(k)
		f, err := os.Open(p)
		if err != nil {
			continue // acknowledged and deleted meanwhile: nothing to keep
		}
		if err := f.Sync(); err != nil {
			s.fail("sync", k, p, err)
		}
		f.Close()
	}
	// The renames are directory entries: sync them too.
	if d, err := os.Open(s.dir); err == nil {
		if err := d.Sync(); err != nil {
			s.fail("sync", "", s.dir, err)
		}
		d.Close()
	}
}

func (s *FileStore) syncer(stop, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-s.kick:
			s.Sync()
		case <-stop:
			s.Sync()
			return
		}
	}
}

// Put writes m under key durably; on failure the old file (if any) stays as
// it was and the error is recorded.
func (s *FileStore) Put(key string, m packets.ControlPacket) {
	p := s.path(key)
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		s.fail("put", key, p, err)
		return
	}
	if err := writeFile(p, buf.Bytes()); err != nil {
		s.fail("put", key, p, err)
		return
	}
	s.ok(key)
	s.mu.Lock()
	s.dirty[key] = struct{}{}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func writeFile(path string, b []byte) (err error) {
	tmp := path + tmpExt
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Get reads key's packet; nil when it is absent or unreadable (a damaged
// file is recorded and left for the operator, paho skips the key).
func (s *FileStore) Get(key string) packets.ControlPacket {
	p := s.path(key)
	f, err := os.Open(p)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.fail("get", key, p, err)
		}
		return nil
	}
	defer f.Close()
	cp, err := readPacket(f)
	if err != nil {
		s.fail("get", key, p, fmt.Errorf("damaged packet: %w", err))
		return nil
	}
	return cp
}

// readPacket guards against panics in the packet decoder: a damaged file
// must not take the gateway down.
func readPacket(f *os.File) (cp packets.ControlPacket, err error) {
	defer func() {
		if r := recover(); r != nil {
			cp, err = nil, fmt.Errorf("decoder panicked: %v", r)
		}
	}()
	return packets.ReadPacket(f)
}

// All lists the stored keys.
func (s *FileStore) All() []string {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.fail("list", "", s.dir, err)
		}
		return nil
	}
	var keys []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, storeExt) && !e.IsDir() {
			keys = append(keys, strings.TrimSuffix(n, storeExt))
		}
	}
	return keys
}

// Del removes key. Removing needs no free space, so it works on a full disk.
func (s *FileStore) Del(key string) {
	p := s.path(key)
	s.mu.Lock()
	delete(s.failed, key)
	s.mu.Unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.fail("del", key, p, err)
	}
}

// Reset removes every stored packet.
func (s *FileStore) Reset() {
	for _, k := range s.All() {
		s.Del(k)
	}
	s.mu.Lock()
	s.failed = map[string]error{}
	s.mu.Unlock()
}
