package token

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestRefreshRoundTrip(t *testing.T) {
	sid := NewSessionID()
	if len(sid) != 22 {
		t.Fatalf("session id %q is not 22 characters", sid)
	}
	tok, hash := NewRefresh(sid)
	if len(tok) != 66 || !strings.HasPrefix(tok, sid+".") {
		t.Fatalf("token shape: %q", tok)
	}
	gotSID, gotHash, err := ParseRefresh(tok)
	if err != nil {
		t.Fatal(err)
	}
	if gotSID != sid || !bytes.Equal(gotHash, hash) || !bytes.Equal(Hash(tok), hash) {
		t.Fatal("ParseRefresh disagrees with NewRefresh")
	}
	if other, _ := NewRefresh(sid); other == tok {
		t.Fatal("two refresh tokens are equal")
	}
	if NewSessionID() == sid {
		t.Fatal("two session ids are equal")
	}
}

func TestParseRefreshIsStrict(t *testing.T) {
	sid := NewSessionID()
	tok, _ := NewRefresh(sid)
	secret := tok[23:]
	// Last characters with non-zero padding bits: the same bytes under a
	// lenient decoder, a second spelling of one token.
	bumpLast := func(s string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, s[len(s)-1])
		return s[:len(s)-1] + string(alphabet[i|1])
	}
	tests := []struct {
		name string
		tok  string
	}{
		{"empty", ""},
		{"sid only", sid},
		{"one character short", tok[:65]},
		{"one character long", tok + "A"},
		{"no separator", sid + "A" + secret},
		{"separator misplaced", sid[:21] + "." + sid[21:] + secret},
		{"standard base64 alphabet", strings.Replace(tok, tok[30:31], "+", 1)},
		{"padding character", tok[:65] + "="},
		{"space", tok[:40] + " " + tok[41:]},
		{"non-ASCII", tok[:64] + "é"},
		{"non-canonical sid", bumpLast(sid) + "." + secret},
		{"non-canonical secret", sid + "." + bumpLast(secret)},
		{"JWT-looking", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJtIn0.c2ln"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := ParseRefresh(tc.tok); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseRefresh(%q) err = %v, want ErrMalformed", tc.tok, err)
			}
		})
	}
}

func TestNewRefreshRefusesForeignSessionIDs(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewRefresh accepted a session id ParseRefresh would refuse")
		}
	}()
	NewRefresh("not-a-session-id")
}

func TestSealUnseal(t *testing.T) {
	sid := NewSessionID()
	presented, _ := NewRefresh(sid)
	next, _ := NewRefresh(sid)
	sealed, err := Seal(presented, next)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(next)) || bytes.Contains(sealed, []byte(next[23:])) {
		t.Fatal("sealed value contains the new token")
	}
	got, err := Unseal(presented, sealed)
	if err != nil || got != next {
		t.Fatalf("Unseal = %q, %v", got, err)
	}
	again, _ := Seal(presented, next)
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals are equal: nonce not random")
	}

	// Someone who read the store holds Hash(presented): run the same
	// derivation over it and try to open the seal.
	fromHash, err := sealAEAD(Hash(presented))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fromHash.Open(nil, sealed[:fromHash.NonceSize()], sealed[fromHash.NonceSize():], nil); err == nil {
		t.Fatal("the stored hash opens the seal")
	}

	other, _ := NewRefresh(sid)
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, tc := range map[string]struct {
		presented string
		sealed    []byte
	}{
		"another token cannot open it":           {other, sealed},
		"the stored hash cannot open it":         {base64.RawURLEncoding.EncodeToString(Hash(presented)), sealed},
		"a flipped bit is detected":              {presented, tampered},
		"a truncated value is refused":           {presented, sealed[:20]},
		"nothing is refused":                     {presented, nil},
		"the new token cannot open its own seal": {next, sealed},
	} {
		if _, err := Unseal(tc.presented, tc.sealed); !errors.Is(err, ErrUnseal) {
			t.Errorf("%s: err = %v, want ErrUnseal", name, err)
		}
	}
}

// FuzzParseRefresh: ParseRefresh never panics, and what it accepts is
// exactly one canonical spelling of <22-char sid>.<43-char secret>.
func FuzzParseRefresh(f *testing.F) {
	tok, _ := NewRefresh(NewSessionID())
	f.Add(tok)
	f.Add("")
	f.Add(tok[:22] + "." + strings.Repeat("_", 43))
	f.Add(strings.Repeat("A", 22) + "." + strings.Repeat("A", 42) + "B")
	f.Fuzz(func(t *testing.T, s string) {
		sid, hash, err := ParseRefresh(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || sid != "" || hash != nil {
				t.Fatalf("failure returned %q, %x, %v", sid, hash, err)
			}
			return
		}
		if len(s) != 66 || s[:22] != sid || s[22] != '.' || !bytes.Equal(hash, Hash(s)) {
			t.Fatalf("accepted %q as sid %q", s, sid)
		}
		sb, _ := base64.RawURLEncoding.DecodeString(sid)
		rb, _ := base64.RawURLEncoding.DecodeString(s[23:])
		if base64.RawURLEncoding.EncodeToString(sb)+"."+base64.RawURLEncoding.EncodeToString(rb) != s {
			t.Fatalf("accepted a non-canonical spelling %q", s)
		}
	})
}
