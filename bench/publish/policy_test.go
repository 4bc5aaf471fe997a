package main

import (
	"fmt"
	"testing"

	"github.com/tetranomad/packer-plugin-tetranomad/policy"
)

// TestGeneratedPolicyLoads: the benchmark's policies must be ones Tetragon
// would load (it refused the returnArgAction: Post they once carried).
func TestGeneratedPolicyLoads(t *testing.T) {
	data := []byte(fmt.Sprintf(policyTemplate, 1, 1))
	r, err := policy.LintWith([]policy.File{{Path: "bench-policy-0001.yaml", Data: data}}, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.HasErrors() {
		t.Fatalf("generated policy has lint errors: %v", r.Findings)
	}
}
