package console_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/console/consoletest"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// evidenceID is internal/evidence's id syntax: the real store answers a
// plain error (not ErrNotFound) for anything else, which made the console
// answer 500 with an ERROR line (issue 11).
var evidenceID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

var errStoreBroke = errors.New("disk on fire")

// strictIncidents behaves like the gateway's store for ids the evidence
// store cannot hold, and fails for "inc_boom" like a broken disk.
type strictIncidents struct{ *consoletest.Incidents }

func (s strictIncidents) check(id string) error {
	if !evidenceID.MatchString(id) {
		return errors.New("evidence: invalid incident id")
	}
	if id == "inc_boom" {
		return errStoreBroke
	}
	return nil
}

func (s strictIncidents) Get(id string) (incident.Incident, error) {
	if err := s.check(id); err != nil {
		return incident.Incident{}, err
	}
	return s.Incidents.Get(id)
}

func (s strictIncidents) Snapshot(id string) ([]byte, error) {
	if err := s.check(id); err != nil {
		return nil, err
	}
	return s.Incidents.Snapshot(id)
}

func (s strictIncidents) Clip(id string) (io.ReadSeekCloser, time.Time, error) {
	if err := s.check(id); err != nil {
		return nil, time.Time{}, err
	}
	return s.Incidents.Clip(id)
}

func (s strictIncidents) Ack(id, by, note string) (incident.Incident, error) {
	if err := s.check(id); err != nil {
		return incident.Incident{}, err
	}
	return s.Incidents.Ack(id, by, note)
}

// TestBadIDsAre404WithoutErrorLog: ids that are malformed or unknown, on
// every route that takes one, answer 404 JSON and log no ERROR line.
func TestBadIDsAre404WithoutErrorLog(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	e := newEnv(t, func(s *console.Server) {
		s.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s.Incidents = strictIncidents{s.Incidents.(*consoletest.Incidents)}
		s.PassageSnapshot = func(id string) ([]byte, error) {
			if !evidenceID.MatchString("passage_" + id) {
				return nil, errors.New("evidence: invalid incident id")
			}
			return nil, console.ErrNotFound
		}
	})
	ops, admin := e.token(t, operatorToken), e.login(t, "ada")
	bad := []string{"a.b", "a%20b", "%E2%80%AE", strings.Repeat("x", 57), strings.Repeat("x", 300), "inc_nope", "%00", "a:b"}
	for _, id := range bad {
		for _, tc := range []struct {
			who          *client
			method, path string
			body         any
		}{
			{ops, "GET", "/api/incidents/" + id, nil},
			{ops, "GET", "/api/incidents/" + id + "/snapshot.jpg", nil},
			{ops, "GET", "/api/incidents/" + id + "/clip.mp4", nil},
			{ops, "POST", "/api/incidents/" + id + "/ack", map[string]string{"note": "x"}},
			{ops, "POST", "/api/incidents/" + id + "/resolve", nil},
			{ops, "GET", "/api/cameras/" + id + "/snapshot.jpg", nil},
			{ops, "GET", "/api/cameras/" + id + "/mjpeg", nil},
			{ops, "POST", "/api/gates/" + id + "/open", map[string]string{"reason": "test"}},
			{ops, "GET", "/api/vehicles/passages/" + id + "/snapshot.jpg", nil},
			{admin, "POST", "/api/outbox/" + id + "/resend", nil},
			{admin, "POST", "/api/outbox/" + id + "/discard", nil},
		} {
			resp, body := tc.who.do(tc.method, tc.path, tc.body)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s: %d %s, want 404", tc.method, tc.path, resp.StatusCode, body)
				continue
			}
			errorBody(t, resp, body)
		}
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("ERROR lines for bad ids:\n%s", logs)
	}
	// A real failure is logged, but one line per route and 10 s however
	// often a client provokes it, with the count of those held back.
	for i := 0; i < 50; i++ {
		resp, _ := ops.do("GET", "/api/incidents/inc_boom", nil)
		if resp.StatusCode != 500 {
			t.Fatalf("broken store: %d", resp.StatusCode)
		}
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d ERROR lines for 50 failures, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "fire") {
		t.Errorf("the failure's cause is not in the log:\n%s", logs)
	}
}
