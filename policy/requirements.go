package policy

import (
	"sort"
	"strings"
)

// Requirements is what one policy needs from the kernel, for the
// provisioner's preflight on the VM.
//
// Symbols are kernel functions the policy attaches kprobes or fentries to
// (kprobes[].call, fentries[].call, the syscalls of spec.lists of type
// "syscalls" that a call refers to, and enforcers[].calls), sorted and
// deduplicated, written as in the policy. Tracepoints, uprobes and USDTs are
// not kernel symbols and are not listed; lists of type generated_syscalls or
// generated_ftrace are expanded by Tetragon at load time and cannot be listed.
//
// Syscall names keep the spelling of the policy ("sys_write" or
// "__x64_sys_write"). Tetragon adds the architecture's prefix to a syscall
// written without one ("__x64_" on amd64, "__arm64_" on arm64), and the
// kprobe library retries a plain "sys_" name with that prefix, so a preflight
// should accept a symbol when /proc/kallsyms has it either as written or with
// the prefix: see KallsymsCandidates.
type Requirements struct {
	Policy  string   `json:"policy"`  // metadata.name
	File    string   `json:"file"`    // the file it came from
	Symbols []string `json:"symbols"` // kernel functions to find in /proc/kallsyms
	// LSMHooks are spec.lsmhooks[].hook names. They need CONFIG_BPF_LSM and
	// "bpf" in the active LSM list (/sys/kernel/security/lsm); Tetragon
	// attaches to the kernel's bpf_lsm_<hook> function.
	LSMHooks []string `json:"lsm_hooks,omitempty"`
	// NeedsOverride is true when the policy uses Override on a syscall
	// kprobe, which needs the bpf_override_return helper
	// (CONFIG_BPF_KPROBE_OVERRIDE). Override on security_* functions uses
	// fmod_ret instead and on LSM hooks the BPF LSM; neither sets this.
	NeedsOverride bool `json:"needs_override"`
	// UprobePaths are spec.uprobes[].path: the binaries and libraries the
	// uprobes attach to. Tetragon fails to load the policy when one is
	// missing, and they differ between distributions (/lib64/libc.so.6 is
	// not on Debian 12), so the preflight checks each exists on the VM.
	UprobePaths []string `json:"uprobe_paths,omitempty"`
}

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
