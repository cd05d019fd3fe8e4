package auth

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a failure a client acts on: an OAuth error code (RFC 6749 §5.2,
// or one of ours like already_signed_in) with a human description and the
// HTTP status the API answers with. Handlers render it as JSON for the API
// and as a readable page for browsers; they choose nothing else.
type Error struct {
	Status      int
	Code        string
	Description string
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

func newErr(status int, code, desc string, cause error) *Error {
	return &Error{Status: status, Code: code, Description: desc, Err: cause}
}

// Stable error codes clients rely on (README documents them).
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
)

// Constructors for the errors used across the service.
func errInvalidRequest(desc string) *Error {
	return newErr(http.StatusBadRequest, CodeInvalidRequest, desc, nil)
}

func errInvalidGrant(desc string, cause error) *Error {
	return newErr(http.StatusBadRequest, CodeInvalidGrant, desc, cause)
}

// ErrUnknownProvider is returned for a provider that does not exist or is
// not enabled; the handlers answer 404.
var ErrUnknownProvider = newErr(http.StatusNotFound, CodeNotFound, "unknown or disabled provider", nil)

// unavailable wraps a storage failure: the client may retry (503).
func unavailable(what string, err error) *Error {
	return newErr(http.StatusServiceUnavailable, CodeUnavailable, "the service is temporarily unavailable, try again", fmt.Errorf("%s: %w", what, err))
}

// AsError returns err as an *Error, turning anything else into a 500
// server_error that hides the cause.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return newErr(http.StatusInternalServerError, CodeServerError, "internal error", err)
}
