package onvif

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// HTTPError is an answer with an HTTP error status, and the SOAP fault it
// carried if any.
type HTTPError struct {
	Status int
	Fault  *Fault // nil: the body was no SOAP fault
}

func (e *HTTPError) Error() string {
	if e.Fault != nil {
		return fmt.Sprintf("%s (HTTP %d)", e.Fault.Error(), e.Status)
	}
	return fmt.Sprintf("onvif: HTTP %d", e.Status)
}

// Unwrap gives the fault.
func (e *HTTPError) Unwrap() error {
	if e.Fault == nil {
		return nil
	}
	return e.Fault
}

// Is makes a 401 match ErrAuth.
func (e *HTTPError) Is(target error) bool {
	return target == ErrAuth && e.Status == http.StatusUnauthorized
}

// Client calls a device's services with WS-UsernameToken credentials
// (none when Username is empty). The zero value works.
type Client struct {
	Username string
	Password string
	// HTTP client; nil: one with Timeout.
	HTTP *http.Client
	// Timeout bounds one call when HTTP is nil; default 10s. PullMessages
	// adds its own wait on top.
	Timeout time.Duration
	// Now is the clock for UsernameToken's created time; nil: time.Now.
	Now func() time.Time

	mu     sync.Mutex
	offset time.Duration // device clock - ours, from SyncClock
}

// SyncClock asks the device for its clock (GetSystemDateAndTime needs no
// credentials) and from then on dates UsernameTokens by it, as ONVIF
// clients do: a device refuses tokens created too far from its own time,
// and cameras' clocks drift when they have no NTP. It returns the offset.
func (c *Client) SyncClock(ctx context.Context, addr string) (time.Duration, error) {
	before := time.Now()
	data, err := c.call(ctx, addr, ActionGetSystemDateAndTime, GetSystemDateAndTimeBody, 0, false)
	if err != nil {
		return 0, err
	}
	dev, err := ParseSystemDateAndTime(data)
	if err != nil {
		return 0, err
	}
	// The answer has whole seconds: below two seconds the clocks agree.
	mid := before.Add(time.Since(before) / 2)
	off := dev.Sub(mid)
	if off.Abs() < 2*time.Second {
		off = 0
	}
	c.mu.Lock()
	c.offset = off
	c.mu.Unlock()
	return off, nil
}

func (c *Client) now() time.Time {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return now().Add(c.offset)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 10 * time.Second
}

// Call posts a SOAP request with body to addr and returns the response
// envelope. Faults and HTTP errors come back as *Fault and *HTTPError
// (both match ErrAuth when the credentials are refused).
func (c *Client) Call(ctx context.Context, addr, action, body string) ([]byte, error) {
	return c.call(ctx, addr, action, body, 0, true)
}

func (c *Client) call(ctx context.Context, addr, action, body string, extra time.Duration, auth bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout()+extra)
	defer cancel()
	h := Header{Action: action, MessageID: NewMessageID(), To: addr}
	if auth && c.Username != "" {
		h.Security = NewUsernameToken(c.Username, c.Password, c.now())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr, bytes.NewReader(Envelope(h, body)))
	if err != nil {
		return nil, fmt.Errorf("onvif: request: %w", err)
	}
	req.Header.Set("Content-Type", `application/soap+xml; charset=utf-8; action="`+action+`"`)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxMessage+1))
	if err != nil {
		return nil, fmt.Errorf("onvif: reading answer: %w", err)
	}
	if len(data) > MaxMessage {
		return nil, fmt.Errorf("%w: answer larger than %d bytes", ErrMalformed, MaxMessage)
	}
	if resp.StatusCode != http.StatusOK {
		// A fault explains more than the status; a 401 is ErrAuth either way.
		he := &HTTPError{Status: resp.StatusCode}
		if m, err := ParseMessage(data); err == nil {
			he.Fault = m.Fault
		}
		return nil, he
	}
	return data, nil
}

// DeviceInformation asks the device service at addr who the device is.
func (c *Client) DeviceInformation(ctx context.Context, addr string) (DeviceInfo, error) {
	data, err := c.Call(ctx, addr, ActionGetDeviceInformation, GetDeviceInformationBody)
	if err != nil {
		return DeviceInfo{}, err
	}
	return ParseDeviceInformation(data)
}

// Services asks the device service at addr where its services are:
// GetCapabilities, which every Profile S device answers, then GetServices
// when that fails for a reason other than the credentials.
func (c *Client) Services(ctx context.Context, addr string) (Services, error) {
	data, err := c.Call(ctx, addr, ActionGetCapabilities, GetCapabilitiesBody)
	if err == nil {
		var s Services
		if s, err = ParseCapabilities(data); err == nil {
			return s, nil
		}
	}
	if errors.Is(err, ErrAuth) || ctx.Err() != nil {
		return Services{}, err
	}
	data, err2 := c.Call(ctx, addr, ActionGetServices, GetServicesBody)
	if err2 != nil {
		return Services{}, errors.Join(err, err2)
	}
	return ParseServices(data)
}

// Profiles lists the media service's profiles.
func (c *Client) Profiles(ctx context.Context, mediaAddr string) ([]Profile, error) {
	data, err := c.Call(ctx, mediaAddr, ActionGetProfiles, GetProfilesBody)
	if err != nil {
		return nil, err
	}
	return ParseProfiles(data)
}

// StreamURI asks for a profile's RTSP URI.
func (c *Client) StreamURI(ctx context.Context, mediaAddr, token string) (string, error) {
	data, err := c.Call(ctx, mediaAddr, ActionGetStreamUri, GetStreamURIBody(token))
	if err != nil {
		return "", err
	}
	return ParseStreamURI(data)
}

// CreatePullPoint subscribes to the event service for ttl.
func (c *Client) CreatePullPoint(ctx context.Context, eventsAddr string, ttl time.Duration) (Subscription, error) {
	data, err := c.Call(ctx, eventsAddr, ActionCreatePullPoint, CreatePullPointBody(ttl))
	if err != nil {
		return Subscription{}, err
	}
	return ParseSubscription(data)
}

// PullMessages waits up to wait for at most limit messages.
func (c *Client) PullMessages(ctx context.Context, subAddr string, wait time.Duration, limit int) (PullResult, error) {
	data, err := c.call(ctx, subAddr, ActionPullMessages, PullMessagesBody(wait, limit), wait, true)
	if err != nil {
		return PullResult{}, err
	}
	return ParsePullMessages(data)
}

// Renew extends a subscription by ttl; it returns the device's clock and
// the new termination time.
func (c *Client) Renew(ctx context.Context, subAddr string, ttl time.Duration) (current, termination time.Time, err error) {
	data, err := c.Call(ctx, subAddr, ActionRenew, RenewBody(ttl))
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return ParseRenew(data)
}

// Unsubscribe ends a subscription.
func (c *Client) Unsubscribe(ctx context.Context, subAddr string) error {
	data, err := c.Call(ctx, subAddr, ActionUnsubscribe, UnsubscribeBody)
	if err != nil {
		return err
	}
	m, err := ParseMessage(data)
	if err != nil {
		return err
	}
	return m.decodeBody("UnsubscribeResponse", &struct{}{})
}
