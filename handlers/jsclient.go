package handlers

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// The browser client (clients/js, the npm package @authbroker/client),
// built and committed here so that `go build` needs no Node: a classic
// script defining window.AuthBroker and the same code as an ES module.
// clients/js's test suite fails when these copies are stale.
//
//go:generate npm --prefix ../clients/js run build
var (
	//go:embed static/authbroker.js
	jsClassic []byte
	//go:embed static/authbroker.mjs
	jsModule []byte
)

// jsAsset is one served file with its validator.
type jsAsset struct {
	body []byte
	etag string
}

func newJSAsset(body []byte) jsAsset {
	sum := sha256.Sum256(body)
	return jsAsset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// registerJSClient serves the browser client at GET /authbroker.js (for
// <script src>) and GET /authbroker.mjs (for import). Apps that load it
// from the broker get the client that matches the server.
func registerJSClient(e *echo.Echo) {
	e.GET("/authbroker.js", serveJS(newJSAsset(jsClassic)))
	e.GET("/authbroker.mjs", serveJS(newJSAsset(jsModule)))
}

// serveJS answers with the script, revalidated by ETag after five minutes.
// The file is public code: any origin may load it, and module scripts from
// another origin need CORS (Access-Control-Allow-Origin) to run at all.
func serveJS(a jsAsset) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("ETag", a.etag)
		h.Set(echo.HeaderAccessControlAllowOrigin, "*")
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		http.ServeContent(c.Response(), c.Request(), "", time.Time{}, bytes.NewReader(a.body))
		return nil
	}
}
