package handlers

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// jsClient is the browser client (static/authbroker.js): PKCE login, code
// exchange, in-memory tokens, single-flight refresh, cookie mode. It is a
// classic script; /authbroker.mjs serves it as an ES module (jsModule).
//
//go:embed static/authbroker.js
var jsClient []byte

// The classic script ends by calling its wrapper with (globalThis,
// globalThis): the second argument receives the exports. The module version
// passes a local object instead and exports its members, so importing it
// defines no global.
const (
	jsClassicCall = "})(globalThis, globalThis);\n"
	jsModuleHead  = "const authbroker = {};\n"
	jsModuleCall  = "})(globalThis, authbroker);\n" +
		"export const AuthBroker = authbroker.AuthBroker;\n" +
		"export const AuthBrokerError = authbroker.AuthBrokerError;\n" +
		"export default AuthBroker;\n"
)

// jsModule derives the ES module from the classic script.
func jsModule(classic []byte) []byte {
	body, ok := bytes.CutSuffix(classic, []byte(jsClassicCall))
	if !ok {
		// The embedded file is fixed at build time: any use of New fails at once.
		panic("handlers: static/authbroker.js must end with " + strings.TrimSpace(jsClassicCall))
	}
	out := append([]byte(jsModuleHead), body...)
	return append(out, jsModuleCall...)
}

// jsAsset is one served file with its validator.
type jsAsset struct {
	body []byte
	etag string
}

func newJSAsset(body []byte) jsAsset {
	sum := sha256.Sum256(body)
	return jsAsset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// registerJSClient serves the browser client at GET /authbroker.js (a
// classic script defining window.AuthBroker, for <script src>) and GET
// /authbroker.mjs (the same code as an ES module). Apps load it from the
// broker so that client and server change together.
func registerJSClient(e *echo.Echo) {
	classic := newJSAsset(jsClient)
	module := newJSAsset(jsModule(jsClient))
	e.GET("/authbroker.js", serveJS(classic))
	e.GET("/authbroker.mjs", serveJS(module))
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
