package incidents

import (
	"context"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
)

// slowSnaps is an evidence store whose writes wait until released: a slow
// or stalled disk.
type slowSnaps struct {
	entered chan string
	release chan struct{}
}

func (s *slowSnaps) PutSnapshot(id string, b []byte) error {
	s.entered <- id
	<-s.release
	return nil
}

// A snapshot on its way to a slow disk holds up neither the console's reads
// nor acks of other incidents: the engine saves it outside its lock. The
// incident still opens with its snapshot link, once the write is done.
func TestSnapshotSavedOutsideLock(t *testing.T) {
	ev := &slowSnaps{entered: make(chan string, 2), release: make(chan struct{})}
	e, err := New(EngineConfig{Site: "s1", DataDir: t.TempDir(), Evidence: ev})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	ch, cancel := e.Subscribe()
	defer cancel()
	if err := e.RaiseWait(context.Background(), incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: "north"}}); err != nil {
		t.Fatal(err)
	}
	first := next(t, ch).Incident

	e.Raise(incident.Signal{Type: incident.Intrusion, Source: lawn, Snapshot: []byte("jpeg")})
	id := <-ev.entered // the write has begun and waits on the disk
	done := make(chan error, 1)
	go func() {
		_, err := e.List(Filter{})
		if err == nil {
			_, err = e.Ack(first.ID, "p", "")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		close(ev.release)
		t.Fatal("List and Ack waited for a snapshot write")
	}
	if c := next(t, ch); c.Kind != Acked {
		t.Fatalf("change %s, want the ack", c.Kind)
	}
	close(ev.release)
	opened := next(t, ch)
	if opened.Kind != Opened || opened.Incident.ID != id || opened.Incident.Evidence.Snapshot != "/api/incidents/"+id+"/snapshot.jpg" {
		t.Fatalf("opened %s %+v, want %s with its snapshot", opened.Kind, opened.Incident, id)
	}
	if !e.IsOpen(id) {
		t.Fatal("not open")
	}
}
