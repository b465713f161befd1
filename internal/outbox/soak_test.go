//go:build soak

package outbox

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func rssMiB(t *testing.T) float64 { return status(t, "VmRSS:") }

func status(t *testing.T, field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func heapMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse) / (1 << 20)
}

// TestSoak100kQueued: 100,000 tickets queued while the platform is down must
// hold < 100 MB RSS, after a restart too, since bodies stay on disk.
//
//	go test -tags soak -run Soak -v ./internal/outbox
func TestSoak100kQueued(t *testing.T) {
	const n = 100_000
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	path := filepath.Join(t.TempDir(), "outbox.db")
	base := rssMiB(t)
	o, err := Open(testConfig(path, down.URL))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	fill(t, o, n, n/2) // 50,000 incidents with 2 versions each
	t.Logf("queued %d tickets in %v; file %d MiB", n, time.Since(start).Round(time.Millisecond), fileMiB(path))
	o.Start(t.Context())
	time.Sleep(2 * time.Second) // the workers are trying (connection refused)
	t.Logf("while running: RSS %.1f MiB (anon %.1f, file %.1f; baseline %.1f), heap in use %.1f MiB",
		rssMiB(t), status(t, "RssAnon:"), status(t, "RssFile:"), base, heapMiB())
	o.Close()

	o2, err := Open(testConfig(path, down.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	o2.Start(t.Context())
	time.Sleep(2 * time.Second)
	if s := o2.Stats(); s.Pending != n {
		t.Fatalf("after reopen %d pending", s.Pending)
	}
	list, _ := o2.List(100)
	rss, heap := rssMiB(t), heapMiB()
	t.Logf("after restart: RSS %.1f MiB (anon %.1f, file %.1f), heap in use %.1f MiB, %d listed",
		rss, status(t, "RssAnon:"), status(t, "RssFile:"), heap, len(list))
	if rss > 100 {
		t.Fatalf("RSS %.1f MiB with %d queued tickets", rss, n)
	}
	o2.Close()

	// The platform comes back: drain the whole backlog.
	up := okServer(t)
	o3, err := Open(testConfig(path, up.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer o3.Close()
	start = time.Now()
	o3.Start(t.Context())
	peak, peakAnon := 0.0, 0.0
	for o3.Stats().Pending > 0 {
		time.Sleep(100 * time.Millisecond)
		peak, peakAnon = max(peak, rssMiB(t)), max(peakAnon, status(t, "RssAnon:"))
	}
	took := time.Since(start)
	// Reading every body maps the whole file in: the file-backed part of RSS
	// is clean page cache, so only the anonymous part is held to the bound.
	t.Logf("drained %d after the outage in %v: %.0f tickets/s, peak RSS %.1f MiB (peak anon %.1f MiB)",
		n, took.Round(time.Millisecond), n/took.Seconds(), peak, peakAnon)
	if peakAnon > 100 {
		t.Fatalf("anonymous RSS %.1f MiB while draining", peakAnon)
	}
}

func fileMiB(p string) int64 {
	st, _ := os.Stat(p)
	return st.Size() >> 20
}
