package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommittedFilesAreFresh regenerates from the module zip and compares
// with the committed files, so a hand edit or a stale version is caught.
func TestCommittedFilesAreFresh(t *testing.T) {
	version := readVersion(t)
	out, err := exec.Command("go", "mod", "download", "-json", module+"@"+version).Output()
	if err != nil {
		t.Skipf("%s@%s not downloadable here (%v): run `go mod download %s@%s`", module, version, err, module, version)
	}
	var info struct{ Zip string }
	if err := json.Unmarshal(out, &info); err != nil || info.Zip == "" {
		t.Fatalf("go mod download output: %s", out)
	}
	files, err := Generate(info.Zip, version)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("policy/schema/%s is stale: run `go generate ./policy/schema`", name)
		}
	}
	if !strings.Contains(string(files["LICENSE.tetragon"]), "Apache License") {
		t.Errorf("LICENSE.tetragon is not the Apache-2.0 text")
	}
}

func readVersion(t *testing.T) string {
	src, err := os.ReadFile(filepath.Join("..", "schema.go"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "go run ./gen -version ")
	if !ok {
		t.Fatal("schema.go has no go:generate line with -version")
	}
	return strings.Fields(rest)[0]
}

func TestTransformClosesObjects(t *testing.T) {
	const crd = `spec:
  versions:
  - name: v1alpha1
    schema:
      openAPIV3Schema:
        description: top
        type: object
        properties:
          metadata:
            type: object
          spec:
            type: object
            description: the spec
            properties:
              description:
                type: string
                description: a property named description stays
              labels:
                type: object
                additionalProperties:
                  type: string
              list:
                type: array
                items:
                  type: object
                  properties:
                    a:
                      type: string
`
	out, err := Transform([]byte(crd), "v0.0.0")
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	spec := s["properties"].(map[string]any)["spec"].(map[string]any)
	props := spec["properties"].(map[string]any)
	checks := []struct {
		name string
		ok   bool
	}{
		{"root closed", s["additionalProperties"] == false},
		{"spec closed", spec["additionalProperties"] == false},
		{"spec description dropped", spec["description"] == nil},
		{"property named description kept", props["description"] != nil},
		{"map keeps its value schema", props["labels"].(map[string]any)["additionalProperties"].(map[string]any)["type"] == "string"},
		{"array items closed", props["list"].(map[string]any)["items"].(map[string]any)["additionalProperties"] == false},
		{"metadata described", s["properties"].(map[string]any)["metadata"].(map[string]any)["properties"].(map[string]any)["name"] != nil},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: schema %s", c.name, out)
		}
	}
}
