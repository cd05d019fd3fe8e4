// Package email holds authbroker's one rule for comparing email addresses.
// Linking accounts by verified email, ADMIN_EMAILS, the member lookup by
// email and the admin search all compare through Key, so no two places can
// disagree about whether two addresses are the same.
package email

// Key is the form in which two addresses are compared: equal keys mean the
// same mailbox for every purpose of the broker.
//
// The rule: ASCII letters are lowercased, in the domain and in the local
// part; every other byte is kept as it is. In particular
//
//   - The domain is case-insensitive (RFC 5321 §2.4), so its ASCII letters
//     fold. Internationalised domains compare as the provider spelled them
//     (A-labels with A-labels, U-labels byte for byte).
//   - The local part is case-sensitive in the letter of RFC 5321, but every
//     provider we accept emails from (Google, GitHub, Kakao, Naver, and the
//     mail systems behind OIDC issuers in practice) treats it as
//     case-insensitive and hands back whatever case the user typed. Folding
//     ASCII case lets "Kim@corp.example" at one provider link to
//     "kim@corp.example" at another and match ADMIN_EMAILS as written; two
//     people owning mailboxes that differ only in ASCII case at one domain,
//     both verified by providers, is the case we knowingly give up.
//   - Nothing outside ASCII is folded or normalised. Unicode case folding
//     maps distinct characters together (KELVIN SIGN U+212A to "k", LONG S
//     U+017F to "s", …), which would let a provider-verified
//     "\u212Aim@corp.example" pass for kim@corp.example: a different
//     mailbox that the provider verified, not the one an admin listed.
//
// Key does not trim or validate: callers pass addresses as providers and
// configuration give them (configuration entries are trimmed where they
// are parsed).
func Key(addr string) string {
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; 'A' <= c && c <= 'Z' {
			b := []byte(addr)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return addr
}

// Same reports whether a and b are the same address under Key.
func Same(a, b string) bool { return Key(a) == Key(b) }
