package token

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authbroker/authbroker/handlers/bearer"
)

func TestIssueHeaderAndClaims(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 500, time.UTC)
	ks := mustParse(t, bearer.ES256, genPEM(t, bearer.ES256))
	iss := NewIssuer(ks, "https://auth.example.com", "api", 15*time.Minute, func() time.Time { return now })
	if iss.TTL() != 15*time.Minute {
		t.Fatalf("TTL = %v", iss.TTL())
	}
	raw, claims, err := iss.Issue(Subject{MemberID: "m1", SessionID: "s1", Role: "admin", Email: "a@example.com", Name: "A"})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(raw, ".")
	var header map[string]any
	decode(t, parts[0], &header)
	if header["typ"] != "at+jwt" || header["kid"] != ks.KeyID() || header["alg"] != "ES256" || len(header) != 3 {
		t.Fatalf("header = %v", header)
	}
	var got map[string]any
	decode(t, parts[1], &got)
	want := map[string]any{
		"iss": "https://auth.example.com", "sub": "m1", "aud": []any{"api"},
		"exp": float64(now.Add(15 * time.Minute).Unix()), "iat": float64(now.Unix()), "nbf": float64(now.Unix()),
		"sid": "s1", "role": "admin", "email": "a@example.com", "name": "A", "client_id": "api",
	}
	for k, v := range want {
		if gb, _ := json.Marshal(got[k]); string(gb) != mustJSON(t, v) {
			t.Errorf("claim %s = %s, want %s", k, gb, mustJSON(t, v))
		}
	}
	jti, _ := got["jti"].(string)
	if b, err := base64.RawURLEncoding.DecodeString(jti); err != nil || len(b) != 16 {
		t.Fatalf("jti %q is not 128 random bits", jti)
	}
	if len(got) != len(want)+1 {
		t.Fatalf("unexpected claims: %v", got)
	}
	if claims.ID != jti || claims.SessionID != "s1" || claims.ExpiresAt.Unix() != now.Add(15*time.Minute).Unix() {
		t.Fatalf("returned claims differ from the token: %+v", claims)
	}

	raw2, _, _ := iss.Issue(Subject{MemberID: "m1", SessionID: "s1"})
	var second map[string]any
	decode(t, strings.Split(raw2, ".")[1], &second)
	if second["jti"] == jti {
		t.Fatal("jti repeated")
	}
	if _, ok := second["email"]; ok {
		t.Fatal("empty email must be omitted")
	}
}

func TestIssueRequiresMemberAndSession(t *testing.T) {
	ks := mustParse(t, bearer.HS256, genPEM(t, bearer.HS256))
	iss := NewIssuer(ks, "https://a", "api", time.Minute, nil)
	for _, s := range []Subject{{SessionID: "s"}, {MemberID: "m"}} {
		if _, _, err := iss.Issue(s); err == nil {
			t.Fatalf("issued for %+v", s)
		}
	}
}

func decode(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
