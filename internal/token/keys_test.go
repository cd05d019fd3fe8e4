package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/internal/config"
)

var allAlgs = []string{bearer.ES256, bearer.RS256, bearer.EdDSA, bearer.HS256}

func genPEM(t testing.TB, alg string) []byte {
	t.Helper()
	data, err := GenerateKeyPEM(alg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustParse(t testing.TB, alg string, data []byte) *Keyset {
	t.Helper()
	ks, err := ParseKeys(alg, data, "https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestDevelopmentKeyGeneratedOnceAndReused(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			cfg := &config.Config{JWTAlg: alg, AppEnv: "development", DataDir: dir}
			first, err := LoadKeys(cfg)
			if err != nil {
				t.Fatal(err)
			}
			name := "jwt-" + strings.ToLower(alg) + ".pem"
			if alg == bearer.HS256 {
				name = "jwt-hs256.key"
			}
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file mode = %v, want 0600", fi.Mode().Perm())
			}
			di, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if di.Mode().Perm() != 0o700 {
				t.Fatalf("data dir mode = %v, want 0700", di.Mode().Perm())
			}
			second, err := LoadKeys(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if first.KeyID() != second.KeyID() || first.Alg() != alg {
				t.Fatalf("restart changed the key: %s → %s", first.KeyID(), second.KeyID())
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Fatalf("data dir holds %d files, want only the key", len(entries))
			}
		})
	}
}

func TestLoadKeysConfiguration(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ecFile := write("ec.pem", genPEM(t, bearer.ES256))
	shortSecret := write("short.key", []byte("too-short\n"))
	goodSecret := write("good.key", genPEM(t, bearer.HS256))
	strong := strings.Repeat("s", 32)
	shortVerifyOnly := write("rotated.key", []byte(strong+"\nold-short\n"))

	tests := []struct {
		name    string
		cfg     config.Config
		wantErr string
		alg     string
	}{
		{name: "production without a key file refused", cfg: config.Config{AppEnv: "production", JWTAlg: "ES256", DataDir: dir}, wantErr: "JWT_KEY_FILE"},
		{name: "production HS256 without a secret refused", cfg: config.Config{AppEnv: "production", JWTAlg: "HS256", DataDir: dir}, wantErr: "JWT_SECRET"},
		{name: "production HS256 short secret file refused", cfg: config.Config{AppEnv: "production", JWTAlg: "HS256", JWTKeyFile: shortSecret}, wantErr: "32 bytes"},
		{name: "production HS256 short verify-only secret refused", cfg: config.Config{AppEnv: "production", JWTAlg: "HS256", JWTKeyFile: shortVerifyOnly}, wantErr: "32 bytes"},
		{name: "production HS256 strong secret file accepted", cfg: config.Config{AppEnv: "production", JWTAlg: "HS256", JWTKeyFile: goodSecret}, alg: "HS256"},
		{name: "production HS256 JWT_SECRET accepted", cfg: config.Config{AppEnv: "production", JWTAlg: "HS256", JWTSecret: strong}, alg: "HS256"},
		{name: "HS256 with both secret and file refused", cfg: config.Config{JWTAlg: "HS256", JWTSecret: strong, JWTKeyFile: goodSecret}, wantErr: "both"},
		{name: "key file of another algorithm refused", cfg: config.Config{JWTAlg: "EdDSA", JWTKeyFile: ecFile}, wantErr: "JWT_ALG is EdDSA"},
		{name: "missing key file refused", cfg: config.Config{JWTAlg: "ES256", JWTKeyFile: filepath.Join(dir, "nope.pem")}, wantErr: "JWT_KEY_FILE"},
		{name: "production ES256 key file accepted", cfg: config.Config{AppEnv: "production", JWTAlg: "ES256", JWTKeyFile: ecFile}, alg: "ES256"},
		{name: "empty JWT_ALG means ES256", cfg: config.Config{JWTKeyFile: ecFile}, alg: "ES256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := LoadKeys(&tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ks.Alg() != tc.alg {
				t.Fatalf("alg = %s, want %s", ks.Alg(), tc.alg)
			}
		})
	}
}

// TestJWTSecretKidAndNoPublication: every token names its key in the
// clear, so an HS256 kid must not be a hash of the secret (the RFC 7638
// thumbprint of an oct key is one, and the same in every deployment): it is
// a MAC keyed by the secret and salted with the issuer.
func TestJWTSecretKidAndNoPublication(t *testing.T) {
	secret := "a-shared-secret-of-at-least-32-bytes!"
	ks, err := LoadKeys(&config.Config{JWTAlg: "HS256", JWTSecret: secret, BaseURL: "https://auth.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(`{"k":"` + base64.RawURLEncoding.EncodeToString([]byte(secret)) + `","kty":"oct"}`))
	plain := sha256.Sum256([]byte(secret))
	for _, hash := range [][]byte{sum[:], sum[:16], plain[:], plain[:16]} {
		if ks.KeyID() == base64.RawURLEncoding.EncodeToString(hash) {
			t.Fatalf("kid %s is a plain hash of the secret", ks.KeyID())
		}
	}
	if want := bearer.SecretKeyID("https://auth.example.com", []byte(secret)); ks.KeyID() != want {
		t.Fatalf("kid = %s, want bearer.SecretKeyID %s (what resource servers compute)", ks.KeyID(), want)
	}
	other, err := LoadKeys(&config.Config{JWTAlg: "HS256", JWTSecret: secret, BaseURL: "https://other.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if other.KeyID() == ks.KeyID() {
		t.Fatal("two deployments with one secret share a kid: the kid is not salted")
	}
	if got := string(ks.JWKS()); got != `{"keys":[]}` {
		t.Fatalf("HS256 JWKS = %s, want no keys", got)
	}
}

func TestKeyFileRotation(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			oldFile := genPEM(t, alg)
			old := mustParse(t, alg, oldFile)
			rotated := mustParse(t, alg, append(genPEM(t, alg), oldFile...))
			if rotated.KeyID() == old.KeyID() {
				t.Fatal("the prepended key must sign")
			}
			if _, gotAlg, err := rotated.VerificationKey(t.Context(), old.KeyID()); err != nil || gotAlg != alg {
				t.Fatalf("previous key: alg %q, err %v", gotAlg, err)
			}
			if alg == bearer.HS256 {
				return
			}
			kids := jwksKids(t, rotated.JWKS())
			if len(kids) != 2 || kids[0] != rotated.KeyID() || kids[1] != old.KeyID() {
				t.Fatalf("JWKS kids = %v, want [new old]", kids)
			}
		})
	}
}

func TestKeyFileFormats(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	ecParams := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}})
	sec1PEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)})
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	p384PEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384DER})
	pubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	es := genPEM(t, bearer.ES256)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: sec1})
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	tests := []struct {
		name string
		alg  string
		data []byte
		ok   bool
		keys int
	}{
		{"openssl ecparam output (EC PARAMETERS + SEC 1) accepted", "ES256", cat(ecParams, sec1PEM), true, 1},
		{"PKCS #1 RSA key accepted", "RS256", pkcs1PEM, true, 1},
		{"previous key as PUBLIC KEY accepted", "ES256", cat(es, pubPEM), true, 2},
		{"previous key of another algorithm accepted", "ES256", cat(es, pkcs1PEM), true, 2},
		{"public key first refused", "ES256", cat(pubPEM, es), false, 0},
		{"RSA under 2048 bits refused", "RS256", smallPEM, false, 0},
		{"P-384 refused", "ES256", p384PEM, false, 0},
		{"encrypted PEM refused", "ES256", encrypted, false, 0},
		{"certificate block refused", "ES256", cat(es, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})), false, 0},
		{"trailing garbage refused", "ES256", cat(es, []byte("garbage")), false, 0},
		{"same key twice refused", "ES256", cat(es, es), false, 0},
		{"empty file refused", "ES256", nil, false, 0},
		{"empty secret file refused", "HS256", []byte("\n\n"), false, 0},
		{"unknown algorithm refused", "PS256", es, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := ParseKeys(tc.alg, tc.data, "https://auth.example.com")
			if !tc.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ks.verify) != tc.keys {
				t.Fatalf("keys = %d, want %d", len(ks.verify), tc.keys)
			}
		})
	}
}

// TestJWKSVerifiedIndependently parses our JWKS with go-jose and verifies a
// token's signature with it: the published keys are usable by any JOSE
// library, not only by ours.
func TestJWKSVerifiedIndependently(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			data := genPEM(t, alg)
			ks := mustParse(t, alg, data)
			raw, _, err := NewIssuer(ks, "https://auth.example.com", "api", time.Minute, nil).Issue(Subject{MemberID: "m", SessionID: "s", Role: "user"})
			if err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			h := jws.Signatures[0].Protected
			if h.KeyID != ks.KeyID() || h.ExtraHeaders["typ"] != "at+jwt" {
				t.Fatalf("header = %+v", h)
			}
			var verifyKey any
			if alg == bearer.HS256 {
				verifyKey = bytes.TrimSpace(data)
			} else {
				var set jose.JSONWebKeySet
				if err := json.Unmarshal(ks.JWKS(), &set); err != nil {
					t.Fatal(err)
				}
				found := set.Key(ks.KeyID())
				if len(found) != 1 {
					t.Fatalf("go-jose finds %d keys for kid %s", len(found), ks.KeyID())
				}
				k := found[0]
				if !k.IsPublic() || k.Use != "sig" || k.Algorithm != alg || !k.Valid() {
					t.Fatalf("published key: public=%v use=%q alg=%q valid=%v", k.IsPublic(), k.Use, k.Algorithm, k.Valid())
				}
				verifyKey = k
			}
			payload, err := jws.Verify(verifyKey)
			if err != nil {
				t.Fatalf("go-jose verify: %v", err)
			}
			var claims map[string]any
			if err := json.Unmarshal(payload, &claims); err != nil || claims["sid"] != "s" {
				t.Fatalf("payload = %s", payload)
			}
		})
	}
}

func TestJWKSPublishesNoPrivateMaterial(t *testing.T) {
	for _, alg := range []string{bearer.ES256, bearer.RS256, bearer.EdDSA} {
		var doc struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(mustParse(t, alg, genPEM(t, alg)).JWKS(), &doc); err != nil {
			t.Fatal(err)
		}
		for _, k := range doc.Keys {
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				if _, ok := k[private]; ok {
					t.Fatalf("%s JWKS publishes private member %q", alg, private)
				}
			}
			for _, m := range []string{"kty", "kid", "alg", "use"} {
				if k[m] == nil || k[m] == "" {
					t.Fatalf("%s JWKS lacks %q: %v", alg, m, k)
				}
			}
		}
	}
}

func TestKidIsRFC7638Thumbprint(t *testing.T) {
	for _, alg := range []string{bearer.ES256, bearer.RS256, bearer.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			ks := mustParse(t, alg, genPEM(t, alg))
			pub, _, err := ks.VerificationKey(t.Context(), ks.KeyID())
			if err != nil {
				t.Fatal(err)
			}
			tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if want := base64.RawURLEncoding.EncodeToString(tp); ks.KeyID() != want {
				t.Fatalf("kid = %s, go-jose thumbprint = %s", ks.KeyID(), want)
			}
		})
	}
	t.Run("RFC 7638 §3.1 example", func(t *testing.T) {
		n, _ := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
		got, err := bearer.Thumbprint(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
		if err != nil {
			t.Fatal(err)
		}
		if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
			t.Fatalf("thumbprint = %s, want %s", got, want)
		}
	})
}

func jwksKids(t *testing.T, doc []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}
