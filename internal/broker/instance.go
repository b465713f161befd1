package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// instanceFile, inside the JetStream store, names this store's instance.
const instanceFile = "lanewatch-instance"

var instancePattern = regexp.MustCompile(`^[0-9a-f]{8}$`)

// instanceID is the store's own id, made at its first start. A clustered
// server is named <gateway id>-<instance>: JetStream's Raft identity is the
// hash of the server name, and a server back under its old name with an
// empty store would have forgotten its votes and logs, which Raft does not
// allow (the takeover soak saw two holders of one camera). A box back with
// its store keeps its name; a wiped or replaced one joins as a new peer.
func instanceID(storeDir string) (string, error) {
	p := filepath.Join(storeDir, instanceFile)
	b, err := os.ReadFile(p)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if !instancePattern.MatchString(id) {
			return "", fmt.Errorf("%s: not an instance id; move the broker's store aside to start afresh", p)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(r[:])
	// Written whole and synced before the server runs under the name.
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(id + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err == nil {
		err = syncDir(storeDir)
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return id, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
