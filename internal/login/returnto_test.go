package login

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

func TestReturnPolicy(t *testing.T) {
	p := NewReturnPolicy([]string{"https://app.example.com/callback", "http://localhost:5173/", "https://admin.example.com"})
	cases := []struct {
		name string
		in   string
		ok   bool
	}{
		{"exact URL", "https://app.example.com/callback", true},
		{"path below allowed path", "https://app.example.com/callback/done", true},
		{"query kept", "https://app.example.com/callback?next=%2Fhome", true},
		{"root entry allows any path", "http://localhost:5173/any/where", true},
		{"origin-only entry allows any path", "https://admin.example.com/x", true},
		{"sibling path is not a prefix at a segment boundary", "https://app.example.com/callbackevil", false},
		{"other path", "https://app.example.com/other", false},
		{"other host", "https://evil.example.com/callback", false},
		{"suffix host", "https://app.example.com.evil.com/callback", false},
		{"scheme downgrade", "http://app.example.com/callback", false},
		{"other port", "https://app.example.com:8443/callback", false},
		{"userinfo", "https://evil.com@app.example.com/callback", false},
		{"fragment", "https://app.example.com/callback#x", false},
		{"dot segments", "https://app.example.com/callback/../admin", false},
		{"encoded dot segments", "https://app.example.com/callback/%2e%2e/admin", false},
		{"encoded slash", "https://app.example.com/callback%2f..%2fadmin", false},
		{"backslash", `https://app.example.com\@evil.com/callback`, false},
		{"protocol-relative", "//evil.com/callback", false},
		{"relative path", "/callback", false},
		{"javascript scheme", "javascript:alert(1)", false},
		{"data scheme", "data:text/html,hi", false},
		{"empty", "", false},
		{"whitespace", " https://app.example.com/callback", false},
		{"newline", "https://app.example.com/callback\r\nx", false},
		{"host in other ASCII case", "https://APP.Example.com/callback", true},
		{"non-ASCII host refused", "https://app.exampl\u0435.com/callback", false},
		{"KELVIN SIGN in the host refused", "https://\u212Aakao.example/callback", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ok := p.Check(tc.in)
			if ok != tc.ok {
				t.Fatalf("Check(%q) = %v, want %v", tc.in, ok, tc.ok)
			}
		})
	}
}

func TestReturnPolicyOrigins(t *testing.T) {
	p := NewReturnPolicy([]string{"https://App.example.com/a", "https://app.example.com/b", "http://localhost:5173/"})
	got := strings.Join(p.Origins(), " ")
	if got != "https://app.example.com http://localhost:5173" {
		t.Fatalf("Origins = %q", got)
	}
	if !p.AllowedOrigin("http://localhost:5173") || p.AllowedOrigin("http://localhost:5174") {
		t.Fatal("AllowedOrigin mismatch")
	}
}

// FuzzReturnPolicy: whatever the input, an accepted URL, once serialised
// and parsed again (as the browser will), has the allowed scheme and host
// (hosts compare ASCII case-insensitively, like the policy and browsers),
// no userinfo or fragment, and a path at or below /callback at a segment
// boundary without dot segments, so the browser can only land on the app.
func FuzzReturnPolicy(f *testing.F) {
	for _, s := range []string{"https://app.example.com/callback", "https://APP.example.com/callback/x?y=1", "https://app.example.com/callback/../x",
		"//evil", "https://app.example.com%40evil.com/callback", "https://app.example.com/callbackx", "https://\u212Aapp.example.com/callback"} {
		f.Add(s)
	}
	p := NewReturnPolicy([]string{"https://app.example.com/callback"})
	f.Fuzz(func(t *testing.T, s string) {
		u, ok := p.Check(s)
		if !ok {
			return
		}
		re, err := url.Parse(u.String())
		if err != nil || re.Scheme != "https" || asciiLower(re.Host) != "app.example.com" || re.User != nil || re.Fragment != "" {
			t.Fatalf("accepted %q → %v", s, u)
		}
		if re.Path != "/callback" && !strings.HasPrefix(re.Path, "/callback/") {
			t.Fatalf("accepted %q: path %q is not /callback or below it", s, re.Path)
		}
		if c := path.Clean(re.Path); c != re.Path && c+"/" != re.Path {
			t.Fatalf("accepted %q: path %q has dot segments", s, re.Path)
		}
	})
}
