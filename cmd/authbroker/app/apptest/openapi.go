package apptest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"

	"github.com/authbroker/authbroker/docs"
)

// The broker's HTTP surface is described by docs/openapi.yaml. Every
// broker a test starts checks each response it gives against that
// description, and a response the document does not describe (an
// undocumented status, content type or body) fails the test that caused
// it: the document cannot drift from the code.

var (
	specOnce      sync.Once
	specValidator validator.Validator
	specErr       error
	specMu        sync.Mutex // the validator's caches are not documented as safe for concurrent use
	validated     atomic.Int64
)

// Validated is how many responses have been checked against the OpenAPI
// document in this test binary.
func Validated() int64 { return validated.Load() }

func openAPIValidator() (validator.Validator, error) {
	specOnce.Do(func() {
		doc, err := libopenapi.NewDocument([]byte(docs.OpenAPI))
		if err != nil {
			specErr = fmt.Errorf("docs/openapi.yaml: %w", err)
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			specErr = fmt.Errorf("docs/openapi.yaml: %v", errs)
			return
		}
		if ok, verrs := v.ValidateDocument(); !ok {
			specErr = fmt.Errorf("docs/openapi.yaml is not a valid OpenAPI 3.1 document: %s", describe(verrs))
			return
		}
		specValidator = v
	})
	return specValidator, specErr
}

// CheckResponse validates one response against docs/openapi.yaml; nil when
// it is described. Requests for a path or method the document does not
// have (a test inventing methods, a 404) are outside it: that no route the
// broker registers is missing from the document is TestOpenAPIRoutes's
// job. Preflight OPTIONS requests (answered by the CORS layer for every
// /auth route) are outside it too.
func CheckResponse(r *http.Request, status int, header http.Header, body []byte) error {
	if r.Method == http.MethodOptions {
		return nil
	}
	v, err := openAPIValidator()
	if err != nil {
		return err
	}
	resp := &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Request: r}
	specMu.Lock()
	ok, errs := v.ValidateHttpResponse(r, resp)
	specMu.Unlock()
	validated.Add(1)
	if ok {
		return nil
	}
	if pathUnknown(errs) {
		return nil
	}
	return fmt.Errorf("%s %s → %d (%s): %s", r.Method, r.URL.Path, status, header.Get("Content-Type"), describe(errs))
}

func pathUnknown(errs []*verrors.ValidationError) bool {
	for _, e := range errs {
		if e.ValidationType == "path" {
			return true
		}
	}
	return false
}

func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Message)
		if e.Reason != "" {
			b.WriteString(": " + e.Reason)
		}
		for _, se := range e.SchemaValidationErrors {
			b.WriteString(" [" + se.FieldPath + ": " + se.Reason + "]")
		}
	}
	return b.String()
}

// validateResponses wraps a broker's handler so that every response is
// checked with CheckResponse; a violation fails t.
func validateResponses(t testing.TB, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &teeWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if err := CheckResponse(r, rec.status, w.Header().Clone(), rec.body.Bytes()); err != nil {
			t.Errorf("OpenAPI (docs/openapi.yaml): %v", err)
		}
	})
}

// teeWriter passes a response through and keeps a copy of it.
type teeWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   bytes.Buffer
}

func (w *teeWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *teeWriter) Write(p []byte) (int, error) {
	w.wrote = true
	w.body.Write(p)
	return w.ResponseWriter.Write(p)
}

// Flush lets streaming handlers flush through the wrapper.
func (w *teeWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
