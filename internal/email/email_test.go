package email

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestKey(t *testing.T) {
	cases := []struct {
		name, a, b string
		same       bool
	}{
		{"identical", "kim@corp.example", "kim@corp.example", true},
		{"domain case folds", "kim@Corp.EXAMPLE", "kim@corp.example", true},
		{"local part ASCII case folds", "Kim@corp.example", "kim@corp.example", true},
		{"KELVIN SIGN is not k", "\u212Aim@corp.example", "kim@corp.example", false},
		{"KELVIN SIGN in the domain is not k", "kim@\u212Aorp.example", "kim@korp.example", false},
		{"LONG S is not s", "\u017Fam@corp.example", "sam@corp.example", false},
		{"dotless i is not i", "k\u0131m@corp.example", "kim@corp.example", false},
		{"capital I with dot is not i", "K\u0130M@corp.example", "kim@corp.example", false},
		{"non-ASCII letters keep their case", "JÖRG@corp.example", "jörg@corp.example", false},
		{"non-ASCII compares byte for byte", "jörg@bücher.example", "jörg@bücher.example", true},
		{"fullwidth letters are not ASCII", "\uff4bim@corp.example", "kim@corp.example", false},
		{"different mailboxes", "kim@corp.example", "kin@corp.example", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Same(tc.a, tc.b); got != tc.same {
				t.Fatalf("Same(%q, %q) = %v (keys %q, %q)", tc.a, tc.b, got, Key(tc.a), Key(tc.b))
			}
		})
	}
}

// FuzzKey: Key folds exactly the ASCII capitals and nothing else: the
// result has the input's length, is its own key, and differs from the
// input only where an ASCII capital became its small letter.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"Kim@Corp.Example", "\u212Aim@corp.example", "ſam@x", "", "ÀÉÎ@ü.example", "\xff\xfeA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := Key(s)
		if len(k) != len(s) || Key(k) != k {
			t.Fatalf("Key(%q) = %q: not a stable, length-preserving fold", s, k)
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; k[i] != c && !('A' <= c && c <= 'Z' && k[i] == c+'a'-'A') {
				t.Fatalf("Key(%q) changed byte %d (%q → %q)", s, i, c, k[i])
			}
		}
		if utf8.ValidString(s) != utf8.ValidString(k) || strings.ToLower(s) == s && k != s && isASCII(s) {
			t.Fatalf("Key(%q) = %q", s, k)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
