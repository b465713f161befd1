package vehicles

import (
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/sensors"
)

// otherGateways is the rest of a site, as siteledger would report it.
type otherGateways map[string]InsideVehicle

func (o otherGateways) Entered(p string) (InsideVehicle, bool) { v, ok := o[p]; return v, ok }
func (o otherGateways) Others() []InsideVehicle {
	var out []InsideVehicle
	for _, v := range o {
		out = append(out, v)
	}
	return out
}

// In a cluster an exit here pairs with an entry at another gateway's gate,
// a read without direction of such a car is an exit, the site's inside
// list covers both, and Leave ends an entry here that another gateway saw
// end (but not a later one).
func TestSitePairing(t *testing.T) {
	e := newEnv(t, config.Vehicles{})
	site := otherGateways{"沪B22222": {Plate: "沪B22222", Gate: "far", Class: ClassVisitor, EntryAt: t0}}
	e.log.SetSite(site)
	evs := []sensors.Event{
		ev(sensors.PlateRead, "n", 600, "沪B22222", ""), // no direction: inside elsewhere, so out
		ev(sensors.PlateRead, "n", 700, "沪C33333", sensors.In),
	}
	if err := e.log.HandleBatch(evs); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	out := e.seen[0]
	e.mu.Unlock()
	if out.Direction != sensors.Out || out.EntryAt == nil || !out.EntryAt.Equal(t0) || out.DwellS == nil || *out.DwellS != 600 {
		t.Fatalf("exit of a car let in elsewhere: %+v", out)
	}
	delete(site, "沪B22222") // siteledger drops it once this exit is recorded
	site["粤D44444"] = InsideVehicle{Plate: "粤D44444", Gate: "far", EntryAt: t0.Add(time.Minute)}
	if got := e.log.Inside(); len(got) != 2 || got[0].Plate != "粤D44444" || got[1].Plate != "沪C33333" {
		t.Fatalf("site inside list: %+v", got)
	}
	// Another gateway saw 沪C33333 leave, but of an earlier stay: kept.
	if err := e.log.Leave("沪C33333", t0.Add(699*time.Second)); err != nil {
		t.Fatal(err)
	}
	if len(e.log.Inside()) != 2 {
		t.Fatal("an older exit elsewhere ended a later entry here")
	}
	if err := e.log.Leave("沪C33333", t0.Add(700*time.Second)); err != nil {
		t.Fatal(err)
	}
	e.reopen(t) // and it stays gone across a restart
	e.log.SetSite(site)
	if got := e.log.Inside(); len(got) != 1 || got[0].Plate != "粤D44444" {
		t.Fatalf("after Leave and a restart: %+v", got)
	}
}
