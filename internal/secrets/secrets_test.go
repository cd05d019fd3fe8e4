package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestParseKeyFile(t *testing.T) {
	a, b := NewKeyLine(), NewKeyLine()
	tests := []struct {
		name string
		file string
		keys int
		err  string
	}{
		{"one key", a + "\n", 1, ""},
		{"comments and blank lines", "# current\n" + a + "\n\n# previous\n" + b + "\n", 2, ""},
		{"no key", "# nothing\n", 0, "no key"},
		{"not base64", "not a key\n", 0, "line 1"},
		{"wrong length", "AAAA\n", 0, "line 1"},
		{"a repeated key", a + "\n" + a + "\n", 0, "same key id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kr, err := Parse([]byte(tc.file))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), a) {
					t.Fatal("the error repeats a key")
				}
				return
			}
			if err != nil || len(kr.Keys()) != tc.keys {
				t.Fatalf("%v, %d keys", err, len(kr.Keys()))
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	old := NewKeyLine()
	kr, _ := Parse([]byte(old))
	sealed, err := kr.Seal("provider client secret", []byte("s3cret"), []byte("kakao"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cret")) {
		t.Fatal("plaintext visible in the sealed value")
	}
	if pt, err := kr.Open("provider client secret", sealed, []byte("kakao")); err != nil || string(pt) != "s3cret" {
		t.Fatalf("open: %q %v", pt, err)
	}
	for name, try := range map[string]func() ([]byte, error){
		"another row":     func() ([]byte, error) { return kr.Open("provider client secret", sealed, []byte("naver")) },
		"another purpose": func() ([]byte, error) { return kr.Open("provider tokens", sealed, []byte("kakao")) },
		"a flipped byte": func() ([]byte, error) {
			c := bytes.Clone(sealed)
			c[len(c)-1] ^= 1
			return kr.Open("provider client secret", c, []byte("kakao"))
		},
		"truncated": func() ([]byte, error) { return kr.Open("provider client secret", sealed[:10], []byte("kakao")) },
	} {
		if _, err := try(); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v, want ErrOpen", name, err)
		}
	}
	// Rotation: a new first key seals; the old one still opens.
	rotated, _ := Parse([]byte(NewKeyLine() + "\n" + old))
	if pt, err := rotated.Open("provider client secret", sealed, []byte("kakao")); err != nil || string(pt) != "s3cret" {
		t.Fatalf("open after rotation: %v", err)
	}
	if rotated.IsCurrent(sealed) || !kr.IsCurrent(sealed) {
		t.Fatal("IsCurrent does not follow the first key")
	}
	resealed, _ := rotated.Seal("provider client secret", []byte("s3cret"), []byte("kakao"))
	if _, err := kr.Open("provider client secret", resealed, []byte("kakao")); !errors.Is(err, ErrOpen) {
		t.Fatal("a keyring without the new key opened its value")
	}
}

func TestLoadDevCreatesOneKeyForEveryone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var (
		wg  sync.WaitGroup
		ids = make([]uint32, 8)
	)
	for i := range ids {
		wg.Go(func() {
			kr, err := LoadDev(dir)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = kr.Current().ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent first starts made different keys: %v", ids)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, DevFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev key file: %v %v", fi.Mode(), err)
	}
}
