package policy

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Options tune a lint run.
type Options struct {
	// Network the policies will run in, for the egress rules. Empty fields
	// mean "not in use"; the zero value disables the bridge and VPC checks.
	Network Network
}

// LintWith checks a whole set of policy files as Tetragon would load them
// from one policy directory, plus the rules that matter on Nomad. Set-level
// rules (duplicate names) look across all files. It fails only when the
// options are invalid.
func LintWith(files []File, opts Options) (Report, error) {
	nw := opts.Network
	facts, err := nw.parse()
	if err != nil {
		return Report{}, err
	}
	var rep Report
	type seen struct {
		file string
		line int
	}
	names := map[string]seen{}
	for _, f := range files {
		for _, d := range lintFile(f, facts) {
			if d.nameNode != nil {
				name := d.nameNode.Value
				if first, dup := names[name]; dup {
					d.add(d.nameNode, RuleDuplicateName,
						fmt.Sprintf("metadata.name %q is already used by %s:%d", name, first.file, first.line),
						"Tetragon refuses the second policy with that name and fails to start; rename one")
				} else {
					names[name] = seen{f.Path, d.nameNode.Line}
				}
				if d.isPolicy {
					rep.Policies = append(rep.Policies, d.requirements())
				}
			}
			rep.Findings = append(rep.Findings, d.findings...)
		}
	}
	sortFindings(rep.Findings)
	return rep, nil
}

// lintFile lints every YAML document of one file.
func lintFile(f File, facts *netFacts) []*docLinter {
	docs, perr := parseDocuments(f.Data)
	fileLevel := &docLinter{file: f.Path, findings: scanRawPlaceholders(f.Path, f.Data)}
	out := []*docLinter{fileLevel}
	if perr != nil {
		fileLevel.findings = append(fileLevel.findings, Finding{
			File: f.Path, Line: perr.line, Column: 1, Rule: RuleYAML, Severity: severityOf(RuleYAML),
			Message: perr.msg, Hint: "Tetragon aborts start on a policy file it cannot parse",
		})
	}
	if len(docs) == 0 && perr == nil {
		fileLevel.findings = append(fileLevel.findings, Finding{
			File: f.Path, Line: 1, Column: 1, Rule: RuleEmpty, Severity: severityOf(RuleEmpty),
			Message: "file contains no policy", Hint: "Tetragon aborts start on an empty file in its policy directory; remove it",
		})
	}
	for i, doc := range docs {
		d := &docLinter{file: f.Path, root: deref(doc), doc: doc, net: facts}
		if i == 1 {
			d.add(doc, RuleMultiDocument,
				fmt.Sprintf("file has %d YAML documents; Tetragon loads only the first", len(docs)),
				"put each policy in its own file")
		}
		d.lint()
		out = append(out, d)
	}
	if !policyExt[strings.ToLower(filepath.Ext(f.Path))] {
		for _, d := range out {
			for i := range d.findings {
				if d.findings[i].Severity == SeverityError {
					d.findings[i].Hint = strings.TrimPrefix(d.findings[i].Hint+"; ", "; ") + strayFileHint
				}
			}
		}
	}
	return out
}

// policyExt are the extensions of files meant as policies. The agent reads
// every file regardless (see policy/policydir); an error in any other file is
// most likely a stray file, and the hint says so.
var policyExt = map[string]bool{".yaml": true, ".yml": true, ".json": true}

const strayFileHint = "Tetragon loads every regular file of its policy directory and one level of subdirectories, whatever the extension, and one bad file stops it: move this file out"

// docLinter holds the state for one YAML document.
type docLinter struct {
	file     string
	doc      *yaml.Node // the document node (for its position)
	root     *yaml.Node // its content
	net      *netFacts
	findings []Finding

	isPolicy bool       // kind is a TracingPolicy kind
	nameNode *yaml.Node // metadata.name scalar, when usable

	placeholders map[*yaml.Node]bool
	symbols      map[string]bool
	lsmHooks     map[string]bool
	override     bool
	uprobePaths  map[string]bool
	lists        map[string]*yaml.Node // spec.lists by name
}

// add reports rule at n; the severity is the rule's, from Rules.
func (d *docLinter) add(n *yaml.Node, rule string, msg, hint string) {
	line, col := 1, 1
	for _, c := range []*yaml.Node{n, d.root, d.doc} {
		if c != nil && c.Line > 0 {
			line, col = c.Line, c.Column
			break
		}
	}
	d.findings = append(d.findings, Finding{
		File: d.file, Line: line, Column: col, Rule: rule, Severity: severityOf(rule), Message: msg, Hint: hint,
	})
}

const (
	apiVersion     = "cilium.io/v1alpha1"
	kindPolicy     = "TracingPolicy"
	kindNamespaced = "TracingPolicyNamespaced"
)

var dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func (d *docLinter) lint() {
	root := d.root
	if root == nil || (root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null") {
		d.add(d.doc, RuleEmpty, "document is empty", "remove the empty document")
		return
	}
	if root.Kind != yaml.MappingNode {
		// FromYAML's strict unmarshal into an object fails (cilium/tetragon@v1.7.0:
		// pkg/tracingpolicy/k8s.go:40).
		d.add(root, RuleType, "a policy document must be a mapping (apiVersion, kind, metadata, spec); Tetragon fails with \"failed to unmarshal YAML\" and exits", "")
		return
	}
	d.scanTree(root)

	kindKey, kindNode := mapGet(root, "kind")
	kind, _ := scalarString(kindNode)
	switch {
	case kindKey == nil:
		d.add(root, RuleKind, "kind is missing", "set kind: TracingPolicy")
		return
	case kind == kindNamespaced:
		// Its namespace needs the policy filter, which only runs on
		// Kubernetes: pkg/sensors/k8s.go updatePolicyFilter then
		// pkg/policyfilter/disabled.go AddPolicy (cilium/tetragon@v1.7.0).
		d.add(kindNode, RuleNamespacedKind,
			"Tetragon refuses TracingPolicyNamespaced outside Kubernetes (\"policyfilter is disabled\") and exits; Nomad namespaces are not Kubernetes namespaces",
			"use kind: TracingPolicy and scope it with matchNamespaces or matchBinaries")
	case kind != kindPolicy:
		d.add(kindNode, RuleKind, fmt.Sprintf("kind %q is not a Tetragon policy", kind),
			"only kind: TracingPolicy belongs in Tetragon's policy directory")
		return
	}
	d.isPolicy = true

	avKey, avNode := mapGet(root, "apiVersion")
	if av, _ := scalarString(avNode); av != apiVersion {
		n, msg := avNode, fmt.Sprintf("apiVersion %q is not %s", av, apiVersion)
		if avKey == nil {
			n, msg = root, "apiVersion is missing"
		}
		d.add(n, RuleAPIVersion, msg, "set apiVersion: "+apiVersion)
	}

	if v, err := toValue(root); err != nil {
		d.add(root, RuleSchema, err.Error(), "")
	} else {
		d.schemaFindings(v)
	}

	d.checkName()
	d.checkSpec()
}

func (d *docLinter) checkName() {
	mdKey, md := mapGet(d.root, "metadata")
	if mdKey == nil {
		return // the schema reports the missing metadata
	}
	nk, nv := mapGet(md, "name")
	name, ok := scalarString(nv)
	switch {
	case nk == nil:
		d.add(mdKey, RuleName, "metadata.name is missing", "name the policy; events carry it as policy_name")
	case !ok:
		// wrong type: the schema reports it
	case d.placeholders[deref(nv)]:
		// reported as a placeholder
	case len(name) > 253 || !dnsSubdomainRE.MatchString(name):
		d.add(nv, RuleName, fmt.Sprintf("metadata.name %q is not a DNS subdomain", name),
			"use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters")
	default:
		d.nameNode = deref(nv)
	}
}

var (
	dollarPlaceholderRE = regexp.MustCompile(`\$\{[^}]*\}`)
	bracePlaceholderRE  = regexp.MustCompile(`\{\{.*?\}\}`)
)

// scanTree walks every node once (without following aliases): it reports
// ${...} placeholders and duplicate mapping keys, and remembers scalars that
// hold any placeholder so value checks skip them. {{...}} is reported by
// scanRawPlaceholders, since unquoted it is not even a YAML scalar.
func (d *docLinter) scanTree(n *yaml.Node) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") && !strings.Contains(n.Value, "{{") {
			return
		}
		if d.placeholders == nil {
			d.placeholders = map[*yaml.Node]bool{}
		}
		if m := dollarPlaceholderRE.FindString(n.Value); m != "" {
			d.placeholders[n] = true
			d.add(n, RulePlaceholder, fmt.Sprintf("unresolved placeholder %s", m),
				"render the policy with its values first (Tetragon would take the text literally)")
		} else if bracePlaceholderRE.MatchString(n.Value) {
			d.placeholders[n] = true
		}
		return
	case yaml.MappingNode:
		var seen map[string]bool
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				continue
			}
			if seen == nil {
				seen = make(map[string]bool, len(n.Content)/2)
			}
			if seen[k.Value] {
				d.add(k, RuleDuplicateKey, fmt.Sprintf("key %q appears twice in the same mapping", k.Value),
					"Tetragon's strict decoder rejects duplicate keys; keep one")
			}
			seen[k.Value] = true
		}
	}
	for _, c := range n.Content {
		d.scanTree(c)
	}
}

// scanRawPlaceholders reports {{...}} template actions line by line in the
// raw text, so an unrendered Go template is named as such even when it is
// not valid YAML. Text after a # is a comment and skipped.
func scanRawPlaceholders(path string, data []byte) []Finding {
	if !bytes.Contains(data, []byte("{{")) {
		return nil
	}
	var out []Finding
	for i, line := range strings.Split(string(data), "\n") {
		if hash := strings.Index(line, "#"); hash >= 0 {
			line = line[:hash]
		}
		loc := bracePlaceholderRE.FindStringIndex(line)
		if loc == nil {
			continue
		}
		out = append(out, Finding{
			File: path, Line: i + 1, Column: loc[0] + 1, Rule: RulePlaceholder, Severity: severityOf(RulePlaceholder),
			Message: fmt.Sprintf("unresolved template action %s", line[loc[0]:loc[1]]),
			Hint:    "render the template first (policy/library.Render or the render command)",
		})
	}
	return out
}

func (d *docLinter) requirements() Requirements {
	name := ""
	if d.nameNode != nil {
		name = d.nameNode.Value
	}
	return Requirements{
		Policy:        name,
		File:          d.file,
		Symbols:       append([]string{}, sortedKeys(d.symbols)...),
		LSMHooks:      sortedKeys(d.lsmHooks),
		UprobePaths:   sortedKeys(d.uprobePaths),
		NeedsOverride: d.override,
	}
}
