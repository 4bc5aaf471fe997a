package policy

import (
	"github.com/tetranomad/packer-plugin-tetranomad/bundle"
	"sort"
	"strings"
)

// Requirements is what one TracingPolicy needs from the kernel and the VM,
// as the bundle's manifest records it and the provisioner's preflight
// checks it: one type, defined with the manifest (bundle.PolicyRequirements).
type Requirements = bundle.PolicyRequirements

var syscallPrefixes = map[string]string{"amd64": "__x64_", "arm64": "__arm64_", "386": "__ia32_"}

// KallsymsCandidates returns the /proc/kallsyms names under which symbol
// may appear on goarch, the first being the one Tetragon attaches to: a
// "sys_" name gets the architecture prefix first and itself second; a
// prefixed or non-syscall name is returned as is.
func KallsymsCandidates(symbol, goarch string) []string {
	for _, p := range syscallPrefixes {
		if strings.HasPrefix(symbol, p) {
			return []string{symbol}
		}
	}
	if strings.HasPrefix(symbol, "sys_") {
		if p, ok := syscallPrefixes[goarch]; ok {
			return []string{p + symbol, symbol}
		}
	}
	return []string{symbol}
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
