package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Default ports when an address of a Sentinel or Cluster URL has none.
const (
	sentinelPort = "26379"
	clusterPort  = "6379"
)

// Connect returns a client for REDIS_URL (BRIEF §6). It does not contact the
// server: readiness is Store.Ping's job. The accepted forms are
//
//	redis://[[user]:password@]host[:port][/db][?option=value&…]
//	rediss://…                 the same over TLS
//	unix://[[user]:password@]/path/to/redis.sock[?db=N&…]
//
//	redis-sentinel://[[user]:password@]host1[:port],host2[:port]/master[?db=N&sentinel_username=…&sentinel_password=…]
//	rediss-sentinel://…        the same over TLS (to sentinels and servers)
//
//	redis-cluster://[[user]:password@]host1[:port],host2[:port]
//	rediss-cluster://…         the same over TLS
//
// The first three are go-redis's own URLs (redis.ParseURL), so its query
// options apply (dial_timeout, read_timeout, pool_size, …; unknown ones are
// refused). With Sentinel, the hosts are sentinels (default port 26379),
// master is the monitored master's name, and user and password authenticate
// to the servers; sentinels that need their own credentials take
// sentinel_username and sentinel_password. With Cluster, the hosts are seed
// nodes (default port 6379): the client discovers the others, and db is
// always 0. IPv6 hosts are written in brackets ([::1]:26379); reserved
// characters in a password must be percent-encoded.
//
// Error messages never repeat the URL, which may carry a password.
func Connect(redisURL string) (redis.UniversalClient, error) {
	simple, universal, err := parseURL(redisURL)
	if err != nil {
		return nil, err
	}
	if simple != nil {
		return redis.NewClient(simple), nil
	}
	return redis.NewUniversalClient(universal), nil
}

// parseURL returns the options of a single-server URL (simple) or of a
// Sentinel or Cluster URL (universal); exactly one is set when err is nil.
func parseURL(raw string) (simple *redis.Options, universal *redis.UniversalOptions, err error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, nil, errors.New("redis url: missing scheme (redis://, rediss://, redis-sentinel://, redis-cluster://)")
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case "redis", "rediss", "unix":
		opt, err := redis.ParseURL(scheme + "://" + rest)
		if err != nil {
			return nil, nil, fmt.Errorf("redis url: %w", redactURLError(err))
		}
		return opt, nil, nil
	case "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster":
		u, err := parseMultiHost(rest, strings.HasSuffix(scheme, "-sentinel"), strings.HasPrefix(scheme, "rediss"))
		if err != nil {
			return nil, nil, fmt.Errorf("redis url: %s: %w", scheme, err)
		}
		return nil, u, nil
	default:
		return nil, nil, fmt.Errorf("redis url: unsupported scheme %q (redis://, rediss://, unix://, redis-sentinel://, redis-cluster://)", scheme)
	}
}

// parseMultiHost parses what follows "scheme://" in a Sentinel or Cluster
// URL. net/url cannot parse a comma-separated host list with IPv6 literals,
// so the authority is split here and the rest (user info, path, query) is
// left to net/url with a placeholder host.
func parseMultiHost(rest string, sentinel, useTLS bool) (*redis.UniversalOptions, error) {
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo, hosts := "", authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	u, err := url.Parse("x://" + userinfo + "placeholder" + tail)
	if err != nil {
		return nil, redactURLError(err)
	}
	if u.Fragment != "" {
		return nil, errors.New("unexpected fragment")
	}

	defPort := clusterPort
	if sentinel {
		defPort = sentinelPort
	}
	opt := &redis.UniversalOptions{}
	for h := range strings.SplitSeq(hosts, ",") {
		addr, err := hostPort(h, defPort)
		if err != nil {
			return nil, err
		}
		opt.Addrs = append(opt.Addrs, addr)
	}
	if u.User != nil {
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
	}
	if useTLS {
		// ServerName is left empty: crypto/tls takes it from each address dialled.
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}

	path := strings.TrimPrefix(u.Path, "/")
	if sentinel {
		if path == "" || strings.Contains(path, "/") {
			return nil, errors.New("the path must be the master name (/mymaster)")
		}
		opt.MasterName = path
	} else {
		if path != "" {
			return nil, errors.New("a cluster URL has no path (Cluster has only database 0)")
		}
		opt.IsClusterMode = true
	}

	for k, vs := range u.Query() {
		if len(vs) != 1 {
			return nil, fmt.Errorf("option %s given %d times", k, len(vs))
		}
		v := vs[0]
		switch {
		case sentinel && k == "db":
			db, err := strconv.Atoi(v)
			if err != nil || db < 0 {
				return nil, fmt.Errorf("invalid db %q", v)
			}
			opt.DB = db
		case sentinel && k == "sentinel_username":
			opt.SentinelUsername = v
		case sentinel && k == "sentinel_password":
			opt.SentinelPassword = v
		default:
			return nil, fmt.Errorf("unknown option %q", k)
		}
	}
	return opt, nil
}

// hostPort validates one address of a host list and adds defPort when it
// has no port.
func hostPort(h, defPort string) (string, error) {
	if h == "" {
		return "", errors.New("empty host in the host list")
	}
	if host, port, err := net.SplitHostPort(h); err == nil {
		if host == "" {
			return "", fmt.Errorf("address %q has no host", h)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("address %q has an invalid port", h)
		}
		return net.JoinHostPort(host, port), nil
	}
	switch {
	case strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]"):
		if ip := net.ParseIP(h[1 : len(h)-1]); ip == nil || ip.To4() != nil {
			return "", fmt.Errorf("address %q is not a bracketed IPv6 address", h)
		}
		return net.JoinHostPort(h[1:len(h)-1], defPort), nil
	case strings.ContainsAny(h, "[]:"):
		return "", fmt.Errorf("invalid address %q (write IPv6 addresses in brackets)", h)
	default:
		return net.JoinHostPort(h, defPort), nil
	}
}

// redactURLError drops the URL from a *url.Error, which quotes it whole,
// password included.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
