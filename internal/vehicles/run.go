package vehicles

import (
	"context"
	"time"
)

// Start does the periodic work on a goroutine of its own until Close: the residents file is polled for
// changes every ResidentsPoll (fsnotify is not a dependency, and a poll also
// survives editors that replace the file), overstays are checked every
// minute, expired visitors pruned every minute, and plates past retention
// are pseudonymised daily.
func (l *Log) Start(ctx context.Context) error {
	l.worker.Go(ctx, l.run)
	return nil
}

func (l *Log) run(ctx context.Context) error {
	poll := time.NewTicker(l.cfg.ResidentsPoll)
	defer poll.Stop()
	minute := time.NewTicker(time.Minute)
	defer minute.Stop()
	day := time.NewTicker(24 * time.Hour)
	defer day.Stop()
	l.CheckOverstay(l.cfg.Now())
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			l.reloadResidents(false)
		case <-minute.C:
			l.CheckOverstay(l.cfg.Now())
			if _, err := l.PruneVisitors(l.cfg.Now()); err != nil {
				l.log.Error("pruning expired visitors failed", "err", err)
			}
		case <-day.C:
			if _, err := l.Pseudonymise(l.cfg.Now()); err != nil {
				l.log.Error("pseudonymising old passages failed", "err", err)
			}
		}
	}
}
