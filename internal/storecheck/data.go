package storecheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/lanewatch/lanewatch/internal/auth"
)

// Result is the state of one store under data_dir.
type Result struct {
	Store string // file or directory, relative to data_dir
	Err   error  // nil ok; ErrMissing; ErrBusy; *CorruptError; other
}

// State is "ok", "missing", "busy", "corrupt" or "error".
func (r Result) State() string {
	var ce *CorruptError
	switch {
	case r.Err == nil:
		return "ok"
	case errors.Is(r.Err, ErrMissing):
		return "missing"
	case errors.Is(r.Err, ErrBusy):
		return "busy"
	case errors.As(r.Err, &ce):
		return "corrupt"
	}
	return "error"
}

// Damaged reports whether the store needs the operator (corrupt or
// unreadable); missing and busy do not.
func (r Result) Damaged() bool { s := r.State(); return s == "corrupt" || s == "error" }

func (r Result) String() string {
	switch r.State() {
	case "ok":
		return r.Store + ": ok"
	case "missing":
		return r.Store + ": missing (created at the first start)"
	case "busy":
		return r.Store + ": " + ErrBusy.Error()
	}
	return r.Store + ": " + r.State() + ": " + r.Err.Error()
}

// BrokerStore checks the embedded MQTT broker's store under dataDir and
// names it. It is a variable so that the broker, when it changes engine
// (JetStream files instead of mochi's bbolt file), points the check at its
// own store in one place.
var BrokerStore = func(dataDir string) (string, error) {
	const name = "broker/broker.bolt"
	return name, CheckBolt(filepath.Join(dataDir, name))
}

// Data checks every store under dataDir without changing any.
func Data(dataDir string) []Result {
	var out []Result
	for _, db := range []string{"incidents.db", "outbox.db", "vehicles.db"} {
		out = append(out, Result{db, CheckBolt(filepath.Join(dataDir, db))})
	}
	name, err := BrokerStore(dataDir)
	out = append(out, Result{name, err})
	out = append(out, Result{"mqtt-store/", CheckPacketDir(filepath.Join(dataDir, "mqtt-store"))})
	out = append(out, Result{"audit.log", CheckAudit(filepath.Join(dataDir, "audit.log"))})
	return out
}

// CheckPacketDir checks the MQTT client's in-flight store: every packet
// file must decode.
func CheckPacketDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return ErrMissing
	}
	if err != nil {
		return err
	}
	var bad []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".msg") {
			continue
		}
		if err := readPacketFile(filepath.Join(dir, e.Name())); err != nil {
			bad = append(bad, e.Name()+": "+err.Error())
		}
	}
	if len(bad) > 0 {
		return &CorruptError{Path: filepath.Join(dir, strings.SplitN(bad[0], ":", 2)[0]),
			Reason: fmt.Sprintf("%d damaged in-flight packet file(s), first %s", len(bad), bad[0])}
	}
	return nil
}

func readPacketFile(path string) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panicked: %v", r)
		}
	}()
	_, err = packets.ReadPacket(f)
	return err
}

// CheckAudit checks that every line of the audit log is a whole entry.
func CheckAudit(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return ErrMissing
	}
	if _, err := auth.ReadAudit(path); err != nil {
		return &CorruptError{Path: path, Reason: err.Error()}
	}
	return nil
}
