package auth

import (
	"net/http"

	"github.com/authbroker/authbroker/internal/apierror"
)

// Error is the error clients act on (see apierror).
type Error = apierror.Error

// Stable error codes clients rely on (see apierror).
const (
	CodeInvalidRequest       = apierror.CodeInvalidRequest
	CodeInvalidGrant         = apierror.CodeInvalidGrant
	CodeUnsupportedGrantType = apierror.CodeUnsupportedGrantType
	CodeInvalidClient        = apierror.CodeInvalidClient
	CodeAccessDenied         = apierror.CodeAccessDenied
	CodeAlreadySignedIn      = apierror.CodeAlreadySignedIn
	CodeAccountDisabled      = apierror.CodeAccountDisabled
	CodeServerError          = apierror.CodeServerError
	CodeUnavailable          = apierror.CodeUnavailable
	CodeNotFound             = apierror.CodeNotFound
	CodeProviderError        = apierror.CodeProviderError
	CodeInvalidToken         = apierror.CodeInvalidToken
)

var (
	newErr            = apierror.New
	errInvalidRequest = apierror.InvalidRequest
	errInvalidGrant   = apierror.InvalidGrant
	unavailable       = apierror.Unavailable
)

// AsError returns err as an *Error (see apierror.As).
func AsError(err error) *Error { return apierror.As(err) }

// ErrUnknownProvider is returned for a provider that does not exist or is
// not enabled; the handlers answer 404.
var ErrUnknownProvider = newErr(http.StatusNotFound, CodeNotFound, "unknown or disabled provider", nil)
