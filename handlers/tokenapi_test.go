package handlers

import (
	"errors"
	"testing"

	"github.com/authbroker/authbroker/internal/apierror"
)

func TestParseTokenRequest(t *testing.T) {
	cases := []struct {
		name    string
		ct      string
		body    string
		want    tokenRequest
		errCode string
	}{
		{"json", "application/json", `{"grant_type":"refresh_token","refresh_token":"abc"}`, tokenRequest{GrantType: "refresh_token", RefreshToken: "abc"}, ""},
		{"json with charset", "application/json; charset=utf-8", `{"grant_type":"authorization_code","code":"c","code_verifier":"v"}`, tokenRequest{GrantType: "authorization_code", Code: "c", CodeVerifier: "v"}, ""},
		{"form", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=abc", tokenRequest{GrantType: "refresh_token", RefreshToken: "abc"}, ""},
		{"json bool all", "application/json", `{"all":true}`, tokenRequest{All: "true"}, ""},
		{"unknown json fields ignored", "application/json", `{"grant_type":"x","extra":{"a":1}}`, tokenRequest{GrantType: "x"}, ""},
		{"empty body, no content type", "", "", tokenRequest{}, ""},
		{"malformed json", "application/json", `{"grant_type":`, tokenRequest{}, apierror.CodeInvalidRequest},
		{"json array", "application/json", `[1,2]`, tokenRequest{}, apierror.CodeInvalidRequest},
		{"number where string expected", "application/json", `{"refresh_token":12}`, tokenRequest{}, apierror.CodeInvalidRequest},
		{"object where string expected", "application/json", `{"code":{"$ne":""}}`, tokenRequest{}, apierror.CodeInvalidRequest},
		{"repeated form parameter", "application/x-www-form-urlencoded", "code=a&code=b", tokenRequest{}, apierror.CodeInvalidRequest},
		{"bad form encoding", "application/x-www-form-urlencoded", "code=%zz", tokenRequest{}, apierror.CodeInvalidRequest},
		{"wrong content type", "text/plain", "grant_type=refresh_token", tokenRequest{}, apierror.CodeInvalidRequest},
		{"garbage content type", "}{", "x", tokenRequest{}, apierror.CodeInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTokenRequest(tc.ct, []byte(tc.body))
			if tc.errCode != "" {
				var ae *apierror.Error
				if !errors.As(err, &ae) || ae.Code != tc.errCode || ae.Status != 400 {
					t.Fatalf("err = %v, want %s (400)", err, tc.errCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzParseTokenRequest: any body either parses or yields a 400
// invalid_request; it never panics or produces a 5xx.
func FuzzParseTokenRequest(f *testing.F) {
	f.Add("application/json", `{"grant_type":"refresh_token","refresh_token":"x"}`)
	f.Add("application/x-www-form-urlencoded", "grant_type=authorization_code&code=a")
	f.Add("multipart/form-data; boundary=x", "--x--")
	f.Fuzz(func(t *testing.T, ct, body string) {
		_, err := parseTokenRequest(ct, []byte(body))
		if err == nil {
			return
		}
		var ae *apierror.Error
		if !errors.As(err, &ae) || ae.Status != 400 {
			t.Fatalf("parse(%q, %q): %v", ct, body, err)
		}
	})
}
