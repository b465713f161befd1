package onvif

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SOAP actions of the event service and its subscription manager.
const (
	ActionCreatePullPoint = NSEvents + "/EventPortType/CreatePullPointSubscriptionRequest"
	ActionPullMessages    = NSEvents + "/PullPointSubscription/PullMessagesRequest"
	ActionRenew           = NSWSNT + "/SubscriptionManager/RenewRequest"
	ActionUnsubscribe     = NSWSNT + "/SubscriptionManager/UnsubscribeRequest"
)

// Subscription is a PullPoint subscription: the address of its manager and
// when it ends unless renewed.
type Subscription struct {
	Address         string
	CurrentTime     time.Time // the device's clock when it answered
	TerminationTime time.Time // on the device's clock
}

// Notification is one event message.
type Notification struct {
	Topic     string            // as sent, e.g. "tns1:RuleEngine/LineDetector/Crossed"
	Operation string            // Initialized, Changed, Deleted, or empty
	Time      time.Time         // UtcTime; zero when absent or unreadable
	Source    map[string]string // SimpleItems of Source (e.g. VideoSourceConfigurationToken, Rule)
	Data      map[string]string // SimpleItems of Data (e.g. State, IsInside, ObjectId)
}

// PullResult is one PullMessages answer.
type PullResult struct {
	CurrentTime     time.Time
	TerminationTime time.Time
	Messages        []Notification
}

// CreatePullPointBody asks for a subscription that lasts ttl unless renewed.
func CreatePullPointBody(ttl time.Duration) string {
	return "<tev:CreatePullPointSubscription><tev:InitialTerminationTime>" + FormatDuration(ttl) +
		"</tev:InitialTerminationTime></tev:CreatePullPointSubscription>"
}

// PullMessagesBody waits up to timeout for at most limit messages.
func PullMessagesBody(timeout time.Duration, limit int) string {
	return "<tev:PullMessages><tev:Timeout>" + FormatDuration(timeout) + "</tev:Timeout><tev:MessageLimit>" +
		strconv.Itoa(limit) + "</tev:MessageLimit></tev:PullMessages>"
}

// RenewBody extends a subscription by ttl from now.
func RenewBody(ttl time.Duration) string {
	return "<wsnt:Renew><wsnt:TerminationTime>" + FormatDuration(ttl) + "</wsnt:TerminationTime></wsnt:Renew>"
}

// UnsubscribeBody ends a subscription.
const UnsubscribeBody = "<wsnt:Unsubscribe/>"

type subscriptionXML struct {
	SubscriptionReference struct {
		Address string `xml:"Address"`
	} `xml:"SubscriptionReference"`
	CurrentTime     string `xml:"CurrentTime"`
	TerminationTime string `xml:"TerminationTime"`
}

// ParseSubscription decodes a CreatePullPointSubscriptionResponse envelope.
func ParseSubscription(data []byte) (Subscription, error) {
	_, x, err := parseBody[subscriptionXML](data, "CreatePullPointSubscriptionResponse")
	if err != nil {
		return Subscription{}, err
	}
	s := Subscription{Address: clean(x.SubscriptionReference.Address)}
	if !strings.HasPrefix(s.Address, "http://") && !strings.HasPrefix(s.Address, "https://") {
		return Subscription{}, fmt.Errorf("%w: subscription address is not http(s)", ErrMalformed)
	}
	s.CurrentTime, _ = ParseDateTime(x.CurrentTime)
	s.TerminationTime, _ = ParseDateTime(x.TerminationTime)
	return s, nil
}

// SubscriptionResponse is the body a device answers CreatePullPointSubscription with.
func SubscriptionResponse(s Subscription) string {
	return "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>" + esc(s.Address) +
		"</wsa:Address></tev:SubscriptionReference><wsnt:CurrentTime>" + FormatDateTime(s.CurrentTime) +
		"</wsnt:CurrentTime><wsnt:TerminationTime>" + FormatDateTime(s.TerminationTime) +
		"</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>"
}

type itemsXML struct {
	Items []struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:"Value,attr"`
	} `xml:"SimpleItem"`
}

func (x *itemsXML) items() map[string]string {
	if x == nil || len(x.Items) == 0 {
		return nil
	}
	m := make(map[string]string, len(x.Items))
	for i, it := range x.Items {
		if i == 32 {
			break
		}
		if n := clean(it.Name); n != "" {
			m[n] = clean(it.Value)
		}
	}
	return m
}

type pullXML struct {
	CurrentTime     string `xml:"CurrentTime"`
	TerminationTime string `xml:"TerminationTime"`
	Notifications   []struct {
		Topic   string `xml:"Topic"`
		Message struct {
			Message struct {
				UtcTime           string    `xml:"UtcTime,attr"`
				PropertyOperation string    `xml:"PropertyOperation,attr"`
				Source            *itemsXML `xml:"Source"`
				Data              *itemsXML `xml:"Data"`
			} `xml:"Message"`
		} `xml:"Message"`
	} `xml:"NotificationMessage"`
}

// maxPulled bounds the messages read from one answer.
const maxPulled = 1024

// ParsePullMessages decodes a PullMessagesResponse envelope.
func ParsePullMessages(data []byte) (PullResult, error) {
	_, x, err := parseBody[pullXML](data, "PullMessagesResponse")
	if err != nil {
		return PullResult{}, err
	}
	var r PullResult
	r.CurrentTime, _ = ParseDateTime(x.CurrentTime)
	r.TerminationTime, _ = ParseDateTime(x.TerminationTime)
	for i, n := range x.Notifications {
		if i == maxPulled {
			break
		}
		msg := n.Message.Message
		t, _ := ParseDateTime(msg.UtcTime)
		r.Messages = append(r.Messages, Notification{Topic: clean(n.Topic), Operation: clean(msg.PropertyOperation), Time: t,
			Source: msg.Source.items(), Data: msg.Data.items()})
	}
	return r, nil
}

// PullMessagesResponse is the body a device answers PullMessages with.
func PullMessagesResponse(r PullResult) string {
	var b strings.Builder
	b.WriteString("<tev:PullMessagesResponse><tev:CurrentTime>" + FormatDateTime(r.CurrentTime) + "</tev:CurrentTime><tev:TerminationTime>" +
		FormatDateTime(r.TerminationTime) + "</tev:TerminationTime>")
	for _, n := range r.Messages {
		b.WriteString(`<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">` + esc(n.Topic) + `</wsnt:Topic><wsnt:Message>`)
		b.WriteString(`<tt:Message UtcTime="` + FormatDateTime(n.Time) + `"`)
		if n.Operation != "" {
			b.WriteString(` PropertyOperation="` + esc(n.Operation) + `"`)
		}
		b.WriteString(">")
		for _, g := range []struct {
			name  string
			items map[string]string
		}{{"Source", n.Source}, {"Data", n.Data}} {
			b.WriteString("<tt:" + g.name + ">")
			for _, k := range sortedKeys(g.items) {
				b.WriteString(`<tt:SimpleItem Name="` + esc(k) + `" Value="` + esc(g.items[k]) + `"/>`)
			}
			b.WriteString("</tt:" + g.name + ">")
		}
		b.WriteString("</tt:Message></wsnt:Message></wsnt:NotificationMessage>")
	}
	b.WriteString("</tev:PullMessagesResponse>")
	return b.String()
}

type renewXML struct {
	TerminationTime string `xml:"TerminationTime"`
	CurrentTime     string `xml:"CurrentTime"`
}

// ParseRenew decodes a RenewResponse envelope: the new termination time.
func ParseRenew(data []byte) (current, termination time.Time, err error) {
	_, x, err := parseBody[renewXML](data, "RenewResponse")
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	current, _ = ParseDateTime(x.CurrentTime)
	termination, _ = ParseDateTime(x.TerminationTime)
	return current, termination, nil
}

// RenewResponse is the body a device answers Renew with.
func RenewResponse(current, termination time.Time) string {
	return "<wsnt:RenewResponse><wsnt:TerminationTime>" + FormatDateTime(termination) + "</wsnt:TerminationTime><wsnt:CurrentTime>" +
		FormatDateTime(current) + "</wsnt:CurrentTime></wsnt:RenewResponse>"
}

// UnsubscribeResponseBody is the body a device answers Unsubscribe with.
const UnsubscribeResponseBody = "<wsnt:UnsubscribeResponse/>"

// FormatDateTime writes an xs:dateTime in UTC.
func FormatDateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// ParseDateTime reads an xs:dateTime (with or without fractions; a missing
// zone is read as UTC, as cameras mean it).
func ParseDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: dateTime %q", ErrMalformed, truncate(s, 40))
}

// FormatDuration writes an xs:duration in whole seconds ("PT60S").
func FormatDuration(d time.Duration) string {
	return "PT" + strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10) + "S"
}

// ParseDuration reads the xs:durations devices and clients use: PnDTnHnMnS
// with an optional fraction on the seconds (no years or months).
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%w: duration %q", ErrMalformed, truncate(orig, 40))
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, bad
	}
	s = s[1:]
	var total float64
	inTime := false
	for s != "" {
		if s[0] == 'T' {
			if inTime {
				return 0, bad
			}
			inTime = true
			s = s[1:]
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) || i > 12 {
			return 0, bad
		}
		v, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, bad
		}
		switch unit := s[i]; {
		case unit == 'D' && !inTime:
			total += v * 86400
		case unit == 'H' && inTime:
			total += v * 3600
		case unit == 'M' && inTime:
			total += v * 60
		case unit == 'S' && inTime:
			total += v
		default:
			return 0, bad
		}
		s = s[i+1:]
	}
	if total > 365*86400 {
		return 0, bad
	}
	return time.Duration(total * float64(time.Second)), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
