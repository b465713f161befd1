package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/eval"
)

// campus30 runs line crossing (both ways) and loitering on the 30-s campus
// clip with one detector and checks eval.CampusFloors. It returns whether
// the run counts as passed, failed or was skipped (clip absent outside CI).
func campus30(clip, name string, newDet func() (detect.Detector, error)) (passed, skipped bool) {
	if _, err := os.Stat(clip); err != nil {
		// CI has ../shared: a missing clip there is a failure, not a skip.
		if os.Getenv("CI") == "true" {
			fmt.Printf("FAIL campus30 %s: %v (CI=true needs ../shared/media)\n", name, err)
			return false, false
		}
		fmt.Printf("skip campus30 %s: %v\n", name, err)
		return false, true
	}
	det, err := newDet()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cr, sigs, err := eval.RunCampusRules(clip, det, "campus30/"+name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var rep eval.Report
	rep.Add(&cr, sigs, eval.CampusRulesExpect)
	rep.Clips = append(rep.Clips, cr)
	rep.Print(os.Stdout, fmt.Sprintf("real footage %s (line crossing, loitering), detector %s", filepath.Base(clip), name))
	failures := eval.CampusFailures(rep, name)
	for _, f := range failures {
		fmt.Println("FAIL campus30", name, f)
	}
	return len(failures) == 0, false
}
