package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/webpush"
)

// pushKey answers GET /api/push/key: the VAPID public key a browser needs
// to subscribe (the applicationServerKey). The private key never leaves
// internal/webpush.
func (s *Server) pushKey(w http.ResponseWriter, r *http.Request) {
	if s.Patrol.PushKeys == nil || s.Patrol.PushStore == nil {
		missing(w, "web push")
		return
	}
	auth.WriteJSON(w, http.StatusOK, map[string]string{"public_key": s.Patrol.PushKeys.Public})
}

// pushSubscription is the body of POST and DELETE /api/push/subscriptions:
// the browser's PushSubscription.toJSON().
type pushSubscription struct {
	Endpoint string          `json:"endpoint"`
	Keys     webpush.SubKeys `json:"keys"`
	// ExpirationTime is sent by browsers; accepted and ignored.
	ExpirationTime *float64 `json:"expirationTime"`
}

func (s *Server) readPushSubscription(w http.ResponseWriter, r *http.Request) (pushSubscription, bool) {
	var ps pushSubscription
	if s.Patrol.PushStore == nil {
		missing(w, "web push")
		return ps, false
	}
	body, err := auth.ReadBody(w, r)
	if err != nil {
		auth.WriteError(w, http.StatusRequestEntityTooLarge, err.Error())
		return ps, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ps); err != nil || ps.Endpoint == "" {
		auth.WriteError(w, http.StatusBadRequest, "want a PushSubscription: {endpoint, keys: {p256dh, auth}}")
		return ps, false
	}
	return ps, true
}

// subscribePush stores the caller's subscription; the push sender reaches
// every subscribed phone, and the subscription is the caller's to remove.
func (s *Server) subscribePush(w http.ResponseWriter, r *http.Request) {
	ps, ok := s.readPushSubscription(w, r)
	if !ok {
		return
	}
	p := principal(r)
	err := s.Patrol.PushStore.Add(webpush.Subscription{Endpoint: ps.Endpoint, Keys: ps.Keys, User: p.Name})
	if errors.Is(err, webpush.ErrInvalid) {
		auth.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_ = s.Auth.Audit(p, "push_subscribe", "", nil)
	auth.WriteJSON(w, http.StatusCreated, map[string]string{"user": p.Name, "state": "subscribed"})
}

func (s *Server) unsubscribePush(w http.ResponseWriter, r *http.Request) {
	ps, ok := s.readPushSubscription(w, r)
	if !ok {
		return
	}
	p := principal(r)
	removed, err := s.Patrol.PushStore.Remove(p.Name, ps.Endpoint)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !removed {
		auth.WriteError(w, http.StatusNotFound, "no such subscription of yours")
		return
	}
	_ = s.Auth.Audit(p, "push_unsubscribe", "", nil)
	w.WriteHeader(http.StatusNoContent)
}
