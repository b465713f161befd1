package mqttbus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/lanewatch/lanewatch/internal/broker/brokertest"
)

func testPublish(id uint16, payload string) *packets.PublishPacket {
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.TopicName, p.Qos, p.MessageID, p.Payload = "lanewatch/s/alerts", 1, id, []byte(payload)
	return p
}

func TestFileStorePutGetDelAllAcrossReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mqtt-store")
	s := NewFileStore(dir)
	s.Open()
	s.Put("o.1", testPublish(1, "one"))
	s.Put("o.2", testPublish(2, "two"))
	s.Put("o.2", testPublish(2, "two again")) // a resend replaces
	sub := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	sub.MessageID, sub.Qos, sub.Topics, sub.Qoss = 3, 1, []string{"a/#"}, []byte{1}
	s.Put("o.3", sub)
	s.Del("o.1")
	s.Del("o.99") // absent: not an error
	s.Close()
	if err := s.Err(); err != nil || s.Errors() != 0 {
		t.Fatalf("Err = %v, Errors = %d", err, s.Errors())
	}

	s2 := NewFileStore(dir)
	s2.Open()
	defer s2.Close()
	keys := s2.All()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"o.2", "o.3"}) {
		t.Fatalf("All after reopen = %v", keys)
	}
	p, ok := s2.Get("o.2").(*packets.PublishPacket)
	if !ok || string(p.Payload) != "two again" || p.MessageID != 2 || p.TopicName != "lanewatch/s/alerts" {
		t.Fatalf("Get(o.2) = %#v", s2.Get("o.2"))
	}
	if sp, ok := s2.Get("o.3").(*packets.SubscribePacket); !ok || sp.Topics[0] != "a/#" {
		t.Fatalf("Get(o.3) = %#v", s2.Get("o.3"))
	}
	if s2.Get("o.1") != nil {
		t.Fatal("deleted key came back")
	}
	s2.Reset()
	if k := s2.All(); len(k) != 0 {
		t.Fatalf("after Reset: %v", k)
	}
}

// A write that fails is recorded and reported, never a panic (paho's own
// FileStore panics here), and a later success clears the health flag.
func TestFileStoreWriteErrorsReportedNotPanicking(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "mqtt-store")
	if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	var reported []error
	s := NewFileStore(dir)
	s.OnError = func(err error) { reported = append(reported, err) }
	s.Open()
	s.Put("o.5", testPublish(5, "x"))
	if s.Get("o.5") != nil {
		t.Fatal("Get of a packet that was never stored")
	}
	s.All()
	s.Del("o.5")

	var se *StoreError
	if err := s.PutErr("o.5"); err != nil {
		t.Fatalf("PutErr after Del = %v, want nil (Del forgets the key)", err)
	}
	if !errors.As(s.Err(), &se) || s.Errors() == 0 || len(reported) == 0 {
		t.Fatalf("Err = %v, Errors = %d, reported %v", s.Err(), s.Errors(), reported)
	}
	s.Put("o.6", testPublish(6, "y"))
	if err := s.PutErr("o.6"); !errors.As(err, &se) || se.Op != "put" || !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("PutErr(o.6) = %v, want a put StoreError wrapping ENOTDIR", err)
	}

	// The directory becomes usable: the next write succeeds and clears Err.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	s.Open()
	s.Put("o.6", testPublish(6, "y"))
	if s.Err() != nil || s.PutErr("o.6") != nil {
		t.Fatalf("after recovery: Err = %v, PutErr = %v", s.Err(), s.PutErr("o.6"))
	}
	if s.Get("o.6") == nil {
		t.Fatal("packet written after recovery is missing")
	}
}

// A damaged packet file is skipped and reported, not a panic, and no
// temporary file of an interrupted write is taken for a packet.
func TestFileStoreDamagedFileSkipped(t *testing.T) {
	dir := t.TempDir()
	s := NewFileStore(dir)
	s.Open()
	s.Put("o.1", testPublish(1, "good"))
	if err := os.WriteFile(filepath.Join(dir, "o.2.msg"), []byte{0x32, 0xff, 0xff, 0xff, 0xff, 0x01}, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "o.3.msg.tmp"), []byte{0x32}, 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := NewFileStore(dir)
	s2.Open()
	keys := s2.All()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"o.1", "o.2"}) {
		t.Fatalf("All = %v", keys)
	}
	if s2.Get("o.2") != nil {
		t.Fatal("damaged packet decoded")
	}
	var se *StoreError
	if !errors.As(s2.Err(), &se) || se.Op != "get" {
		t.Fatalf("Err = %v", s2.Err())
	}
	if s2.Get("o.1") == nil {
		t.Fatal("good packet lost")
	}
	if _, err := os.Stat(filepath.Join(dir, "o.3.msg.tmp")); !os.IsNotExist(err) {
		t.Fatalf("leftover temporary file not removed at Open: %v", err)
	}
}

// With the store failing and the broker away, Publish says the message is
// not stored (not merely queued), the client reports it, nothing panics;
// when the store works again so does the report.
func TestPublishReportsStoreFailure(t *testing.T) {
	e := brokertest.Mosquitto(t)
	dir := t.TempDir()
	gw := gatewayBrokerGone(t, e, dir)
	storeDir := filepath.Join(dir, "mqtt-store")
	if err := os.RemoveAll(storeDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(storeDir, nil, 0o600); err != nil { // writes below it now fail
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := gw.Publish(ctx, topics.Alerts(), false, []byte("incident-1"))
	var se *StoreError
	if !errors.Is(err, ErrNotStored) || !errors.As(err, &se) || errors.Is(err, ErrQueued) {
		t.Fatalf("Publish = %v, want ErrNotStored with the StoreError", err)
	}
	if !errors.As(gw.StoreErr(), &se) {
		t.Fatalf("StoreErr = %v", gw.StoreErr())
	}

	if err := os.Remove(storeDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(storeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if err := gw.Publish(ctx2, topics.Alerts(), false, []byte("incident-2")); !errors.Is(err, ErrQueued) {
		t.Fatalf("Publish after recovery = %v, want ErrQueued", err)
	}
	if err := gw.StoreErr(); err != nil {
		t.Fatalf("StoreErr after recovery = %v", err)
	}
}

// BenchmarkFileStorePut is the cost on the publisher's goroutine of a Put
// (write, rename; the fsync runs on the syncer) and the Del after the
// broker's PUBACK, on the file system of the test's temporary directory.
func BenchmarkFileStorePut(b *testing.B) {
	s := NewFileStore(b.TempDir())
	s.Open()
	b.Cleanup(s.Close)
	p := testPublish(1, `{"id":"pas_1","gate":"north","plate":"沪A12345","direction":"in"}`)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		key := fmt.Sprintf("o.%d", i%1000)
		s.Put(key, p)
		s.Del(key)
	}
	if s.Errors() != 0 {
		b.Fatal(s.Err())
	}
}

// Put leaves the fsync to the syncer, which has synced everything still
// stored by Close; paho's Open/Close per connection start and stop it.
func TestFileStoreSyncerRounds(t *testing.T) {
	s := NewFileStore(t.TempDir())
	s.Open()
	s.Open() // a second Open (paho reconnects) starts no second syncer
	for i := range 50 {
		s.Put(fmt.Sprintf("o.%d", i), testPublish(uint16(i+1), "x"))
	}
	s.Del("o.3")
	s.Close()
	s.mu.Lock()
	left := len(s.dirty)
	s.mu.Unlock()
	if left != 0 || s.Errors() != 0 {
		t.Fatalf("after Close: %d files not synced, %d errors (%v)", left, s.Errors(), s.Err())
	}
	s.Close() // twice: no-op
	s.Open()
	s.Put("o.99", testPublish(99, "y"))
	s.Close()
	if len(s.All()) != 50 {
		t.Fatalf("All = %v", s.All())
	}
}
