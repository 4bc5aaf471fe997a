package policy

// Actions: limits, Override and its kernel requirements.

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

func (d *docLinter) checkActions(h *hook, s *selector) {
	for _, key := range []string{"matchActions", "matchReturnActions"} {
		acts := seqItems(mapValue(s.node, key))
		if len(acts) > maxActions {
			d.add(acts[maxActions], RuleSelectorLimit,
				fmt.Sprintf("%s.%s has %d actions; Tetragon supports at most %d", s.path, key, len(acts), maxActions), "")
		}
		for _, a := range acts {
			d.checkDeprecated(s, key, a)
			an := mapValue(a, "action")
			act, _ := scalarString(an)
			if !enforceActions[act] {
				continue
			}
			s.enforce = append(s.enforce, an)
			if act == "Override" {
				d.checkOverride(h, s, an)
			}
		}
	}
}

func (d *docLinter) checkOverride(h *hook, s *selector, an *yaml.Node) {
	if h.section != "kprobes" && h.section != "fentries" {
		return // LSM hooks override through the BPF LSM: recorded in LSMHooks
	}
	security := strings.HasPrefix(h.call, "security_")
	switch {
	case security:
		d.add(an, RuleOverride,
			fmt.Sprintf("%s: Override on %s uses fmod_ret, which Tetragon refuses when it attaches with kprobe_multi (the default on recent kernels)", s.path, h.call),
			`add spec.options {name: disable-kprobe-multi, value: "true"}, or use an lsmhooks entry`)
	case h.syscall:
		d.override = true
		d.add(an, RuleOverride,
			fmt.Sprintf("%s: Override on syscall %s needs CONFIG_BPF_KPROBE_OVERRIDE, which e.g. Debian 12's cloud kernel lacks", s.path, h.call),
			"the provisioner's preflight checks the VM's kernel; use Sigkill where the option is missing")
	case h.call != "":
		d.add(an, RuleOverrideTarget,
			fmt.Sprintf("%s: Override on %s: Tetragon allows Override only on syscalls (syscall: true) and security_* functions", s.path, h.call), "")
	}
}
