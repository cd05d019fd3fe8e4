package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxBody caps every response body read from a provider: a provider (or
// whatever answers at its address) must not be able to make us buffer
// without bound. Real profiles and token responses are a few KiB.
const maxBody = 1 << 20

// errBodyTooLarge is returned when a provider's response exceeds maxBody.
var errBodyTooLarge = fmt.Errorf("response body exceeds %d bytes", maxBody)

// cappedTransport wraps every response body so that reading past maxBody
// fails. It sits under x/oauth2 (which itself truncates silently at 1 MiB)
// and go-oidc (which reads discovery and JWKS documents without a limit).
type cappedTransport struct {
	base http.RoundTripper
	// accept, when set, is sent as the Accept header on requests that have
	// none (GitHub's token endpoint answers form-encoded without it).
	accept string
}

func (t cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.accept != "" && req.Header.Get("Accept") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("Accept", t.accept)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{rc: resp.Body, left: maxBody}
	return resp, nil
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte means the body is larger than allowed.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// base is what every OAuth provider shares: its identity, its HTTP client
// (with the configured timeout and capped bodies) and its failure recorder.
type base struct {
	name    string
	display string
	opts    Options
	client  *http.Client
}

func newBase(name, display string, o Options, accept string) base {
	var rt http.RoundTripper = cappedTransport{base: o.Transport, accept: accept}
	if o.ObserveCall != nil {
		rt = observedTransport{base: rt, provider: name, observe: o.ObserveCall}
	}
	return base{
		name:    name,
		display: display,
		opts:    o,
		client:  &http.Client{Timeout: o.Timeout, Transport: rt},
	}
}

// observedTransport reports each call's duration and outcome.
type observedTransport struct {
	base     http.RoundTripper
	provider string
	observe  func(provider string, d time.Duration, failed bool)
}

func (t observedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	t.observe(t.provider, time.Since(start), err != nil || (resp != nil && resp.StatusCode >= 500))
	return resp, err
}

// Name is the registry key and the path segment in /auth/{name}.
func (b *base) Name() string { return b.name }

// DisplayName is shown on the login button.
func (b *base) DisplayName() string { return b.display }

// httpContext makes x/oauth2 and go-oidc use our client: bounded by the
// configured timeout, with capped bodies.
func (b *base) httpContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, b.client)
}

// record remembers err for the admin status and returns it unchanged.
func (b *base) record(err error) error {
	b.opts.Recorder.Record(b.name, err)
	return err
}

// apiResponse is a user-API answer read in full (at most maxBody).
type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// get performs an authenticated GET against a provider API. The access
// token travels only in the Authorization header, never in the URL, so
// url.Error texts stay free of it.
func (b *base) get(ctx context.Context, rawURL, accessToken string, header http.Header) (apiResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return apiResponse{}, fmt.Errorf("%s: build request: %w", b.name, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	return b.do(req)
}

func (b *base) do(req *http.Request) (apiResponse, error) {
	resp, err := b.client.Do(req)
	if err != nil {
		return apiResponse{}, fmt.Errorf("%s: %s %s: %w", b.name, req.Method, redactURL(req.URL), unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return apiResponse{}, fmt.Errorf("%s: read %s: %w", b.name, redactURL(req.URL), err)
	}
	return apiResponse{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// unwrapURLError drops *url.Error's own text (it repeats the full URL, query
// included) while keeping the cause, so errors.Is(err,
// context.DeadlineExceeded) still holds for timeouts.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactURL prints a URL without its query string: paging links and
// provider URLs are safe, but nothing after "?" ever needs to be in a log.
func redactURL(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	c.User = nil
	return c.String()
}

// decode parses a JSON body into v, naming the provider and what was read.
func (b *base) decode(what string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{Provider: b.name, Code: "malformed_response", Description: what + " is not valid JSON", Err: err}
	}
	return nil
}

// statusError describes a non-2xx API answer without its body (which a
// misbehaving provider could fill with anything).
func (b *base) statusError(what string, status int) *Error {
	return &Error{Provider: b.name, Code: "http_" + fmt.Sprint(status), Description: fmt.Sprintf("%s answered HTTP %d", what, status)}
}

// tokenError maps a token-endpoint failure. x/oauth2's *RetrieveError
// carries the provider's RFC 6749 §5.2 error code; its Error() text would
// include the raw body, so it is not wrapped. code is the authorization
// code just sent: some providers (Kakao) echo it in error_description, and
// it must not reach logs.
func (b *base) tokenError(err error, code string, providerCode func(body []byte) string) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("%s: token endpoint: %w", b.name, unwrapURLError(err))
	}
	pe := &Error{Provider: b.name, Code: re.ErrorCode, Description: redact(re.ErrorDescription, code)}
	if providerCode != nil {
		if c := providerCode(re.Body); c != "" {
			pe.Code = c
		}
	}
	if pe.Code == "" {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		pe.Code = fmt.Sprintf("http_%d", status)
		pe.Description = fmt.Sprintf("token endpoint answered HTTP %d", status)
	}
	return pe
}

// redact removes secret from s (when both are non-empty).
func redact(s, secret string) string {
	if secret == "" || s == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}

// exchangeOptions are the token-request options for a callback: the PKCE
// verifier when the login sent a challenge.
func exchangeOptions(cb Callback) []oauth2.AuthCodeOption {
	if cb.PKCEVerifier == "" {
		return nil
	}
	return []oauth2.AuthCodeOption{oauth2.VerifierOption(cb.PKCEVerifier)}
}

// authOptions are the authorize-URL options shared by PKCE-capable providers.
func authOptions(r AuthRequest) []oauth2.AuthCodeOption {
	if r.CodeChallenge == "" {
		return nil
	}
	return []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("code_challenge", r.CodeChallenge),
		oauth2.SetAuthURLParam("code_challenge_method", "S256"),
	}
}

// joinURL appends path to an API base URL, keeping any base path
// (GitHub Enterprise serves its API under /api/v3).
func joinURL(baseURL, path string) string {
	return strings.TrimRight(baseURL, "/") + path
}

// invalidToken marks a provider's rejection of a token presented on the
// native path, so the login service answers invalid_grant.
func invalidToken(provider string, err error) error {
	return fmt.Errorf("%s: %w: %w", provider, ErrInvalidToken, err)
}
