package cluster

import (
	"cmp"
	"hash/fnv"
	"math"
	"slices"
)

// Slack is how far above its fair share a member's load may go before an
// item passes to its next choice: consistent hashing with bounded loads
// (Mirrokni, Thorup, Zadimoghaddam 2018). Plain rendezvous hashing spreads
// 12 cameras over three gateways as unevenly as 7/3/2; with the bound no
// gateway gets more than 1.25 times its share, and losing or adding one
// still moves only a few items beyond its own.
const Slack = 0.25

// Place assigns each item to one member: in a fixed order (per kind,
// heaviest first), each item goes to the first member of its rendezvous
// ranking whose load of that kind stays within (1+Slack) times the kind's
// fair share. Kinds are balanced apart (a gate is not worth a camera).
// weight gives an item's cost (nil: 1 each); every gateway computes the
// same placement from the same items and members.
func Place(items []Item, weight func(Item) float64, members []string) map[Item]string {
	out := make(map[Item]string, len(items))
	if len(members) == 0 {
		return out
	}
	w := func(it Item) float64 {
		if weight == nil {
			return 1
		}
		if v := weight(it); v > 0 && !math.IsInf(v, 0) {
			return v
		}
		return 1
	}
	order := slices.Clone(items)
	slices.SortFunc(order, func(a, b Item) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(w(b), w(a)), cmp.Compare(a.ID, b.ID))
	})
	total, heaviest := map[string]float64{}, map[string]float64{}
	for _, it := range order {
		total[it.Kind] += w(it)
		heaviest[it.Kind] = max(heaviest[it.Kind], w(it))
	}
	load := map[string]map[string]float64{} // kind -> member -> load
	ranked := make([]string, len(members))
	for _, it := range order {
		l := load[it.Kind]
		if l == nil {
			l = map[string]float64{}
			load[it.Kind] = l
		}
		limit := max((1+Slack)*total[it.Kind]/float64(len(members)), heaviest[it.Kind])
		copy(ranked, members)
		rank(it, ranked)
		best := ranked[0]
		for _, m := range ranked {
			if l[m]+w(it) <= limit+1e-9 {
				best = m
				break
			}
			if l[m] < l[best] {
				best = m
			}
		}
		l[best] += w(it)
		out[it] = best
	}
	return out
}

// rank sorts members by their rendezvous score for it, highest first.
func rank(it Item, members []string) {
	score := make(map[string]uint64, len(members))
	for _, m := range members {
		score[m] = hrw(it, m)
	}
	slices.SortFunc(members, func(a, b string) int {
		return cmp.Or(cmp.Compare(score[b], score[a]), cmp.Compare(a, b))
	})
}

func hrw(it Item, member string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(member))
	h.Write([]byte{0})
	h.Write([]byte(it.key()))
	return mix(h.Sum64())
}
