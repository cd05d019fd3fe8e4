package bearer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/internal/token"
)

// bytesKeys is a careless KeySource that hands out raw key material (here a
// public key's PEM bytes) for an asymmetric algorithm. With such a source
// only the algorithm pin stops the classic key-confusion attack.
type bytesKeys struct {
	kid string
	pem []byte
	alg string
}

func (b bytesKeys) VerificationKey(_ context.Context, kid string) (any, string, error) {
	if kid != b.kid {
		return nil, "", bearer.ErrUnknownKey
	}
	return b.pem, b.alg, nil
}

func TestVerifyRules(t *testing.T) {
	ec := newKey(t, bearer.ES256)
	other := newKey(t, bearer.ES256)
	rsa := newKey(t, bearer.RS256)
	kid := ec.ks.KeyID()
	hdr := func(kv ...any) map[string]any {
		h := map[string]any{"typ": "at+jwt", "kid": kid}
		for i := 0; i < len(kv); i += 2 {
			h[kv[i].(string)] = kv[i+1]
		}
		return h
	}
	claims := func(kv ...any) jwt.MapClaims {
		c := validClaims()
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	es := func(h map[string]any, c jwt.MapClaims) string {
		return sign(t, jwt.SigningMethodES256, ec.priv, h, c)
	}
	valid := es(hdr(), claims())
	at := func(d time.Duration) int64 { return testNow.Add(d).Unix() }
	// expiredBy gives claims of a token that expired d ago after living 15m.
	expiredBy := func(d time.Duration, kv ...any) jwt.MapClaims {
		return claims(append([]any{"exp", at(-d), "iat", at(-d - 15*time.Minute), "nbf", at(-d - 15*time.Minute)}, kv...)...)
	}

	revoked := func(c *bearer.Claims) bool { return c.SessionID == "s_revoked" }

	tests := []struct {
		name   string
		raw    string
		keys   bearer.KeySource // ec.ks when nil
		leeway time.Duration
		want   error // nil, bearer.ErrInvalid or bearer.ErrExpired
		reason string
	}{
		{name: "valid token accepted", raw: valid},
		{name: "token issued by the broker accepted", raw: issue(t, ec, alice)},
		{name: "alg none refused", raw: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, hdr(), claims()),
			want: bearer.ErrInvalid, reason: "unexpected signing algorithm"},
		{name: "HS256 signed with the EC public key PEM as secret refused (key confusion)",
			raw:  sign(t, jwt.SigningMethodHS256, ec.pubPEM, hdr(), claims()),
			want: bearer.ErrInvalid, reason: "unexpected signing algorithm"},
		{name: "HS256 signed with the RSA public key PEM as secret refused (key confusion)",
			raw:  sign(t, jwt.SigningMethodHS256, rsa.pubPEM, hdr("kid", rsa.ks.KeyID()), claims()),
			keys: rsa.ks, want: bearer.ErrInvalid, reason: "unexpected signing algorithm"},
		{name: "HS256 with public key bytes refused even when the key source hands out bytes",
			raw:  sign(t, jwt.SigningMethodHS256, rsa.pubPEM, hdr("kid", "k1"), claims()),
			keys: bytesKeys{kid: "k1", pem: rsa.pubPEM, alg: bearer.RS256}, want: bearer.ErrInvalid, reason: "unexpected signing algorithm"},
		{name: "RS256 token under an ES256 kid refused",
			raw:  sign(t, jwt.SigningMethodRS256, rsa.priv, hdr(), claims()),
			want: bearer.ErrInvalid, reason: "unexpected signing algorithm"},
		{name: "unknown kid refused", raw: es(hdr("kid", "nope"), claims()), want: bearer.ErrInvalid, reason: "unknown key id"},
		{name: "missing kid refused", raw: es(hdr("kid", nil), claims()), want: bearer.ErrInvalid, reason: "missing key id"},
		{name: "signature by another key under our kid refused",
			raw:  sign(t, jwt.SigningMethodES256, other.priv, hdr(), claims()),
			want: bearer.ErrInvalid, reason: "invalid signature"},
		{name: "tampered payload refused", raw: tamper(t, valid, "role", "admin"), want: bearer.ErrInvalid, reason: "invalid signature"},
		{name: "non-canonical base64 signature refused", raw: nonCanonical(t, valid), want: bearer.ErrInvalid, reason: "malformed token"},
		{name: "wrong iss refused", raw: es(hdr(), claims("iss", "https://evil.example")), want: bearer.ErrInvalid, reason: "invalid issuer"},
		{name: "missing iss refused", raw: es(hdr(), claims("iss", nil)), want: bearer.ErrInvalid, reason: "missing required claim"},
		{name: "wrong aud refused", raw: es(hdr(), claims("aud", []string{"other-api"})), want: bearer.ErrInvalid, reason: "invalid audience"},
		{name: "missing aud refused", raw: es(hdr(), claims("aud", nil)), want: bearer.ErrInvalid, reason: "missing required claim"},
		{name: "aud as a plain string accepted", raw: es(hdr(), claims("aud", testAudience))},
		{name: "expired beyond leeway: ErrExpired", raw: es(hdr(), expiredBy(31*time.Second)), want: bearer.ErrExpired, reason: "token expired"},
		{name: "expired within the 30s leeway accepted", raw: es(hdr(), expiredBy(29*time.Second))},
		{name: "leeway above 30s is capped", raw: es(hdr(), expiredBy(31*time.Second)), leeway: time.Hour, want: bearer.ErrExpired},
		{name: "negative leeway means none", raw: es(hdr(), expiredBy(time.Second)), leeway: -1, want: bearer.ErrExpired},
		{name: "exp before iat is invalid, not expired", raw: es(hdr(), claims("exp", at(-time.Hour))), want: bearer.ErrInvalid},
		{name: "expired with wrong iss is invalid, not expired", raw: es(hdr(), expiredBy(time.Hour, "iss", "https://evil.example")),
			want: bearer.ErrInvalid, reason: "invalid issuer"},
		{name: "expired with a bad signature is invalid, not expired",
			raw:  sign(t, jwt.SigningMethodES256, other.priv, hdr(), expiredBy(time.Hour)),
			want: bearer.ErrInvalid, reason: "invalid signature"},
		{name: "missing exp refused", raw: es(hdr(), claims("exp", nil)), want: bearer.ErrInvalid, reason: "missing required claim"},
		{name: "nbf in the future beyond leeway refused", raw: es(hdr(), claims("nbf", at(31*time.Second))), want: bearer.ErrInvalid, reason: "token not valid yet"},
		{name: "nbf in the future within leeway accepted", raw: es(hdr(), claims("nbf", at(29*time.Second)))},
		{name: "iat in the future beyond leeway refused", raw: es(hdr(), claims("iat", at(31*time.Second))), want: bearer.ErrInvalid, reason: "token issued in the future"},
		{name: "typ missing refused", raw: es(hdr("typ", nil), claims()), want: bearer.ErrInvalid, reason: "token type is not at+jwt"},
		{name: "typ JWT refused", raw: es(hdr("typ", "JWT"), claims()), want: bearer.ErrInvalid, reason: "token type is not at+jwt"},
		{name: "typ application/at+jwt accepted", raw: es(hdr("typ", "application/at+jwt"), claims())},
		{name: "typ AT+JWT accepted (case-insensitive)", raw: es(hdr("typ", "AT+JWT"), claims())},
		{name: "crit header refused", raw: es(hdr("crit", []string{"exp"}), claims()), want: bearer.ErrInvalid, reason: "unsupported critical header"},
		{name: "revoked sid refused", raw: es(hdr(), claims("sid", "s_revoked")), want: bearer.ErrInvalid, reason: "session revoked"},
		{name: "expired token of a revoked sid is invalid, not expired", raw: es(hdr(), expiredBy(time.Hour, "sid", "s_revoked")),
			want: bearer.ErrInvalid, reason: "session revoked"},
		{name: "missing sid refused", raw: es(hdr(), claims("sid", nil)), want: bearer.ErrInvalid, reason: "missing sid"},
		{name: "missing sub refused", raw: es(hdr(), claims("sub", nil)), want: bearer.ErrInvalid, reason: "missing sub"},
		{name: "empty token refused", raw: "", want: bearer.ErrInvalid, reason: "missing token"},
		{name: "two segments refused", raw: valid[:strings.LastIndex(valid, ".")], want: bearer.ErrInvalid, reason: "malformed token"},
		{name: "oversized token refused", raw: es(hdr(), claims("name", strings.Repeat("a", 9000))), want: bearer.ErrInvalid, reason: "token too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys := tc.keys
			if keys == nil {
				keys = ec.ks
			}
			v := verifier(keys, bearer.WithLeeway(tc.leeway), revokedIf(revoked))
			c, err := v.Verify(t.Context(), tc.raw)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Subject != "m_alice" || c.SessionID == "" {
					t.Fatalf("claims = %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", c)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == bearer.ErrInvalid && errors.Is(err, bearer.ErrExpired) {
				t.Fatalf("err = %v is both invalid and expired", err)
			}
			var ve *bearer.Error
			if !errors.As(err, &ve) {
				t.Fatalf("err = %T, want *bearer.Error", err)
			}
			if tc.reason != "" && ve.Reason != tc.reason {
				t.Fatalf("reason = %q, want %q (err %v)", ve.Reason, tc.reason, err)
			}
			if sig := tc.raw[strings.LastIndex(tc.raw, ".")+1:]; sig != "" && strings.Contains(err.Error(), sig) {
				t.Fatal("error message echoes the token")
			}
		})
	}
}

func TestVerifyEveryAlgorithm(t *testing.T) {
	for _, alg := range []string{bearer.ES256, bearer.RS256, bearer.EdDSA, bearer.HS256} {
		t.Run(alg, func(t *testing.T) {
			k := newKey(t, alg)
			raw := issue(t, k, alice)
			c, err := verifier(k.ks).Verify(t.Context(), raw)
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != alice.MemberID || c.SessionID != alice.SessionID || c.Role != alice.Role ||
				c.Email != alice.Email || c.Name != alice.Name || c.ID == "" {
				t.Fatalf("claims = %+v", c)
			}
			// A token of another key of the same algorithm, unknown here.
			if _, err := verifier(k.ks).Verify(t.Context(), issue(t, newKey(t, alg), alice)); !errors.Is(err, bearer.ErrInvalid) {
				t.Fatalf("token of a foreign key: err = %v", err)
			}
		})
	}
}

func TestVerifyFailsClosedWhenMisconfigured(t *testing.T) {
	k := newKey(t, bearer.ES256)
	raw := issue(t, k, alice)
	for name, args := range map[string]struct {
		issuer, audience string
		keys             bearer.KeySource
	}{
		"no keys":     {testIssuer, testAudience, nil},
		"no issuer":   {"", testAudience, k.ks},
		"no audience": {testIssuer, "", k.ks},
	} {
		if v, err := bearer.New(args.issuer, args.audience, args.keys); err == nil || v != nil {
			t.Errorf("%s: New = %v, %v; want an error", name, v, err)
		}
	}
	var v *bearer.Verifier
	if _, err := v.Verify(t.Context(), raw); !errors.Is(err, bearer.ErrInvalid) {
		t.Errorf("nil verifier: err = %v, want ErrInvalid", err)
	}
}

func TestSharedSecretVerifiesBrokerHS256Tokens(t *testing.T) {
	secret := []byte("a-shared-secret-of-at-least-32-bytes!")
	ks, err := token.ParseKeys(bearer.HS256, secret, testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := token.NewIssuer(ks, testIssuer, testAudience, time.Minute, clock).Issue(alice)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := bearer.SharedSecret(testIssuer, []byte("previous-secret-still-accepted-for-now"), secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifier(keys).Verify(t.Context(), raw); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	wrong, _ := bearer.SharedSecret(testIssuer, []byte("another-secret-of-at-least-32-bytes!!"))
	if _, err := verifier(wrong).Verify(t.Context(), raw); !errors.Is(err, bearer.ErrInvalid) {
		t.Fatalf("wrong secret: err = %v", err)
	}
	if _, err := bearer.SharedSecret(testIssuer, []byte{}); err == nil {
		t.Fatal("empty secret accepted")
	}
}

// tamper re-encodes the payload with one claim changed, keeping the
// original signature.
func tamper(t *testing.T, raw, claim string, value any) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	m[claim] = value
	payload, _ = json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// nonCanonical flips the unused low bits of the signature's last base64url
// character: the same bytes under lenient decoding, a different string.
func nonCanonical(t *testing.T, raw string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, raw[len(raw)-1])
	// 64 signature bytes = 86 characters; the last carries 2 data bits and
	// 4 padding bits, which are zero in canonical form.
	flipped := alphabet[last|0x1]
	if flipped == raw[len(raw)-1] {
		t.Fatal("signature already non-canonical")
	}
	return raw[:len(raw)-1] + string(flipped)
}
