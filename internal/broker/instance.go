package broker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/lanewatch/lanewatch/internal/keyfile"
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
	b, err := keyfile.LoadOrCreate(p, func() ([]byte, error) {
		var r [4]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(r[:]) + "\n"), nil
	})
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(b))
	if !instancePattern.MatchString(id) {
		return "", fmt.Errorf("%s: not an instance id; move the broker's store aside to start afresh", p)
	}
	return id, nil
}
