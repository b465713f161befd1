package eval

import (
	"testing"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// TestCampusRulesHOG: line crossing both ways and loitering on 30 s of real
// footage with the default detector hold the floors make eval holds it to.
func TestCampusRulesHOG(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s of real footage")
	}
	path := testenv.SharedFile(t, "media/campus-walk-30s.mp4")
	cr, sigs, err := RunCampusRules(path, nil, "campus30/hog")
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	r.Add(&cr, sigs, CampusRulesExpect)
	if f := CampusFailures(r, "hog"); len(f) > 0 {
		r.Clips = append(r.Clips, cr)
		r.Print(testWriter{t}, "campus30/hog")
		t.Logf("loop: %+v", cr.Loop)
		t.Errorf("below the floors: %v", f)
	}
	for _, rule := range []incident.Type{incident.LineCrossing, incident.Loitering} {
		if s := r.Scores[rule]; s == nil || s.Events == 0 || s.Found == 0 {
			t.Errorf("%s: no event found (%+v)", rule, s)
		}
	}
}
