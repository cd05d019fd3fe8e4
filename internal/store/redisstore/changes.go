package redisstore

import (
	"context"

	"github.com/authbroker/authbroker/internal/store"
)

var _ store.Changes = (*Store)(nil)

func (s *Store) changesChannel(topic string) string { return s.prefix + "changes:" + topic }

// Announce implements store.Changes with PUBLISH.
func (s *Store) Announce(ctx context.Context, topic string) error {
	if err := s.c.Publish(ctx, s.changesChannel(topic), "1").Err(); err != nil {
		return wrap("announce "+topic, err)
	}
	return nil
}

// Watch implements store.Changes with SUBSCRIBE, returning once Redis has
// confirmed the subscription. Like WatchDenied, a broken subscription
// closes the channel rather than resubscribing silently.
func (s *Store) Watch(ctx context.Context, topic string) (<-chan struct{}, error) {
	ps := s.c.Subscribe(ctx, s.changesChannel(topic))
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, wrap("watch "+topic, err)
	}
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		defer ps.Close()
		stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
		defer stop()
		for {
			if _, err := ps.ReceiveMessage(ctx); err != nil {
				return
			}
			select {
			case ch <- struct{}{}:
			default: // a reload is already pending
			}
		}
	}()
	return ch, nil
}
