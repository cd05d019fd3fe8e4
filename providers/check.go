package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Check is one reachability check of a provider's configuration.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// CheckEndpoints checks that what s points at answers, before any user
// depends on it: for an OpenID Connect type (an issuer set) the discovery
// document and its JWKS; then every endpoint URL the type takes, as set or
// by default. An endpoint "answers" when it returns any HTTP response below
// 500 (a token endpoint answers a GET with 400 or 405, and that is fine):
// what this catches is a wrong host, TLS or DNS, and a server that is down.
func CheckEndpoints(ctx context.Context, t Type, s Settings, o Options) []Check {
	o = o.withDefaults()
	client := &http.Client{Timeout: o.Timeout, Transport: cappedTransport{base: o.Transport},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var out []Check
	issuer := s.Issuer
	if issuer == "" {
		// A type whose issuer has a default (Google) is OpenID Connect
		// without one set.
		if f, ok := t.field(FieldIssuer); ok && strings.HasPrefix(f.Default, "https://") {
			issuer = f.Default
		}
	}
	if issuer != "" {
		out = append(out, checkDiscovery(ctx, client, issuer)...)
	}
	for _, f := range t.Fields {
		if !f.URL || f.Key == FieldIssuer {
			continue
		}
		u := s.Value(f.Key)
		if u == "" {
			if !strings.HasPrefix(f.Default, "http") {
				continue // "from discovery"
			}
			u = f.Default
		}
		if f.Key == FieldAPIURL {
			// An API base answers nothing at /, which is fine: only reachability counts.
			u = strings.TrimRight(u, "/") + "/"
		}
		out = append(out, checkGet(ctx, client, f.Label, u))
	}
	return out
}

// checkDiscovery fetches the discovery document and its JWKS.
func checkDiscovery(ctx context.Context, c *http.Client, issuer string) []Check {
	u := strings.TrimRight(issuer, "/") + "/.well-known/openid-configuration"
	body, ch := fetch(ctx, c, "Discovery", u)
	if !ch.OK {
		return []Check{ch}
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return []Check{{Name: "Discovery", Detail: "not a JSON discovery document"}}
	}
	if strings.TrimRight(doc.Issuer, "/") != strings.TrimRight(issuer, "/") {
		return []Check{{Name: "Discovery", Detail: fmt.Sprintf("issuer in the document is %q, not %q", doc.Issuer, issuer)}}
	}
	ch.Detail = "issuer " + doc.Issuer
	out := []Check{ch}
	if doc.JWKSURI == "" {
		return append(out, Check{Name: "JWKS", Detail: "the discovery document names no jwks_uri"})
	}
	jwks, jch := fetch(ctx, c, "JWKS", doc.JWKSURI)
	if jch.OK {
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if json.Unmarshal(jwks, &set) != nil || len(set.Keys) == 0 {
			jch = Check{Name: "JWKS", Detail: "no keys in the key set"}
		} else {
			jch.Detail = fmt.Sprintf("%d keys", len(set.Keys))
		}
	}
	return append(out, jch)
}

// fetch GETs u expecting 200.
func fetch(ctx context.Context, c *http.Client, name, u string) ([]byte, Check) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, Check{Name: name, Detail: "not a URL"}
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, Check{Name: name, Detail: unwrapURLError(err).Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, Check{Name: name, Detail: fmt.Sprintf("%s answered HTTP %d", hostOf(u), resp.StatusCode)}
	}
	return body, Check{Name: name, OK: true, Detail: "HTTP 200"}
}

// checkGet reports whether u answers at all (any status below 500).
func checkGet(ctx context.Context, c *http.Client, name, u string) Check {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Check{Name: name, Detail: "not a URL"}
	}
	resp, err := c.Do(req)
	if err != nil {
		return Check{Name: name, Detail: unwrapURLError(err).Error()}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	ok := resp.StatusCode < 500
	return Check{Name: name, OK: ok, Detail: fmt.Sprintf("%s answered HTTP %d", hostOf(u), resp.StatusCode)}
}

func hostOf(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Host
	}
	return u
}
