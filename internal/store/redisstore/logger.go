package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Logger carries go-redis's own log lines (connection pool and pub/sub
// trouble, Sentinel fail-over) into the broker's slog logger, so that in
// production they are JSON like every other line instead of plain text in
// the middle of the JSON stream. Install it with redis.SetLogger: go-redis
// has one logger per process.
type Logger struct {
	l *slog.Logger
}

// NewLogger returns a Logger writing to l.
func NewLogger(l *slog.Logger) *Logger { return &Logger{l: l} }

// Printf implements go-redis's logging interface: each line becomes a
// "redis.log" event at WARN (go-redis logs only what went wrong).
func (g *Logger) Printf(ctx context.Context, format string, v ...any) {
	g.l.LogAttrs(ctx, slog.LevelWarn, "redis.log", slog.String("message", strings.TrimSpace(fmt.Sprintf(format, v...))))
}
