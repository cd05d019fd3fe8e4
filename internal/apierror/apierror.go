// Package apierror is the one error type of authbroker's HTTP surface: a
// failure a client acts on, carrying an OAuth error code (RFC 6749 §5.2,
// RFC 6750 §3.1, or one of ours like already_signed_in), a description
// safe to show, the HTTP status, and the internal cause (logged, never
// shown). Services return it; one writer in handlers renders it as JSON for
// APIs and as a page for browsers.
package apierror

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error is a failure a client acts on.
type Error struct {
	Status      int
	Code        string
	Description string
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
	// Fields, when set, says which input fields are wrong and why (sent as
	// "fields": [{"field", "message"}]).
	Fields []FieldError
	// Challenge, when set, is sent as the WWW-Authenticate header (RFC 6750
	// §3 for bearer tokens, RFC 7617 for Basic).
	Challenge string
	// Scope, when set, names the scopes a request needed and lacked
	// (insufficient_scope; sent as "scope", RFC 6750 §3).
	Scope string
	// ReauthURL, when set, is where the member signs in at a provider
	// again to fix the failure (provider_reauth_required; sent as
	// "reauth_url").
	ReauthURL string
	// Err is the internal cause, logged but never shown.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Err)
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Err }

// RetryAfterHeader is the Retry-After value in whole seconds (at least 1),
// or "" when the error carries none.
func (e *Error) RetryAfterHeader() string {
	if e.RetryAfter <= 0 {
		return ""
	}
	s := int64((e.RetryAfter + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

// FieldError is one wrong input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Invalid is a 400 invalid_request naming each wrong field.
func Invalid(desc string, fields []FieldError) *Error {
	e := InvalidRequest(desc)
	e.Fields = fields
	return e
}

// New returns an Error.
func New(status int, code, desc string, cause error) *Error {
	return &Error{Status: status, Code: code, Description: desc, Err: cause}
}

// Stable error codes clients rely on (the README lists them).
const (
	CodeInvalidRequest       = "invalid_request"
	CodeInvalidGrant         = "invalid_grant"
	CodeUnsupportedGrantType = "unsupported_grant_type"
	CodeInvalidClient        = "invalid_client"
	CodeAccessDenied         = "access_denied"
	CodeAlreadySignedIn      = "already_signed_in"
	CodeAccountDisabled      = "account_disabled"
	CodeServerError          = "server_error"
	CodeUnavailable          = "temporarily_unavailable"
	CodeNotFound             = "not_found"
	CodeProviderError        = "provider_error"
	CodeInvalidToken         = "invalid_token"
	CodeTokenExpired         = "token_expired"
	CodeRateLimited          = "rate_limited"
	CodeInsufficientScope    = "insufficient_scope"
	CodeForbidden            = "forbidden"
	CodeCSRFRejected         = "csrf_rejected"
	CodeConflict             = "conflict"
	CodeAdminByConfig        = "admin_by_config"
	CodeProviderByEnv        = "provider_managed_by_env"
	CodeLinkMismatch         = "link_mismatch"
	CodeIdentityInUse        = "identity_in_use"
	CodeLastIdentity         = "last_identity"
	CodeProviderReauth       = "provider_reauth_required"
)

// InvalidRequest is a 400 invalid_request.
func InvalidRequest(desc string) *Error {
	return New(http.StatusBadRequest, CodeInvalidRequest, desc, nil)
}

// InvalidGrant is a 400 invalid_grant.
func InvalidGrant(desc string, cause error) *Error {
	return New(http.StatusBadRequest, CodeInvalidGrant, desc, cause)
}

// Unavailable wraps a storage failure: the client may retry (503).
func Unavailable(what string, err error) *Error {
	return New(http.StatusServiceUnavailable, CodeUnavailable, "the service is temporarily unavailable, try again", fmt.Errorf("%s: %w", what, err))
}

// RateLimited is a 429 with the wait before a retry.
func RateLimited(retryAfter time.Duration) *Error {
	e := New(http.StatusTooManyRequests, CodeRateLimited, "too many requests; retry later", nil)
	e.RetryAfter = retryAfter
	return e
}

// As returns err as an *Error, turning anything else into a 500
// server_error that hides the cause.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return New(http.StatusInternalServerError, CodeServerError, "internal error", err)
}
