package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitPort waits until something listens on port, up to d.
func waitPort(port int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 100*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// OwnRedis is a redis-server of one test, which the test may stop and
// start again (fault tests). It keeps nothing on disk unless started with
// persistence arguments, like a cache-configured production Redis.
type OwnRedis struct {
	t    testing.TB
	Port int
	args []string
	cmd  *exec.Cmd
}

// StartOwnRedis starts a private redis-server on a free loopback port with
// extra arguments (e.g. "--appendonly", "yes"); it is killed when the test ends.
func StartOwnRedis(t testing.TB, args ...string) *OwnRedis {
	t.Helper()
	r := &OwnRedis{t: t, Port: FreePort(t), args: args}
	r.Start()
	t.Cleanup(r.Kill)
	return r
}

// URL is the redis:// URL of the server.
func (r *OwnRedis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// Start (re)starts the server on its port, empty unless persistence kept data.
func (r *OwnRedis) Start() {
	r.t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Require(r.t, "redis-server not installed")
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("authbroker-redis-%d", r.Port))
	_ = os.MkdirAll(dir, 0o700)
	r.t.Cleanup(func() { _ = os.RemoveAll(dir) })
	args := append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(r.Port), "--save", "", "--appendonly", "no", "--dir", dir}, r.args...)
	r.cmd = exec.Command(bin, args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	if !waitPort(r.Port, 5*time.Second) {
		r.t.Fatal("redis-server did not start")
	}
}

// Kill stops the server at once (SIGKILL): whatever it kept only in memory is gone.
func (r *OwnRedis) Kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// OwnPostgres is a PostgreSQL cluster of one test (initdb in a temporary
// directory), which the test may stop and start again.
type OwnPostgres struct {
	t    testing.TB
	Port int
	bin  string
	dir  string
	sudo bool
}

// StartOwnPostgres creates and starts a private PostgreSQL cluster on a free
// loopback port (a few seconds); it is stopped when the test ends.
func StartOwnPostgres(t testing.TB) *OwnPostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			bins = []string{p}
		}
	}
	if len(bins) == 0 {
		Require(t, "PostgreSQL server binaries (initdb) not installed")
	}
	sort.Strings(bins)
	p := &OwnPostgres{t: t, Port: FreePort(t), bin: filepath.Dir(bins[len(bins)-1])}
	// PostgreSQL refuses to run as root: as root, run it as postgres.
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		p.sudo = true
	}
	base, err := os.MkdirTemp("", "authbroker-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	p.dir = filepath.Join(base, "data")
	if p.sudo {
		if err := os.Chmod(base, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("chown", "postgres", base).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	p.run("initdb", "-D", p.dir, "-A", "trust", "-U", "postgres", "--no-sync")
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// URL is the postgres:// URL of the cluster's postgres database.
func (p *OwnPostgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
}

// Start starts the cluster and waits until it accepts connections.
func (p *OwnPostgres) Start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.dir, "-o", fmt.Sprintf("-k %s -h 127.0.0.1 -p %d -F", filepath.Dir(p.dir), p.Port),
		"-l", filepath.Join(filepath.Dir(p.dir), "log"), "-w", "start")
}

// Stop stops the cluster at once (immediate shutdown: like a crash, open
// connections are cut).
func (p *OwnPostgres) Stop() {
	_ = p.command("pg_ctl", "-D", p.dir, "-m", "immediate", "-w", "stop").Run()
}

func (p *OwnPostgres) run(name string, args ...string) {
	p.t.Helper()
	if out, err := p.command(name, args...).CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func (p *OwnPostgres) command(name string, args ...string) *exec.Cmd {
	bin := filepath.Join(p.bin, name)
	if p.sudo {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}
