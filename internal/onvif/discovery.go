package onvif

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// WS-Discovery (2005/04, as ONVIF Core uses it).
const (
	// DiscoveryAddr is the multicast group and port probes go to.
	DiscoveryAddr = "239.255.255.250:3702"

	ActionProbe        = NSDisc + "/Probe"
	ActionProbeMatches = NSDisc + "/ProbeMatches"
	discoveryTo        = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
	anonymous          = NSAddr04 + "/role/anonymous"
	// TypeNVT is the type a camera (network video transmitter) announces.
	TypeNVT = "dn:NetworkVideoTransmitter"
)

// maxDatagram bounds a discovery datagram.
const maxDatagram = 64 << 10

// ProbeMatch is one device answering a probe.
type ProbeMatch struct {
	Endpoint string   `json:"endpoint"` // its stable id, e.g. urn:uuid:...
	Types    []string `json:"types,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	XAddrs   []string `json:"xaddrs"` // device service addresses
}

// Name is the device's name scope (onvif://www.onvif.org/name/NAME), or "".
func (p ProbeMatch) Name() string { return p.scope("name") }

// Hardware is the device's hardware scope, or "".
func (p ProbeMatch) Hardware() string { return p.scope("hardware") }

func (p ProbeMatch) scope(kind string) string {
	prefix := "onvif://www.onvif.org/" + kind + "/"
	for _, s := range p.Scopes {
		if strings.HasPrefix(s, prefix) {
			return unescapeScope(strings.TrimPrefix(s, prefix))
		}
	}
	return ""
}

// unescapeScope undoes the %-escaping of scope values (spaces as %20).
func unescapeScope(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+3], "%02x", &v); err == nil {
				b.WriteByte(v)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// NewMessageID is a urn:uuid: id for WS-Addressing headers.
func NewMessageID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails on Linux
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// ProbeMessage is a probe for network video transmitters, with its id.
func ProbeMessage(id string) []byte {
	return Envelope(Header{Discovery: true, Action: ActionProbe, MessageID: id, To: discoveryTo},
		"<d:Probe><d:Types>"+TypeNVT+"</d:Types></d:Probe>")
}

type probeXML struct {
	Types string `xml:"Types"`
}

// ParseProbe decodes a probe (for devices): its message id and the types
// asked for (empty: any).
func ParseProbe(data []byte) (id string, types []string, err error) {
	m, x, err := parseBody[probeXML](data, "Probe")
	if err != nil {
		return "", nil, err
	}
	return m.Header.MessageID, strings.Fields(x.Types), nil
}

// ProbeMatchesMessage is a device's answer to the probe with id.
func ProbeMatchesMessage(relatesTo string, ms []ProbeMatch) []byte {
	var b strings.Builder
	b.WriteString("<d:ProbeMatches>")
	for _, m := range ms {
		b.WriteString("<d:ProbeMatch><a:EndpointReference><a:Address>" + esc(m.Endpoint) + "</a:Address></a:EndpointReference><d:Types>" +
			esc(strings.Join(m.Types, " ")) + "</d:Types><d:Scopes>" + esc(strings.Join(m.Scopes, " ")) + "</d:Scopes><d:XAddrs>" +
			esc(strings.Join(m.XAddrs, " ")) + "</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch>")
	}
	b.WriteString("</d:ProbeMatches>")
	return Envelope(Header{Discovery: true, Action: ActionProbeMatches, MessageID: NewMessageID(), RelatesTo: relatesTo, To: anonymous}, b.String())
}

type probeMatchesXML struct {
	Matches []struct {
		Address string `xml:"EndpointReference>Address"`
		Types   string `xml:"Types"`
		Scopes  string `xml:"Scopes"`
		XAddrs  string `xml:"XAddrs"`
	} `xml:"ProbeMatch"`
}

// ParseProbeMatches decodes a ProbeMatches datagram: the probe it answers
// (RelatesTo) and the devices. Matches without an http(s) address are left
// out: there is nothing to ask them.
func ParseProbeMatches(data []byte) (relatesTo string, ms []ProbeMatch, err error) {
	m, x, err := parseBody[probeMatchesXML](data, "ProbeMatches")
	if err != nil {
		return "", nil, err
	}
	for i, pm := range x.Matches {
		if i == 64 {
			break
		}
		out := ProbeMatch{Endpoint: clean(pm.Address), Types: fields(pm.Types), Scopes: fields(pm.Scopes)}
		for _, a := range fields(pm.XAddrs) {
			if strings.HasPrefix(a, "http://") || strings.HasPrefix(a, "https://") {
				out.XAddrs = append(out.XAddrs, a)
			}
		}
		if len(out.XAddrs) > 0 {
			ms = append(ms, out)
		}
	}
	return m.Header.RelatesTo, ms, nil
}

func fields(s string) []string {
	f := strings.Fields(s)
	if len(f) > 32 {
		f = f[:32]
	}
	for i := range f {
		f[i] = clean(f[i])
	}
	return f
}

// ErrDiscovery wraps a failure to send a probe or read answers at all (as
// opposed to a device answering badly, which is skipped).
var ErrDiscovery = errors.New("onvif: discovery")

// Probe sends one WS-Discovery probe to target (the multicast group, or one
// device's host:port for a unicast probe) and collects the answers that
// relate to it until wait has passed or ctx ends. Answers are deduplicated
// by endpoint; malformed datagrams are counted in skipped and ignored.
func Probe(ctx context.Context, target string, wait time.Duration) (ms []ProbeMatch, skipped int, err error) {
	raddr, err := net.ResolveUDPAddr("udp4", target)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: target %q: %v", ErrDiscovery, target, err)
	}
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrDiscovery, err)
	}
	defer conn.Close()
	id := NewMessageID()
	if _, err := conn.WriteToUDP(ProbeMessage(id), raddr); err != nil {
		return nil, 0, fmt.Errorf("%w: send probe to %s: %v", ErrDiscovery, target, err)
	}
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	_ = conn.SetReadDeadline(deadline)
	seen := map[string]bool{}
	buf := make([]byte, maxDatagram)
	for {
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return ms, skipped, nil
			}
			return ms, skipped, fmt.Errorf("%w: %v", ErrDiscovery, err)
		}
		rel, got, err := ParseProbeMatches(buf[:n])
		if err != nil || rel != id {
			skipped++
			continue
		}
		for _, m := range got {
			key := m.Endpoint
			if key == "" {
				key = m.XAddrs[0]
			}
			if !seen[key] {
				seen[key] = true
				ms = append(ms, m)
			}
		}
	}
}
