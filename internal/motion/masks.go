package motion

import (
	"image"
	"image/color"

	"github.com/lanewatch/lanewatch/internal/config"
	"gocv.io/x/gocv"
)

// Mask kinds of config.Mask.
const (
	KindPrivacy = "privacy"
	KindIgnore  = "ignore"
)

var black = color.RGBA{0, 0, 0, 255}

// Polygons fills configured polygons (fractions of the frame) into Mats of any
// size. The pixel polygons are rebuilt only when the Mat size changes, so that
// filling them on every analysed frame costs no allocation.
type Polygons struct {
	polys [][]config.Point
	size  image.Point
	pv    gocv.PointsVector
	built bool
}

// NewPolygons keeps the polygons of masks whose kind is kind ("" takes all).
func NewPolygons(masks []config.Mask, kind string) *Polygons {
	p := &Polygons{}
	for _, m := range masks {
		if (kind == "" || m.Kind == kind) && len(m.Polygon) >= 3 {
			p.polys = append(p.polys, m.Polygon)
		}
	}
	return p
}

// Len is the number of polygons.
func (p *Polygons) Len() int {
	if p == nil {
		return 0
	}
	return len(p.polys)
}

// Fill paints the polygons black into m (any type, any size). Nil or empty
// Polygons and empty Mats are left alone.
func (p *Polygons) Fill(m *gocv.Mat) {
	p.FillColor(m, black)
}

// FillColor paints the polygons in c.
func (p *Polygons) FillColor(m *gocv.Mat, c color.RGBA) {
	if p.Len() == 0 || m.Empty() {
		return
	}
	p.ensure(image.Pt(m.Cols(), m.Rows()))
	gocv.FillPoly(m, p.pv, c)
}

// Outline draws the polygons' outlines (for the annotated frame).
func (p *Polygons) Outline(m *gocv.Mat, c color.RGBA, thickness int) {
	if p.Len() == 0 || m.Empty() {
		return
	}
	p.ensure(image.Pt(m.Cols(), m.Rows()))
	gocv.Polylines(m, p.pv, true, c, thickness)
}

func (p *Polygons) ensure(size image.Point) {
	if p.built && size == p.size {
		return
	}
	if p.built {
		p.pv.Close()
	}
	pts := make([][]image.Point, len(p.polys))
	for i, poly := range p.polys {
		pts[i] = ToPixels(poly, size)
	}
	p.pv = gocv.NewPointsVectorFromPoints(pts)
	p.size, p.built = size, true
}

// Close frees the pixel polygons.
func (p *Polygons) Close() {
	if p != nil && p.built {
		p.pv.Close()
		p.built = false
	}
}

// ToPixels converts fractional points to pixels of a frame of size.
func ToPixels(poly []config.Point, size image.Point) []image.Point {
	out := make([]image.Point, len(poly))
	for i, pt := range poly {
		out[i] = image.Pt(int(pt[0]*float64(size.X)+0.5), int(pt[1]*float64(size.Y)+0.5))
	}
	return out
}

// ApplyPrivacy blacks out the camera's privacy masks on a BGR frame. Every
// picture that leaves the gateway (monitor wall, snapshots, clips rendered from
// frames) must go through this or a Polygons built with KindPrivacy. It builds
// the polygons on each call: hot loops keep a Polygons instead.
func ApplyPrivacy(frame *gocv.Mat, masks []config.Mask) {
	p := NewPolygons(masks, KindPrivacy)
	defer p.Close()
	p.Fill(frame)
}
