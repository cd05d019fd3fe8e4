package bearer

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// JWKS defaults.
const (
	// DefaultMinRefetch: unknown kids are looked up again at most this often,
	// so tokens with made-up kids cannot turn a verifier into a load
	// generator against the broker.
	DefaultMinRefetch = 30 * time.Second
	// DefaultMaxAge: a cached set is refreshed after this long even when all
	// kids are known, so a key withdrawn after a compromise stops verifying.
	DefaultMaxAge = time.Hour
	// DefaultMaxBodyBytes bounds the JWKS document.
	DefaultMaxBodyBytes = 256 << 10
	// DefaultFetchTimeout bounds one fetch.
	DefaultFetchTimeout = 10 * time.Second
)

// JWKS is a KeySource that fetches the broker's JSON Web Key Set
// (/.well-known/jwks.json, RFC 7517 §5) and caches it. Lookups of known kids
// are lock-free reads; an unknown kid triggers one refetch (after a key
// rotation the broker publishes the new key), at most once per MinRefetch,
// and concurrent callers share that one fetch. The set is fresh for the
// document's Cache-Control max-age (bounded to [MinRefetch, MaxAge]; MaxAge
// when the header names none, MinRefetch for no-cache or no-store); a stale
// set keeps answering while a refresh runs in the background, and a failed
// refresh keeps it, so an unreachable broker costs verifiers nothing while
// their keys are cached. Only ES256 (P-256), RS256 (≥2048-bit) and EdDSA
// (Ed25519) signature keys are accepted; "oct" keys are ignored, since a
// symmetric key obtained over the network would let whoever served it mint
// tokens.
//
// Serve the JWKS over https (or inside a trusted network): whoever can
// alter it can sign tokens this verifier accepts.
type JWKS struct {
	minRefetch   time.Duration
	maxAge       time.Duration
	maxBodyBytes int64
	timeout      time.Duration
	now          func() time.Time

	url    string
	client *http.Client
	// fetch is a one-slot semaphore: one fetch at a time, and waiters can
	// give up when their request's context ends.
	fetch chan struct{}
	set   atomic.Pointer[keySet]
	// lastAttempt is guarded by the fetch semaphore.
	lastAttempt time.Time
}

// keySet is an immutable snapshot of a fetched JWKS.
type keySet struct {
	keys     StaticKeys
	fetched  time.Time
	lifetime time.Duration
}

// JWKSOption configures NewJWKS.
type JWKSOption func(*JWKS)

// WithHTTPClient fetches with client (a new http.Client by default).
func WithHTTPClient(client *http.Client) JWKSOption {
	return func(j *JWKS) {
		if client != nil {
			j.client = client
		}
	}
}

// WithRefetchLimits sets how often an unknown kid may cause a fetch
// (minRefetch, DefaultMinRefetch by default: tokens with made-up kids cannot
// turn a verifier into a load generator against the broker) and the longest
// a fetched set counts as fresh whatever its Cache-Control says (maxAge,
// DefaultMaxAge: a key withdrawn after a compromise stops verifying within
// it). Zero keeps a default.
func WithRefetchLimits(minRefetch, maxAge time.Duration) JWKSOption {
	return func(j *JWKS) {
		if minRefetch > 0 {
			j.minRefetch = minRefetch
		}
		if maxAge > 0 {
			j.maxAge = maxAge
		}
	}
}

// WithJWKSClock sets the clock (time.Now by default), for tests.
func WithJWKSClock(now func() time.Time) JWKSOption {
	return func(j *JWKS) {
		if now != nil {
			j.now = now
		}
	}
}

// NewJWKS returns a KeySource reading the JWKS at jwksURL. Nothing is
// fetched until the first lookup.
func NewJWKS(jwksURL string, opts ...JWKSOption) *JWKS {
	j := &JWKS{
		minRefetch:   DefaultMinRefetch,
		maxAge:       DefaultMaxAge,
		maxBodyBytes: DefaultMaxBodyBytes,
		timeout:      DefaultFetchTimeout,
		now:          time.Now,
		url:          jwksURL,
		client:       &http.Client{},
		fetch:        make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(j)
	}
	if j.minRefetch > j.maxAge {
		j.minRefetch = j.maxAge
	}
	return j
}

// VerificationKey implements KeySource. A known kid never waits: when the
// cached set is older than MaxAge the key is still returned and a refresh
// runs in the background, so an unreachable broker costs verifiers nothing
// while their keys are cached. An unknown kid waits for one fetch (or for
// ctx), at most once per MinRefetch.
func (j *JWKS) VerificationKey(ctx context.Context, kid string) (any, string, error) {
	if k, ok, fresh := j.lookup(kid, j.now()); ok {
		if !fresh {
			j.refreshInBackground()
		}
		return k.Key, k.Alg, nil
	}
	select {
	case j.fetch <- struct{}{}:
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	defer func() { <-j.fetch }()

	// Another caller may have fetched while we waited.
	now := j.now()
	if k, ok, _ := j.lookup(kid, now); ok {
		return k.Key, k.Alg, nil
	}
	if !j.mayFetch(now) {
		if j.set.Load() == nil {
			return nil, "", errors.New("jwks: not fetched yet (retrying after MinRefetch)")
		}
		return nil, "", fmt.Errorf("jwks: kid %q: %w", kid, ErrUnknownKey)
	}
	set, err := j.load(ctx, now)
	if err != nil {
		return nil, "", err
	}
	if k, ok := set.keys[kid]; ok {
		return k.Key, k.Alg, nil
	}
	return nil, "", fmt.Errorf("jwks: kid %q: %w", kid, ErrUnknownKey)
}

// refreshInBackground starts a refresh unless one is running or one was
// tried less than MinRefetch ago. Failures keep the cached set.
func (j *JWKS) refreshInBackground() {
	select {
	case j.fetch <- struct{}{}:
	default:
		return
	}
	now := j.now()
	if !j.mayFetch(now) {
		<-j.fetch
		return
	}
	go func() {
		defer func() { <-j.fetch }()
		_, _ = j.load(context.Background(), now)
	}()
}

// mayFetch applies the MinRefetch rate limit and records the attempt. The
// caller holds the fetch slot.
func (j *JWKS) mayFetch(now time.Time) bool {
	if !j.lastAttempt.IsZero() && now.Sub(j.lastAttempt) < j.minRefetch {
		return false
	}
	j.lastAttempt = now
	return true
}

func (j *JWKS) lookup(kid string, now time.Time) (k StaticKey, ok, fresh bool) {
	set := j.set.Load()
	if set == nil {
		return k, false, false
	}
	k, ok = set.keys[kid]
	return k, ok, now.Sub(set.fetched) < set.lifetime
}

// load fetches and parses the JWKS document and, on success, makes it the
// cached set as of now. The caller holds the fetch slot.
func (j *JWKS) load(ctx context.Context, now time.Time) (*keySet, error) {
	ctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("jwks: fetch: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, j.maxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: read: %w", err)
	}
	if int64(len(body)) > j.maxBodyBytes {
		return nil, fmt.Errorf("jwks: document larger than %d bytes", j.maxBodyBytes)
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return nil, err
	}
	set := &keySet{keys: keys, fetched: now, lifetime: j.lifetime(resp.Header.Get("Cache-Control"))}
	j.set.Store(set)
	return set, nil
}

// lifetime is how long a set served with the Cache-Control header cc stays
// fresh (RFC 9111 §5.2.2): max-age bounded to [minRefetch, maxAge]; maxAge
// when the header gives none; minRefetch for no-cache and no-store, which
// ask to revalidate each time but must not defeat the rate limit.
func (j *JWKS) lifetime(cc string) time.Duration {
	life := j.maxAge
	for _, d := range strings.Split(cc, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-cache", "no-store":
			return j.minRefetch
		case "max-age":
			if n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64); err == nil && n >= 0 {
				life = time.Duration(min(n, int64(j.maxAge/time.Second)+1)) * time.Second
			}
		}
	}
	return min(max(life, j.minRefetch), j.maxAge)
}

// jwk holds the members of a JSON Web Key that matter for verification.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// ParseJWKS parses a JWK Set document into verification keys by kid; the
// result is itself a KeySource, for a verifier that pins the broker's keys
// from a file instead of fetching them. Keys that cannot be used for our
// signatures are skipped, as RFC 7517 §5 asks: unknown kty or crv, use other
// than "sig", no kid, "oct" keys, RSA under 2048 bits, an alg that does not
// fit the key, an EC point not on P-256. A kid that appears twice is dropped
// altogether, since it would not name one key. It fails only when the
// document is not a JWK Set.
func ParseJWKS(doc []byte) (StaticKeys, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("jwks: not a JWK Set: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New("jwks: not a JWK Set: no keys member")
	}
	out := make(StaticKeys, len(set.Keys))
	dup := make(map[string]bool)
	for _, raw := range set.Keys {
		var k jwk
		if json.Unmarshal(raw, &k) != nil || k.Kid == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		key, alg, ok := k.verificationKey()
		if !ok {
			continue
		}
		if _, seen := out[k.Kid]; seen || dup[k.Kid] {
			delete(out, k.Kid)
			dup[k.Kid] = true
			continue
		}
		out[k.Kid] = StaticKey{Key: key, Alg: alg}
	}
	return out, nil
}

// verificationKey builds the public key and infers or checks its alg.
func (k jwk) verificationKey() (any, string, bool) {
	fits := func(alg string) bool { return k.Alg == "" || k.Alg == alg }
	switch k.Kty {
	case "EC":
		if k.Crv != "P-256" || !fits(ES256) {
			return nil, "", false
		}
		x, errX := decodeFixed(k.X, 32)
		y, errY := decodeFixed(k.Y, 32)
		if errX != nil || errY != nil {
			return nil, "", false
		}
		// ParseUncompressedPublicKey rejects points not on the curve
		// (invalid-curve attacks need such points).
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, "", false
		}
		return pub, ES256, true
	case "RSA":
		if !fits(RS256) {
			return nil, "", false
		}
		n, errN := base64.RawURLEncoding.DecodeString(k.N)
		e, errE := base64.RawURLEncoding.DecodeString(k.E)
		if errN != nil || errE != nil || len(e) == 0 || len(e) > 4 || len(n) == 0 || n[0] == 0 {
			return nil, "", false
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 || pub.N.BitLen() > 8192 || pub.E < 3 || pub.E%2 == 0 {
			return nil, "", false
		}
		return pub, RS256, true
	case "OKP":
		if k.Crv != "Ed25519" || !fits(EdDSA) {
			return nil, "", false
		}
		x, err := decodeFixed(k.X, ed25519.PublicKeySize)
		if err != nil {
			return nil, "", false
		}
		return ed25519.PublicKey(x), EdDSA, true
	}
	return nil, "", false
}

func decodeFixed(s string, n int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("want %d bytes, got %d", n, len(b))
	}
	return b, nil
}
