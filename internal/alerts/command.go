package alerts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"

	contract "github.com/lanewatch/lanewatch/internal/topics"
)

// MaxCommandBytes bounds an ack/resolve payload from a patrol client.
const MaxCommandBytes = 4 << 10

// Command is the payload of `incidents/<id>/ack` and `.../resolve` (contract 2.2).
type Command = contract.IncidentCommand

// RejectError says why a command payload was refused; Reason is the
// lanewatch_ack_rejected_total label.
type RejectError struct {
	Reason string
	Detail string
}

func (e *RejectError) Error() string { return "ack/resolve rejected: " + e.Reason + ": " + e.Detail }

func reject(reason, format string, args ...any) error {
	return &RejectError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// DecodeCommand validates a patrol client's payload: one JSON object of at
// most 4 KiB whose "by" is 1-64 printable characters.
func DecodeCommand(payload []byte) (Command, error) {
	var c Command
	if len(payload) > MaxCommandBytes {
		return c, reject("too_large", "%d bytes, limit %d", len(payload), MaxCommandBytes)
	}
	if len(bytes.TrimSpace(payload)) == 0 {
		return c, reject("empty", "empty payload")
	}
	if !utf8.Valid(payload) {
		return c, reject("invalid_json", "not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&c); err != nil {
		return Command{}, reject("invalid_json", "%v", err)
	}
	if dec.More() {
		return Command{}, reject("invalid_json", "data after the JSON object")
	}
	if bytes.TrimSpace(payload)[0] != '{' {
		return Command{}, reject("invalid_json", "not a JSON object")
	}
	n := utf8.RuneCountInString(c.By)
	switch {
	case n == 0:
		return Command{}, reject("missing_by", `"by" is required`)
	case n > 64:
		return Command{}, reject("invalid_by", `"by" has %d characters, at most 64`, n)
	}
	for _, r := range c.By {
		if !unicode.IsPrint(r) {
			return Command{}, reject("invalid_by", `"by" contains a control or invisible character`)
		}
	}
	return c, nil
}
