package apierror_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const root = "../.."

// TestErrorCodesAreDocumented: the error codes the broker can write are
// exactly the Code constants of this package, and the README's table lists
// exactly those — so a client developer can rely on the table.
func TestErrorCodesAreDocumented(t *testing.T) {
	declared := declaredCodes(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	begin, end := strings.Index(string(readme), "<!-- error-codes:begin -->"), strings.Index(string(readme), "<!-- error-codes:end -->")
	if begin < 0 || end < begin {
		t.Fatal("README.md has no error-codes table")
	}
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(string(readme)[begin:end], -1) {
		documented = append(documented, m[1])
	}
	slices.Sort(declared)
	slices.Sort(documented)
	if !slices.Equal(declared, documented) {
		t.Fatalf("README error codes %v\n  != apierror's Code constants %v", documented, declared)
	}
}

// TestNoErrorBodyOutsideTheWriter: no code outside the one error writer
// makes up an error code or writes an error body itself: error codes in
// constructors are the package's constants, and handlers return errors
// instead of calling c.JSON with an error status. (The public verifier,
// handlers/bearer, writes its own RFC 6750 answers: it runs in other
// people's services.)
func TestNoErrorBodyOutsideTheWriter(t *testing.T) {
	literal := []*regexp.Regexp{
		regexp.MustCompile(`Code:\s*"`),
		regexp.MustCompile(`apierror\.New\([^,]+,\s*"`),
		regexp.MustCompile(`newErr\([^,]+,\s*"`),
		regexp.MustCompile(`c\.JSON\(http\.Status(BadRequest|Unauthorized|Forbidden|NotFound|Conflict|TooManyRequests|InternalServerError|BadGateway|ServiceUnavailable)`),
		regexp.MustCompile(`c\.String\(http\.Status(BadRequest|Unauthorized|Forbidden|NotFound|Conflict|TooManyRequests|InternalServerError)`),
	}
	for _, dir := range []string{"handlers", "internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "bearer" || d.Name() == "node_modules" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
				strings.HasSuffix(path, filepath.Join("handlers", "errors.go")) || strings.Contains(path, "testenv") || strings.Contains(path, "apptest") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(src), "\n") {
				for _, re := range literal {
					if re.MatchString(line) && !strings.Contains(line, "not an error body") {
						t.Errorf("%s:%d: an error code or body made up outside apierror and the writer: %s", path, i+1, strings.TrimSpace(line))
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// declaredCodes reads the Code constants of apierror.go.
func declaredCodes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "apierror.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if strings.HasPrefix(name.Name, "Code") && i < len(vs.Values) {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
					v, _ := strconv.Unquote(lit.Value)
					out = append(out, v)
				}
			}
		}
		return true
	})
	return out
}
