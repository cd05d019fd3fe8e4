package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is one redis-server process of a group.
type redisServer struct {
	port int
	cmd  *exec.Cmd
}

func startRedisProcess(dir string, port int, args ...string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	d := filepath.Join(dir, strconv.Itoa(port))
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	all := append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", d, "--save", "", "--appendonly", "no"}, args...)
	cmd := exec.Command(bin, all...)
	cmd.Dir = d
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if !waitPort(port, 10*time.Second) {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("redis-server on %d did not start", port)
	}
	return &redisServer{port: port, cmd: cmd}, nil
}

func (s *redisServer) kill() {
	if s != nil && s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// freePorts returns n distinct free loopback ports.
func freePorts(t testing.TB, n int) []int {
	seen := map[int]bool{}
	var out []int
	for len(out) < n {
		if p := FreePort(t); !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

var (
	clusterOnce sync.Once
	clusterURL  string
	clusterErr  error
)

// RedisCluster returns the URL of a real 3-master Redis Cluster, started
// once per test binary (a second or two) on free loopback ports and left
// for the process to end, and a key prefix of this test's own, cleaned up
// on every master when the test ends.
func RedisCluster(t testing.TB) (redisURL, prefix string) {
	t.Helper()
	clusterOnce.Do(func() { clusterURL, clusterErr = startCluster() })
	if clusterErr != nil {
		Require(t, "Redis Cluster: %v", clusterErr)
	}
	prefix = RandomName("abtest:") + ":"
	t.Cleanup(func() {
		opt, err := redis.ParseClusterURL(strings.Replace(clusterURL, "redis-cluster://", "redis://", 1))
		if err != nil {
			return
		}
		c := redis.NewClusterClient(opt)
		defer c.Close()
		_ = c.ForEachMaster(context.Background(), func(ctx context.Context, n *redis.Client) error {
			iter := n.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				n.Del(ctx, iter.Val())
			}
			return nil
		})
	})
	return clusterURL, prefix
}

func startCluster() (string, error) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "authbroker-cluster-")
	if err != nil {
		return "", err
	}
	ports := freePorts(nopTB{}, 3)
	var addrs []string
	for _, p := range ports {
		if _, err := startRedisProcess(dir, p, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"); err != nil {
			return "", err
		}
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", p))
	}
	// The processes live as long as the test binary (the OS reaps them).
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("redis-cli --cluster create: %v: %s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, _ := exec.Command("redis-cli", "-p", strconv.Itoa(ports[0]), "cluster", "info").Output()
		if strings.Contains(string(info), "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("cluster_state never ok: %s", info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "redis-cluster://" + strings.Join(addrs, ","), nil
}

// nopTB stands in for a test in set-ups that outlive one test (started
// once per test binary): its failures panic, and the processes it starts
// end with the binary.
type nopTB struct{ testing.TB }

func (nopTB) Helper()                        {}
func (nopTB) Fatal(args ...any)              { panic(fmt.Sprint(args...)) }
func (nopTB) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (nopTB) Skipf(format string, a ...any)  { panic(fmt.Sprintf(format, a...)) }
func (nopTB) Cleanup(func())                 {}
func (nopTB) TempDir() string {
	d, err := os.MkdirTemp("", "authbroker-redis-")
	if err != nil {
		panic(err)
	}
	return d
}

var (
	sentinelOnce  sync.Once
	sentinelGroup *SentinelGroup
	sentinelErr   error
)

// RedisSentinel returns the redis-sentinel:// URL of a master, a replica
// and three sentinels started once per test binary, and a key prefix of
// this test's own (cleaned up when it ends). Tests that fail the master
// over start their own group (StartSentinelGroup).
func RedisSentinel(t testing.TB) (redisURL, prefix string) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		Require(t, "redis-server not installed")
	}
	sentinelOnce.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				sentinelErr = fmt.Errorf("%v", r)
			}
		}()
		sentinelGroup = StartSentinelGroup(nopTB{})
	})
	if sentinelErr != nil {
		Require(t, "Redis Sentinel: %v", sentinelErr)
	}
	prefix = RandomName("abtest:") + ":"
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", sentinelGroup.MasterPort())})
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return sentinelGroup.URL(), prefix
}

// SentinelGroup is a Redis master, its replica and three sentinels
// (quorum 2) of one test, which the test may fail over.
type SentinelGroup struct {
	t         testing.TB
	Master    string // the monitored master's name
	master    *redisServer
	replica   *redisServer
	sentinels []*redisServer
}

// StartSentinelGroup starts a master, a replica and three sentinels on free
// loopback ports (a few seconds), stopped when the test ends.
func StartSentinelGroup(t testing.TB) *SentinelGroup {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		Require(t, "redis-server not installed")
	}
	dir := t.TempDir()
	ports := freePorts(t, 5)
	g := &SentinelGroup{t: t, Master: "mymaster"}
	t.Cleanup(g.stop)
	var err error
	if g.master, err = startRedisProcess(dir, ports[0]); err != nil {
		t.Fatal(err)
	}
	if g.replica, err = startRedisProcess(dir, ports[1], "--replicaof", "127.0.0.1", strconv.Itoa(ports[0])); err != nil {
		t.Fatal(err)
	}
	for _, p := range ports[2:] {
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", p))
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
			p, g.Master, ports[0], g.Master, g.Master, g.Master)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		bin, _ := exec.LookPath("redis-server")
		cmd := exec.Command(bin, conf, "--sentinel")
		cmd.Dir = dir
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		s := &redisServer{port: p, cmd: cmd}
		g.sentinels = append(g.sentinels, s)
		if !waitPort(p, 10*time.Second) {
			t.Fatal("sentinel did not start")
		}
	}
	// Ready when every sentinel sees the replica in sync.
	deadline := time.Now().Add(30 * time.Second)
	for !g.replicaKnown() {
		if time.Now().After(deadline) {
			t.Fatal("the sentinels never saw the replica")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return g
}

func (g *SentinelGroup) replicaKnown() bool {
	for _, s := range g.sentinels {
		out, err := exec.Command("redis-cli", "-p", strconv.Itoa(s.port), "sentinel", "replicas", g.Master).Output()
		if err != nil || !strings.Contains(string(out), strconv.Itoa(g.replica.port)) || strings.Contains(string(out), "s_down") {
			return false
		}
	}
	link, _ := exec.Command("redis-cli", "-p", strconv.Itoa(g.replica.port), "info", "replication").Output()
	return strings.Contains(string(link), "master_link_status:up")
}

// URL is the redis-sentinel:// URL of the group.
func (g *SentinelGroup) URL() string {
	var addrs []string
	for _, s := range g.sentinels {
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", s.port))
	}
	return "redis-sentinel://" + strings.Join(addrs, ",") + "/" + g.Master
}

// MasterPort and ReplicaPort are the data servers' ports.
func (g *SentinelGroup) MasterPort() int  { return g.master.port }
func (g *SentinelGroup) ReplicaPort() int { return g.replica.port }

// KillMaster kills the master (SIGKILL) and waits until the sentinels have
// promoted the replica, returning how long that took.
func (g *SentinelGroup) KillMaster() time.Duration {
	g.t.Helper()
	start := time.Now()
	g.master.kill()
	want := strconv.Itoa(g.replica.port)
	for {
		out, _ := exec.Command("redis-cli", "-p", strconv.Itoa(g.sentinels[0].port), "sentinel", "get-master-addr-by-name", g.Master).Output()
		if strings.Contains(string(out), want) {
			role, _ := exec.Command("redis-cli", "-p", want, "role").Output()
			if strings.HasPrefix(string(role), "master") {
				return time.Since(start)
			}
		}
		if time.Since(start) > 60*time.Second {
			g.t.Fatal("no failover within 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *SentinelGroup) stop() {
	for _, s := range g.sentinels {
		s.kill()
	}
	g.replica.kill()
	g.master.kill()
}
