package providers

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Recorder remembers each provider's most recent failure (discovery, token
// endpoint, user API) so the admin page can show why a provider is broken
// without anyone reading logs. The registry owns one and hands it to every
// provider. Safe for concurrent use.
type Recorder struct {
	now    func() time.Time
	logger *slog.Logger

	mu   sync.Mutex
	last map[string]failure
}

type failure struct {
	msg string
	at  time.Time
}

// NewRecorder returns an empty Recorder. now and logger may be nil.
func NewRecorder(now func() time.Time, logger *slog.Logger) *Recorder {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{now: now, logger: logger, last: map[string]failure{}}
}

// Record stores err as provider's last failure and logs it. The error text
// must not carry tokens or secrets; this package's errors never do.
func (r *Recorder) Record(provider string, err error) {
	if r == nil || err == nil {
		return
	}
	f := failure{msg: err.Error(), at: r.now().UTC()}
	r.mu.Lock()
	r.last[provider] = f
	r.mu.Unlock()
	r.logger.LogAttrs(context.Background(), slog.LevelWarn, "provider.failure",
		slog.String("provider", provider), slog.String("error", f.msg))
}

// Last returns provider's most recent failure, or "" and the zero time.
func (r *Recorder) Last(provider string) (string, time.Time) {
	if r == nil {
		return "", time.Time{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.last[provider]
	return f.msg, f.at
}
