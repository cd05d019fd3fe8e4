package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authbroker/authbroker/internal/testenv"
)

// Tool versions the chart is checked with; scripts/test builds them once
// into ~/.cache/authbroker/bin and exports their paths.
const (
	helmVersion        = "v3.22.0"
	kubeconformVersion = "v0.8.0"
	// definitionsFile is the Kubernetes API's JSON-schema definitions that
	// kubeconform's module ships as a test fixture: kubeconform normally
	// downloads schemas from GitHub, which these machines cannot reach.
	definitionsFile = "fixtures/cache/6dc6142c64b944d783a3e783526114da8e747a14a11d8b32dd1f12e2d89a8330"
)

// kubeSchemas are the kinds the chart renders, by kubeconform's file name
// ({{.ResourceKind}}{{.KindSuffix}}), and their definition.
var kubeSchemas = map[string]string{
	"deployment-apps-v1":            "io.k8s.api.apps.v1.Deployment",
	"service-v1":                    "io.k8s.api.core.v1.Service",
	"configmap-v1":                  "io.k8s.api.core.v1.ConfigMap",
	"secret-v1":                     "io.k8s.api.core.v1.Secret",
	"serviceaccount-v1":             "io.k8s.api.core.v1.ServiceAccount",
	"poddisruptionbudget-policy-v1": "io.k8s.api.policy.v1.PodDisruptionBudget",
	"ingress-networking-v1":         "io.k8s.api.networking.v1.Ingress",
}

// TestHelmChart lints deploy/helm/authbroker and validates what it renders,
// with default values and with every option on, against the Kubernetes
// schemas (kubeconform -strict), then checks what the chart promises an
// operator: two replicas, probes on /readyz and /healthz, a non-root
// read-only container, a disruption budget, the keys mounted and named.
func TestHelmChart(t *testing.T) {
	helm := tool(t, "AUTHBROKER_HELM", "helm")
	kubeconform := tool(t, "AUTHBROKER_KUBECONFORM", "kubeconform")
	chart := filepath.Join("..", "..", "deploy", "helm", "authbroker")
	schemas := schemaDir(t)

	run := func(stdin []byte, name string, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		c := exec.Command(name, args...)
		c.Stdin = bytes.NewReader(stdin)
		c.Stdout, c.Stderr = &out, &errb
		if err := c.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String()
	}
	run(nil, helm, "lint", "--strict", chart, "--set", "config.BASE_URL=https://auth.example.com")

	all := []string{"--set", "config.BASE_URL=https://auth.example.com", "--set", "keys.jwtKey=PEM", "--set", "keys.secretsKey=LINE",
		"--set", "secretEnv.DATABASE_URL=postgres://authbroker:pw@pg:5432/authbroker", "--set", "secretEnv.REDIS_URL=rediss://:pw@redis:6379/0",
		"--set", "ingress.enabled=true", "--set", "ingress.className=nginx", "--set", "serviceMonitor.enabled=true"}
	for name, values := range map[string][]string{
		"defaults":         nil,
		"everything on":    all,
		"existing secrets": {"--set", "existingSecret=my-env", "--set", "keys.existingSecret=my-keys"},
	} {
		t.Run(name, func(t *testing.T) {
			rendered := run(nil, helm, append([]string{"template", "ab", chart}, values...)...)
			report := run([]byte(rendered), kubeconform, "-strict", "-summary", "-output", "text",
				"-schema-location", filepath.Join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
				"-skip", "ServiceMonitor", "-")
			if !strings.Contains(report, "Invalid: 0, Errors: 0") {
				t.Fatalf("kubeconform:\n%s", report)
			}
			checkRendered(t, name, rendered)
		})
	}

	// A field the schema does not know fails: the validation can fail.
	bad := run(nil, helm, "template", "ab", chart)
	bad = strings.Replace(bad, "  replicas: 2", "  replicas: 2\n  replicaz: 3", 1)
	var out bytes.Buffer
	c := exec.Command(kubeconform, "-strict", "-schema-location", filepath.Join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json"), "-")
	c.Stdin, c.Stdout, c.Stderr = strings.NewReader(bad), &out, &out
	if err := c.Run(); err == nil {
		t.Fatalf("kubeconform accepted an unknown field:\n%s", out.String())
	}
}

// checkRendered checks the manifests' promises, beyond the schema.
func checkRendered(t *testing.T, name, rendered string) {
	t.Helper()
	must := []string{
		"kind: Deployment", "replicas: 2", "path: /readyz", "path: /healthz",
		"runAsNonRoot: true", "readOnlyRootFilesystem: true", "- ALL", "type: RuntimeDefault",
		"kind: PodDisruptionBudget", "minAvailable: 1", "kind: Service", "containerPort: 9090",
		"automountServiceAccountToken: false", "mountPath: /data",
	}
	switch name {
	case "everything on":
		must = append(must, "kind: Ingress", "ingressClassName: nginx", "kind: ServiceMonitor", "port: metrics",
			"JWT_KEY_FILE: /etc/authbroker/keys/jwt.pem", "SECRETS_KEY_FILE: /etc/authbroker/keys/secrets.key",
			"secretName: ab-authbroker-keys", `DATABASE_URL: "postgres://authbroker:pw@pg:5432/authbroker"`)
	case "existing secrets":
		must = append(must, "name: my-env", "secretName: my-keys", "JWT_KEY_FILE: /etc/authbroker/keys/jwt.pem")
		if strings.Contains(rendered, "kind: Secret\n") {
			t.Errorf("a Secret rendered although existing ones were named")
		}
	}
	for _, m := range must {
		if !strings.Contains(rendered, m) {
			t.Errorf("rendered chart lacks %q", m)
		}
	}
	// Every ConfigMap key is a variable the broker reads.
	known := readEnvFile(t, filepath.Join("..", "..", ".env.example"))
	for _, line := range strings.Split(rendered, "\n") {
		if k, _, ok := strings.Cut(strings.TrimSpace(line), ": "); ok && strings.ToUpper(k) == k && strings.Contains(k, "_") {
			if _, ok := known[k]; !ok {
				t.Errorf("the chart sets %s, which the broker does not read (not in .env.example)", k)
			}
		}
	}
}

// tool is the path of a tool scripts/test built (env) or found on PATH.
func tool(t *testing.T, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.Require(t, "%s not found (%s): %v", name, env, err)
	}
	return p
}

// schemaDir writes kubeconform schema files for the chart's kinds, each a
// reference into the Kubernetes definitions from kubeconform's module.
func schemaDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/yannh/kubeconform@"+kubeconformVersion).Output()
	if err != nil {
		testenv.Require(t, "go mod download kubeconform: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	defs, err := os.ReadFile(filepath.Join(mod.Dir, definitionsFile))
	if err != nil {
		t.Fatal(err)
	}
	// The fixture is the non-strict variant; strict means no field the API
	// does not define (what kubeconform's own "-strict" schema sets do).
	var doc any
	if err := json.Unmarshal(defs, &doc); err != nil {
		t.Fatal(err)
	}
	closeObjects(doc)
	if defs, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "_definitions.json"), defs, 0o644); err != nil {
		t.Fatal(err)
	}
	for file, def := range kubeSchemas {
		if !bytes.Contains(defs, []byte(`"`+def+`"`)) {
			t.Fatalf("the definitions lack %s", def)
		}
		ref := `{"$ref": "_definitions.json#/definitions/` + def + `"}`
		if err := os.WriteFile(filepath.Join(dir, file+".json"), []byte(ref), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// closeObjects sets additionalProperties: false on every schema object that
// lists its properties and says nothing about others.
func closeObjects(v any) {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["properties"]; ok {
			if _, ok := v["additionalProperties"]; !ok {
				v["additionalProperties"] = false
			}
		}
		for _, c := range v {
			closeObjects(c)
		}
	case []any:
		for _, c := range v {
			closeObjects(c)
		}
	}
}
