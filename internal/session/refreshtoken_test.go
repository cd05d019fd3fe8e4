package session

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/authbroker/authbroker/internal/secrets"
)

func keyring(t testing.TB, lines ...string) *secrets.Keyring {
	t.Helper()
	kr, err := secrets.Parse([]byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

var (
	keyA = secrets.NewKeyLine()
	keyB = secrets.NewKeyLine()
)

func TestRefreshTokenRoundTrip(t *testing.T) {
	c := NewCodec(keyring(t, keyA))
	sid := NewSessionID()
	for _, n := range []uint64{0, 1, 127, 128, 1 << 20, 1<<32 - 2} {
		tok := c.Format(sid, n)
		got, err := c.Parse(tok)
		if err != nil || got.SessionID != sid || got.Counter != n {
			t.Fatalf("counter %d: parse(%q) = %+v, %v", n, tok, got, err)
		}
		if again := c.Format(sid, n); again != tok {
			t.Fatalf("counter %d: two formats differ: %q %q (replays must be byte-identical)", n, tok, again)
		}
		if len(tok) < 50 || len(tok) > 56 {
			t.Errorf("counter %d: token of %d characters", n, len(tok))
		}
	}
}

func TestRefreshTokenRefusals(t *testing.T) {
	c := NewCodec(keyring(t, keyA))
	sid := NewSessionID()
	good := c.Format(sid, 5)
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	reencode := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return reencode(b)
	}
	other := NewCodec(keyring(t, keyB))
	// A token whose counter is re-encoded as a two-byte varint (5 = 0x85 0x00).
	nonMinimal := append(append(append([]byte(nil), raw[:headerBytes]...), 0x85, 0x00), raw[headerBytes+1:]...)
	tests := []struct {
		name string
		tok  string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"garbage", "not-a-token", ErrMalformed},
		{"a flipped version byte", flip(0), ErrMalformed},
		{"a flipped key id (unknown key)", flip(1), ErrMalformed},
		{"a flipped session id byte (another session)", flip(7), ErrMalformed},
		{"a flipped counter (a forged rotation)", flip(headerBytes), ErrMalformed},
		{"a flipped tag byte", flip(len(raw) - 1), ErrMalformed},
		{"a token of another secrets key", other.Format(sid, 5), ErrMalformed},
		{"the counter re-encoded as a longer varint", reencode(nonMinimal), ErrMalformed},
		{"a trailing byte", reencode(append(append([]byte(nil), raw...), 0)), ErrMalformed},
		{"truncated", good[:len(good)-4], ErrMalformed},
		{"padded base64", good + "==", ErrMalformed},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good), ErrMalformed},
		{"a refresh token of the hashed design (0.1)", sid + "." + strings.Repeat("A", 43), ErrLegacy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tok == good {
				t.Skip("the mutation produced the original token")
			}
			if _, err := c.Parse(tc.tok); !errors.Is(err, tc.want) {
				t.Fatalf("parse: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRefreshTokenKeyRotation: tokens of a key that is no longer first
// still verify; new tokens use the first key.
func TestRefreshTokenKeyRotation(t *testing.T) {
	sid := NewSessionID()
	oldTok := NewCodec(keyring(t, keyA)).Format(sid, 3)
	rotated := NewCodec(keyring(t, keyB, keyA))
	if got, err := rotated.Parse(oldTok); err != nil || got.Counter != 3 {
		t.Fatalf("a token of the previous key after rotation: %+v, %v", got, err)
	}
	newTok := rotated.Format(sid, 4)
	raw, _ := base64.RawURLEncoding.DecodeString(newTok)
	if id := binary.BigEndian.Uint32(raw[1:5]); id != keyring(t, keyB).Current().ID {
		t.Fatalf("new token signed with key %08x, want the first key", id)
	}
	if _, err := NewCodec(keyring(t, keyA)).Parse(newTok); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a replica without the new key accepted its token: %v", err)
	}
}

func TestFormatPanicsOnAForeignSessionID(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Format accepted a session id NewSessionID cannot make")
		}
	}()
	NewCodec(keyring(t, keyA)).Format("not-a-session-id", 0)
}

// FuzzParseRefresh: Parse never panics, and whatever it accepts is exactly
// the token Format makes for what it returned (one spelling per token).
func FuzzParseRefresh(f *testing.F) {
	kr, err := secrets.Parse([]byte(keyA))
	if err != nil {
		f.Fatal(err)
	}
	c := NewCodec(kr)
	sid := NewSessionID()
	for _, n := range []uint64{0, 1, 300, 1 << 40} {
		f.Add(c.Format(sid, n))
	}
	f.Add(sid + "." + strings.Repeat("A", 43))
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := c.Parse(tok)
		if err != nil {
			return
		}
		if again := c.Format(got.SessionID, got.Counter); again != tok {
			t.Fatalf("accepted %q, which formats back as %q", tok, again)
		}
	})
}
