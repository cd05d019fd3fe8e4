// Package token issues authbroker's access tokens (RFC 9068 JWTs), manages
// the keys that sign them, and keeps each replica's
// in-memory copy of the access-token denylist.
//
// Verification lives in the public package handlers/bearer so that other
// services use exactly the rules the broker uses; Keyset implements its
// KeySource.
package token

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authbroker/authbroker/internal/config"
	"github.com/authbroker/authbroker/internal/jose"
)

// Key sizes. RSA 2048 is the RFC 7518 §3.3 minimum and what every verifier
// accepts; operators whose policy wants more supply their own JWT_KEY_FILE.
const (
	rsaBits        = 2048
	hmacSecretSize = 32 // RFC 7518 §3.2: at least the hash size
	minProdSecret  = 32
)

// Keyset is the broker's signing key plus the public keys of previous
// signing keys, kept so that tokens signed before a rotation verify until
// they expire. A Keyset is immutable and safe for concurrent use.
//
// Every public key's kid is its RFC 7638 thumbprint (jose.Thumbprint), and
// every HS256 secret's is jose.SecretKeyID (a MAC, never a plain hash of
// the secret), so a kid always names one key and never needs to be
// configured.
type Keyset struct {
	alg    string
	kid    string
	method jwt.SigningMethod
	signer any // *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey or []byte
	verify map[string]verifyKey
	jwks   []byte
}

// LoadKeys builds the Keyset JWT_ALG, JWT_KEY_FILE and JWT_SECRET describe.
//
// Asymmetric algorithms (ES256, the default; RS256; EdDSA) read PEM from
// JWT_KEY_FILE. The file may hold several keys: the first signs, the rest
// only verify and stay published in the JWKS. Rotation:
//
//  1. prepend a new private key (`authbroker keygen`) and restart; tokens
//     now carry the new kid, verifiers fetch it on first sight;
//  2. once the longest ACCESS_TOKEN_TTL in use plus jose.MaxLeeway has
//     passed, every token of the old key has expired: remove it.
//
// With several replicas, publish before signing so that no replica or
// verifier meets a kid it cannot resolve during the rollout: first append
// the new key after the current one and roll out, then move it to the top
// and roll out again (docs/OPERATIONS.md has the steps and the waits).
// Previous keys may be given as PUBLIC KEY blocks.
//
// A previous key may use another algorithm than JWT_ALG (moving from RS256
// to ES256 is a rotation like any other).
//
// HS256 uses JWT_SECRET (its bytes, as written) or JWT_KEY_FILE holding one
// secret per line, the first signing and the others verifying, for the same
// rotation. HS256 secrets never appear in the JWKS. Production refuses
// secrets shorter than 32 bytes (RFC 7518 §3.2).
//
// In development, with no key configured, a key is generated once and kept
// at <DATA_DIR>/jwt-<alg>.pem (jwt-hs256.key for HS256), mode 0600 in a
// 0700 directory, and reused on later starts so that tokens survive
// restarts. Production never generates keys.
//
// Every error starts with the variable to fix (JWT_KEY_FILE, JWT_SECRET or
// DATA_DIR): they are configuration problems, reported one line each.
func LoadKeys(cfg *config.Config) (*Keyset, error) {
	alg := cfg.JWTAlg
	if alg == "" {
		alg = jose.ES256
	}
	var (
		ks  *Keyset
		err error
	)
	switch {
	case alg == jose.HS256 && cfg.JWTSecret != "" && cfg.JWTKeyFile != "":
		return nil, errors.New("JWT_SECRET: JWT_SECRET and JWT_KEY_FILE are both set; keep one")
	case alg == jose.HS256 && cfg.JWTSecret != "":
		ks, err = newHMACKeyset(cfg.BaseURL, [][]byte{[]byte(cfg.JWTSecret)})
		if err != nil {
			return nil, fmt.Errorf("JWT_SECRET: %w", err)
		}
	case cfg.JWTKeyFile != "":
		data, rerr := os.ReadFile(cfg.JWTKeyFile)
		if rerr != nil {
			return nil, fmt.Errorf("JWT_KEY_FILE: %w", rerr)
		}
		ks, err = ParseKeys(alg, data, cfg.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("JWT_KEY_FILE: %s: %w", cfg.JWTKeyFile, err)
		}
	case cfg.Production():
		if alg == jose.HS256 {
			return nil, errors.New("JWT_SECRET: required with JWT_ALG=HS256 in production")
		}
		return nil, errors.New("JWT_KEY_FILE: required in production (run `authbroker keygen`)")
	default:
		ks, err = devKeys(cfg.DataDir, alg, cfg.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("DATA_DIR: %w", err)
		}
	}
	if cfg.Production() && alg == jose.HS256 {
		// Verify-only secrets (rotation) accept tokens too: a short one could
		// be brute-forced into minting tokens, so the rule covers them all.
		if s, _ := ks.signer.([]byte); len(s) < minProdSecret {
			name := "JWT_SECRET"
			if cfg.JWTKeyFile != "" {
				name = "JWT_KEY_FILE"
			}
			return nil, errors.New(name + ": HS256 secret shorter than 32 bytes; refused when APP_ENV=production")
		}
		for _, k := range ks.verify {
			if s, ok := k.key.([]byte); ok && len(s) < minProdSecret {
				return nil, errors.New("JWT_KEY_FILE: HS256 verification secret shorter than 32 bytes; refused when APP_ENV=production")
			}
		}
	}
	return ks, nil
}

// ParseKeys builds a Keyset from the contents of a key file: PEM blocks for
// ES256, RS256 and EdDSA (PRIVATE KEY, EC PRIVATE KEY, RSA PRIVATE KEY; PUBLIC
// KEY for previous keys; EC PARAMETERS blocks are skipped), or one secret per
// line for HS256. The first key signs and must be of type alg. issuer (the
// broker's BASE_URL) goes into the kid of HS256 secrets (jose.SecretKeyID).
func ParseKeys(alg string, data []byte, issuer string) (*Keyset, error) {
	if alg == jose.HS256 {
		var secrets [][]byte
		for line := range bytes.Lines(data) {
			line = bytes.TrimRight(line, "\r\n")
			if len(line) > 0 {
				secrets = append(secrets, line)
			}
		}
		return newHMACKeyset(issuer, secrets)
	}
	if !asymmetric(alg) {
		return nil, fmt.Errorf("unsupported JWT_ALG %q", alg)
	}
	var (
		signer any
		public []any
		rest   = data
	)
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if len(block.Headers) > 0 {
			return nil, fmt.Errorf("PEM block %d: encrypted or annotated keys are not supported", n)
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "EC PARAMETERS":
			continue
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PUBLIC KEY":
			if signer == nil {
				return nil, fmt.Errorf("PEM block %d: the first key signs and must be a private key", n)
			}
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		default:
			return nil, fmt.Errorf("PEM block %d: unexpected type %q", n, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		if signer == nil {
			if got := algOf(key); got != alg {
				return nil, fmt.Errorf("PEM block %d: the signing key is %s, JWT_ALG is %s", n, describe(key), alg)
			}
			signer = key
		}
		pub, err := publicOf(key)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		public = append(public, pub)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("unparseable data after the last PEM block")
	}
	if signer == nil {
		return nil, errors.New("no PEM private key found")
	}
	return newKeyset(alg, signer, public, "")
}

// GenerateKeyPEM returns a new signing key for alg in the form ParseKeys
// reads: a PKCS #8 PEM private key for ES256 (P-256), RS256 (2048-bit) and
// EdDSA (Ed25519), and for HS256 a line holding 32 random bytes in
// base64url (43 characters, 256 bits).
func GenerateKeyPEM(alg string) ([]byte, error) {
	var key any
	switch alg {
	case jose.HS256:
		s := make([]byte, hmacSecretSize)
		_, _ = rand.Read(s)
		return []byte(base64.RawURLEncoding.EncodeToString(s) + "\n"), nil
	case jose.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		key = k
	case jose.RS256:
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, err
		}
		key = k
	case jose.EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		key = k
	default:
		return nil, fmt.Errorf("unsupported JWT_ALG %q", alg)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Alg is the signing algorithm (JWT_ALG).
func (k *Keyset) Alg() string { return k.alg }

// KeyID is the kid of the signing key.
func (k *Keyset) KeyID() string { return k.kid }

// JWKS returns the JSON Web Key Set served at /.well-known/jwks.json: the
// public keys of the signing key and of every previous key, each with kty,
// its parameters, kid, alg and use "sig" (RFC 7517 §4, §5). HS256 secrets are
// never included, so with JWT_ALG=HS256 the set may be empty. The result is
// computed once; callers get their own copy.
func (k *Keyset) JWKS() []byte { return bytes.Clone(k.jwks) }

// verifyKey is one verification key and the one algorithm it may be used with.
type verifyKey struct {
	key any
	alg string
}

// VerificationKey implements jose.KeySource: the broker verifies its own
// tokens (logout, revocation, introspection, protected routes) through the
// same code as any other service.
func (k *Keyset) VerificationKey(_ context.Context, kid string) (any, string, error) {
	v, ok := k.verify[kid]
	if !ok {
		return nil, "", jose.ErrUnknownKey
	}
	return v.key, v.alg, nil
}

func newHMACKeyset(issuer string, secrets [][]byte) (*Keyset, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no HS256 secret")
	}
	public := make([]any, 0, len(secrets))
	for _, s := range secrets {
		public = append(public, bytes.Clone(s))
	}
	return newKeyset(jose.HS256, public[0], public, issuer)
}

// newKeyset indexes keys by kid and renders the JWKS. keys[0] is the
// public half (or secret) of signer; issuer salts the kids of secrets.
func newKeyset(alg string, signer any, keys []any, issuer string) (*Keyset, error) {
	ks := &Keyset{alg: alg, signer: signer, verify: make(map[string]verifyKey, len(keys))}
	ks.method = jwt.GetSigningMethod(alg)
	if ks.method == nil {
		return nil, fmt.Errorf("unsupported JWT_ALG %q", alg)
	}
	published := make([]jwk, 0, len(keys))
	for i, key := range keys {
		var kid string
		if secret, ok := key.([]byte); ok {
			if len(secret) == 0 {
				return nil, fmt.Errorf("key %d: empty secret", i+1)
			}
			kid = jose.SecretKeyID(issuer, secret)
		} else {
			k, err := jose.Thumbprint(key)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", i+1, err)
			}
			kid = k
		}
		if _, dup := ks.verify[kid]; dup {
			return nil, fmt.Errorf("key %d: the same key appears twice", i+1)
		}
		keyAlg := algOf(key)
		ks.verify[kid] = verifyKey{key: key, alg: keyAlg}
		if i == 0 {
			ks.kid = kid
		}
		if keyAlg != jose.HS256 {
			j, err := toJWK(key, kid, keyAlg)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", i+1, err)
			}
			published = append(published, j)
		}
	}
	doc, err := json.Marshal(struct {
		Keys []jwk `json:"keys"`
	}{published})
	if err != nil {
		return nil, err
	}
	ks.jwks = doc
	return ks, nil
}

// jwk is one published key (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

func toJWK(key any, kid, alg string) (jwk, error) {
	enc := base64.RawURLEncoding.EncodeToString
	j := jwk{Kid: kid, Alg: alg, Use: "sig"}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		p, err := k.Bytes()
		if err != nil || len(p) != 65 {
			return j, errors.New("invalid P-256 public key")
		}
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", enc(p[1:33]), enc(p[33:65])
	case *rsa.PublicKey:
		j.Kty, j.N, j.E = "RSA", enc(k.N.Bytes()), enc(big.NewInt(int64(k.E)).Bytes())
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", enc(k)
	default:
		return j, fmt.Errorf("cannot publish %s", describe(key))
	}
	return j, nil
}

func asymmetric(alg string) bool {
	return alg == jose.ES256 || alg == jose.RS256 || alg == jose.EdDSA
}

// algOf is the one algorithm a key may be used with ("" when unsupported).
func algOf(key any) string {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return algOf(&k.PublicKey)
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return jose.ES256
		}
	case *rsa.PrivateKey:
		return algOf(&k.PublicKey)
	case *rsa.PublicKey:
		if k.N.BitLen() >= rsaBits {
			return jose.RS256
		}
	case ed25519.PrivateKey, ed25519.PublicKey:
		return jose.EdDSA
	case []byte:
		return jose.HS256
	}
	return ""
}

func publicOf(key any) (any, error) {
	if algOf(key) == "" {
		return nil, fmt.Errorf("unsupported key: %s (want P-256 EC, RSA ≥ %d bits or Ed25519)", describe(key), rsaBits)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return &k.PublicKey, nil
	case *rsa.PrivateKey:
		return &k.PublicKey, nil
	case ed25519.PrivateKey:
		return k.Public(), nil
	}
	return key, nil
}

func describe(key any) string {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return describe(&k.PublicKey)
	case *ecdsa.PublicKey:
		return "EC " + k.Curve.Params().Name
	case *rsa.PrivateKey:
		return describe(&k.PublicKey)
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d bits", k.N.BitLen())
	case ed25519.PrivateKey, ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", key)
}

// DevKeyPath is where development keeps the generated key for alg under
// dir (DATA_DIR).
func DevKeyPath(dir, alg string) string {
	if alg == jose.HS256 {
		return filepath.Join(dir, "jwt-hs256.key")
	}
	return filepath.Join(dir, "jwt-"+strings.ToLower(alg)+".pem")
}

// devKeys loads the development key for alg from dir, generating it on
// first use. The file is created exclusively (written to a temporary file
// and hard-linked into place), so two processes starting together agree on
// one key.
func devKeys(dir, alg, issuer string) (*Keyset, error) {
	path := DevKeyPath(dir, alg)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = createDevKey(dir, path, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("development key %s: %w", path, err)
	}
	ks, err := ParseKeys(alg, data, issuer)
	if err != nil {
		return nil, fmt.Errorf("development key %s: %w", path, err)
	}
	return ks, nil
}

func createDevKey(dir, path, alg string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := GenerateKeyPEM(alg)
	if err != nil {
		return nil, err
	}
	// CreateTemp opens with mode 0600.
	tmp, err := os.CreateTemp(dir, ".jwt-key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		// No hard links on this file system: fall back to an exclusive
		// create, which still never overwrites another process's key.
		if err := writeExclusive(path, key); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	// Whoever created the file first won; everyone uses the file in place.
	return os.ReadFile(path)
}

func writeExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
