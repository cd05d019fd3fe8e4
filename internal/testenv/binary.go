package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
	binaryOut  []byte
)

// Binary returns the path of an authbroker binary built from this tree:
// AUTHBROKER_BIN when set (scripts/test builds one for every package), else
// one `go build` per test process. Tests that run the real program (a
// crash, a signal, an exit code) use it.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("AUTHBROKER_BIN"); p != "" {
		return p
	}
	binaryOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "authbroker-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "authbroker")
		cmd := exec.Command("go", "build", "-o", binaryPath, "./cmd/authbroker")
		cmd.Dir = root
		binaryOut, binaryErr = cmd.CombinedOutput()
	})
	if binaryErr != nil {
		t.Fatalf("go build ./cmd/authbroker: %v\n%s", binaryErr, binaryOut)
	}
	return binaryPath
}
