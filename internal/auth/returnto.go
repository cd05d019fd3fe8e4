package auth

import (
	"net/url"
	"path"
	"slices"
	"strings"
)

// ReturnPolicy decides where a finished login may send the browser: exact
// scheme and host (with port) of an entry in ALLOWED_RETURN_URLS, and a path
// under that entry's path at a segment boundary (RFC 9700 §4.1.3: exact
// matching, no open redirector). It also yields the CORS origins.
type ReturnPolicy struct {
	allowed []*url.URL
	origins []string
}

// NewReturnPolicy parses the configured entries (validated by config).
func NewReturnPolicy(entries []string) ReturnPolicy {
	var p ReturnPolicy
	for _, e := range entries {
		u, err := url.Parse(strings.TrimSpace(e))
		if err != nil || u.Host == "" {
			continue
		}
		if u.Path == "" {
			u.Path = "/"
		}
		p.allowed = append(p.allowed, u)
		if o := u.Scheme + "://" + strings.ToLower(u.Host); !slices.Contains(p.origins, o) {
			p.origins = append(p.origins, o)
		}
	}
	return p
}

// Origins returns the distinct origins of the allowed URLs.
func (p ReturnPolicy) Origins() []string { return slices.Clone(p.origins) }

// AllowedOrigin reports whether origin (scheme://host[:port]) is one of Origins.
func (p ReturnPolicy) AllowedOrigin(origin string) bool {
	return slices.Contains(p.origins, strings.ToLower(origin))
}

// Check returns the parsed return URL when raw is allowed.
func (p ReturnPolicy) Check(raw string) (*url.URL, bool) {
	if raw == "" || len(raw) > 2048 || strings.ContainsAny(raw, "\\\x00\r\n\t ") {
		return nil, false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, false
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, false
	}
	p2 := u.Path
	if p2 == "" {
		p2 = "/"
	}
	// Dot segments or encoded separators could walk out of an allowed
	// prefix once a browser or the app's router normalises the path.
	lower := strings.ToLower(u.RawPath)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%2e") {
		return nil, false
	}
	if c := path.Clean(p2); c != p2 && c+"/" != p2 {
		return nil, false
	}
	for _, a := range p.allowed {
		if u.Scheme != a.Scheme || !strings.EqualFold(u.Host, a.Host) {
			continue
		}
		if p2 == a.Path || strings.HasPrefix(p2, strings.TrimSuffix(a.Path, "/")+"/") {
			return u, true
		}
	}
	return nil, false
}

// withParams returns u with the given query parameters added.
func withParams(u *url.URL, kv ...string) string {
	c := *u
	q := c.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	c.RawQuery = q.Encode()
	return c.String()
}
