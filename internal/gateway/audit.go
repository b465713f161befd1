package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/cluster"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/logx"
)

// auditStream is the site-wide audit log of a cluster (issue 16 item 3): a
// replicated JetStream stream every gateway appends its entries to, after
// its own file, so that who opened which barrier survives the loss of the
// box that did it, disk and all. Subjects cannot come from MQTT: NATS maps
// no MQTT topic to a subject with a '$'.
type auditStream struct {
	js        jetstream.JetStream
	self      string
	replicas  int
	retention time.Duration // vehicles.retention: entries name visitors' plates
	failed    prometheus.Counter
	errLog    *logx.Throttle
	stream    atomic.Pointer[jetstream.Stream]
}

const (
	auditStreamName = "LW_AUDIT"
	auditSubjects   = "$LW.audit."
	auditTimeout    = 5 * time.Second
)

func newAuditStream(nc *nats.Conn, self string, replicas int, retention time.Duration, log *slog.Logger, reg prometheus.Registerer) (*auditStream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	a := &auditStream{js: js, self: self, replicas: replicas, retention: retention,
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_audit_replication_failures_total",
			Help: "Audit entries kept in this gateway's file only: the site-wide stream did not take them."}),
		errLog: &logx.Throttle{Log: log, Interval: time.Minute}}
	if reg != nil {
		if err := reg.Register(a.failed); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Start creates (or updates) the stream; a cluster just forming may not
// have a meta leader yet, so it retries as the cluster's own start does.
func (a *auditStream) Start(ctx context.Context) error {
	return cluster.WhenReady(ctx, "site audit stream", nil, func(ctx context.Context) error {
		s, err := a.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: auditStreamName,
			Subjects: []string{auditSubjects + ">"}, Replicas: a.replicas, Storage: jetstream.FileStorage,
			MaxAge: a.retention, Discard: jetstream.DiscardOld})
		if err == nil {
			a.stream.Store(&s)
		}
		return err
	})
}

func (a *auditStream) Close() error { return nil }

// Copy appends one entry; it waits for the stream's quorum, at most
// auditTimeout. A copy not taken stays in this gateway's file only, counted.
func (a *auditStream) Copy(e auth.Entry) {
	if a.stream.Load() == nil {
		a.failed.Inc()
		return
	}
	e.Gateway = a.self
	b, err := json.Marshal(e)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), auditTimeout)
		_, err = a.js.Publish(ctx, auditSubjects+a.self, b)
		cancel()
	}
	if err != nil {
		a.failed.Inc()
		a.errLog.Logf(slog.LevelWarn, "audit-copy", "audit entry not in the site-wide log; kept in this gateway's file", "action", e.Action, "err", err)
	}
}

// Last reads the site's newest n entries, oldest first, message by
// message (at most 10,000), all within ten seconds.
func (a *auditStream) Last(ctx context.Context, n int) ([]auth.Entry, error) {
	sp := a.stream.Load()
	if sp == nil {
		return nil, fmt.Errorf("%w: the site-wide audit log is not open yet", console.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := (*sp).Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", console.ErrUnavailable, err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil, nil
	}
	first := max(info.State.FirstSeq, last-min(last, uint64(n))+1)
	var out []auth.Entry
	for seq := first; seq <= last; seq++ {
		m, err := (*sp).GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // aged out meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", console.ErrUnavailable, err)
		}
		var e auth.Entry
		if json.Unmarshal(m.Data, &e) != nil {
			continue // not ours; nothing else writes here
		}
		if e.Gateway == "" {
			e.Gateway = strings.TrimPrefix(m.Subject, auditSubjects)
		}
		out = append(out, e)
	}
	return out, nil
}

// localAudit reads this gateway's own files: the single box's audit log.
func localAudit(path string, n int) ([]auth.Entry, error) {
	files, err := auth.AuditFiles(path)
	if err != nil {
		return nil, err
	}
	var out []auth.Entry
	for _, f := range slices.Backward(files) {
		es, err := auth.ReadAudit(f)
		if err != nil {
			return nil, err
		}
		out = append(es, out...)
		if len(out) >= n {
			break
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out, nil
}
