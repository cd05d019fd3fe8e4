package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/authbroker/authbroker/cmd/authbroker/app/apptest"
	"github.com/authbroker/authbroker/internal/testenv"
)

// Independent verifiers: libraries that share no code with the broker must
// accept its discovery document, its JWKS and its access tokens, and refuse
// a token that was tampered with or meant for someone else.

const testReturnTo = "https://app.example.com/callback"

// algorithms are the JWT_ALG values with published public keys.
var algorithms = []string{"ES256", "RS256", "EdDSA"}

// TestJoseVerifiesAccessTokens runs internal/e2e/jose/verify.mjs (Node's
// jose: createRemoteJWKSet + jwtVerify with issuer, audience and typ
// at+jwt) against tokens from a real sign-in, for every asymmetric JWT_ALG.
func TestJoseVerifiesAccessTokens(t *testing.T) {
	node := nodeWithJose(t)
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			ln, _ := apptest.Listen(t)
			b := startBroker(t, ln, "JWT_ALG="+alg, "DEV_LOGIN=true", "ALLOWED_RETURN_URLS="+testReturnTo)
			tr := signInDev(t, b, testReturnTo, "ada@example.com")

			out, err := verifyWithJose(t, node, b, tr.AccessToken, b.Config.JWTAudience)
			if err != nil {
				t.Fatalf("jose refused a valid token: %v", err)
			}
			var got struct {
				Header  map[string]any `json:"header"`
				Payload map[string]any `json:"payload"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("verify.mjs output %q: %v", out, err)
			}
			if got.Header["alg"] != alg || got.Header["typ"] != "at+jwt" || got.Header["kid"] == "" {
				t.Errorf("header = %v, want alg %s, typ at+jwt and a kid", got.Header, alg)
			}
			if got.Payload["sub"] != tr.Member.ID || got.Payload["iss"] != b.URL || got.Payload["sid"] == nil {
				t.Errorf("payload = %v, want sub %s, iss %s and a sid", got.Payload, tr.Member.ID, b.URL)
			}

			refused := map[string]string{
				"another audience":  tr.AccessToken,
				"payload tampered":  tamper(t, tr.AccessToken),
				"signature removed": strings.Join(strings.Split(tr.AccessToken, ".")[:2], ".") + ".",
			}
			for name, tok := range refused {
				aud := b.Config.JWTAudience
				if name == "another audience" {
					aud = "someone-else"
				}
				if _, err := verifyWithJose(t, node, b, tok, aud); err == nil {
					t.Errorf("%s: jose accepted the token", name)
				}
			}
		})
	}
}

// TestOIDCLibraryAcceptsDiscoveryAndKeys: go-oidc, a standard OpenID Connect
// client, reads /.well-known/openid-configuration (its issuer must equal
// the URL it was fetched from), fetches the JWKS, and verifies our access
// tokens with it.
func TestOIDCLibraryAcceptsDiscoveryAndKeys(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			ln, _ := apptest.Listen(t)
			b := startBroker(t, ln, "JWT_ALG="+alg, "DEV_LOGIN=true", "ALLOWED_RETURN_URLS="+testReturnTo)
			tr := signInDev(t, b, testReturnTo, "ada@example.com")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			provider, err := oidc.NewProvider(ctx, b.URL)
			if err != nil {
				t.Fatalf("oidc.NewProvider(%s): %v", b.URL, err)
			}
			var meta struct {
				JWKSURI string   `json:"jwks_uri"`
				Algs    []string `json:"id_token_signing_alg_values_supported"`
			}
			if err := provider.Claims(&meta); err != nil {
				t.Fatal(err)
			}
			if meta.JWKSURI != b.URL+"/.well-known/jwks.json" || !slices.Contains(meta.Algs, alg) {
				t.Fatalf("discovery: jwks_uri %q, algorithms %v", meta.JWKSURI, meta.Algs)
			}

			// Our access tokens are not ID tokens (typ at+jwt, aud is the API
			// audience, not a client id): go-oidc checks signature, iss and
			// exp; the audience is checked here, as a resource server would.
			verifier := provider.VerifierContext(ctx, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{alg}})
			tok, err := verifier.Verify(ctx, tr.AccessToken)
			if err != nil {
				t.Fatalf("go-oidc refused a valid token: %v", err)
			}
			if tok.Issuer != b.URL || tok.Subject != tr.Member.ID || !slices.Contains(tok.Audience, b.Config.JWTAudience) {
				t.Fatalf("token: iss %q sub %q aud %v", tok.Issuer, tok.Subject, tok.Audience)
			}
			var claims struct {
				SID   string `json:"sid"`
				Email string `json:"email"`
			}
			if err := tok.Claims(&claims); err != nil || claims.SID == "" || claims.Email != "ada@example.com" {
				t.Fatalf("claims %+v (%v), want sid and email", claims, err)
			}
			if _, err := verifier.Verify(ctx, tamper(t, tr.AccessToken)); err == nil {
				t.Fatal("go-oidc accepted a tampered token")
			}

			keys := oidc.NewRemoteKeySet(ctx, meta.JWKSURI)
			if _, err := keys.VerifySignature(ctx, tr.AccessToken); err != nil {
				t.Fatalf("RemoteKeySet.VerifySignature: %v", err)
			}
		})
	}
}

// nodeWithJose returns the node binary when it and the jose module are
// installed (scripts/test runs npm ci in internal/e2e/jose).
func nodeWithJose(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Require(t, "node not found: %v", err)
	}
	if _, err := os.Stat(filepath.Join("jose", "node_modules", "jose", "package.json")); err != nil {
		testenv.Require(t, "the jose module is not installed (cd internal/e2e/jose && npm ci): %v", err)
	}
	return node
}

// verifyWithJose runs verify.mjs on token and returns its output; an error
// when jose refused the token.
func verifyWithJose(t *testing.T, node string, b *broker, token, audience string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "verify.mjs",
		"--jwks", b.URL+"/.well-known/jwks.json", "--issuer", b.URL, "--audience", audience)
	cmd.Dir = "jose"
	cmd.Stdin = strings.NewReader(token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return nil, errors.New(strings.TrimSpace(stderr.String()))
	case err != nil:
		t.Fatalf("run verify.mjs: %v: %s", err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// tamper returns token with its payload's sub changed and the original
// signature kept.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	claims["sub"] = "someone-else"
	forged, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(forged)
	return strings.Join(parts, ".")
}
