package redisstore

import (
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authbroker/authbroker/internal/config"
)

func TestParseURL(t *testing.T) {
	type want struct {
		addrs            []string
		db               int
		user, password   string
		master           string
		sentinelUser     string
		sentinelPassword string
		cluster          bool
		tls              bool
	}
	tests := []struct {
		name   string
		url    string
		simple bool // redis.ParseURL's *Options, not UniversalOptions
		want   want
		err    string // substring of the error; empty: no error
	}{
		{name: "redis: host, port, db, password", url: "redis://:pw@cache.internal:6380/2", simple: true,
			want: want{addrs: []string{"cache.internal:6380"}, db: 2, password: "pw"}},
		{name: "redis: default port and db", url: "redis://cache.internal", simple: true,
			want: want{addrs: []string{"cache.internal:6379"}}},
		{name: "redis: ACL user", url: "redis://app:pw@cache.internal/0", simple: true,
			want: want{addrs: []string{"cache.internal:6379"}, user: "app", password: "pw"}},
		{name: "rediss: TLS", url: "rediss://cache.example.com:6380", simple: true,
			want: want{addrs: []string{"cache.example.com:6380"}, tls: true}},
		{name: "scheme is case-insensitive", url: "REDIS://cache.internal", simple: true,
			want: want{addrs: []string{"cache.internal:6379"}}},
		{name: "redis: go-redis options accepted", url: "redis://cache.internal/0?dial_timeout=2s&pool_size=20", simple: true,
			want: want{addrs: []string{"cache.internal:6379"}}},
		{name: "redis: unknown option refused", url: "redis://cache.internal/0?pool_sise=20", err: "pool_sise"},
		{name: "redis: bad db", url: "redis://cache.internal/x", err: "database"},

		{name: "sentinel: hosts, master, db, password", url: "redis-sentinel://:pw@s1:26379,s2:26380/mymaster?db=3",
			want: want{addrs: []string{"s1:26379", "s2:26380"}, master: "mymaster", db: 3, password: "pw"}},
		{name: "sentinel: default port, IPv6", url: "redis-sentinel://[::1],[2001:db8::7]:26000,s3/mymaster",
			want: want{addrs: []string{"[::1]:26379", "[2001:db8::7]:26000", "s3:26379"}, master: "mymaster"}},
		{name: "sentinel: one sentinel", url: "redis-sentinel://s1/mymaster",
			want: want{addrs: []string{"s1:26379"}, master: "mymaster"}},
		{name: "sentinel: server and sentinel credentials", url: "redis-sentinel://app:pw@s1/m?sentinel_username=sen&sentinel_password=spw",
			want: want{addrs: []string{"s1:26379"}, master: "m", user: "app", password: "pw", sentinelUser: "sen", sentinelPassword: "spw"}},
		{name: "sentinel: percent-encoded password", url: "redis-sentinel://:p%40ss%2Fw%2C@s1/m",
			want: want{addrs: []string{"s1:26379"}, master: "m", password: "p@ss/w,"}},
		{name: "sentinel over TLS", url: "rediss-sentinel://s1,s2/m",
			want: want{addrs: []string{"s1:26379", "s2:26379"}, master: "m", tls: true}},
		{name: "sentinel: no master name", url: "redis-sentinel://s1:26379", err: "master name"},
		{name: "sentinel: empty master name", url: "redis-sentinel://s1:26379/", err: "master name"},
		{name: "sentinel: master name with a slash", url: "redis-sentinel://s1/m/0", err: "master name"},
		{name: "sentinel: bad db", url: "redis-sentinel://s1/m?db=-1", err: "db"},
		{name: "sentinel: unknown option", url: "redis-sentinel://s1/m?dbb=1", err: "dbb"},
		{name: "sentinel: repeated option", url: "redis-sentinel://s1/m?db=1&db=2", err: "2 times"},

		{name: "cluster: seeds and password", url: "redis-cluster://:pw@n1:6379,n2:7000",
			want: want{addrs: []string{"n1:6379", "n2:7000"}, password: "pw", cluster: true}},
		{name: "cluster: one seed is still a cluster", url: "redis-cluster://n1",
			want: want{addrs: []string{"n1:6379"}, cluster: true}},
		{name: "cluster: trailing slash", url: "redis-cluster://n1/",
			want: want{addrs: []string{"n1:6379"}, cluster: true}},
		{name: "cluster over TLS", url: "rediss-cluster://app:pw@n1,n2",
			want: want{addrs: []string{"n1:6379", "n2:6379"}, user: "app", password: "pw", cluster: true, tls: true}},
		{name: "cluster: database path refused", url: "redis-cluster://n1/1", err: "database 0"},
		{name: "cluster: db option refused", url: "redis-cluster://n1?db=1", err: "db"},
		{name: "cluster: empty host", url: "redis-cluster://n1,,n2", err: "empty host"},
		{name: "cluster: no host", url: "redis-cluster://", err: "empty host"},
		{name: "cluster: port 0", url: "redis-cluster://n1:0", err: "invalid port"},
		{name: "cluster: port out of range", url: "redis-cluster://n1:70000", err: "invalid port"},
		{name: "cluster: port not a number", url: "redis-cluster://n1:http", err: "invalid port"},
		{name: "cluster: port without host", url: "redis-cluster://:6379", err: "no host"},
		{name: "cluster: unbracketed IPv6", url: "redis-cluster://::1", err: "brackets"},
		{name: "cluster: unclosed bracket", url: "redis-cluster://[::1", err: "brackets"},
		{name: "cluster: fragment", url: "redis-cluster://n1#x", err: "fragment"},

		{name: "no scheme", url: "cache.internal:6379", err: "missing scheme"},
		{name: "unknown scheme", url: "memcached://cache.internal", err: "unsupported scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			simple, universal, err := parseURL(tt.url)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.err)
				}
				if simple != nil || universal != nil {
					t.Fatal("options returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			var got want
			var tlsConf *tls.Config
			switch {
			case tt.simple && simple != nil && universal == nil:
				got = want{addrs: []string{simple.Addr}, db: simple.DB, user: simple.Username, password: simple.Password}
				tlsConf = simple.TLSConfig
			case !tt.simple && universal != nil && simple == nil:
				got = want{addrs: universal.Addrs, db: universal.DB, user: universal.Username, password: universal.Password,
					master: universal.MasterName, sentinelUser: universal.SentinelUsername,
					sentinelPassword: universal.SentinelPassword, cluster: universal.IsClusterMode}
				tlsConf = universal.TLSConfig
			default:
				t.Fatalf("simple = %v, universal = %v; want only the %s options", simple != nil, universal != nil,
					map[bool]string{true: "simple", false: "universal"}[tt.simple])
			}
			got.tls = tlsConf != nil
			if tlsConf != nil && tlsConf.MinVersion < tls.VersionTLS12 {
				t.Errorf("TLS MinVersion = %x, want at least TLS 1.2", tlsConf.MinVersion)
			}
			if got.password != tt.want.password || got.sentinelPassword != tt.want.sentinelPassword {
				t.Errorf("passwords differ from the URL's")
			}
			got.password, got.sentinelPassword = "", ""
			tt.want.password, tt.want.sentinelPassword = "", ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("options = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseURLErrorsHideThePassword(t *testing.T) {
	for _, u := range []string{
		"redis://:s3cret@cache.internal/x",
		"redis://:s3cret@cache internal",
		"redis://:s3cret@cache.internal/0?bogus=1",
		"redis-sentinel://:s3cret@s1",
		"redis-sentinel://:s3cret@s1/m?bogus=1",
		"redis-sentinel://:s3cret%zz@s1/m",
		"redis-cluster://:s3cret@n1/1",
		"redis-cluster://:s3cret@n1:0",
		"bogus://:s3cret@n1",
	} {
		_, _, err := parseURL(u)
		if err == nil {
			t.Errorf("%s: no error", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}

func TestConnectPicksTheClientKind(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"redis://127.0.0.1:6379/0", "*redis.Client"},
		{"redis-sentinel://127.0.0.1:26379/mymaster", "*redis.Client"}, // go-redis's failover client
		{"redis-cluster://127.0.0.1:7000", "*redis.ClusterClient"},
		{"redis-cluster://127.0.0.1:7000,127.0.0.1:7001", "*redis.ClusterClient"},
	}
	for _, tt := range tests {
		c, err := Connect(tt.url)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		var got string
		switch c.(type) {
		case *redis.Client:
			got = "*redis.Client"
		case *redis.ClusterClient:
			got = "*redis.ClusterClient"
		default:
			got = "other"
		}
		if got != tt.want {
			t.Errorf("%s: client %s, want %s", tt.url, got, tt.want)
		}
		_ = c.Close()
	}
}

// TestConfigSchemesConnect: the schemes configuration validation accepts
// (config.RedisSchemes) are exactly the ones Connect understands, so a
// REDIS_URL that passes config is never refused later for its scheme.
func TestConfigSchemesConnect(t *testing.T) {
	sample := map[string]string{
		"redis": "redis://h1", "rediss": "rediss://h1", "unix": "unix:///run/redis.sock",
		"redis-sentinel": "redis-sentinel://h1/m", "rediss-sentinel": "rediss-sentinel://h1/m",
		"redis-cluster": "redis-cluster://h1", "rediss-cluster": "rediss-cluster://h1",
	}
	for _, s := range config.RedisSchemes() {
		u, ok := sample[s]
		if !ok {
			t.Errorf("config accepts %s:// but this test has no sample for it", s)
			continue
		}
		if _, _, err := parseURL(u); err != nil {
			t.Errorf("config accepts %s but Connect refuses it: %v", u, err)
		}
		delete(sample, s)
	}
	for s := range sample {
		t.Errorf("Connect understands %s:// but config refuses it", s)
	}
}

// TestLoggerWritesSlog: a go-redis log line becomes one structured event.
func TestLoggerWritesSlog(t *testing.T) {
	var b strings.Builder
	NewLogger(slog.New(slog.NewJSONHandler(&b, nil))).Printf(t.Context(), "redis: connection pool: failed to dial after %d attempts: %v\n", 5, "refused")
	var ev map[string]any
	if err := json.Unmarshal([]byte(b.String()), &ev); err != nil {
		t.Fatalf("not one JSON line: %q", b.String())
	}
	if ev["msg"] != "redis.log" || ev["level"] != "WARN" || ev["message"] != "redis: connection pool: failed to dial after 5 attempts: refused" {
		t.Fatalf("event = %v", ev)
	}
}
