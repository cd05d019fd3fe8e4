package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Durability reports what this Redis would lose, as warnings for the
// start-up log and /readyz: sessions, logouts (the denylist) and rate
// limits live here, so a Redis that keeps nothing on disk forgets every
// session and every logout when it restarts, and one that evicts keys
// under memory pressure drops sessions silently.
//
// What we ask for (docs/OPERATIONS.md): appendonly yes with appendfsync
// everysec or always (at most one second of rotations lost in a crash), and
// maxmemory-policy noeviction. RDB snapshots alone lose everything since
// the last snapshot.
//
// Managed services often refuse CONFIG: that is reported once as a warning
// that durability could not be checked, never as a failure.
func (s *Store) Durability(ctx context.Context) []string {
	var (
		mu       sync.Mutex
		warnings []string
	)
	check := func(ctx context.Context, node *redis.Client) error {
		cfg, err := node.ConfigGet(ctx, "*").Result()
		if err != nil {
			return err
		}
		// ForEachMaster runs this on every master at once.
		mu.Lock()
		defer mu.Unlock()
		addr := node.Options().Addr
		if cfg["appendonly"] != "yes" {
			if cfg["save"] == "" {
				warnings = append(warnings, fmt.Sprintf("redis %s keeps nothing on disk (appendonly no, no save points): a restart loses every session and every logout; set appendonly yes", addr))
			} else {
				warnings = append(warnings, fmt.Sprintf("redis %s persists only RDB snapshots (save %q): a crash loses the sessions and logouts since the last snapshot; set appendonly yes", addr, cfg["save"]))
			}
		} else if f := cfg["appendfsync"]; f != "everysec" && f != "always" {
			warnings = append(warnings, fmt.Sprintf("redis %s has appendfsync %s: a crash may lose more than a second of sessions and logouts; use everysec", addr, f))
		}
		if p := cfg["maxmemory-policy"]; p != "" && p != "noeviction" {
			warnings = append(warnings, fmt.Sprintf("redis %s evicts keys under memory pressure (maxmemory-policy %s): sessions can vanish; use noeviction", addr, p))
		}
		return nil
	}
	var err error
	switch c := s.c.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, check)
	case *redis.Client:
		err = check(ctx, c)
	default:
		err = fmt.Errorf("unsupported client %T", s.c)
	}
	if err != nil {
		msg := err.Error()
		if strings.Contains(strings.ToLower(msg), "unknown command") || strings.Contains(msg, "NOPERM") {
			msg = "CONFIG is not allowed"
		}
		warnings = append(warnings, "redis durability could not be checked ("+msg+"): make sure it persists with appendonly yes and never evicts (maxmemory-policy noeviction)")
	}
	return warnings
}
