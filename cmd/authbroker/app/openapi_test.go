package app_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/pb33f/libopenapi"

	"github.com/authbroker/authbroker/cmd/authbroker/app/apptest"
	"github.com/authbroker/authbroker/docs"
)

// TestMain reports how many live responses the package's tests checked
// against docs/openapi.yaml (apptest wraps every broker it starts).
func TestMain(m *testing.M) {
	code := m.Run()
	fmt.Printf("openapi: %d responses checked against docs/openapi.yaml\n", apptest.Validated())
	os.Exit(code)
}

// TestOpenAPIRoutes: docs/openapi.yaml describes exactly the routes the
// broker registers (both ways), so a route cannot be added without being
// documented, nor documented without existing. CORS preflight (OPTIONS
// /auth/*) is the one route outside the document.
func TestOpenAPIRoutes(t *testing.T) {
	b := startBroker(t)
	e, ok := b.App.Handler.(*echo.Echo)
	if !ok {
		t.Fatalf("the handler is a %T, not *echo.Echo", b.App.Handler)
	}
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	registered := map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == http.MethodOptions || r.Method == echo.RouteNotFound || strings.HasSuffix(r.Path, "/*") {
			continue
		}
		path := param.ReplaceAllString(r.Path, "{$1}")
		if strings.HasSuffix(path, "*") { // a file server: one file per request
			path = strings.TrimSuffix(path, "*") + "/{file}"
		}
		registered[r.Method+" "+path] = true
	}
	resp, err := http.Get(b.URL + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(served) != docs.OpenAPI {
		t.Fatalf("GET /openapi.yaml: %d, %d bytes; want docs/openapi.yaml", resp.StatusCode, len(served))
	}
	doc, err := libopenapi.NewDocument([]byte(docs.OpenAPI))
	if err != nil {
		t.Fatal(err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	var missing, extra []string
	for r := range registered {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for d := range documented {
		if !registered[d] {
			extra = append(extra, d)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 {
		t.Errorf("routes the broker registers but docs/openapi.yaml does not describe:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("operations docs/openapi.yaml describes but the broker does not serve:\n  %s", strings.Join(extra, "\n  "))
	}
}

// TestOpenAPICheckCanFail: responses the document does not describe are
// refused — a wrong body, a missing field, an undocumented content type —
// so the checks every test runs are not vacuous.
func TestOpenAPICheckCanFail(t *testing.T) {
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		status      int
		contentType string
		body        string
		ok          bool
	}{
		{"health as documented", "GET", "/healthz", 200, "application/json", `{"status":"ok"}`, true},
		{"health with another status word", "GET", "/healthz", 200, "application/json", `{"status":"fine"}`, false},
		{"token pair as documented", "POST", "/auth/token", 200, "application/json",
			`{"access_token":"a","token_type":"Bearer","expires_in":900,"refresh_token":"r","refresh_expires_in":60,"member":{"id":"m","role":"user"}}`, true},
		{"token pair without its refresh token", "POST", "/auth/token", 200, "application/json",
			`{"access_token":"a","token_type":"Bearer","expires_in":900,"member":{"id":"m","role":"user"}}`, false},
		{"an RFC 6749 error", "POST", "/auth/token", 400, "application/json", `{"error":"invalid_grant","error_description":"x"}`, true},
		{"an error without its code", "POST", "/auth/token", 400, "application/json", `{"error_description":"x"}`, false},
		{"an undocumented content type", "GET", "/auth/me", 500, "text/plain", `oops`, false},
		{"a provider secret in the admin API", "GET", "/admin/api/providers", 200, "application/json",
			`{"providers":[{"name":"g","type":"google","enabled":true,"source":"env","client_secret":"s"}],"types":[]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://localhost:8080"+tc.path, nil)
			h := http.Header{"Content-Type": {tc.contentType}}
			err := apptest.CheckResponse(r, tc.status, h, []byte(tc.body))
			if (err == nil) != tc.ok {
				t.Fatalf("CheckResponse = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
