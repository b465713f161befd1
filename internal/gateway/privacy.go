package gateway

import (
	"context"
	"time"

	"github.com/lanewatch/lanewatch/internal/auth"
)

// rotateAudit rotates the audit log hourly on quiet days too, so that files
// past vehicles.retention go even when nobody does anything audited.
func (g *Gateway) rotateAudit(ctx context.Context, a *auth.Auth) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.RotateAudit(); err != nil {
				g.log.Error("audit log rotation failed", "err", err)
			}
		}
	}
}
