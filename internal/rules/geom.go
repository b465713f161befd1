package rules

import "github.com/lanewatch/lanewatch/internal/config"

// inside reports whether (x, y) lies in the polygon (even-odd rule); points
// on the boundary may fall either way.
func inside(poly []config.Point, x, y float64) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		xi, yi, xj, yj := poly[i][0], poly[i][1], poly[j][0], poly[j][1]
		if (yi > y) != (yj > y) && x < (xj-xi)*(y-yi)/(yj-yi)+xi {
			in = !in
		}
	}
	return in
}

// side is the cross product of p0->p1 with p0->q. In image coordinates
// (y down) a positive value puts q on the right of someone standing at p0
// and facing p1, as seen on the screen.
func side(p0, p1 config.Point, x, y float64) float64 {
	return (p1[0]-p0[0])*(y-p0[1]) - (p1[1]-p0[1])*(x-p0[0])
}

// crosses reports whether the path a->b crosses the segment p0-p1, and from
// which side: dir is +1 for left to right ("in"), -1 for right to left ("out").
func crosses(p0, p1 config.Point, ax, ay, bx, by float64) (dir int, ok bool) {
	sa, sb := side(p0, p1, ax, ay), side(p0, p1, bx, by)
	if sa == 0 || sb == 0 || (sa > 0) == (sb > 0) {
		return 0, false
	}
	// The line p0-p1 must be crossed within the segment: p0 and p1 lie on
	// either side of the path a->b.
	a, b := config.Point{ax, ay}, config.Point{bx, by}
	s0, s1 := side(a, b, p0[0], p0[1]), side(a, b, p1[0], p1[1])
	if s0 != 0 && s1 != 0 && (s0 > 0) == (s1 > 0) {
		return 0, false
	}
	if sa < 0 {
		return +1, true
	}
	return -1, true
}
