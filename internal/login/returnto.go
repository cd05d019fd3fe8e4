package login

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
		u.Host = asciiLower(u.Host)
		p.allowed = append(p.allowed, u)
		if o := u.Scheme + "://" + u.Host; !slices.Contains(p.origins, o) {
			p.origins = append(p.origins, o)
		}
	}
	return p
}

// Origins returns the distinct origins of the allowed URLs.
func (p ReturnPolicy) Origins() []string { return slices.Clone(p.origins) }

// AllowedOrigin reports whether origin (scheme://host[:port]) is one of
// Origins, ASCII case-insensitively (browsers send ASCII origins; nothing
// else is folded, so no Unicode look-alike of a host passes).
func (p ReturnPolicy) AllowedOrigin(origin string) bool {
	return slices.Contains(p.origins, asciiLower(origin))
}

// asciiLower lowercases ASCII letters only. Hosts compare case-insensitively
// (RFC 3986 §3.2.2) in ASCII; strings.ToLower or EqualFold would also fold
// Unicode look-alikes (KELVIN SIGN into "k") into an allowed host.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// asciiHost reports whether host is printable ASCII: browsers put IDNs in
// URLs as A-labels (xn--…), so a return URL with raw non-ASCII in its host
// is refused rather than compared.
func asciiHost(host string) bool {
	for i := 0; i < len(host); i++ {
		if host[i] <= 0x20 || host[i] >= 0x7f {
			return false
		}
	}
	return true
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
	if (u.Scheme != "http" && u.Scheme != "https") || !asciiHost(u.Host) {
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
		if u.Scheme != a.Scheme || asciiLower(u.Host) != a.Host {
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
