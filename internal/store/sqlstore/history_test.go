package sqlstore

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"
)

func hashN(i int) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "token %d", i))
	return h[:]
}

// TestRetireKeepsTheNewest checks the bound on refresh_history: it stops
// growing at 1024 entries of 8 bytes, dropping the oldest, so a long-lived
// session's row carries 8 KiB of history at most.
func TestRetireKeepsTheNewest(t *testing.T) {
	const kept, size = 1024, 8
	var h []byte
	const n = kept + 76
	for i := range n {
		h = retire(h, hashN(i))
		if want := min(i+1, kept) * size; len(h) != want {
			t.Fatalf("after %d retirements: %d bytes, want %d", i+1, len(h), want)
		}
	}
	first, last := hashN(n - kept)[:size], hashN(n - 1)[:size]
	if !bytes.Equal(h[:size], first) || !bytes.Equal(h[len(h)-size:], last) {
		t.Fatalf("history runs %x…%x, want %x…%x", h[:size], h[len(h)-size:], first, last)
	}
	if got := retire(h, []byte("short")); !bytes.Equal(got, h) {
		t.Fatal("a hash shorter than a prefix was added to the history")
	}
}

func TestWasRetired(t *testing.T) {
	var h []byte
	for i := range 4 {
		h = retire(h, hashN(i))
	}
	for _, tc := range []struct {
		name      string
		presented []byte
		want      bool
	}{
		{"oldest entry", hashN(0), true},
		{"newest entry", hashN(3), true},
		{"prefix alone", hashN(2)[:retiredPrefix], true},
		{"never retired", hashN(4), false},
		{"two entries' halves: not an entry", append(bytes.Clone(h[4:12]), hashN(9)[8:]...), false},
		{"shorter than a prefix", hashN(1)[:retiredPrefix-1], false},
		{"empty", nil, false},
	} {
		if got := wasRetired(h, tc.presented); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if wasRetired(nil, hashN(0)) {
		t.Error("empty history: a match")
	}
}
