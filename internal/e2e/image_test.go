package e2e

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authbroker/authbroker/cmd/authbroker/app/apptest"
	"github.com/authbroker/authbroker/internal/testenv"
)

// TestImage builds the container image the way deploy/Dockerfile's runtime
// stage does, from a binary built here (no base image can be pulled on
// these machines: deploy/image/Containerfile.local is that stage with the
// build stage's output prepared by this test), runs it with podman and
// checks /readyz, a whole dev sign-in and the image's own health check,
// as an orchestrator would. The image's size goes to the test log.
func TestImage(t *testing.T) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		testenv.Require(t, "podman not found: %v", err)
	}
	root := filepath.Join("..", "..")
	checkStagesAgree(t, root)

	ctx := t.TempDir()
	rootfs := filepath.Join(ctx, "rootfs")
	for _, dir := range []string{"etc/ssl/certs", "data"} {
		if err := os.MkdirAll(filepath.Join(rootfs, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.buildVersion=v0.0.0-test", "-o", filepath.Join(rootfs, "authbroker"), "./cmd/authbroker")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		testenv.Require(t, "CA certificates (Debian's ca-certificates): %v", err)
	}
	for name, data := range map[string]string{
		"etc/ssl/certs/ca-certificates.crt": string(certs),
		"etc/passwd":                        "authbroker:x:65532:65532:authbroker:/data:/sbin/nologin\n",
		"etc/group":                         "authbroker:x:65532:\n",
	} {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	containerfile, err := os.ReadFile(filepath.Join(root, "deploy", "image", "Containerfile.local"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "Containerfile"), containerfile, 0o644); err != nil {
		t.Fatal(err)
	}

	tag := testenv.RandomName("localhost/authbroker-test:")
	pm := func(args ...string) (string, error) {
		var out bytes.Buffer
		c := exec.Command(podman, args...)
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		return strings.TrimSpace(out.String()), err
	}
	// Docker format keeps HEALTHCHECK (the OCI image format has no field for it).
	if out, err := pm("build", "--format", "docker", "-q", "-t", tag, ctx); err != nil {
		t.Fatalf("podman build: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = pm("rmi", "-f", tag) })
	size, _ := pm("image", "inspect", "--format", "{{.Size}}", tag)
	if n, err := strconv.ParseInt(size, 10, 64); err == nil {
		t.Logf("image %s: %.1f MB", tag, float64(n)/1e6)
	}
	if hc, _ := pm("image", "inspect", "--format", "{{.HealthCheck.Test}}", tag); !strings.Contains(hc, "/authbroker healthcheck") {
		t.Errorf("image health check %q, want /authbroker healthcheck", hc)
	}
	if user, _ := pm("image", "inspect", "--format", "{{.User}}", tag); user != "65532:65532" {
		t.Errorf("image user %q, want 65532:65532 (not root)", user)
	}

	ln, base := apptest.Listen(t)
	port := base[strings.LastIndex(base, ":")+1:]
	ln.Close() // the container binds it
	name := testenv.RandomName("authbroker-test-")
	args := append(append(runtimeArgs(), "run"), limitArgs()...)
	args = append(args, "-d", "--name", name, "--network", "host", "--read-only",
		"-e", "LISTEN_ADDR=127.0.0.1:"+port, "-e", "BASE_URL="+base, "-e", "DEV_LOGIN=true",
		"-e", "ALLOWED_RETURN_URLS="+testReturnTo, tag)
	if out, err := pm(args...); err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := pm("logs", name)
			t.Logf("container logs:\n%s", logs)
		}
		_, _ = pm("rm", "-f", "-t", "2", name)
	})

	eventually(t, 30*time.Second, "the container's /readyz to answer 200", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	tr := signInDev(t, &broker{URL: base}, testReturnTo, "ada@example.com")
	if tr.AccessToken == "" || tr.RefreshToken == "" || tr.Member.Email != "ada@example.com" {
		t.Fatalf("dev sign-in against the container: %+v", tr)
	}
	if out, err := pm(append(runtimeArgs(), "healthcheck", "run", name)...); err != nil {
		t.Fatalf("podman healthcheck run: %v\n%s", err, out)
	}
	if out, err := pm(append(runtimeArgs(), "exec", name, "/authbroker", "version")...); err != nil || !strings.Contains(out, "v0.0.0-test") {
		t.Errorf("authbroker version in the image: %q %v", out, err)
	}
	// A SIGTERM stops it cleanly (exit 0) within the drain and shutdown bounds.
	if out, err := pm("kill", "--signal", strconv.Itoa(int(syscall.SIGTERM)), name); err != nil {
		t.Fatalf("podman kill: %v\n%s", err, out)
	}
	if out, err := pm("wait", name); err != nil || out != "0" {
		t.Errorf("exit status after SIGTERM: %q %v, want 0", out, err)
	}
}

// runtimeArgs are the global podman flags this machine needs: runc where
// it is installed (crun refuses cgroups v1 "hybrid" hosts such as these
// VMs; scripts/test installs runc).
func runtimeArgs() []string {
	if _, err := exec.LookPath("runc"); err == nil {
		return []string{"--runtime", "runc"}
	}
	return nil
}

// limitArgs are explicit ulimits for `podman run`: podman's defaults for
// root exceed what these VMs let a container set.
func limitArgs() []string {
	var nofile syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil || nofile.Cur > 65536 {
		nofile.Cur = 65536
	}
	n := strconv.FormatUint(nofile.Cur, 10)
	return []string{"--ulimit", "nofile=" + n + ":" + n, "--ulimit", "nproc=4096:4096"}
}

// checkStagesAgree: from the first USER line on, deploy/Dockerfile,
// deploy/image/Containerfile.local and the release image's
// deploy/image/Dockerfile.release say the same, so the image the suite
// runs is the one operators build and the one releases publish.
func checkStagesAgree(t *testing.T, root string) {
	t.Helper()
	tail := func(name string) []string {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		i := strings.Index(s, "\nUSER ")
		if i < 0 {
			t.Fatalf("%s has no USER line", name)
		}
		return strings.Split(strings.TrimSpace(s[i:]), "\n")
	}
	real := tail("deploy/Dockerfile")
	for _, other := range []string{"deploy/image/Containerfile.local", "deploy/image/Dockerfile.release"} {
		if got := tail(other); strings.Join(real, "\n") != strings.Join(got, "\n") {
			t.Fatalf("the runtime stages differ after USER:\ndeploy/Dockerfile:\n%s\n\n%s:\n%s", strings.Join(real, "\n"), other, strings.Join(got, "\n"))
		}
	}
}
