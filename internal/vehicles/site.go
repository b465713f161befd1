package vehicles

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SiteInside is the inside set of the rest of a cluster's site
// (internal/siteledger): vehicles that entered through gates other gateways
// hold, so that an out at this gateway's gate pairs with an in at another's.
type SiteInside interface {
	// Entered is the entry of plate made at another gateway, if it is inside.
	Entered(plate string) (InsideVehicle, bool)
	// Others lists the vehicles inside that entered at other gateways.
	Others() []InsideVehicle
}

type siteBox struct{ s SiteInside }

// SetSite joins the log to its site's inside set (in a cluster, once it
// has joined); nil leaves it.
func (l *Log) SetSite(s SiteInside) {
	if s == nil {
		l.site.Store(nil)
		return
	}
	l.site.Store(&siteBox{s})
}

// siteEntered is plate's entry at another gateway, when in a cluster.
func (l *Log) siteEntered(p string) (InsideVehicle, bool) {
	if b := l.site.Load(); b != nil {
		return b.s.Entered(p)
	}
	return InsideVehicle{}, false
}

// Leave removes plate from this gateway's inside set when its entry here
// is not later than at: another gateway saw it leave (or enter again)
// after it came in here.
func (l *Log) Leave(plate string, at time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.inside[plate]
	if !ok || r.EntryAt.After(at) {
		return nil
	}
	err := l.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketInside).Delete([]byte(plate)) })
	if err != nil {
		return fmt.Errorf("vehicles: leave: %w", err)
	}
	delete(l.inside, plate)
	return nil
}

// Imported is a passage as the site's passages stream carries it
// (internal/siteledger): recorded by another gateway, or by this one
// before its disk was lost.
type Imported struct {
	Gateway string
	Passage Passage
}

var (
	// bucketOrigins maps gateway + "\x00" + its passage id to the local key
	// of an imported passage, so that a replay imports nothing twice.
	bucketOrigins   = []byte("origins")
	keyImportedUpTo = []byte("passages_imported_upto")
)

// ImportedUpTo is the last sequence of the site's passages stream that
// Import took (0: none, a fresh store).
func (l *Log) ImportedUpTo() (uint64, error) {
	var n uint64
	err := l.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyImportedUpTo); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return n, err
}

// Import stores passages recorded elsewhere on the site, so that the
// passages list is the site's and survives the loss of the gateway that
// recorded them; upTo is the stream sequence they reach, stored in the
// same transaction. A passage keeps its id unless this store has another
// passage under it. The inside set is not touched (siteledger keeps the
// site's); nothing is reported to OnPassage.
func (l *Log) Import(self string, ps []Imported, upTo uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.db.Update(func(tx *bolt.Tx) error {
		pb, ob := tx.Bucket(bucketPassages), tx.Bucket(bucketOrigins)
		w := tx.Bucket(bucketMeta).Get(keyAnonUpTo)
		for _, im := range ps {
			origin := []byte(im.Gateway + "\x00" + im.Passage.ID)
			if ob.Get(origin) != nil {
				continue
			}
			key, err := hex.DecodeString(im.Passage.ID)
			if err != nil || len(key) != 16 {
				key = nil
			}
			if key != nil {
				if v := pb.Get(key); v != nil {
					var sp storedPassage
					if im.Gateway == self && json.Unmarshal(v, &sp) == nil && sp.Gate == im.Passage.Gate && sp.At.Equal(im.Passage.At) {
						continue // recorded here, still here
					}
					key = nil
				}
			}
			if key == nil {
				seq, err := pb.NextSequence()
				if err != nil {
					return err
				}
				key = passageKey(im.Passage.At, seq)
			}
			p := im.Passage
			p.ID = hex.EncodeToString(key)
			sp := stored(p)
			if w != nil && bytes.Compare(key, w) < 0 {
				sp.Passage.Plate = l.pseudonym(p.Plate)
			}
			v, err := json.Marshal(sp)
			if err != nil {
				return err
			}
			if err := pb.Put(key, v); err != nil {
				return err
			}
			if err := ob.Put(origin, key); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyImportedUpTo, binary.BigEndian.AppendUint64(nil, upTo))
	})
	if err != nil {
		return fmt.Errorf("vehicles: import site passages: %w", err)
	}
	return nil
}
