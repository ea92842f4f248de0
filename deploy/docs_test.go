package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func readOperationsDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOperationsDocListsEverySetting keeps docs/operations.md's
// configuration table in step with internal/config: every LABSYNC_*
// variable that config reads must be documented there.
func TestOperationsDocListsEverySetting(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "internal", "config", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	doc := readOperationsDoc(t)
	vars := regexp.MustCompile(`\{"(LABSYNC_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(vars) < 5 {
		t.Fatalf("found only %d settings in internal/config/config.go: has its table changed shape?", len(vars))
	}
	for _, v := range vars {
		if !strings.Contains(doc, "`"+v[1]+"`") {
			t.Errorf("docs/operations.md does not document %s (add it to the Configuration table)", v[1])
		}
	}
}

// TestOperationsDocListsEveryMetric keeps the metrics reference of
// docs/operations.md in step with the code: every labsync_* metric named in
// a non-test Go file under internal/ must appear in it.
func TestOperationsDocListsEveryMetric(t *testing.T) {
	doc := readOperationsDoc(t)
	name := regexp.MustCompile(`(?:Name:\s*|NewDesc\(\s*)"(labsync_[a-z0-9_]+)"`)
	found := map[string]string{}
	err := filepath.WalkDir(filepath.Join("..", "internal"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range name.FindAllStringSubmatch(string(b), -1) {
			found[m[1]] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 5 {
		t.Fatalf("found only %d metrics under internal/: has their registration changed shape?", len(found))
	}
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("docs/operations.md does not document metric %s (registered in %s): add it to the metrics table", n, found[n])
		}
	}
}
