package policy

import (
	"bytes"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/tetranomad/packer-plugin-tetranomad/policy/schema"
)

type compiledSchema struct {
	sch *jsonschema.Schema
	raw any // the schema document, to look up allowed property names
}

// loadSchema compiles the embedded schema once per process.
var loadSchema = newCompiledSchema()

func newCompiledSchema() func() (*compiledSchema, error) {
	return sync.OnceValues(compileSchema)
}

func compileSchema() (*compiledSchema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.JSON))
	if err != nil {
		return nil, fmt.Errorf("embedded TracingPolicy schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schema.URL, doc); err != nil {
		return nil, fmt.Errorf("embedded TracingPolicy schema: %w", err)
	}
	sch, err := c.Compile(schema.URL)
	if err != nil {
		return nil, fmt.Errorf("embedded TracingPolicy schema: %w", err)
	}
	return &compiledSchema{sch: sch, raw: doc}, nil
}

var printer = message.NewPrinter(language.English)

// schemaFindings validates one document against the TracingPolicy schema and
// maps each leaf error back to the YAML line and column it is about.
func (d *docLinter) schemaFindings(value any) {
	cs, err := loadSchema()
	if err != nil {
		// The schema is embedded and tested; failing here is a build defect.
		d.add(d.root, RuleSchema, err.Error(), "")
		return
	}
	verr, ok := cs.sch.Validate(value).(*jsonschema.ValidationError)
	if !ok || verr == nil {
		return
	}
	var leaves []*jsonschema.ValidationError
	collectLeaves(verr, &leaves)
	for _, e := range leaves {
		d.schemaLeaf(cs, e)
	}
}

func collectLeaves(e *jsonschema.ValidationError, out *[]*jsonschema.ValidationError) {
	if len(e.Causes) == 0 {
		*out = append(*out, e)
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, out)
	}
}

func (d *docLinter) schemaLeaf(cs *compiledSchema, e *jsonschema.ValidationError) {
	path := fieldPath(e.InstanceLocation)
	keyNode, valNode := locate(d.root, e.InstanceLocation)
	at := valNode
	if keyNode != nil {
		at = keyNode
	}
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		allowed := cs.propertiesAt(e.SchemaURL)
		for _, prop := range k.Properties {
			pk, _ := locate(d.root, append(append([]string(nil), e.InstanceLocation...), prop))
			if pk == nil {
				pk = at
			}
			msg := fmt.Sprintf("unknown field %q in %s", prop, path)
			hint := "Tetragon rejects unknown fields and refuses to start"
			if s := closest(prop, allowed); s != "" {
				hint = fmt.Sprintf("did you mean %q?", s)
			} else if len(allowed) > 0 && len(allowed) <= 16 {
				hint = "allowed: " + strings.Join(allowed, ", ")
			}
			d.add(pk, RuleUnknownField, msg, hint)
		}
	case *kind.Enum:
		got := fmt.Sprint(k.Got)
		want := make([]string, 0, len(k.Want))
		for _, w := range k.Want {
			want = append(want, fmt.Sprint(w))
		}
		hint := ""
		if s := closest(got, want); s != "" {
			hint = fmt.Sprintf("did you mean %q?", s)
		} else if len(want) <= 16 {
			hint = "allowed: " + strings.Join(want, ", ")
		}
		d.add(valNode, RuleEnum, fmt.Sprintf("%s: %q is not an allowed value", path, got), hint)
	case *kind.Type:
		d.add(valNode, RuleType,
			fmt.Sprintf("%s: expected %s, got %s", path, strings.Join(k.Want, " or "), k.Got), "")
	case *kind.Required:
		for _, m := range k.Missing {
			d.add(at, RuleRequired, fmt.Sprintf("%s: missing required field %q", path, m), "")
		}
	default:
		d.add(valNode, RuleSchema, fmt.Sprintf("%s: %s", path, e.ErrorKind.LocalizedString(printer)), "")
	}
}

// propertiesAt returns the sorted property names of the schema object that
// schemaURL (absolute, with a JSON pointer fragment) points to.
func (cs *compiledSchema) propertiesAt(schemaURL string) []string {
	_, frag, ok := strings.Cut(schemaURL, "#")
	if !ok {
		return nil
	}
	if u, err := url.PathUnescape(frag); err == nil {
		frag = u
	}
	cur := cs.raw
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[tok]
	}
	m, _ := cur.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// closest returns the candidate nearest to s by edit distance when it is
// close enough to be a likely typo (case-insensitive), or "".
func closest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := editDistance(ls, strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) > 8 {
		limit = 3
	}
	if bestD <= limit && bestD < len(s) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20 // long values are never typos worth suggesting
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
