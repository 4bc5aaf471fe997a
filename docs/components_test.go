package docs_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Packer's names for the plugin's components: the default name is the
// plugin's own ("tetranomad"), others are prefixed with it.
const defaultName = "-packer-default-plugin-name-"

// The integration metadata, the compiled pages and the components the plugin
// binary registers (its describe output) name the same components.
func TestDocumentedComponentsAreRegistered(t *testing.T) {
	src, err := os.ReadFile("../.web-docs/metadata.hcl")
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclsyntax.ParseConfig(src, "metadata.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	documented := map[string]bool{} // "provisioner/tetranomad"
	for _, integ := range f.Body.(*hclsyntax.Body).Blocks {
		for _, c := range integ.Body.Blocks {
			if c.Type != "component" {
				continue
			}
			attrs := map[string]string{}
			for name, a := range c.Body.Attributes {
				v, d := a.Expr.Value(nil)
				if d.HasErrors() {
					t.Fatal(d)
				}
				attrs[name] = v.AsString()
			}
			key := attrs["type"] + "/" + attrs["slug"]
			documented[key] = true
			page := filepath.Join("..", ".web-docs", "components", attrs["type"], attrs["slug"], "README.md")
			if _, err := os.Stat(page); err != nil {
				t.Errorf("metadata.hcl names component %s but %s is missing (run make generate)", key, page)
			}
		}
	}

	pages, _ := filepath.Glob(filepath.Join("..", ".web-docs", "components", "*", "*", "README.md"))
	for _, p := range pages {
		rel, _ := filepath.Rel(filepath.Join("..", ".web-docs", "components"), filepath.Dir(p))
		if !documented[filepath.ToSlash(rel)] {
			t.Errorf("%s is compiled but metadata.hcl has no component %s", p, rel)
		}
	}

	cmd := exec.Command("go", "run", "./cmd/packer-plugin-tetranomad", "describe")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	var desc struct {
		Provisioners   []string `json:"provisioners"`
		PostProcessors []string `json:"post_processors"`
		Builders       []string `json:"builders"`
		Datasources    []string `json:"datasources"`
	}
	if err := json.Unmarshal(out, &desc); err != nil {
		t.Fatalf("describe output %q: %v", out, err)
	}
	registered := map[string]bool{}
	for typ, names := range map[string][]string{"provisioner": desc.Provisioners, "post-processor": desc.PostProcessors, "builder": desc.Builders, "data-source": desc.Datasources} {
		for _, n := range names {
			if n == defaultName {
				n = "tetranomad"
			}
			registered[typ+"/"+n] = true
		}
	}
	var missing, extra []string
	for k := range registered {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !registered[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("registered but not documented (add docs/<kind>s/<name>.mdx and a component in .web-docs/metadata.hcl): %s", strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		t.Errorf("documented but not registered by the plugin: %s", strings.Join(extra, ", "))
	}
}
