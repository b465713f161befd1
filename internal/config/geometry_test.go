package config

import "testing"

func TestSelfIntersection(t *testing.T) {
	tests := []struct {
		name string
		pts  []Point
		bad  bool
	}{
		{"triangle", []Point{{0, 0}, {1, 0}, {0, 1}}, false},
		{"square", []Point{{0, 0}, {1, 0}, {1, 1}, {0, 1}}, false},
		{"concave L", []Point{{0, 0}, {1, 0}, {1, 0.5}, {0.5, 0.5}, {0.5, 1}, {0, 1}}, false},
		{"bow-tie", []Point{{0, 0}, {1, 1}, {1, 0}, {0, 1}}, true},
		{"figure eight of five", []Point{{0, 0}, {0.5, 0.5}, {1, 0}, {1, 1}, {0, 1}}, false},
		{"crossing pentagram", []Point{{0.5, 0}, {0.8, 1}, {0, 0.35}, {1, 0.35}, {0.2, 1}}, true},
		// Vertex 3 touches edge 0-1 without crossing it: still not simple.
		{"vertex touches edge", []Point{{0, 0}, {1, 0}, {1, 1}, {0.5, 0}, {0, 1}}, true},
		{"spike folding back", []Point{{0, 0}, {1, 0}, {0.5, 0}, {0.5, 1}}, true},
		{"repeated point", []Point{{0, 0}, {1, 0}, {1, 0}, {0, 1}}, true},
		{"collinear overlap of far edges", []Point{{0, 0}, {0.6, 0}, {0.6, 1}, {0.4, 1}, {0.4, 0}, {0.2, 0}, {0.2, 1}, {0, 1}}, true},
	}
	for _, tt := range tests {
		if _, _, got := selfIntersection(tt.pts); got != tt.bad {
			t.Errorf("%s: selfIntersection = %v, want %v", tt.name, got, tt.bad)
		}
	}
}

func TestPolygonArea(t *testing.T) {
	if a := polygonArea([]Point{{0, 0}, {1, 0}, {1, 1}, {0, 1}}); a != 1 {
		t.Errorf("unit square area %v", a)
	}
	if a := polygonArea([]Point{{0, 0}, {0.5, 0.5}, {1, 1}}); a != 0 {
		t.Errorf("collinear area %v", a)
	}
}
