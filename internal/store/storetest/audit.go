package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/authbroker/authbroker/internal/store"
)

// runAudit checks a store.Audit backend: entries are append-only, listed
// newest first, and paged by id. Each subtest writes as its own random
// actor and looks only at that actor's entries, so a shared store is fine.
func runAudit(t *testing.T, newStore func(t *testing.T) MembersAndAudit) {
	t.Run("entries come back newest first with every field", func(t *testing.T) {
		st := newStore(t)
		actor := randomID(t)
		want := appendEntries(t, st, actor, 3)
		got := entriesOf(t, st, actor, 0, 500)
		slices.Reverse(want)
		checkEntries(t, got, want)
		for i := 1; i < len(got); i++ {
			if got[i].ID >= got[i-1].ID {
				t.Fatalf("ids %d then %d: want strictly decreasing", got[i-1].ID, got[i].ID)
			}
		}
	})

	t.Run("before pages to older entries", func(t *testing.T) {
		st := newStore(t)
		actor := randomID(t)
		appendEntries(t, st, actor, 5)
		all := entriesOf(t, st, actor, 0, 500)
		if len(all) != 5 {
			t.Fatalf("%d entries, want 5", len(all))
		}
		older := entriesOf(t, st, actor, all[1].ID, 500)
		checkEntries(t, older, all[2:])
	})

	t.Run("limit caps the page", func(t *testing.T) {
		st := newStore(t)
		actor := randomID(t)
		appendEntries(t, st, actor, 3)
		all := entriesOf(t, st, actor, 0, 500)
		if len(all) != 3 {
			t.Fatalf("%d entries, want 3", len(all))
		}
		// Entries are this actor's newest: a page of 2 before a later id
		// than all of them holds the two newest.
		page, err := st.ListAudit(ctx(t), all[0].ID+1, 2)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		checkEntries(t, page, all[:2])
	})

	t.Run("entry without target or detail", func(t *testing.T) {
		st := newStore(t)
		actor := randomID(t)
		e := store.AuditEntry{At: now(), ActorID: actor, Action: "member.revoke_sessions"}
		if err := st.AppendAudit(ctx(t), e); err != nil {
			t.Fatalf("append: %v", err)
		}
		checkEntries(t, entriesOf(t, st, actor, 0, 500), []store.AuditEntry{e})
	})
}

// appendEntries writes n entries of actor, one second apart, oldest first.
func appendEntries(t *testing.T, st store.Audit, actor string, n int) []store.AuditEntry {
	t.Helper()
	base := now().Add(-time.Duration(n) * time.Second)
	out := make([]store.AuditEntry, n)
	for i := range out {
		out[i] = store.AuditEntry{
			At:       base.Add(time.Duration(i) * time.Second),
			ActorID:  actor,
			Action:   "member.role",
			TargetID: randomID(t),
			IP:       "2001:db8::" + fmt.Sprint(i+1),
			Detail:   []byte(fmt.Sprintf(`{"from":"user","to":"admin","n":%d}`, i)),
		}
		if err := st.AppendAudit(ctx(t), out[i]); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	return out
}

// entriesOf lists with before and limit and keeps actor's entries.
func entriesOf(t *testing.T, st store.Audit, actor string, before int64, limit int) []store.AuditEntry {
	t.Helper()
	list, err := st.ListAudit(ctx(t), before, limit)
	if err != nil {
		t.Fatalf("list audit: %v", err)
	}
	var out []store.AuditEntry
	for _, e := range list {
		if e.ActorID == actor {
			out = append(out, e)
		}
	}
	return out
}

// checkEntries compares every field but the store-assigned id, which must
// be set; times within timeTolerance, Detail byte for byte.
func checkEntries(t *testing.T, got, want []store.AuditEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID <= 0 {
			t.Errorf("entry %d: id %d, want a positive id", i, g.ID)
		}
		sameTime(t, "At", g.At, w.At)
		if string(g.Detail) != string(w.Detail) {
			t.Errorf("entry %d: detail %s, want %s", i, g.Detail, w.Detail)
		}
		if g.ActorID != w.ActorID || g.Action != w.Action || g.TargetID != w.TargetID || g.IP != w.IP {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
}
