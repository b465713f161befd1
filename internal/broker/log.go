package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// natsLogger is the NATS server's logger: it writes the server's lines to
// slog and is where permission violations are seen (NATS has no other hook
// for them): each is counted in lanewatch_mqtt_denied_total and logged.
type natsLogger struct {
	log     *slog.Logger
	auth    *authenticator
	metrics *metrics

	mu       sync.Mutex
	fatalErr error
}

// midRE finds the MQTT connection id in a client's log prefix
// ("127.0.0.1:50000 - mid:7 - ...").
var midRE = regexp.MustCompile(`\bmid:(\d+)\b`)

func (l *natsLogger) fatal() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatalErr
}

// Noticef: NATS's start-up banner and routine notices; lanewatch says what
// matters itself ("embedded MQTT broker listening").
func (l *natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Tracef(string, ...any)           {}

// Fatalf is how NATS reports a failure to start (a busy port); Start turns
// it into its error instead of exiting.
func (l *natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	if l.fatalErr == nil {
		l.fatalErr = errors.New(msg)
	}
	l.mu.Unlock()
	l.log.Error(msg)
}

func (l *natsLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if action := violation(msg); action != "" {
		user := "unknown"
		if m := midRE.FindStringSubmatch(msg); m != nil {
			if id, err := strconv.ParseUint(m[1], 10, 64); err == nil {
				if u := l.auth.account(id); u != "" {
					user = u
				}
			}
		}
		l.metrics.denied.WithLabelValues(user, action).Inc()
		l.log.Warn("MQTT client denied: outside its role", "user", user, "action", action, "detail", msg)
		return
	}
	l.log.Error(msg)
}

// violation tells a permission violation line and its action.
func violation(msg string) string {
	switch {
	case strings.Contains(msg, "Publish Violation"):
		return "publish"
	case strings.Contains(msg, "Subscription Violation"):
		return "subscribe"
	}
	return ""
}
