// Package secrets holds the broker's secrets keys (SECRETS_KEY_FILE): the
// keys from which every other server-side secret is derived. Refresh-token
// MACs use them today; anything the broker stores encrypted uses them too.
//
// Server-side secrets the broker stores (provider client secrets, members'
// provider tokens) are sealed with AES-256-GCM under keys derived the same
// way (Seal, Open).
//
// A key file holds one key per line: 32 random bytes in standard base64
// (`authbroker keygen -secrets` prints one). Blank lines and lines starting
// with # are ignored. The first key is current: new MACs and ciphertexts use
// it. The others only verify and decrypt, so a key can be rotated without
// invalidating what the old one protects:
//
//  1. add the new key as the LAST line and roll it out to every replica
//     (everything still uses the old first key, and every replica can
//     already read what the new one will produce);
//  2. move it to the FIRST line and roll out again;
//  3. once nothing protected by the old key is left (refresh tokens: after
//     REFRESH_TOKEN_TTL; stored ciphertexts: after re-encryption), remove it.
//
// Keys are never used directly: each purpose gets its own key derived with
// HKDF-SHA256 (RFC 5869), so a MAC key can never double as an encryption key.
package secrets

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of a secrets key: 256 bits.
const KeySize = 32

// DevFile is the name of the key file generated under DATA_DIR in development.
const DevFile = "secrets.key"

// Key is one secrets key. ID names it in what it protects (4 bytes of a
// hash of the key, never the key), so a verifier knows which key to use.
type Key struct {
	ID  uint32
	raw [KeySize]byte
}

// Keyring is the ordered set of keys of a key file; the first is current.
// It is immutable and safe for concurrent use.
type Keyring struct {
	keys []Key
}

// Parse reads a key file's contents.
func Parse(data []byte) (*Keyring, error) {
	var kr Keyring
	seen := map[uint32]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(line)
		if err != nil || len(raw) != KeySize {
			return nil, fmt.Errorf("line %d: not %d bytes in standard base64 (make one with `authbroker keygen -secrets`)", n, KeySize)
		}
		k := newKey(raw)
		if prev, dup := seen[k.ID]; dup {
			return nil, fmt.Errorf("line %d: same key id as line %d (a repeated key, or a 1-in-4-billion clash: generate another)", n, prev)
		}
		seen[k.ID] = n
		kr.keys = append(kr.keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(kr.keys) == 0 {
		return nil, errors.New("no key in the file (make one with `authbroker keygen -secrets`)")
	}
	return &kr, nil
}

func newKey(raw []byte) Key {
	var k Key
	copy(k.raw[:], raw)
	sum := sha256.Sum256(append([]byte("authbroker secrets key id\x00"), raw...))
	k.ID = binary.BigEndian.Uint32(sum[:4])
	return k
}

// Load reads the key file at path.
func Load(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	kr, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kr, nil
}

// LoadDev returns the development keyring kept at dir/DevFile, creating it
// (one new key, mode 0600 in a 0700 directory) on first use. Several
// processes starting at once agree on one file: the first to create it wins.
func LoadDev(dir string) (*Keyring, error) {
	path := filepath.Join(dir, DevFile)
	kr, err := Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return kr, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Written whole to a temporary file, then linked into place: a process
	// starting at the same moment sees no file or a complete one, and the
	// first link wins (os.Link never replaces).
	tmp, err := os.CreateTemp(dir, ".secrets-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString("# authbroker development secrets key (generated; never use in production)\n" + NewKeyLine() + "\n")
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
		return nil, err
	}
	return Load(path)
}

// LoadConfigured returns the keyring SECRETS_KEY_FILE names, or without
// one the development keyring under dataDir (production refuses to start
// without the file: config validation).
func LoadConfigured(file, dataDir string) (*Keyring, error) {
	if file != "" {
		kr, err := Load(file)
		if err != nil {
			return nil, fmt.Errorf("SECRETS_KEY_FILE: %w", err)
		}
		return kr, nil
	}
	kr, err := LoadDev(dataDir)
	if err != nil {
		return nil, fmt.Errorf("development secrets key under DATA_DIR: %w", err)
	}
	return kr, nil
}

// NewKeyLine returns a new random key as a key-file line.
func NewKeyLine() string {
	var raw [KeySize]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(raw[:])
}

// Current is the key new MACs and ciphertexts use.
func (kr *Keyring) Current() Key { return kr.keys[0] }

// Keys returns every key, current first.
func (kr *Keyring) Keys() []Key { return append([]Key(nil), kr.keys...) }

// ByID returns the key with id.
func (kr *Keyring) ByID(id uint32) (Key, bool) {
	for _, k := range kr.keys {
		if k.ID == id {
			return k, true
		}
	}
	return Key{}, false
}

// Derive returns the 32-byte key for purpose (HKDF-SHA256 with the purpose
// as info). Purposes are fixed strings of the code, one per use.
func (k Key) Derive(purpose string) []byte {
	out, err := hkdf.Key(sha256.New, k.raw[:], []byte("authbroker secrets v1"), purpose, KeySize)
	if err != nil {
		// Only possible for an output longer than 255 hash blocks.
		panic("secrets: hkdf: " + err.Error())
	}
	return out
}

// Sealed values are version (1 byte) | key id (4) | nonce (12) |
// AES-256-GCM ciphertext and tag. The key is the purpose's key derived from
// the secrets key named by the id; aad (the row the value belongs to, say)
// is authenticated, so a sealed value copied to another row does not open.
const (
	sealVersion = 1
	sealHeader  = 1 + 4
)

// ErrOpen is returned for a sealed value that does not open: altered, for
// another purpose or row, or sealed under a key that is not in the file.
var ErrOpen = errors.New("secrets: sealed value does not open (altered, misplaced, or its key is not in SECRETS_KEY_FILE)")

func (k Key) aead(purpose string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.Derive(purpose))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext for purpose under the current key.
func (kr *Keyring) Seal(purpose string, plaintext, aad []byte) ([]byte, error) {
	k := kr.Current()
	a, err := k.aead(purpose)
	if err != nil {
		return nil, fmt.Errorf("secrets: seal: %w", err)
	}
	out := make([]byte, sealHeader+a.NonceSize(), sealHeader+a.NonceSize()+len(plaintext)+a.Overhead())
	out[0] = sealVersion
	binary.BigEndian.PutUint32(out[1:], k.ID)
	if _, err := rand.Read(out[sealHeader:]); err != nil {
		return nil, fmt.Errorf("secrets: seal: %w", err)
	}
	return a.Seal(out, out[sealHeader:], plaintext, aad), nil
}

// Open decrypts what Seal produced for purpose and aad, with whichever key
// of the file sealed it.
func (kr *Keyring) Open(purpose string, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < sealHeader || sealed[0] != sealVersion {
		return nil, ErrOpen
	}
	k, ok := kr.ByID(binary.BigEndian.Uint32(sealed[1:]))
	if !ok {
		return nil, ErrOpen
	}
	a, err := k.aead(purpose)
	if err != nil {
		return nil, ErrOpen
	}
	rest := sealed[sealHeader:]
	if len(rest) < a.NonceSize()+a.Overhead() {
		return nil, ErrOpen
	}
	pt, err := a.Open(nil, rest[:a.NonceSize()], rest[a.NonceSize():], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// IsCurrent reports whether sealed was sealed under the current key (so
// `authbroker secrets rotate` can leave it alone).
func (kr *Keyring) IsCurrent(sealed []byte) bool {
	return len(sealed) >= sealHeader && binary.BigEndian.Uint32(sealed[1:]) == kr.Current().ID
}
