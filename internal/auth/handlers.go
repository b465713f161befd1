package auth

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// WriteError writes the API's error body {"error": msg}.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}

// WriteJSON writes v as the JSON response body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// LoginRequest is the body of POST /api/login.
type LoginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// Me is what login and GET /api/me return.
type Me struct {
	Name      string `json:"name"`
	Role      Role   `json:"role"`
	CSRFToken string `json:"csrf_token,omitempty"`
	Kiosk     bool   `json:"kiosk,omitempty"`
}

// ParseLogin decodes a login body; outside input, fuzzed.
func ParseLogin(body []byte) (LoginRequest, error) {
	var req LoginRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return req, errors.New("body must be JSON {\"name\", \"password\"}")
	}
	if req.Name == "" || req.Password == "" || len(req.Name) > 128 || len(req.Password) > 1024 {
		return req, errors.New("name and password are required")
	}
	// The name reaches the audit log (login_failed) whatever it is.
	if err := CheckText("name", req.Name); err != nil {
		return req, err
	}
	return req, nil
}

// LoginHandler serves POST /api/login: it sets the session cookie and returns
// the user's name, role and CSRF token.
func (a *Auth) LoginHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only JSON: a cross-site HTML form cannot send it without a CORS
		// preflight, so no other site can log a browser into an account.
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			WriteError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
			return
		}
		body, err := ReadBody(w, r)
		if err != nil {
			WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		req, err := ParseLogin(body)
		if err != nil {
			WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		ip := ClientIP(r)
		id, p, err := a.Login(req.Name, req.Password, ip)
		switch {
		case writeRateLimited(w, err):
			return
		case err != nil:
			_ = a.Audit(Principal{Name: req.Name}, "login_failed", "", map[string]string{"ip": ip})
			WriteError(w, http.StatusUnauthorized, err.Error())
			return
		}
		_ = a.Audit(p, "login", "", map[string]string{"ip": ip})
		a.setCookie(w, r, id)
		WriteJSON(w, http.StatusOK, Me{Name: p.Name, Role: p.Role, CSRFToken: p.CSRF})
	})
}

// writeRateLimited answers 429 with Retry-After when err is a RateLimitedError.
func writeRateLimited(w http.ResponseWriter, err error) bool {
	var rl *RateLimitedError
	if !errors.As(err, &rl) {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
	WriteError(w, http.StatusTooManyRequests, err.Error())
	return true
}

func (a *Auth) setCookie(w http.ResponseWriter, r *http.Request, id string) {
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    id,
		Path:     "/",
		HttpOnly: true,
		// Lax, not Strict, for kiosk sessions would be needed only if walls
		// were opened from links on other sites; they are typed or bookmarked.
		SameSite: http.SameSiteStrictMode,
		Secure:   r.TLS != nil,
		MaxAge:   int(a.cfg.SessionIdle.Seconds()),
	})
}

// KioskHandler serves the page (next) and, for GET /?token=<wall token>,
// first exchanges the token for a read-only session cookie and redirects to
// / so the token leaves the address bar and the history. The token is never
// logged or audited; a wrong one answers 401 and counts against the address.
func (a *Auth) KioskHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" || !r.URL.Query().Has("token") {
			next.ServeHTTP(w, r)
			return
		}
		ip := ClientIP(r)
		id, p, err := a.Kiosk(r.URL.Query().Get("token"), ip)
		switch {
		case writeRateLimited(w, err):
			return
		case errors.Is(err, ErrBadCredentials):
			WriteError(w, http.StatusUnauthorized, "invalid wall token")
			return
		case err != nil:
			WriteError(w, http.StatusServiceUnavailable, "cannot open a session now")
			return
		}
		_ = a.Audit(p, "kiosk_login", "", map[string]string{"ip": ip})
		a.setCookie(w, r, id)
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
}

// LogoutHandler serves POST /api/logout; mount it behind Require(Viewer) so
// that the CSRF token is checked.
func (a *Auth) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := FromContext(r.Context())
		if c, err := r.Cookie(CookieName); err == nil && p.Kind == "session" {
			a.Logout(c.Value)
			_ = a.Audit(p, "logout", "", nil)
		}
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
}

// MeHandler serves GET /api/me behind Require(Viewer). For a session it
// returns the CSRF token again, so a reloaded page can keep working.
func (a *Auth) MeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := FromContext(r.Context())
		if c, err := r.Cookie(CookieName); err == nil && p.Kind == "session" {
			// A wall runs for weeks: each visit renews the cookie's lifetime
			// along with the session's idle timer.
			a.setCookie(w, r, c.Value)
		}
		WriteJSON(w, http.StatusOK, Me{Name: p.Name, Role: p.Role, CSRFToken: p.CSRF, Kiosk: p.Kiosk})
	})
}

// MaxBody bounds request bodies of the API.
const MaxBody = 64 << 10

// ReadBody reads a request body of at most MaxBody bytes.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	buf, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, errors.New("request body too large or unreadable")
	}
	return buf, nil
}
