package providers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"github.com/authbroker/authbroker/internal/email"
)

// Dev is the development sign-in: a local form where anyone can sign in as
// any email and name, so a newcomer can try the whole flow (and linking)
// without registering an app anywhere. It signs anyone in, so the registry
// never builds it when APP_ENV=production.
//
// It speaks the same redirect protocol as a real provider, so the login
// service treats it like one: AuthCodeURL points at our own
// /auth/dev/authorize; the form posts back there; the handler redirects to
// /auth/dev/callback with a code and the same state; Exchange decodes the
// code. The code is the typed email and name (and the PKCE challenge),
// encoded, not signed: the form already lets anyone be anyone, and the
// state is still single use and bound to the browser.
type Dev struct {
	opts Options
}

// DevDefaultEmail is the address the form offers.
const DevDefaultEmail = "ada@example.com"

// NewDev builds the dev provider for BASE_URL.
func NewDev(o Options) *Dev { return &Dev{opts: o} }

// Name is "dev".
func (d *Dev) Name() string { return "dev" }

// DisplayName is the button text.
func (d *Dev) DisplayName() string { return "Dev sign-in" }

// AuthorizeURL is the form's address, BASE_URL/auth/dev/authorize.
func (d *Dev) AuthorizeURL() string { return d.opts.BaseURL + "/auth/dev/authorize" }

// AuthCodeURL sends the browser to the local form with the state and the
// PKCE challenge.
func (d *Dev) AuthCodeURL(_ context.Context, r AuthRequest) (string, error) {
	v := url.Values{"state": {r.State}}
	if r.CodeChallenge != "" {
		v.Set("code_challenge", r.CodeChallenge)
		v.Set("code_challenge_method", "S256")
	}
	return d.AuthorizeURL() + "?" + v.Encode(), nil
}

// DevType is the development sign-in. It is never configured: DEV_LOGIN
// turns it on outside production. The challenge travels in the form and
// the code, and Exchange checks the verifier, so the dev flow exercises
// PKCE too.
func DevType() Type {
	return Type{Name: "dev", Mark: "⚙", DisplayName: "Dev sign-in", PKCE: true}
}

// DevForm is the data of the sign-in form: Action is where it posts, the
// hidden State and CodeChallenge must be posted back unchanged.
type DevForm struct {
	Action        string
	State         string
	CodeChallenge string
	Email         string
	Name          string
	Error         string
}

// Form is the form for one login, prefilled with DevDefaultEmail.
func (d *Dev) Form(state, codeChallenge string) DevForm {
	return DevForm{Action: d.AuthorizeURL(), State: state, CodeChallenge: codeChallenge, Email: DevDefaultEmail, Name: "Ada Lovelace"}
}

// Submit validates a posted form and returns the callback URL to redirect
// to (BASE_URL/auth/dev/callback?code=…&state=…). On a bad email it returns
// the form to show again, with Error set.
func (d *Dev) Submit(f DevForm) (string, DevForm, error) {
	f.Action = d.AuthorizeURL()
	email := strings.TrimSpace(f.Email)
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > 254 {
		f.Error = "Enter an email address like ada@example.com."
		return "", f, errors.New("dev: not an email address")
	}
	if f.State == "" || len(f.State) > 512 || len(f.CodeChallenge) > 128 {
		f.Error = "This sign-in form is incomplete; start again from the login page."
		return "", f, errors.New("dev: missing state")
	}
	name := strings.TrimSpace(f.Name)
	if len(name) > 200 {
		name = name[:200]
	}
	code, err := json.Marshal(devCode{Email: email, Name: name, Challenge: f.CodeChallenge})
	if err != nil {
		return "", f, err
	}
	v := url.Values{"code": {base64.RawURLEncoding.EncodeToString(code)}, "state": {f.State}}
	return d.opts.callbackURL("dev") + "?" + v.Encode(), f, nil
}

// devCode is what the dev "authorization code" carries.
type devCode struct {
	Email     string `json:"email"`
	Name      string `json:"name,omitempty"`
	Challenge string `json:"cc,omitempty"`
}

// Exchange decodes the code and checks the PKCE verifier against the
// challenge the form carried (RFC 7636 §4.6).
func (d *Dev) Exchange(_ context.Context, cb Callback) (Profile, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cb.Code)
	if err != nil {
		return Profile{}, &Error{Provider: "dev", Code: "invalid_grant", Description: "malformed dev code"}
	}
	var c devCode
	if err := json.Unmarshal(raw, &c); err != nil || c.Email == "" {
		return Profile{}, &Error{Provider: "dev", Code: "invalid_grant", Description: "malformed dev code"}
	}
	if c.Challenge != "" || cb.PKCEVerifier != "" {
		sum := sha256.Sum256([]byte(cb.PKCEVerifier))
		want := base64.RawURLEncoding.EncodeToString(sum[:])
		if subtle.ConstantTimeCompare([]byte(want), []byte(c.Challenge)) != 1 {
			return Profile{}, &Error{Provider: "dev", Code: "invalid_grant", Description: "PKCE verification failed"}
		}
	}
	name := c.Name
	if name == "" {
		name, _, _ = strings.Cut(c.Email, "@")
	}
	profile, err := json.Marshal(map[string]string{"email": c.Email, "name": name})
	if err != nil {
		return Profile{}, err
	}
	return Profile{
		Provider:      "dev",
		Subject:       email.Key(c.Email),
		Email:         c.Email,
		EmailVerified: true,
		Name:          name,
		Raw:           profile,
	}, nil
}

// ServeHTTP serves BASE_URL/auth/dev/authorize: GET shows the form, POST
// submits it and redirects to the callback. The page uses no script or
// inline style, so the broker's strict CSP applies unchanged.
func (d *Dev) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		if q.Get("state") == "" {
			http.Error(w, "missing state: start from the login page", http.StatusBadRequest)
			return
		}
		d.render(w, http.StatusOK, d.Form(q.Get("state"), q.Get("code_challenge")))
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		f := DevForm{
			State:         r.PostForm.Get("state"),
			CodeChallenge: r.PostForm.Get("code_challenge"),
			Email:         r.PostForm.Get("email"),
			Name:          r.PostForm.Get("name"),
		}
		next, f, err := d.Submit(f)
		if err != nil {
			d.render(w, http.StatusBadRequest, f)
			return
		}
		http.Redirect(w, r, next, http.StatusFound)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (d *Dev) render(w http.ResponseWriter, status int, f DevForm) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = devFormTemplate.Execute(w, f)
}

// devFormTemplate is immutable after parsing (safe to share); it matches
// the broker's layout and stylesheet.
var devFormTemplate = template.Must(template.New("dev").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Dev sign-in</title>
<link rel="stylesheet" href="/static/app.css">
</head>
<body>
<main class="card" id="main">
<h1>Dev sign-in</h1>
<p class="lead">Development only: sign in as anyone. This provider is refused when <code>APP_ENV=production</code>.</p>
{{if .Error}}<p class="notice" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}" class="form">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="code_challenge" value="{{.CodeChallenge}}">
<label for="email">Email</label>
<input id="email" name="email" type="email" value="{{.Email}}" required autocomplete="email">
<label for="name">Name</label>
<input id="name" name="name" type="text" value="{{.Name}}" autocomplete="name">
<button class="btn btn-primary" type="submit" id="dev-submit">Sign in</button>
</form>
</main>
<footer class="foot">Secured by authbroker</footer>
</body>
</html>
`))
