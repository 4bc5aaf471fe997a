package policy

// Scoping: binaries, namespaces and PIDs, and enforcement that would also hit the host.

import (
	"fmt"
	"strconv"
)

func (d *docLinter) checkBinaries(s *selector) {
	for _, key := range []string{"matchBinaries", "matchParentBinaries"} {
		k, v := mapGet(s.node, key)
		items := seqItems(v)
		if len(items) == 0 {
			continue
		}
		s.scoped = true
		if len(items) > 1 {
			d.add(items[1], RuleSelectorLimit,
				fmt.Sprintf("%s.%s has %d entries; Tetragon supports one per selector", s.path, key, len(items)),
				"merge the values into one entry")
		}
		if key == "matchParentBinaries" {
			d.add(k, RuleParentsMap,
				fmt.Sprintf("%s.matchParentBinaries only loads when Tetragon runs with --parents-map-enabled", s.path),
				"add --parents-map-enabled to the Tetragon task's args, or use matchBinaries")
		}
	}
}

func (d *docLinter) checkNamespaces(s *selector) {
	items := seqItems(mapValue(s.node, "matchNamespaces"))
	if len(items) > maxNamespaceFilters {
		d.add(items[maxNamespaceFilters], RuleSelectorLimit,
			fmt.Sprintf("%s.matchNamespaces has %d entries; Tetragon supports at most %d", s.path, len(items), maxNamespaceFilters), "")
	}
	for _, ns := range items {
		op, _ := scalarString(mapValue(ns, "operator"))
		values := seqItems(mapValue(ns, "values"))
		if len(values) > maxNamespaceValues {
			d.add(values[maxNamespaceValues], RuleNamespaceValue,
				fmt.Sprintf("%s.matchNamespaces entry has %d values; Tetragon supports at most %d", s.path, len(values), maxNamespaceValues), "")
		}
		hostOnly := true
		for _, v := range values {
			str, _ := scalarString(v)
			if str == "host_ns" {
				if op == "NotIn" {
					s.scoped = true // acts only outside the host's namespace: containers
				}
				continue
			}
			hostOnly = false
			if _, err := strconv.ParseUint(str, 10, 32); err != nil && !d.placeholders[v] {
				d.add(v, RuleNamespaceValue,
					fmt.Sprintf("%s.matchNamespaces value %q is neither a namespace inode number nor host_ns", s.path, str), "")
			}
		}
		if !hostOnly && len(values) > 0 {
			s.scoped = true // specific namespaces
		}
	}
}

func (d *docLinter) checkPIDs(s *selector) {
	for _, p := range seqItems(mapValue(s.node, "matchPIDs")) {
		if op, _ := scalarString(mapValue(p, "operator")); op == "In" {
			s.scoped = true
		}
		fk, fv := mapGet(p, "followForks")
		if ff, _ := scalarBool(fv); ff {
			continue
		}
		at := fk
		if at == nil {
			at = p
		}
		d.add(at, RuleFollowForks,
			fmt.Sprintf("%s.matchPIDs without followForks: true matches only those PIDs, not the processes they start", s.path),
			"set followForks: true")
	}
}

func (d *docLinter) checkEnforcement(s *selector) {
	if s.scoped {
		return
	}
	for _, an := range s.enforce {
		act, _ := scalarString(an)
		d.add(an, RuleUnscopedEnforcement,
			fmt.Sprintf("%s: %s has no binary, namespace, PID or source-address scoping, so it also hits the host's own processes (apt, dockerd, nomad, the logging agent)", s.path, act),
			"add matchNamespaces {namespace: Pid, operator: NotIn, values: [host_ns]} to act only inside containers, or matchBinaries")
	}
}
