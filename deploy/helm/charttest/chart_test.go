package charttest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// Values that must never be seen outside a Secret. The KEK is a valid
// base64 encoding of 32 bytes; the database URL carries a password.
const (
	testKEK      = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
	testPassword = "s3cr3t-pg-password"
	testDBURL    = "postgres://labsync:" + testPassword + "@db.example.com:5432/labsync?sslmode=verify-full"
)

// rendered is one render of the chart: its objects by kind, decoded
// strictly into the Kubernetes API types so that a misspelt field fails.
type rendered struct {
	raw          map[string]string // template file → text
	notes        string
	deployments  []appsv1.Deployment
	services     []corev1.Service
	configMaps   []corev1.ConfigMap
	secrets      []corev1.Secret
	pvcs         []corev1.PersistentVolumeClaim
	accounts     []corev1.ServiceAccount
	ingresses    []networkingv1.Ingress
	netpols      []networkingv1.NetworkPolicy
	pdbs         []policyv1.PodDisruptionBudget
	nonSecretDoc []string // every rendered document that is not a Secret
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(filepath.Join("..", "labsync"))
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return ch
}

// render renders the chart as `helm install rel --namespace ns -f values`
// would, with missing values an error (as in `helm lint --strict`).
func render(t *testing.T, values string) (*rendered, error) {
	t.Helper()
	ch := loadChart(t)
	vals, err := chartutil.ReadValues([]byte(values))
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	top, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: "rel", Namespace: "ns", Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatalf("render values: %v", err)
	}
	out, err := engine.Engine{Strict: true}.Render(ch, top)
	if err != nil {
		return nil, err
	}
	r := &rendered{raw: out}
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		text := out[name]
		switch {
		case strings.HasSuffix(name, "NOTES.txt"):
			r.notes = text
			continue
		case strings.HasPrefix(filepath.Base(name), "_"):
			continue
		}
		for _, doc := range releaseutil.SplitManifests(text) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			if err := r.add(doc); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
		}
	}
	return r, nil
}

func (r *rendered) add(doc string) error {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
		return fmt.Errorf("not YAML: %w", err)
	}
	strict := func(v any) error { return yaml.UnmarshalStrict([]byte(doc), v) }
	if meta.Kind != "Secret" {
		r.nonSecretDoc = append(r.nonSecretDoc, doc)
	}
	var err error
	switch meta.APIVersion + " " + meta.Kind {
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		if err = strict(&o); err == nil {
			r.deployments = append(r.deployments, o)
		}
	case "v1 Service":
		var o corev1.Service
		if err = strict(&o); err == nil {
			r.services = append(r.services, o)
		}
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		if err = strict(&o); err == nil {
			r.configMaps = append(r.configMaps, o)
		}
	case "v1 Secret":
		var o corev1.Secret
		if err = strict(&o); err == nil {
			r.secrets = append(r.secrets, o)
		}
	case "v1 PersistentVolumeClaim":
		var o corev1.PersistentVolumeClaim
		if err = strict(&o); err == nil {
			r.pvcs = append(r.pvcs, o)
		}
	case "v1 ServiceAccount":
		var o corev1.ServiceAccount
		if err = strict(&o); err == nil {
			r.accounts = append(r.accounts, o)
		}
	case "networking.k8s.io/v1 Ingress":
		var o networkingv1.Ingress
		if err = strict(&o); err == nil {
			r.ingresses = append(r.ingresses, o)
		}
	case "networking.k8s.io/v1 NetworkPolicy":
		var o networkingv1.NetworkPolicy
		if err = strict(&o); err == nil {
			r.netpols = append(r.netpols, o)
		}
	case "policy/v1 PodDisruptionBudget":
		var o policyv1.PodDisruptionBudget
		if err = strict(&o); err == nil {
			r.pdbs = append(r.pdbs, o)
		}
	default:
		return fmt.Errorf("unexpected object %s %s: add it to the test", meta.APIVersion, meta.Kind)
	}
	return err
}

func mustRender(t *testing.T, values string) *rendered {
	t.Helper()
	r, err := render(t, values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

const (
	postgresValues = `
kek: ` + testKEK + `
database:
  url: ` + testDBURL + `
`
	ingressValues = `
ingress:
  enabled: true
  className: nginx
  hosts:
    - host: labsync.example.com
      paths: [{path: /, pathType: Prefix}]
  tls:
    - secretName: labsync-tls
      hosts: [labsync.example.com]
`
	existingSecretValues = `
existingSecret:
  name: labsync-keys
  kekKey: kek
  databaseURLKey: database-url
replicaCount: 3
`
)

// variants are the renders every general check runs on.
var variants = []struct{ name, values string }{
	{"defaults", ``},
	{"ingress", ingressValues},
	{"sqlite with kek", `kek: ` + testKEK},
	{"postgres two replicas", postgresValues + "replicaCount: 2\n"},
	{"split roles", postgresValues + "split: {enabled: true}\n"},
	{"existing secret", existingSecretValues},
	{"existing secret split", existingSecretValues + "split: {enabled: true}\n"},
	{"no persistence", `persistence: {enabled: false}`},
	{"network policy off", `networkPolicy: {enabled: false}`},
	{"database CA mounted", postgresValues + `
extraVolumes: [{name: db-ca, secret: {secretName: db-ca}}]
extraVolumeMounts: [{name: db-ca, mountPath: /etc/labsync/db-ca, readOnly: true}]
extraConfig: {LABSYNC_EXAMPLE: x}
`},
}

func TestEveryVariantIsLockedDown(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			r := mustRender(t, v.values)
			if len(r.deployments) == 0 {
				t.Fatal("no Deployment rendered")
			}
			for _, d := range r.deployments {
				checkPod(t, d)
			}
			checkSelectors(t, r)
			checkNoSecretOutsideSecrets(t, r)
		})
	}
}

// checkPod asserts what every labsync pod must have: non-root, read-only
// root filesystem, no capabilities, no privilege escalation, the health
// probes, resources and a writable data directory and /tmp.
func checkPod(t *testing.T, d appsv1.Deployment) {
	t.Helper()
	spec := d.Spec.Template.Spec
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", d.Name)
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod runAsUser must be a non-zero uid", d.Name)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccompProfile is not RuntimeDefault", d.Name)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the service account token is mounted; labsync never calls the Kubernetes API", d.Name)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", d.Name, len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatalf("%s: container has no securityContext", d.Name)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("%s: readOnlyRootFilesystem is not true", d.Name)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("%s: allowPrivilegeEscalation is not false", d.Name)
	case sc.Privileged != nil && *sc.Privileged:
		t.Errorf("%s: privileged", d.Name)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("%s: capabilities = %+v, want drop [ALL] and add none", d.Name, sc.Capabilities)
	}
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: no %s HTTP probe", d.Name, what)
			return
		}
		if p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s: %s probe = %s on port %s, want %s on http", d.Name, what, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("startup", c.StartupProbe, "/healthz")
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: no memory request or limit", d.Name)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	for _, path := range []string{"/var/lib/labsync", "/tmp"} {
		if mounts[path] == "" {
			t.Errorf("%s: nothing writable mounted at %s under a read-only root filesystem", d.Name, path)
		}
	}
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Errorf("%s: args = %q, want serve …", d.Name, c.Args)
	}
	if c.Ports[0].ContainerPort != 8787 || c.Ports[0].Name != "http" {
		t.Errorf("%s: port = %+v, want http 8787", d.Name, c.Ports[0])
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "LABSYNC_KEK") || e.Name == "LABSYNC_DATABASE_URL" {
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("%s: %s is not taken from a Secret", d.Name, e.Name)
			}
		}
	}
	if d.Spec.Template.Annotations["checksum/config"] == "" {
		t.Errorf("%s: no checksum/config annotation: a changed setting would not restart the pods", d.Name)
	}
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkSelectors asserts that each Deployment selects its own pods, the
// Service reaches the pods that serve HTTP, and each PDB and the
// NetworkPolicy cover labsync's pods.
func checkSelectors(t *testing.T, r *rendered) {
	t.Helper()
	for _, d := range r.deployments {
		if !matches(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("%s: selector %v does not match its pod labels %v", d.Name, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
		}
		n := 0
		for _, p := range r.pdbs {
			if matches(p.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: covered by %d PodDisruptionBudgets, want 1", d.Name, n)
		}
		for _, np := range r.netpols {
			if !matches(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
				t.Errorf("NetworkPolicy %s does not select %s's pods", np.Name, d.Name)
			}
		}
	}
	if len(r.services) != 1 {
		t.Fatalf("%d Services, want 1", len(r.services))
	}
	svc := r.services[0]
	var web []string
	for _, d := range r.deployments {
		if matches(svc.Spec.Selector, d.Spec.Template.Labels) {
			web = append(web, d.Name)
			for _, a := range d.Spec.Template.Spec.Containers[0].Args {
				if a == "--role=worker" {
					t.Errorf("the Service sends traffic to worker pods (%s)", d.Name)
				}
			}
		}
	}
	if len(web) != 1 {
		t.Errorf("the Service selects Deployments %q, want exactly one", web)
	}
	for _, in := range r.ingresses {
		for _, rule := range in.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil || p.Backend.Service.Name != svc.Name || p.Backend.Service.Port.Name != "http" {
					t.Errorf("ingress path %s does not lead to Service %s port http", p.Path, svc.Name)
				}
			}
		}
	}
}

// checkNoSecretOutsideSecrets asserts that the KEK, the database URL and
// its password appear in no rendered object but a Secret, plainly or
// base64-encoded, and not in NOTES.txt.
func checkNoSecretOutsideSecrets(t *testing.T, r *rendered) {
	t.Helper()
	needles := []string{testKEK, testDBURL, testPassword,
		base64.StdEncoding.EncodeToString([]byte(testKEK)),
		base64.StdEncoding.EncodeToString([]byte(testDBURL)),
		base64.StdEncoding.EncodeToString([]byte(testPassword))}
	for _, doc := range append(slices.Clone(r.nonSecretDoc), r.notes) {
		for _, n := range needles {
			if strings.Contains(doc, n) {
				t.Errorf("a secret value appears outside a Secret:\n%s", doc)
			}
		}
	}
	for _, cm := range r.configMaps {
		for k := range cm.Data {
			if k == "LABSYNC_KEK" || k == "LABSYNC_NEW_KEK" || k == "LABSYNC_DATABASE_URL" {
				t.Errorf("ConfigMap %s holds %s", cm.Name, k)
			}
		}
	}
}

func deployment(t *testing.T, r *rendered, name string) appsv1.Deployment {
	t.Helper()
	for _, d := range r.deployments {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no Deployment %s", name)
	return appsv1.Deployment{}
}

func env(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func TestDefaults(t *testing.T) {
	r := mustRender(t, ``)
	d := deployment(t, r, "rel-labsync")
	if *d.Spec.Replicas != 1 {
		t.Errorf("replicas = %d, want 1", *d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy = %s, want Recreate: two pods must never open one SQLite file", d.Spec.Strategy.Type)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("args = %q, want [serve]", c.Args)
	}
	if env(c, "LABSYNC_KEK") != nil || env(c, "LABSYNC_DATABASE_URL") != nil {
		t.Error("defaults set LABSYNC_KEK or LABSYNC_DATABASE_URL")
	}
	if len(r.secrets) != 0 || len(r.ingresses) != 0 {
		t.Errorf("defaults render %d Secrets and %d Ingresses, want none", len(r.secrets), len(r.ingresses))
	}
	if len(r.pvcs) != 1 || r.pvcs[0].Annotations["helm.sh/resource-policy"] != "keep" {
		t.Fatalf("want one PVC kept on uninstall, got %+v", r.pvcs)
	}
	var claim string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "data" && v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	if claim != r.pvcs[0].Name {
		t.Errorf("data volume claim = %q, want %q", claim, r.pvcs[0].Name)
	}
	cm := r.configMaps[0].Data
	want := map[string]string{
		"LABSYNC_ADDR":       "0.0.0.0:8787",
		"LABSYNC_DATA_DIR":   "/var/lib/labsync",
		"LABSYNC_PUBLIC_URL": "http://rel-labsync.ns.svc.cluster.local:8787",
		"LABSYNC_LOG_FORMAT": "json",
	}
	for k, v := range want {
		if cm[k] != v {
			t.Errorf("ConfigMap %s = %q, want %q", k, cm[k], v)
		}
	}
	for _, s := range []string{"WARNING: no KEK is set", "WARNING: publicURL is not set"} {
		if !strings.Contains(r.notes, s) {
			t.Errorf("NOTES.txt does not say %q:\n%s", s, r.notes)
		}
	}
}

func TestNetworkPolicy(t *testing.T) {
	type port struct {
		proto corev1.Protocol
		port  string
	}
	egressPorts := func(r *rendered) map[port]bool {
		t.Helper()
		if len(r.netpols) != 1 {
			t.Fatalf("%d NetworkPolicies, want 1", len(r.netpols))
		}
		np := r.netpols[0]
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			t.Errorf("policyTypes = %v, want Ingress and Egress", np.Spec.PolicyTypes)
		}
		if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].Ports) != 1 || np.Spec.Ingress[0].Ports[0].Port.String() != "http" {
			t.Errorf("ingress = %+v, want the http port only", np.Spec.Ingress)
		}
		got := map[port]bool{}
		for _, e := range np.Spec.Egress {
			for _, p := range e.Ports {
				got[port{*p.Protocol, p.Port.String()}] = true
			}
		}
		return got
	}
	t.Run("sqlite", func(t *testing.T) {
		got := egressPorts(mustRender(t, ``))
		for _, p := range []port{{"TCP", "443"}, {"UDP", "53"}, {"TCP", "53"}} {
			if !got[p] {
				t.Errorf("egress lacks %s/%s; has %v", p.proto, p.port, got)
			}
		}
		if got[port{"TCP", "5432"}] {
			t.Error("egress opens PostgreSQL's port on a SQLite install")
		}
		if len(got) != 3 {
			t.Errorf("egress ports = %v, want 443, 53/UDP, 53/TCP only", got)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		got := egressPorts(mustRender(t, postgresValues+`
networkPolicy:
  postgresql:
    to: [{ipBlock: {cidr: 10.1.2.3/32}}]
`))
		if !got[port{"TCP", "5432"}] || !got[port{"TCP", "443"}] {
			t.Errorf("egress ports = %v, want 443 and 5432 among them", got)
		}
	})
	t.Run("gitlab on another port", func(t *testing.T) {
		got := egressPorts(mustRender(t, `networkPolicy: {gitlab: {cidrs: [192.0.2.10/32], ports: [8443]}}`))
		if !got[port{"TCP", "8443"}] || got[port{"TCP", "443"}] {
			t.Errorf("egress ports = %v, want 8443 in place of 443", got)
		}
	})
	t.Run("off", func(t *testing.T) {
		if r := mustRender(t, `networkPolicy: {enabled: false}`); len(r.netpols) != 0 {
			t.Error("NetworkPolicy rendered though disabled")
		}
	})
}

func TestIngress(t *testing.T) {
	r := mustRender(t, ingressValues)
	if len(r.ingresses) != 1 {
		t.Fatalf("%d Ingresses, want 1", len(r.ingresses))
	}
	in := r.ingresses[0]
	if in.Spec.IngressClassName == nil || *in.Spec.IngressClassName != "nginx" || len(in.Spec.TLS) != 1 {
		t.Errorf("ingress spec = %+v", in.Spec)
	}
	if got := r.configMaps[0].Data["LABSYNC_PUBLIC_URL"]; got != "https://labsync.example.com" {
		t.Errorf("LABSYNC_PUBLIC_URL = %q, want the ingress host over https", got)
	}
	if strings.Contains(r.notes, "publicURL is not set") {
		t.Error("NOTES.txt warns about publicURL though the ingress gives one")
	}
	r = mustRender(t, ingressValues+"publicURL: https://gitlab-sync.example.org/\n")
	if got := r.configMaps[0].Data["LABSYNC_PUBLIC_URL"]; got != "https://gitlab-sync.example.org" {
		t.Errorf("LABSYNC_PUBLIC_URL = %q, want publicURL without its trailing slash", got)
	}
}

func TestPostgresReplicas(t *testing.T) {
	r := mustRender(t, postgresValues+"replicaCount: 2\n")
	d := deployment(t, r, "rel-labsync")
	if *d.Spec.Replicas != 2 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("replicas %d strategy %s, want 2 RollingUpdate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	if len(r.pvcs) != 0 {
		t.Error("a PVC is rendered on PostgreSQL, where the data dir holds nothing durable")
	}
	if len(r.secrets) != 1 {
		t.Fatalf("%d Secrets, want 1", len(r.secrets))
	}
	s := r.secrets[0]
	if string(s.Data["LABSYNC_KEK"]) != testKEK || string(s.Data["LABSYNC_DATABASE_URL"]) != testDBURL {
		t.Errorf("Secret data = %q", s.Data)
	}
	if s.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Error("the Secret holding the KEK would be deleted by helm uninstall")
	}
	c := d.Spec.Template.Spec.Containers[0]
	for _, name := range []string{"LABSYNC_KEK", "LABSYNC_DATABASE_URL"} {
		e := env(c, name)
		if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != s.Name || e.ValueFrom.SecretKeyRef.Key != name {
			t.Errorf("%s = %+v, want from Secret %s key %s", name, e, s.Name, name)
		}
	}
	if d.Spec.Template.Annotations["checksum/secret"] == "" {
		t.Error("no checksum/secret annotation: a new key would not restart the pods")
	}
}

func TestSplitRoles(t *testing.T) {
	r := mustRender(t, postgresValues+`
split:
  enabled: true
  web: {replicaCount: 3}
  worker: {replicaCount: 2, resources: {limits: {memory: 1Gi}, requests: {memory: 256Mi}}}
`)
	if len(r.deployments) != 2 {
		t.Fatalf("%d Deployments, want web and worker", len(r.deployments))
	}
	web, worker := deployment(t, r, "rel-labsync-web"), deployment(t, r, "rel-labsync-worker")
	if got := web.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, []string{"serve", "--role=web"}) {
		t.Errorf("web args = %q", got)
	}
	if got := worker.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, []string{"serve", "--role=worker"}) {
		t.Errorf("worker args = %q", got)
	}
	if *web.Spec.Replicas != 3 || *worker.Spec.Replicas != 2 {
		t.Errorf("replicas web %d worker %d, want 3 and 2", *web.Spec.Replicas, *worker.Spec.Replicas)
	}
	if got := worker.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String(); got != "1Gi" {
		t.Errorf("worker memory limit = %s, want its own 1Gi", got)
	}
	if got := web.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String(); got != "512Mi" {
		t.Errorf("web memory limit = %s, want the default 512Mi", got)
	}
	if len(r.pdbs) != 2 {
		t.Errorf("%d PodDisruptionBudgets, want one per role", len(r.pdbs))
	}
}

func TestExistingSecret(t *testing.T) {
	r := mustRender(t, existingSecretValues)
	if len(r.secrets) != 0 {
		t.Errorf("the chart renders a Secret though existingSecret is set")
	}
	c := deployment(t, r, "rel-labsync").Spec.Template.Spec.Containers[0]
	for name, key := range map[string]string{"LABSYNC_KEK": "kek", "LABSYNC_DATABASE_URL": "database-url"} {
		e := env(c, name)
		if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != "labsync-keys" || e.ValueFrom.SecretKeyRef.Key != key {
			t.Errorf("%s = %+v, want from Secret labsync-keys key %s", name, e, key)
		}
	}
	// A Secret with the KEK only: SQLite, one replica.
	r = mustRender(t, "existingSecret: {name: labsync-keys}\n")
	c = deployment(t, r, "rel-labsync").Spec.Template.Spec.Containers[0]
	if env(c, "LABSYNC_DATABASE_URL") != nil || env(c, "LABSYNC_KEK") == nil || len(r.pvcs) != 1 {
		t.Errorf("existingSecret with the KEK only should mean SQLite on a PVC with LABSYNC_KEK set")
	}
	if strings.Contains(r.notes, "no KEK is set") {
		t.Error("NOTES.txt warns about a missing KEK that the existing Secret provides")
	}
}

// TestRefusedValues asserts that the render fails, with a message naming
// what to change, for every combination labsync cannot run.
func TestRefusedValues(t *testing.T) {
	cases := []struct{ name, values, want string }{
		{"replicas without postgres", "replicaCount: 2\n", "replicaCount > 1 needs PostgreSQL"},
		{"replicas with only a kek", "replicaCount: 2\nkek: " + testKEK + "\n", "replicaCount > 1 needs PostgreSQL"},
		{"replicas with an existing secret lacking a database", "replicaCount: 2\nexistingSecret: {name: s}\n", "replicaCount > 1 needs PostgreSQL"},
		{"split without postgres", "split: {enabled: true}\n", "split.enabled (separate web and worker Deployments) needs PostgreSQL"},
		{"postgres without kek", "database: {url: '" + testDBURL + "'}\n", "PostgreSQL needs a KEK"},
		{"sslmode disable", "kek: " + testKEK + "\ndatabase: {url: 'postgres://u:p@db:5432/l?sslmode=disable'}\n", "sslmode=verify-full"},
		{"sslmode missing", "kek: " + testKEK + "\ndatabase: {url: 'postgres://u:p@db:5432/l'}\n", "sslmode=verify-full"},
		{"sslmode require", "kek: " + testKEK + "\ndatabase: {url: 'postgres://u:p@db/l?sslmode=require'}\n", "sslmode=verify-full"},
		{"not postgres", "kek: " + testKEK + "\ndatabase: {url: 'mysql://db/l'}\n", "must start with postgres://"},
		{"bad kek", "kek: not-a-key\n", "kek must be base64 of 32 bytes"},
		{"existing secret and values", "existingSecret: {name: s}\nkek: " + testKEK + "\n", "kek and database.url must be empty"},
		{"secret in extraConfig", "extraConfig: {LABSYNC_KEK: x}\n", "LABSYNC_KEK cannot go in extraConfig"},
		{"token in extraConfig", "extraConfig: {LABSYNC_API_TOKEN: x}\n", "LABSYNC_API_TOKEN cannot go in extraConfig"},
		{"role in extraConfig", "extraConfig: {LABSYNC_ROLE: web}\n", "LABSYNC_ROLE cannot go in extraConfig"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, c.values)
			if err == nil {
				t.Fatalf("render succeeded, want an error saying %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v\nwant it to say %q", err, c.want)
			}
			if strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), testKEK) {
				t.Errorf("the error quotes a secret: %v", err)
			}
		})
	}
}

// TestNoInsecureDefaults scans the chart's own files for settings that
// switch TLS verification off.
func TestNoInsecureDefaults(t *testing.T) {
	ch := loadChart(t)
	if len(ch.Raw) < 5 {
		t.Fatalf("the loader kept %d raw files; expected every file of the chart", len(ch.Raw))
	}
	for _, f := range ch.Raw {
		name, data := f.Name, f.Data
		for _, bad := range []string{"sslmode=disable", "sslmode=allow", "sslmode=prefer", "insecure-skip-verify", "insecureSkipVerify", "--insecure", "tls-verify=false"} {
			if bytes.Contains(data, []byte(bad)) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}
