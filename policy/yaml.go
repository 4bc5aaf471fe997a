package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxConvertedNodes bounds alias expansion ("billion laughs") when a YAML
// tree is turned into plain values for schema validation.
const maxConvertedNodes = 200000

// maxExpandedNodes bounds a document's size with every alias expanded. It is
// checked once, when the file is parsed, so it bounds every lint pass that
// follows aliases (each walks at most this many nodes): an 8 KB file of
// nested aliases once produced 360,602 findings in 292 s. A real
// TracingPolicy has a few hundred nodes.
const maxExpandedNodes = 20000

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseError is a YAML syntax error with the line yaml.v3 reported.
type parseError struct {
	line int
	msg  string
}

// parseDocuments splits data into YAML documents. yaml.v3 has panicked on
// hostile input in the past; a panic becomes a parse error so one bad file
// cannot take the linter (or a Packer build) down.
func parseDocuments(data []byte) (docs []*yaml.Node, perr *parseError) {
	defer func() {
		if r := recover(); r != nil {
			docs, perr = nil, &parseError{line: 1, msg: fmt.Sprint("YAML parser failed: ", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			msg := err.Error()
			line := 1
			if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = m[2]
			} else {
				msg = strings.TrimPrefix(msg, "yaml: ")
			}
			return docs, &parseError{line: line, msg: msg}
		}
		if _, ok := expandedSize(&n, maxExpandedNodes); !ok {
			return docs, &parseError{line: n.Line, msg: fmt.Sprintf("document expands to more than %d values through YAML aliases; Tetragon's policies have a few hundred, write the repeated parts out", maxExpandedNodes)}
		}
		docs = append(docs, &n)
	}
}

// expandedSize counts the nodes of n with every alias expanded, each shared
// subtree once per reference, stopping as soon as the count passes limit.
// Sizes are memoized per node, so the count itself costs one walk of the
// unexpanded tree.
func expandedSize(n *yaml.Node, limit int) (int, bool) {
	memo := map[*yaml.Node]int{}
	var size func(n *yaml.Node, depth int) int
	size = func(n *yaml.Node, depth int) int {
		if n == nil {
			return 0
		}
		if v, ok := memo[n]; ok {
			return v
		}
		if depth > 1000 {
			return limit + 1
		}
		memo[n] = limit + 1 // a cycle counts as too large
		total := 1
		if n.Kind == yaml.AliasNode {
			total += size(n.Alias, depth+1)
		}
		for _, c := range n.Content {
			if total > limit {
				break
			}
			total += size(c, depth+1)
		}
		total = min(total, limit+1)
		memo[n] = total
		return total
	}
	got := size(n, 0)
	return got, got <= limit
}

// deref follows aliases and unwraps document nodes.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && i < 64; i++ {
		switch n.Kind {
		case yaml.AliasNode:
			n = n.Alias
		case yaml.DocumentNode:
			if len(n.Content) == 0 {
				return nil
			}
			n = n.Content[0]
		default:
			return n
		}
	}
	return nil
}

// mapGet returns the key and value nodes for key in mapping m, honouring
// YAML merge keys. Both are nil when m is not a mapping or lacks key.
func mapGet(m *yaml.Node, key string) (k, v *yaml.Node) {
	return mapGetDepth(deref(m), key, 0)
}

func mapGetDepth(m *yaml.Node, key string, depth int) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode || depth > 8 {
		return nil, nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn := m.Content[i]
		if kn.Kind == yaml.ScalarNode && kn.Value == key && kn.Tag != "!!merge" {
			return kn, m.Content[i+1]
		}
		if kn.Tag == "!!merge" {
			merges = append(merges, m.Content[i+1])
		}
	}
	for _, mv := range merges {
		mv = deref(mv)
		if mv == nil {
			continue
		}
		srcs := []*yaml.Node{mv}
		if mv.Kind == yaml.SequenceNode {
			srcs = mv.Content
		}
		for _, src := range srcs {
			if k, v := mapGetDepth(deref(src), key, depth+1); k != nil {
				return k, v
			}
		}
	}
	return nil, nil
}

// mapValue is mapGet without the key node, dereferenced.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	_, v := mapGet(m, key)
	return deref(v)
}

// seqItems returns the dereferenced items of a sequence (nil otherwise).
func seqItems(n *yaml.Node) []*yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]*yaml.Node, 0, len(n.Content))
	for _, c := range n.Content {
		if d := deref(c); d != nil {
			out = append(out, d)
		}
	}
	return out
}

// scalarString returns a scalar's text (any scalar tag).
func scalarString(n *yaml.Node) (string, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", false
	}
	return n.Value, true
}

// scalarBool reads a boolean the way Tetragon's YAML 1.1 decoder does.
func scalarBool(n *yaml.Node) (val, ok bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return false, false
	}
	v := resolveScalar(n)
	b, ok := v.(bool)
	return b, ok
}

// yaml11Bools are plain scalars that YAML 1.1 (used by Tetragon through
// sigs.k8s.io/yaml) reads as booleans while YAML 1.2 reads them as strings.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false,
	"on": true, "On": true, "ON": true,
	"off": false, "Off": false, "OFF": false,
}

// resolveScalar gives the JSON-like value Tetragon would see for a scalar.
func resolveScalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return b
		}
		return n.Value
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return json.Number(strconv.FormatInt(i, 10))
		}
		var u uint64
		if err := n.Decode(&u); err == nil {
			return json.Number(strconv.FormatUint(u, 10))
		}
		return n.Value
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil {
			if s := strconv.FormatFloat(f, 'g', -1, 64); !strings.ContainsAny(s, "IN") { // not Inf/NaN
				return json.Number(s)
			}
		}
		return n.Value
	case "!!str":
		if n.Style == 0 {
			if b, ok := yaml11Bools[n.Value]; ok {
				return b
			}
		}
		return n.Value
	default:
		return n.Value
	}
}

var errTooLarge = errors.New("document expands to too many values (YAML aliases?)")

// toValue converts a YAML tree into the plain values a JSON Schema validator
// expects, as Tetragon's YAML-to-JSON conversion would.
func toValue(n *yaml.Node) (any, error) {
	budget := maxConvertedNodes
	return convert(n, &budget, 0)
}

func convert(n *yaml.Node, budget *int, depth int) (any, error) {
	*budget--
	if *budget < 0 || depth > 1000 {
		return nil, errTooLarge
	}
	n = deref(n)
	if n == nil {
		return nil, nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return resolveScalar(n), nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := convert(c, budget, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		if err := convertMapping(n, out, budget, depth); err != nil {
			return nil, err
		}
		return out, nil
	}
	return nil, nil
}

func convertMapping(n *yaml.Node, out map[string]any, budget *int, depth int) error {
	// Merged keys first, so explicit keys override them.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Tag != "!!merge" {
			continue
		}
		src := deref(n.Content[i+1])
		if src == nil {
			continue
		}
		srcs := []*yaml.Node{src}
		if src.Kind == yaml.SequenceNode {
			srcs = src.Content
		}
		for _, s := range srcs {
			s = deref(s)
			if s != nil && s.Kind == yaml.MappingNode {
				*budget--
				if *budget < 0 || depth > 1000 {
					return errTooLarge
				}
				if err := convertMapping(s, out, budget, depth+1); err != nil {
					return err
				}
			}
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn := deref(n.Content[i])
		if n.Content[i].Tag == "!!merge" || kn == nil {
			continue
		}
		v, err := convert(n.Content[i+1], budget, depth+1)
		if err != nil {
			return err
		}
		out[kn.Value] = v
	}
	return nil
}

// locate walks instance-location tokens (as reported by the JSON Schema
// validator) down the YAML tree. It returns the deepest key and value nodes
// it could reach.
func locate(root *yaml.Node, tokens []string) (key, val *yaml.Node) {
	val = deref(root)
	for _, tok := range tokens {
		cur := deref(val)
		if cur == nil {
			return key, val
		}
		switch cur.Kind {
		case yaml.MappingNode:
			k, v := mapGet(cur, tok)
			if k == nil {
				return key, val
			}
			key, val = k, v
		case yaml.SequenceNode:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(cur.Content) {
				return key, val
			}
			key, val = nil, cur.Content[i]
		default:
			return key, val
		}
	}
	return key, val
}

// fieldPath renders instance-location tokens as "spec.kprobes[0].call".
func fieldPath(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		if _, err := strconv.Atoi(t); err == nil {
			b.WriteString("[" + t + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(t)
	}
	if b.Len() == 0 {
		return "(document)"
	}
	return b.String()
}
