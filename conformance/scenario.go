// Package conformance runs a policy bundle against a real Tetragon release
// and checks that every policy does what its scenarios say: what it must
// kill or log, and what it must allow.
//
// A scenario file (YAML) belongs to one policy:
//
//	policy: block-internet-egress
//	cases:
//	- name: AF_INET6 connect from the Docker bridge to the internet
//	  in: container              # container (own pid/net/mount namespaces,
//	                             # address on the Docker bridge) or host
//	  do: connect tcp6 [::ffff:8.8.8.8]:53
//	  expect: killed             # killed or allowed
//	  event: tcp_connect         # an export event of the policy for this
//	                             # function from the case's process; "none":
//	                             # no event of the policy from it; omitted:
//	                             # not checked
//
// Actions (do): "connect tcp4|tcp6 HOST:PORT", "open PATH" (read),
// "write PATH" (the runner creates the file first), "exec NAME" (a copy of
// /bin/true named NAME). The library's scenarios are in
// policy/library/scenarios; users keep their own next to their policies and
// pass them with -scenarios. Keep them out of the directory the agent loads:
// it reads every file there.
package conformance

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

// Scenario is one policy's cases.
type Scenario struct {
	File   string `yaml:"-"`
	Policy string `yaml:"policy"`
	Cases  []Case `yaml:"cases"`
}

// Case is one thing a process does and what must happen to it.
type Case struct {
	Name   string `yaml:"name"`
	In     string `yaml:"in"`
	Do     string `yaml:"do"`
	Expect string `yaml:"expect"`
	Event  string `yaml:"event"`
}

// Where a case runs, and what must happen.
const (
	InContainer   = "container"
	InHost        = "host"
	ExpectKilled  = "killed"
	ExpectAllowed = "allowed"
	EventNone     = "none"
)

// Action is a parsed Case.Do.
type Action struct {
	Kind    string // connect, open, write, exec
	Network string // tcp4, tcp6 (connect)
	Addr    netip.AddrPort
	Path    string // open, write; the name for exec
}

// ParseAction parses a case's do string.
func ParseAction(s string) (Action, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return Action{}, fmt.Errorf("do is empty; want e.g. %q", "connect tcp4 8.8.8.8:53")
	}
	a := Action{Kind: f[0]}
	switch {
	case a.Kind == "connect" && len(f) == 3 && (f[1] == "tcp4" || f[1] == "tcp6"):
		ap, err := netip.ParseAddrPort(f[2])
		if err != nil {
			return Action{}, fmt.Errorf("connect: %q is not ADDR:PORT (IPv6 in brackets): %w", f[2], err)
		}
		if f[1] == "tcp4" && !ap.Addr().Is4() {
			return Action{}, fmt.Errorf("connect tcp4 needs an IPv4 address, got %s", ap.Addr())
		}
		if f[1] == "tcp6" && !ap.Addr().Is6() {
			return Action{}, fmt.Errorf("connect tcp6 needs an IPv6 address (v4-mapped: [::ffff:a.b.c.d]), got %s", ap.Addr())
		}
		a.Network, a.Addr = f[1], ap
	case (a.Kind == "open" || a.Kind == "write") && len(f) == 2 && strings.HasPrefix(f[1], "/"):
		a.Path = f[1]
	case a.Kind == "exec" && len(f) == 2 && !strings.Contains(f[1], "/"):
		a.Path = f[1]
	default:
		return Action{}, fmt.Errorf("do %q: want \"connect tcp4|tcp6 ADDR:PORT\", \"open /PATH\", \"write /PATH\" or \"exec NAME\"", s)
	}
	return a, nil
}

// String is the action in do syntax, the helper's arguments.
func (a Action) String() string {
	switch a.Kind {
	case "connect":
		return fmt.Sprintf("connect %s %s", a.Network, a.Addr)
	default:
		return a.Kind + " " + a.Path
	}
}

// ParseScenario decodes and checks one scenario file. Errors name the file,
// the case and the field.
func ParseScenario(file string, data []byte) (*Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	s.File = file
	if s.Policy == "" {
		return nil, fmt.Errorf("%s: policy is missing (the metadata.name of the policy the cases test)", file)
	}
	if len(s.Cases) == 0 {
		return nil, fmt.Errorf("%s: no cases", file)
	}
	seen := map[string]bool{}
	for i, c := range s.Cases {
		where := fmt.Sprintf("%s: cases[%d]", file, i)
		if c.Name == "" {
			return nil, fmt.Errorf("%s: name is missing", where)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("%s: name %q is used twice", where, c.Name)
		}
		seen[c.Name] = true
		if c.In != InContainer && c.In != InHost {
			return nil, fmt.Errorf("%s (%s): in %q: want container or host", where, c.Name, c.In)
		}
		if c.Expect != ExpectKilled && c.Expect != ExpectAllowed {
			return nil, fmt.Errorf("%s (%s): expect %q: want killed or allowed", where, c.Name, c.Expect)
		}
		if _, err := ParseAction(c.Do); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", where, c.Name, err)
		}
		if c.Expect == ExpectKilled && c.Event == EventNone {
			return nil, fmt.Errorf("%s (%s): a killed case always has an event; drop event: none", where, c.Name)
		}
	}
	return &s, nil
}
