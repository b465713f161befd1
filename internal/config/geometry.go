package config

// Plain float geometry for validating zone polygons. Points are fractions of
// the frame, so an epsilon of 1e-12 is far below a pixel of any camera.

const eps = 1e-12

func cross(o, a, b Point) float64 {
	return (a[0]-o[0])*(b[1]-o[1]) - (a[1]-o[1])*(b[0]-o[0])
}

func sign(x float64) int {
	switch {
	case x > eps:
		return 1
	case x < -eps:
		return -1
	}
	return 0
}

// onSegment reports whether q, known to be collinear with a-b, lies within
// the segment's bounding box.
func onSegment(a, b, q Point) bool {
	return min(a[0], b[0])-eps <= q[0] && q[0] <= max(a[0], b[0])+eps &&
		min(a[1], b[1])-eps <= q[1] && q[1] <= max(a[1], b[1])+eps
}

// segmentsIntersect reports whether segments p1-p2 and q1-q2 share a point,
// including touching and collinear overlap.
func segmentsIntersect(p1, p2, q1, q2 Point) bool {
	d1 := sign(cross(q1, q2, p1))
	d2 := sign(cross(q1, q2, p2))
	d3 := sign(cross(p1, p2, q1))
	d4 := sign(cross(p1, p2, q2))
	if d1*d2 < 0 && d3*d4 < 0 {
		return true
	}
	return (d1 == 0 && onSegment(q1, q2, p1)) || (d2 == 0 && onSegment(q1, q2, p2)) ||
		(d3 == 0 && onSegment(p1, p2, q1)) || (d4 == 0 && onSegment(p1, p2, q2))
}

// selfIntersection finds two non-adjacent edges of the closed polygon that
// meet (edge k runs from point k to point k+1), or adjacent edges that fold
// back onto each other. A polygon that does is not simple, and "inside" is
// ambiguous for the rules engine.
func selfIntersection(pts []Point) (int, int, bool) {
	n := len(pts)
	for i := 0; i < n; i++ {
		a1, a2 := pts[i], pts[(i+1)%n]
		for j := i + 1; j < n; j++ {
			b1, b2 := pts[j], pts[(j+1)%n]
			adjacent := j == i+1 || (i == 0 && j == n-1)
			if !adjacent {
				if segmentsIntersect(a1, a2, b1, b2) {
					return i, j, true
				}
				continue
			}
			// Adjacent edges share a vertex; they are bad only if they
			// overlap along a stretch (a spike folding back on itself).
			if foldsBack(a1, a2, b1, b2) {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// foldsBack reports whether two edges sharing an end point run back over
// each other, or one of them has zero length.
func foldsBack(a1, a2, b1, b2 Point) bool {
	if a1 == a2 || b1 == b2 {
		return true
	}
	// Find the shared vertex s and the far ends x (of a) and y (of b).
	var s, x, y Point
	switch {
	case a2 == b1:
		s, x, y = a2, a1, b2
	case a1 == b2:
		s, x, y = a1, a2, b1
	default:
		return segmentsIntersect(a1, a2, b1, b2)
	}
	if sign(cross(s, x, y)) != 0 {
		return false
	}
	// Collinear: overlapping iff both far ends lie on the same side of s.
	return (x[0]-s[0])*(y[0]-s[0])+(x[1]-s[1])*(y[1]-s[1]) > 0
}

// polygonArea is the absolute shoelace area.
func polygonArea(pts []Point) float64 {
	var a float64
	for i := range pts {
		j := (i + 1) % len(pts)
		a += pts[i][0]*pts[j][1] - pts[j][0]*pts[i][1]
	}
	if a < 0 {
		a = -a
	}
	return a / 2
}
