package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"sync"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/notify"
	"github.com/lanewatch/lanewatch/internal/outbox"
	"github.com/lanewatch/lanewatch/internal/webpush"
)

// pushKind is notify's "webpush" kind: a channel's message goes to every
// browser that subscribed on the patrol page.
func pushKind(s *webpush.Sender, store *webpush.Store) notify.Kind {
	return func(ch config.Notify, env notify.Env) (outbox.Sender, outbox.Budget, error) {
		log := env.Logger
		if log == nil {
			log = slog.Default()
		}
		return &pushChannel{s: s, store: store, log: log.With("channel", ch.ID), done: map[string]map[string]bool{}}, outbox.Budget{}, nil
	}
}

// pushChannel sends one message to every subscription. Browsers that took
// it are remembered per message until all have, so a retry (some push
// service busy) reaches only the others; after a restart a retry may reach
// a phone twice, where the notification's tag (the incident) replaces the first.
type pushChannel struct {
	s     *webpush.Sender
	store *webpush.Store
	log   *slog.Logger
	mu    sync.Mutex
	done  map[string]map[string]bool // message key -> endpoints that have it
}

// pushPayload is what the patrol page's service worker shows.
type pushPayload struct {
	Title    string `json:"title"`
	Body     string `json:"body"`
	Incident string `json:"incident"`
	URL      string `json:"url"`
}

var topicUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

func (p *pushChannel) Send(ctx context.Context, m outbox.Message) outbox.Result {
	n, err := notify.DecodeNote(m.Body)
	if err != nil {
		return outbox.Result{Outcome: outbox.Dead, Err: "not a notification: " + err.Error()}
	}
	url := n.Links.Snapshot
	if url == "" {
		url = "/patrol/"
	}
	body, _ := json.Marshal(pushPayload{Title: n.TitleLocal, Body: n.Severity + " · " + n.Place + " · " + n.Time,
		Incident: n.Incident.ID, URL: url})
	// RFC 8030 topics: at most 32 URL-safe base64 characters.
	topic := topicUnsafe.ReplaceAllString(n.Incident.ID, "")
	if len(topic) > 32 {
		topic = topic[len(topic)-32:]
	}
	urgent := n.Incident.Severity == incident.Critical || n.Incident.Severity == incident.High
	subs, err := p.store.List("")
	if err != nil {
		return outbox.Result{Outcome: outbox.Retry, Err: "subscriptions: " + err.Error()}
	}
	p.mu.Lock()
	done := p.done[m.Key]
	if done == nil {
		done = map[string]bool{}
		p.done[m.Key] = done
	}
	p.mu.Unlock()
	var wait *webpush.RetryLaterError
	for _, sub := range subs {
		p.mu.Lock()
		had := done[sub.Endpoint]
		p.mu.Unlock()
		if had {
			continue
		}
		err := p.s.Push(ctx, sub, body, webpush.Options{Urgent: urgent, Topic: topic})
		var rl *webpush.RetryLaterError
		var rf *webpush.RefusedError
		switch {
		case err == nil, errors.Is(err, webpush.ErrGone):
			// Gone: the subscription was removed; nobody left to reach there.
		case errors.As(err, &rl):
			if wait == nil || rl.After > wait.After {
				wait = rl
			}
			continue
		case errors.As(err, &rf):
			// One browser's push service refusing must not hold the others'
			// messages back: counted and logged, not retried.
			p.log.Warn("web push refused", "user", sub.User, "status", rf.Status)
		default:
			wait = &webpush.RetryLaterError{Err: err}
			continue
		}
		p.mu.Lock()
		done[sub.Endpoint] = true
		p.mu.Unlock()
	}
	if wait != nil {
		return outbox.Result{Outcome: outbox.Retry, Status: wait.Status, RetryAfter: wait.After, Err: wait.Error()}
	}
	p.mu.Lock()
	delete(p.done, m.Key)
	p.mu.Unlock()
	return outbox.Result{Outcome: outbox.Delivered}
}
