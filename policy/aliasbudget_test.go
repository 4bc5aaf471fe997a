package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// aliasBomb is a small policy whose aliases nest: each level references the
// one before `fanout` times, so it expands to about 3*fanout^levels values.
func aliasBomb(levels, fanout int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: bomb\n")
	b.WriteString("x0: &a0 [{call: \"sys_openat\", syscall: true}, {call: \"sys_openat\", syscall: true}, {call: \"sys_openat\", syscall: true}]\n")
	for i := 1; i < levels; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), fanout), ", ")
		fmt.Fprintf(&b, "x%d: &a%d [%s]\n", i, i, refs)
	}
	fmt.Fprintf(&b, "spec:\n  kprobes: [%s]\n", strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", levels-1), fanout), ", "))
	return []byte(b.String())
}

// TestAliasExpansionIsBoundedOnce: issue 11 item 6, an 8 KB policy of nested
// aliases produced 360,602 findings in 292 s because every lint pass
// followed the aliases. The parser now refuses the document once, before
// any pass runs: one finding, quickly.
func TestAliasExpansionIsBoundedOnce(t *testing.T) {
	data := aliasBomb(8, 8) // ~50 million values expanded
	start := time.Now()
	rep := lint([]File{{Path: "bomb.yaml", Data: data}})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("lint took %s", took)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Rule != RuleYAML || !strings.Contains(rep.Findings[0].Message, "expands to more than 20000 values through YAML aliases") {
		t.Errorf("%d findings, first: %+v", len(rep.Findings), rep.Findings[:min(1, len(rep.Findings))])
	}
	// Aliases that stay small are still fine.
	if size, ok := expandedSize(mustParse(t, aliasBomb(2, 2)), maxExpandedNodes); !ok || size > 1000 {
		t.Errorf("a small aliased document counts %d, ok %v", size, ok)
	}
}

func mustParse(t *testing.T, data []byte) *yaml.Node {
	t.Helper()
	docs, perr := parseDocuments(data)
	if perr != nil || len(docs) != 1 {
		t.Fatalf("parse: %+v", perr)
	}
	return docs[0]
}
