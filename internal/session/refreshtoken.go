package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"

	"github.com/authbroker/authbroker/internal/secrets"
)

// Refresh tokens (STYLE §9, BRIEF §3). A token names its session and a
// counter, authenticated with a MAC under a key of that session:
//
//	version (1 byte, 2) | secrets key id (4) | session id (16) |
//	counter (unsigned varint) | tag (16)
//
// in unpadded base64url, 50–56 characters. The tag is the first 128 bits of
// HMAC-SHA256 over everything before it, keyed with the session's key
// HMAC-SHA256(K, session id), where K is derived from the current secrets
// key (SECRETS_KEY_FILE) for this purpose alone.
//
// Why derive the session key rather than store a random one with the
// session: the MAC is checked here, at the edge, before any store is asked,
// so a forged or garbled token costs no round trip; and nothing in Redis or
// SQL can be turned into a token (a dump of either yields counters, not
// keys). The session is still the unit of authentication: one session's
// tokens say nothing about another's.
//
// The store keeps only the current counter, so a token is never stored and
// the same (session, counter) always formats to the same string: every
// caller replaying the previous token gets byte-identical current tokens.
const (
	tokenVersion  = 2
	sidBytes      = 16
	sidLen        = 22 // base64url of 16 bytes
	tagBytes      = 16
	headerBytes   = 1 + 4 + sidBytes
	minTokenBytes = headerBytes + 1 + tagBytes
	maxTokenBytes = headerBytes + binary.MaxVarintLen64 + tagBytes
	// macPurpose separates this use of the secrets keys from every other.
	macPurpose = "authbroker refresh token mac v2"
)

// Errors of the refresh-token codec. Both mean "not a token of ours": the
// client gets the same invalid_grant either way.
var (
	// ErrMalformed: not the shape of a refresh token, or a MAC that does not
	// verify under any secrets key.
	ErrMalformed = errors.New("malformed or forged refresh token")
	// ErrLegacy: a refresh token of the design before counters (up to
	// 0.1.x). Those sessions ended with the upgrade (docs/CHANGELOG).
	ErrLegacy = errors.New("refresh token from before the upgrade to counter tokens")
)

// RefreshToken is a refresh token that passed its MAC check.
type RefreshToken struct {
	SessionID string
	Counter   uint64
}

// Codec formats and authenticates refresh tokens. It is immutable and safe
// for concurrent use.
type Codec struct {
	current macKey
	byID    map[uint32]macKey
}

type macKey struct {
	id  uint32
	key []byte
}

// NewCodec returns a codec over the keys of kr; the current key signs.
func NewCodec(kr *secrets.Keyring) *Codec {
	c := &Codec{byID: map[uint32]macKey{}}
	for i, k := range kr.Keys() {
		mk := macKey{id: k.ID, key: k.Derive(macPurpose)}
		c.byID[k.ID] = mk
		if i == 0 {
			c.current = mk
		}
	}
	return c
}

// NewSessionID returns a new random session id: 22 base64url characters
// (128 bits), the sid claim of the session's access tokens.
func NewSessionID() string {
	var b [sidBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Format returns the refresh token for (sid, counter). sid must come from
// NewSessionID; anything else is a programming error and panics, since a
// token that Parse would refuse must never be handed out.
func (c *Codec) Format(sid string, counter uint64) string {
	raw, ok := decodeSID(sid)
	if !ok {
		panic("session: Format: session id not from NewSessionID")
	}
	b := make([]byte, 0, maxTokenBytes)
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint32(b, c.current.id)
	b = append(b, raw...)
	b = binary.AppendUvarint(b, counter)
	b = append(b, tag(c.current.key, raw, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Parse checks tok's shape and MAC and returns what it names. It says
// nothing about whether the session is live or the counter current: that is
// the store's decision. Every spelling but the canonical one is refused, so
// one (session, counter) has exactly one token.
func (c *Codec) Parse(tok string) (RefreshToken, error) {
	if len(tok) == sidLen+1+43 && tok[sidLen] == '.' && !strings.Contains(tok[sidLen+1:], ".") {
		return RefreshToken{}, ErrLegacy
	}
	if len(tok) < base64.RawURLEncoding.EncodedLen(minTokenBytes) || len(tok) > base64.RawURLEncoding.EncodedLen(maxTokenBytes) {
		return RefreshToken{}, ErrMalformed
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) < minTokenBytes || b[0] != tokenVersion {
		return RefreshToken{}, ErrMalformed
	}
	counter, n := binary.Uvarint(b[headerBytes:])
	// n <= 0: truncated or overflowing; the length check refuses trailing
	// bytes; the re-encoding check refuses non-minimal varints.
	if n <= 0 || len(b) != headerBytes+n+tagBytes || len(binary.AppendUvarint(nil, counter)) != n {
		return RefreshToken{}, ErrMalformed
	}
	mk, ok := c.byID[binary.BigEndian.Uint32(b[1:5])]
	if !ok {
		return RefreshToken{}, ErrMalformed
	}
	raw := b[5:headerBytes]
	signed := b[:headerBytes+n]
	if !hmac.Equal(tag(mk.key, raw, signed), b[headerBytes+n:]) {
		return RefreshToken{}, ErrMalformed
	}
	return RefreshToken{SessionID: base64.RawURLEncoding.EncodeToString(raw), Counter: counter}, nil
}

// SessionOf returns the session a token claims to be for, checking its
// layout only (no MAC): for keying work that happens before Parse.
func SessionOf(tok string) (string, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) < minTokenBytes || b[0] != tokenVersion {
		return "", false
	}
	return base64.RawURLEncoding.EncodeToString(b[5:headerBytes]), true
}

// tag is the MAC of signed under the session key of sid.
func tag(key, sid, signed []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(sid)
	sessionKey := m.Sum(nil)
	m = hmac.New(sha256.New, sessionKey)
	m.Write(signed)
	return m.Sum(nil)[:tagBytes]
}

func decodeSID(sid string) ([]byte, bool) {
	if len(sid) != sidLen {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(sid)
	return b, err == nil && len(b) == sidBytes
}

// ValidSessionID reports whether sid has the shape NewSessionID gives.
func ValidSessionID(sid string) bool {
	_, ok := decodeSID(sid)
	return ok
}
