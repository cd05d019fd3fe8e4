package providers

import (
	"context"
	"net/url"
	"testing"
)

func TestSameHostNext(t *testing.T) {
	base, _ := url.Parse("https://ghe.example.com/api/v3")
	for _, tc := range []struct {
		name, link, want string
	}{
		{"github: next page followed", `<https://ghe.example.com/api/v3/user/emails?page=2>; rel="next", <https://ghe.example.com/api/v3/user/emails?page=5>; rel="last"`,
			"https://ghe.example.com/api/v3/user/emails?page=2"},
		{"github: rel with several values", `<https://ghe.example.com/api/v3/user/emails?page=3>; rel="prev next"`,
			"https://ghe.example.com/api/v3/user/emails?page=3"},
		{"github: pagination never leaves the API host", `<https://evil.example.net/user/emails?page=2>; rel="next"`, ""},
		{"github: pagination never downgrades the scheme", `<http://ghe.example.com/api/v3/user/emails?page=2>; rel="next"`, ""},
		{"github: last page has no next", `<https://ghe.example.com/api/v3/user/emails?page=1>; rel="first"`, ""},
		{"github: no Link header", "", ""},
		{"github: malformed Link header", `https://ghe.example.com/x; rel=next`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameHostNext(base, tc.link); got != tc.want {
				t.Fatalf("sameHostNext(%q) = %q, want %q", tc.link, got, tc.want)
			}
		})
	}
}

func FuzzSameHostNext(f *testing.F) {
	f.Add(`<https://api.github.com/user/emails?page=2>; rel="next"`)
	f.Add(`<>; rel=next, <a>;;rel="next last"`)
	base, _ := url.Parse("https://api.github.com")
	f.Fuzz(func(t *testing.T, link string) {
		got := sameHostNext(base, link)
		if got == "" {
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != base.Host || u.Scheme != base.Scheme {
			t.Fatalf("sameHostNext(%q) = %q leaves the API host", link, got)
		}
	})
}

func FuzzDevExchange(f *testing.F) {
	f.Add("eyJlbWFpbCI6ImFkYUBleGFtcGxlLmNvbSJ9", "")
	f.Add("!!", "verifier")
	d := NewDev(Options{BaseURL: "https://broker.example"})
	f.Fuzz(func(t *testing.T, code, verifier string) {
		p, err := d.Exchange(context.Background(), Callback{Code: code, PKCEVerifier: verifier})
		if err == nil && (p.Email == "" || !p.EmailVerified) {
			t.Fatalf("accepted code %q without an email", code)
		}
	})
}

func FuzzFlexBool(f *testing.F) {
	for _, s := range []string{`true`, `"true"`, `"TRUE"`, `false`, `null`, `1`, `{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b flexBool
		_ = b.UnmarshalJSON([]byte(s))
	})
}
