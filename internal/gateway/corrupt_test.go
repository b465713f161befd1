package gateway_test

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

// A damaged page or a truncated file in each database: `lanewatch run`
// exits 1 with one line naming the file and what to do, never a stack
// trace, and `lanewatch check --data` reports that store corrupt (the others
// ok) and exits 1.
func TestBinaryCorruptStoresAreOneClearLine(t *testing.T) {
	bin := lanewatchBinary(t)
	// Real stores with data in them, made by a gateway that ran.
	platform := "http://127.0.0.1:9" // nothing listens: tickets stay queued in outbox.db
	s := startSite(t, siteOpts{PlatformURL: platform})
	sensor := mqttClient(t, s.Mosquitto.URL, "gate-north-lpr")
	publish(t, sensor, "lanewatch/test-site/gates/north/events", `{"id":"pr-1","type":"plate_read","plate":"沪A12345","direction":"in","confidence":0.9}`)
	publish(t, sensor, "lanewatch/test-site/gates/north/events", `{"id":"sos-1","type":"sos"}`)
	eventually(t, "an incident and a passage", 10*time.Second, func() bool {
		incs, _ := s.Gateway.Incidents.List(incidents.Filter{})
		return len(incs) == 1 && len(s.Gateway.Vehicles.Passages(vehicles.Query{})) == 1
	})
	s.Stop(t)
	pristine := filepath.Join(s.Dir, "data")

	damages := map[string]func(t *testing.T, path string){
		"root page damaged": damageRootPage,
		"truncated": func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		},
	}
	for _, db := range []string{"incidents.db", "outbox.db", "vehicles.db"} {
		for name, damage := range damages {
			t.Run(db+"/"+name, func(t *testing.T) {
				dataDir := filepath.Join(t.TempDir(), "data")
				if out, err := exec.Command("cp", "-a", pristine, dataDir).CombinedOutput(); err != nil {
					t.Fatalf("cp: %v %s", err, out)
				}
				path := filepath.Join(dataDir, db)
				damage(t, path)
				writeSiteConfig(t, s, siteOpts{PlatformURL: platform, DataDir: dataDir})

				out, code := runBin(t, bin, "run", "-c", s.ConfigPath)
				if code != 1 {
					t.Fatalf("run: exit %d, want 1\n%s", code, out)
				}
				if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic:") || strings.Contains(out, "panicked") {
					t.Fatalf("run printed a stack trace:\n%s", out)
				}
				var line string
				for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
					if strings.Contains(l, path) {
						if line != "" {
							t.Fatalf("more than one line about %s:\n%s", path, out)
						}
						line = l
					}
				}
				if !strings.Contains(line, "damaged") || !strings.Contains(line, "move it aside") {
					t.Fatalf("no clear line naming %s and what to do:\n%s", path, out)
				}

				out, code = runBin(t, bin, "check", "--data", "-c", s.ConfigPath)
				if code != 1 {
					t.Fatalf("check --data: exit %d, want 1\n%s", code, out)
				}
				for _, other := range []string{"incidents.db", "outbox.db", "vehicles.db"} {
					want := other + ": ok"
					if other == db {
						want = db + ": corrupt: " + path
					}
					if !strings.Contains(out, want) {
						t.Fatalf("check --data: no %q:\n%s", want, out)
					}
				}
			})
		}
	}

	// The pristine copy checks out.
	writeSiteConfig(t, s, siteOpts{PlatformURL: platform, DataDir: pristine})
	if out, code := runBin(t, bin, "check", "--data", "-c", s.ConfigPath); code != 0 || !strings.Contains(out, "vehicles.db: ok") {
		t.Fatalf("check --data on healthy stores: exit %d\n%s", code, out)
	}
}

func runBin(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not finish within 60s:\n%s", args, out)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// damageRootPage overwrites the page of the root bucket named by the newer
// meta page with a pattern.
func damageRootPage(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var root, txid, ps uint64
	for _, off := range []int{0, 4096} {
		m := b[off+16:]
		if binary.LittleEndian.Uint32(m) != 0xED0CDAED {
			continue
		}
		if tx := binary.LittleEndian.Uint64(m[48:]); ps == 0 || tx > txid {
			ps, txid, root = uint64(binary.LittleEndian.Uint32(m[8:])), tx, binary.LittleEndian.Uint64(m[16:])
		}
	}
	if ps == 0 {
		t.Fatal("no valid meta page")
	}
	for i := root * ps; i < (root+1)*ps && i < uint64(len(b)); i++ {
		b[i] = byte(i * 31)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
