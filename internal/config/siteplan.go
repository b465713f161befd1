package config

import (
	"bytes"
	"io"
	"os"
	"sort"
)

// SitePlan is an image of the compound with the cameras and gates marked on
// it (site.plan): the wall's plan view. Points are fractions of the image's
// width and height, [0,0] top left.
type SitePlan struct {
	Image   string           `yaml:"image"` // PNG or JPEG, at most MaxSitePlanBytes
	Cameras map[string]Point `yaml:"cameras"`
	Gates   map[string]Point `yaml:"gates"`
}

// MaxSitePlanBytes bounds the plan image: it is served to every wall.
const MaxSitePlanBytes = 8 << 20

// SitePlanType sniffs the plan image's type from its first bytes: "png",
// "jpeg" or "" for anything else.
func SitePlanType(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}):
		return "jpeg"
	}
	return ""
}

func (v *validator) sitePlan(c *Config) {
	p := c.Site.Plan
	if p == nil {
		return
	}
	if v.required("site.plan.image", p.Image) {
		v.sitePlanImage(p.Image)
	}
	ids := func(kind string, pts map[string]Point, known map[string]bool) {
		keys := make([]string, 0, len(pts))
		for id := range pts {
			keys = append(keys, id)
		}
		sort.Strings(keys) // problems in a stable order
		for _, id := range keys {
			path := "site.plan." + kind + "." + id
			if !known[id] {
				v.errf(path, "no %s with id %q", kind[:len(kind)-1], truncate(id, 64))
			}
			if pt := pts[id]; pt[0] < 0 || pt[0] > 1 || pt[1] < 0 || pt[1] > 1 {
				v.errf(path, "[%g, %g] is outside the image: x and y are fractions 0..1", pt[0], pt[1])
			}
		}
	}
	cams, gates := map[string]bool{}, map[string]bool{}
	for _, c := range c.Cameras {
		cams[c.ID] = true
	}
	for _, g := range c.Gates {
		gates[g.ID] = true
	}
	ids("cameras", p.Cameras, cams)
	ids("gates", p.Gates, gates)
}

func (v *validator) sitePlanImage(path string) {
	f, err := os.Open(path)
	if err != nil {
		v.errf("site.plan.image", "cannot read the plan image: %v", err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		v.errf("site.plan.image", "%s is not a file", truncate(path, 200))
		return
	}
	if st.Size() > MaxSitePlanBytes {
		v.errf("site.plan.image", "%d bytes: at most %d MB (it is sent to every wall)", st.Size(), MaxSitePlanBytes>>20)
		return
	}
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	if SitePlanType(head[:n]) == "" {
		v.errf("site.plan.image", "not a PNG or JPEG image")
	}
}
