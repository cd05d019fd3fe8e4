package login

import (
	"net/http"

	"github.com/authbroker/authbroker/internal/apierror"
)

// ErrUnknownProvider is returned for a provider that does not exist or is
// not enabled; the handlers answer 404.
var ErrUnknownProvider = apierror.New(http.StatusNotFound, apierror.CodeNotFound, "unknown or disabled provider", nil)
