//go:build !unix

package sqlstore

import "context"

// lockFile is a no-op where flock is unavailable: there, concurrent
// migrations of one SQLite file are not guarded (run `authbroker migrate`
// before starting servers).
func lockFile(context.Context, string) (unlock func(), err error) {
	return func() {}, nil
}
