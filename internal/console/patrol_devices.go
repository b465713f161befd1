package console

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/devices"
	qrcode "github.com/skip2/go-qrcode"
)

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) {
	if s.Patrol.Devices == nil {
		missing(w, "device tokens")
		return
	}
	writeList(s, w, r, s.Patrol.Devices.List(), nil)
}

// IssuedDevice is the answer to POST /api/devices: the only time the token
// is shown. Link opens the patrol page signed in; the token rides in the
// fragment, which browsers never send to a server or put in a Referer.
type IssuedDevice struct {
	devices.Device
	Token string `json:"token"`
	Link  string `json:"link"`
	// QR is a PNG data: URL of Link for the wall to show to the phone.
	QR string `json:"qr_png"`
}

func (s *Server) issueDevice(w http.ResponseWriter, r *http.Request) {
	if s.Patrol.Devices == nil {
		missing(w, "device tokens")
		return
	}
	body, err := auth.ReadBody(w, r)
	if err != nil {
		auth.WriteError(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	var req struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decodeStrict(body, &req); err != nil {
		auth.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Role == "" {
		req.Role = "operator"
	}
	p := principal(r)
	req.Name = strings.TrimSpace(req.Name)
	if s.Auth.Known(req.Name) {
		auth.WriteError(w, http.StatusBadRequest, "name: taken by a console user or token")
		return
	}
	d, tok, err := s.Patrol.Devices.Issue(req.Name, req.Role, p.Name)
	if errors.Is(err, devices.ErrInvalid) {
		auth.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	link := s.publicBase(r) + "/patrol/#device=" + tok
	png, err := qrcode.Encode(link, qrcode.Medium, 320)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_ = s.Auth.Audit(p, "device_issue", d.ID, map[string]string{"name": d.Name, "role": d.Role})
	w.Header().Set("Cache-Control", "no-store")
	auth.WriteJSON(w, http.StatusCreated, IssuedDevice{Device: d, Token: tok, Link: link,
		QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)})
}

func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request) {
	if s.Patrol.Devices == nil {
		missing(w, "device tokens")
		return
	}
	d, err := s.Patrol.Devices.Revoke(r.PathValue("id"))
	if errors.Is(err, devices.ErrNotFound) {
		auth.WriteError(w, http.StatusNotFound, "no such device")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_ = s.Auth.Audit(principal(r), "device_revoke", d.ID, map[string]string{"name": d.Name})
	w.WriteHeader(http.StatusNoContent)
}

// patrolQR is a PNG QR code of the patrol page's address (no credentials in
// it), for the wall: a phone scans it and signs in with an account.
func (s *Server) patrolQR(w http.ResponseWriter, r *http.Request) {
	png, err := qrcode.Encode(s.publicBase(r)+"/patrol/", qrcode.Medium, 320)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(png)
}

// PhotoDir is a PhotoStore in a directory, normally data_dir/patrol-photos:
// one directory per incident, files named by time, sequence and extension.
type PhotoDir struct {
	Dir string
	seq atomic.Uint64
}

var (
	safeDirName   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	safePhotoName = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9]+\.(jpg|png)$`)
)

// Add writes the photo; the incident id becomes a directory name only when
// it is a safe one.
func (p *PhotoDir) Add(incident, by, ext string, data []byte) (string, error) {
	if !safeDirName.MatchString(incident) || strings.HasPrefix(incident, ".") {
		return "", fmt.Errorf("photo: incident id %q: %w", incident, ErrInvalid)
	}
	dir := filepath.Join(p.Dir, incident)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	now := time.Now().UTC()
	// Nanoseconds and a sequence: unique across restarts, so nothing is overwritten.
	name := fmt.Sprintf("%s-%09d%d.%s", now.Format("20060102T150405Z"), now.Nanosecond(), p.seq.Add(1), ext)
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return "", err
	}
	// Rename: a photo is there whole or not at all.
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return name, nil
}

// Open reads a photo by the name Add returned.
func (p *PhotoDir) Open(incident, name string) ([]byte, error) {
	if !safeDirName.MatchString(incident) || strings.HasPrefix(incident, ".") || !safePhotoName.MatchString(name) {
		return nil, ErrNotFound
	}
	b, err := os.ReadFile(filepath.Join(p.Dir, incident, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}
