package camsim

import (
	"os"
	"testing"
	"time"
)

// TestSoakNoDrift runs the pacer for minutes and checks it sent exactly the
// frames the wall clock allows. Opt-in (CAMSIM_SOAK=duration, e.g. 2m): too
// slow for the default suite, whose loop test covers seconds.
func TestSoakNoDrift(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("CAMSIM_SOAK"))
	if err != nil {
		t.Skip("set CAMSIM_SOAK=2m to run")
	}
	s := startServer(t, map[string]string{"cam": mediaFile(t, "campus-walk-10s.mp4")})
	start := time.Now()
	time.Sleep(d)
	st, _ := s.Stats("cam")
	elapsed := time.Since(start)
	want := uint64(elapsed / (100 * time.Millisecond)) // 10 fps, first AU at t=0
	t.Logf("%v: %d AUs sent, %d expected, %d loops", elapsed.Round(time.Millisecond), st.AUsSent, want+1, st.Loops)
	if st.AUsSent < want || st.AUsSent > want+2 {
		t.Errorf("sent %d AUs in %v, want %d±1", st.AUsSent, elapsed, want+1)
	}
}
