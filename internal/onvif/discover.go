package onvif

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/lanewatch/lanewatch/internal/logx"
)

// Stream is a profile with its RTSP URI.
type Stream struct {
	Profile
	URI string `json:"uri"`
}

// Device is what discovery learnt about one device, or why it could not.
type Device struct {
	ID       string      `json:"id,omitempty"` // the camera id printed for it (AssignIDs)
	XAddr    string      `json:"xaddr"`
	Endpoint string      `json:"endpoint,omitempty"`
	Name     string      `json:"name,omitempty"` // the name scope, else the model
	Info     *DeviceInfo `json:"info,omitempty"`
	Streams  []Stream    `json:"streams,omitempty"`
	// Main is the largest stream, Sub the smallest other one (nil when the
	// device has one stream URI only).
	Main *Stream `json:"main,omitempty"`
	Sub  *Stream `json:"sub,omitempty"`
	// ErrorKind is auth, no_media, timeout, unreachable, malformed or
	// error; Error says more. A device with an error has no streams.
	ErrorKind string `json:"error_kind,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Describe asks one device (its device service at xaddr) for its
// information, profiles and stream URIs. It never fails as a whole: what
// went wrong is in the Device's ErrorKind and Error.
func Describe(ctx context.Context, c *Client, m ProbeMatch) Device {
	d := Device{XAddr: m.XAddrs[0], Endpoint: m.Endpoint, Name: m.Name()}
	fail := func(err error) Device {
		d.ErrorKind, d.Error = errorKind(err), logx.RedactText(err.Error())
		d.Streams, d.Main, d.Sub = nil, nil, nil
		return d
	}
	// Date tokens by the device's clock; a device that does not say keeps
	// the client's. Each device has its own Client: clocks differ.
	c = &Client{Username: c.Username, Password: c.Password, HTTP: c.HTTP, Timeout: c.Timeout, Now: c.Now}
	_, _ = c.SyncClock(ctx, d.XAddr)
	svc, err := c.Services(ctx, d.XAddr)
	if err != nil {
		return fail(err)
	}
	if info, err := c.DeviceInformation(ctx, d.XAddr); err == nil {
		d.Info = &info
		if d.Name == "" {
			d.Name = strings.TrimSpace(info.Manufacturer + " " + info.Model)
		}
	} else if errors.Is(err, ErrAuth) {
		return fail(err)
	}
	if svc.Media == "" {
		return fail(fmt.Errorf("%w: no media service", ErrNoService))
	}
	ps, err := c.Profiles(ctx, svc.Media)
	if err != nil {
		return fail(err)
	}
	for _, p := range ps {
		if p.Width == 0 {
			continue // no video
		}
		uri, err := c.StreamURI(ctx, svc.Media, p.Token)
		if err != nil {
			if errors.Is(err, ErrAuth) || ctx.Err() != nil {
				return fail(err)
			}
			continue // one bad profile does not spoil the others
		}
		d.Streams = append(d.Streams, Stream{Profile: p, URI: uri})
	}
	if len(d.Streams) == 0 {
		return fail(fmt.Errorf("%w: no video profile with a stream URI", ErrNoService))
	}
	d.Main, d.Sub = chooseStreams(d.Streams)
	return d
}

// chooseStreams: the main stream is the largest, the sub the smallest of
// the others with a different URI; ties keep the device's order.
func chooseStreams(ss []Stream) (main, sub *Stream) {
	area := func(s *Stream) int { return s.Width * s.Height }
	for i := range ss {
		if main == nil || area(&ss[i]) > area(main) {
			main = &ss[i]
		}
	}
	for i := range ss {
		s := &ss[i]
		if s.URI != main.URI && (sub == nil || area(s) < area(sub)) {
			sub = s
		}
	}
	return main, sub
}

// errorKind names what went wrong, for operators and tools.
func errorKind(err error) string {
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, ErrAuth):
		return "auth"
	case errors.Is(err, ErrNoService):
		return "no_media"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &oe):
		return "unreachable"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	}
	var f *Fault
	var he *HTTPError
	if errors.As(err, &f) || errors.As(err, &he) {
		return "refused"
	}
	return "error"
}

// DescribeAll describes every match, at most parallel at a time, in the
// order of the matches.
func DescribeAll(ctx context.Context, c *Client, ms []ProbeMatch, parallel int) []Device {
	out := make([]Device, len(ms))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = Describe(ctx, c, m)
		}()
	}
	wg.Wait()
	return out
}

// YAMLOptions shape the printed cameras block.
type YAMLOptions struct {
	Username    string // written as onvif.username when set
	PasswordVar string // env variable written as onvif.password (${NAME}) when set
	Events      bool   // onvif.events
}

var (
	idUnsafe = regexp.MustCompile(`[^a-z0-9_-]+`)
	idDashes = regexp.MustCompile(`-{2,}`)
)

// cameraID makes a config id from a device's name, else its address.
func cameraID(d Device) string {
	mk := func(s string) string {
		id := idDashes.ReplaceAllString(idUnsafe.ReplaceAllString(strings.ToLower(s), "-"), "-")
		if len(id) > 56 { // room for a -N suffix within the 64 of an id
			id = id[:56]
		}
		return strings.Trim(id, "-_")
	}
	if id := mk(d.Name); id != "" {
		return id
	}
	if u, err := url.Parse(d.XAddr); err == nil && u.Hostname() != "" {
		if id := mk("cam-" + u.Hostname()); id != "" {
			return id
		}
	}
	return "camera"
}

// AssignIDs gives every device that answered a unique camera id from its
// name (or address).
func AssignIDs(devs []Device) {
	used := map[string]int{}
	for i := range devs {
		d := &devs[i]
		if d.Main == nil {
			d.ID = ""
			continue
		}
		id := cameraID(*d)
		if used[id]++; used[id] > 1 {
			id = fmt.Sprintf("%s-%d", id, used[id])
		}
		d.ID = id
	}
}

// WriteYAML prints a `cameras:` block for the devices that answered, with
// the streams' sizes as comments, followed by the devices that did not as
// comments. The result loads in `lanewatch check` once under a `site`.
func WriteYAML(w io.Writer, devs []Device, o YAMLOptions) error {
	var b strings.Builder
	AssignIDs(devs)
	var failed []Device
	b.WriteString("cameras:\n")
	n := 0
	for _, d := range devs {
		if d.Main == nil {
			failed = append(failed, d)
			continue
		}
		n++
		if d.Info != nil {
			fmt.Fprintf(&b, "  # %s %s, serial %s, firmware %s\n", oneLine(d.Info.Manufacturer), oneLine(d.Info.Model), oneLine(d.Info.SerialNumber), oneLine(d.Info.FirmwareVersion))
		}
		fmt.Fprintf(&b, "  - id: %s\n    name: %s\n", d.ID, quote(d.Name))
		fmt.Fprintf(&b, "    url: %s  # main: %s\n", quote(d.Main.URI), describeStream(d.Main))
		if d.Sub != nil {
			fmt.Fprintf(&b, "    detect:\n      url: %s  # sub: %s\n", quote(d.Sub.URI), describeStream(d.Sub))
		}
		fmt.Fprintf(&b, "    onvif:\n      url: %s\n      events: %t\n", quote(d.XAddr), o.Events)
		if o.Username != "" {
			fmt.Fprintf(&b, "      username: %s\n", quote(o.Username))
		}
		if o.PasswordVar != "" {
			fmt.Fprintf(&b, "      password: %s\n", quote("${"+o.PasswordVar+"}"))
		}
	}
	if n == 0 {
		b.Reset()
		b.WriteString("cameras: []\n")
	}
	if len(failed) > 0 {
		b.WriteString("# not added:\n")
		for _, d := range failed {
			fmt.Fprintf(&b, "#   %s (%s): %s: %s\n", oneLine(d.XAddr), oneLine(d.Name), d.ErrorKind, oneLine(d.Error))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func describeStream(s *Stream) string {
	out := fmt.Sprintf("%s %dx%d", s.Encoding, s.Width, s.Height)
	if s.FPS > 0 {
		out += fmt.Sprintf(" %g fps", s.FPS)
	}
	return oneLine(out + " (profile " + s.Name + ")")
}

// quote writes a YAML double-quoted scalar (JSON strings are YAML).
func quote(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// oneLine keeps device-supplied text inside one comment line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return ' '
		}
		return r
	}, s)
}

// WriteJSON prints the devices (with their errors) for tools.
func WriteJSON(w io.Writer, devs []Device) error {
	if devs == nil {
		devs = []Device{}
	}
	AssignIDs(devs)
	sort.SliceStable(devs, func(i, j int) bool { return devs[i].Main != nil && devs[j].Main == nil })
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Devices []Device `json:"devices"`
	}{devs})
}
