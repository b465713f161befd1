package gateway

import (
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/console"
)

// sitePlan is site.plan for the console's plan view; nil when not configured.
func sitePlan(p *config.SitePlan) *console.SitePlan {
	if p == nil {
		return nil
	}
	points := func(m map[string]config.Point) map[string][2]float64 {
		out := make(map[string][2]float64, len(m))
		for id, pt := range m {
			out[id] = pt
		}
		return out
	}
	return &console.SitePlan{ImagePath: p.Image, Cameras: points(p.Cameras), Gates: points(p.Gates)}
}
