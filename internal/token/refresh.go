package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// Refresh token format: <sid>.<secret>, where sid is the session id (22
// base64url characters, 128 random bits) and secret 43 base64url characters
// (256 random bits, BRIEF §3). Carrying the sid lets a refresh go straight to
// its session's record (one Redis script on one hash slot) without an index
// from token hash to session.
const (
	sessionIDBytes = 16
	sessionIDLen   = 22 // base64url, no padding, of 16 bytes
	refreshBytes   = 32
	refreshSecLen  = 43 // base64url, no padding, of 32 bytes
	refreshLen     = sessionIDLen + 1 + refreshSecLen
)

// Errors of the refresh codec.
var (
	// ErrMalformed: the string is not a refresh token this broker issues.
	ErrMalformed = errors.New("malformed refresh token")
	// ErrUnseal: a sealed token does not open with the presented token.
	ErrUnseal = errors.New("sealed refresh token does not open")
)

// NewSessionID returns a new random session id: 22 base64url characters.
func NewSessionID() string {
	var b [sessionIDBytes]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewRefresh returns a new refresh token for session sid and its SHA-256
// hash, the only form a store keeps. sid must come from NewSessionID; any
// other value is a programming error and panics (a token that ParseRefresh
// would refuse must never be handed out).
func NewRefresh(sid string) (tok string, hash []byte) {
	if !validSessionID(sid) {
		panic("token: NewRefresh: session id not from NewSessionID")
	}
	var b [refreshBytes]byte
	_, _ = rand.Read(b[:])
	tok = sid + "." + base64.RawURLEncoding.EncodeToString(b[:])
	return tok, Hash(tok)
}

// ParseRefresh checks that tok has the exact refresh-token shape (length,
// separator, canonical base64url parts) and returns its session id and hash.
// It reveals nothing about whether the token is live: that is the store's
// decision. Errors are ErrMalformed.
func ParseRefresh(tok string) (sid string, hash []byte, err error) {
	sid, ok := SessionOf(tok)
	if !ok {
		return "", nil, ErrMalformed
	}
	if b, err := strictB64(tok[sessionIDLen+1:]); err != nil || len(b) != refreshBytes {
		return "", nil, ErrMalformed
	}
	return sid, Hash(tok), nil
}

// SessionOf returns the session id a refresh token names, checking only the
// token's layout: no secret decoding, no hash. It says nothing about the
// token being valid; it is for keying work (a rate limit) that happens
// before ParseRefresh and the store decide.
func SessionOf(tok string) (string, bool) {
	if len(tok) != refreshLen || tok[sessionIDLen] != '.' || !validSessionID(tok[:sessionIDLen]) {
		return "", false
	}
	return tok[:sessionIDLen], true
}

// Hash is the SHA-256 of a refresh token. A plain hash suffices: the token
// has 256 random bits, so the hash cannot be reversed or guessed.
func Hash(tok string) []byte {
	sum := sha256.Sum256([]byte(tok))
	return sum[:]
}

func validSessionID(sid string) bool {
	if len(sid) != sessionIDLen {
		return false
	}
	b, err := strictB64(sid)
	return err == nil && len(b) == sessionIDBytes
}

// strictB64 decodes unpadded base64url, rejecting non-zero padding bits so
// that every token has exactly one spelling and so one hash.
func strictB64(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// Seal encrypts next, the refresh token that replaces presented, under a
// key only a holder of presented can derive: AES-256-GCM with a key from
// HKDF-SHA256 (RFC 5869) over presented, random 96-bit nonce prepended.
//
// Why: the store keeps hashes only, yet two tabs that present the same
// token concurrently must both receive the same new token during the reuse
// grace (BRIEF §3, store.Rotation). The store keeps Seal's output next to the
// hashes; the graced caller, who still holds presented, opens it with
// Unseal. Someone who reads the store has only SHA-256(presented), from
// which the HKDF key cannot be derived (HKDF extracts with its own salt, so
// the stored hash is not an intermediate value of the derivation).
func Seal(presented, next string) ([]byte, error) {
	aead, err := sealAEAD([]byte(presented))
	if err != nil {
		return nil, err
	}
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(next)+aead.Overhead())
	_, _ = rand.Read(out)
	return aead.Seal(out, out, []byte(next), nil), nil
}

// Unseal opens what Seal(presented, …) produced. It returns ErrUnseal when
// sealed was not made for presented or was altered.
func Unseal(presented string, sealed []byte) (string, error) {
	aead, err := sealAEAD([]byte(presented))
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return "", ErrUnseal
	}
	nonce, ct := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, nil)
	if err != nil {
		return "", ErrUnseal
	}
	return string(pt), nil
}

// sealAEAD derives the AES-256-GCM cipher from secret (the presented token).
func sealAEAD(secret []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, secret, []byte("authbroker refresh seal salt"), "authbroker refresh seal v1", 32)
	if err != nil {
		return nil, fmt.Errorf("token: seal key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("token: seal: %w", err)
	}
	return cipher.NewGCM(block)
}
