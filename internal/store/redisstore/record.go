package redisstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/authbroker/authbroker/internal/store"
)

// A session record is one Redis string, packed so that a session costs the
// same few hundred bytes of Redis memory however often it rotates:
//
//	header (43 bytes, big-endian):
//	  version u8 (1) | counter u32 | floor u32 | rotated_at i64 ms |
//	  last_used i64 ms | expires i64 ms | window_start i64 ms | window_count u16
//	claims: length u16, then
//	  flags u8 (1 admin, 2 email verified, 4 member id is a UUID) |
//	  member id (16 bytes when a UUID, else u8 length + bytes) |
//	  email (u8 length + bytes) | name (u8 length + bytes)
//	ip: the rest, 0, 4 or 16 bytes
//
// refresh.lua reads and rewrites the header and the IP and copies the claims
// untouched; UpdateSessionClaims replaces the claims. The device (provider,
// user agent, first IP, creation) is in the SQL session index, not here.
const (
	recordVersion = 1
	headerLen     = 43

	flagAdmin    = 1
	flagVerified = 2
	flagUUID     = 4

	// maxField is the longest email or name a record keeps: longer names
	// are cut at a character boundary (an email cannot be longer, RFC 5321).
	maxField = 255
	// maxCounter keeps counters within the u32 of the header.
	maxCounter = 1<<32 - 2
)

// record is a decoded session record.
type record struct {
	state  store.RefreshState
	used   time.Time
	member string
	claims store.Claims
	ip     string
}

func encodeRecord(r record) ([]byte, error) {
	claims, err := encodeClaims(r.member, r.claims)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, headerLen+2+len(claims)+16)
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(r.state.Counter))
	b = binary.BigEndian.AppendUint32(b, uint32(r.state.Floor))
	b = binary.BigEndian.AppendUint64(b, uint64(ms(r.state.RotatedAt)))
	b = binary.BigEndian.AppendUint64(b, uint64(ms(r.used)))
	b = binary.BigEndian.AppendUint64(b, uint64(ms(r.state.ExpiresAt)))
	b = binary.BigEndian.AppendUint64(b, uint64(ms(r.state.WindowStart)))
	b = binary.BigEndian.AppendUint16(b, uint16(min(r.state.WindowCount, 1<<16-1)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(claims)))
	b = append(b, claims...)
	return append(b, packIP(r.ip)...), nil
}

// encodeClaims packs the claims part of a record (with its member id).
func encodeClaims(member string, c store.Claims) ([]byte, error) {
	if member == "" || len(member) > maxField {
		return nil, fmt.Errorf("member id of %d bytes", len(member))
	}
	var flags byte
	switch c.Role {
	case store.RoleAdmin:
		flags |= flagAdmin
	case store.RoleUser, "":
	default:
		return nil, fmt.Errorf("unknown role %q", c.Role)
	}
	if c.EmailVerified {
		flags |= flagVerified
	}
	b := make([]byte, 0, 3+len(member)+len(c.Email)+len(c.Name))
	// A member id in canonical UUID form (what the member service makes)
	// is kept as its 16 bytes.
	if u, err := uuid.Parse(member); err == nil && u.String() == member {
		b = append(b, flags|flagUUID)
		b = append(b, u[:]...)
	} else {
		b = append(b, flags, byte(len(member)))
		b = append(b, member...)
	}
	b = appendField(b, c.Email)
	b = appendField(b, c.Name)
	return b, nil
}

func appendField(b []byte, s string) []byte {
	if len(s) > maxField {
		s = s[:maxField]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	b = append(b, byte(len(s)))
	return append(b, s...)
}

var errRecord = errors.New("malformed session record")

func decodeRecord(b []byte) (record, error) {
	if len(b) < headerLen+2 || b[0] != recordVersion {
		return record{}, errRecord
	}
	be := binary.BigEndian
	r := record{state: store.RefreshState{
		Counter:     uint64(be.Uint32(b[1:])),
		Floor:       uint64(be.Uint32(b[5:])),
		RotatedAt:   fromMSInt(int64(be.Uint64(b[9:]))),
		ExpiresAt:   fromMSInt(int64(be.Uint64(b[25:]))),
		WindowStart: fromMSInt(int64(be.Uint64(b[33:]))),
		WindowCount: int(be.Uint16(b[41:])),
	}, used: fromMSInt(int64(be.Uint64(b[17:])))}
	n := int(be.Uint16(b[headerLen:]))
	claims, rest := b[headerLen+2:], []byte(nil)
	if n > len(claims) {
		return record{}, errRecord
	}
	claims, rest = claims[:n], claims[n:]
	var err error
	if r.member, r.claims, err = decodeClaims(claims); err != nil {
		return record{}, err
	}
	if len(rest) > 0 {
		addr, ok := netip.AddrFromSlice(rest)
		if !ok {
			return record{}, errRecord
		}
		r.ip = addr.Unmap().String()
	}
	return r, nil
}

func decodeClaims(b []byte) (string, store.Claims, error) {
	if len(b) < 1 {
		return "", store.Claims{}, errRecord
	}
	flags, b := b[0], b[1:]
	c := store.Claims{Role: store.RoleUser, EmailVerified: flags&flagVerified != 0}
	if flags&flagAdmin != 0 {
		c.Role = store.RoleAdmin
	}
	var member string
	if flags&flagUUID != 0 {
		if len(b) < 16 {
			return "", store.Claims{}, errRecord
		}
		member, b = uuid.UUID(b[:16]).String(), b[16:]
	} else {
		var ok bool
		if member, b, ok = takeField(b); !ok {
			return "", store.Claims{}, errRecord
		}
	}
	var ok1, ok2 bool
	c.Email, b, ok1 = takeField(b)
	c.Name, b, ok2 = takeField(b)
	if !ok1 || !ok2 || len(b) != 0 || member == "" {
		return "", store.Claims{}, errRecord
	}
	return member, c, nil
}

func takeField(b []byte) (string, []byte, bool) {
	if len(b) < 1 || int(b[0]) > len(b)-1 {
		return "", nil, false
	}
	n := int(b[0])
	return string(b[1 : 1+n]), b[1+n:], true
}

// packIP is the record form of an IP: 4 or 16 bytes, nothing when unknown.
func packIP(ip string) []byte {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return nil
	}
	return addr.Unmap().AsSlice()
}

func fromMSInt(v int64) time.Time { return time.UnixMilli(v).UTC() }
