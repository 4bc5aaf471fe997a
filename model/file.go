package model

import (
	"fmt"
	"math/big"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/zclconf/go-cty/cty"

	"github.com/tetranomad/packer-plugin-tetranomad/internal/inputfile"
)

// FileError is a problem in a declaration file, located to a line.
type FileError struct {
	Filename string
	Line     int
	// Attribute is the attribute path, e.g. "docker.bridge_cidr".
	Attribute string
	Message   string
}

func (e FileError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.Filename, e.Line, e.Attribute, e.Message)
}

// FileErrors is every problem in a file, in line order.
type FileErrors []FileError

func (es FileErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// LoadFile reads, decodes and prepares a standalone declaration file. A
// declaration error is FileErrors; anything else is an I/O error.
func LoadFile(filename string) (*Declaration, error) {
	src, err := inputfile.Read(filename, inputfile.MaxDeclaration)
	if err != nil {
		return nil, err
	}
	return Parse(filename, src)
}

// Parse decodes a declaration with the same schema as the provisioner's HCL
// block, applies defaults and validates it. Relative policies.files are
// resolved against the file's directory.
func Parse(filename string, src []byte) (*Declaration, error) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diagErrors(filename, diags, nil)
	}
	body := file.Body.(*hclsyntax.Body)
	pos := positions{}
	pos.collect("", body)

	spec := hcldec.ObjectSpec((*FlatDeclaration)(nil).HCL2Spec())
	val, diags := hcldec.Decode(body, spec, nil)
	if diags.HasErrors() {
		return nil, diagErrors(filename, diags, pos)
	}
	// The decoder below goes through float64; check every number exactly
	// first, so a fraction or a huge value is an error at its line rather
	// than a silently rounded or wrapped value.
	if numbers := CheckNumbers(val); len(numbers) > 0 {
		return nil, pos.locate(filename, numbers)
	}
	var d Declaration
	if err := config.Decode(&d, &config.DecodeOpts{Interpolate: false}, val); err != nil {
		return nil, FileErrors{{Filename: filename, Line: 1, Attribute: "(file)", Message: err.Error()}}
	}
	dir := filepath.Dir(filename)
	for i, f := range d.Policies.Files {
		if f != "" && !filepath.IsAbs(f) {
			d.Policies.Files[i] = filepath.Join(dir, f)
		}
	}
	if err := d.Prepare(); err != nil {
		return nil, pos.locate(filename, err.(Problems))
	}
	return &d, nil
}

// MaxDecodedInt bounds every number of a declaration: exact in float64
// (the decoder's path) and in any int.
const MaxDecodedInt = 1<<31 - 1

// CheckNumbers reports every number in a decoded declaration (a file, or
// the provisioner's block as Packer hands it over) that is not a whole
// number within ±MaxDecodedInt. The SDK's decoder goes through float64 and
// would round or wrap them.
func CheckNumbers(v cty.Value) Problems {
	var ps Problems
	checkNumbers(&ps, "", v)
	return ps
}

func checkNumbers(ps *Problems, at string, v cty.Value) {
	if v.IsNull() || !v.IsKnown() {
		return
	}
	t := v.Type()
	switch {
	case t == cty.Number:
		bf := v.AsBigFloat()
		if !bf.IsInt() {
			ps.add(at, "%s is not a whole number", bf.Text('g', -1))
			return
		}
		if i, acc := bf.Int64(); acc != big.Exact || i > MaxDecodedInt || i < -MaxDecodedInt {
			ps.add(at, "%s is out of range (at most %d)", bf.Text('f', 0), MaxDecodedInt)
		}
	case t.IsObjectType() || t.IsMapType():
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			checkNumbers(ps, joinPath(at, k.AsString()), e)
		}
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		i := 0
		for it := v.ElementIterator(); it.Next(); i++ {
			_, e := it.Element()
			// A block decodes to a list of one object: keep the block's path.
			if e.Type().IsObjectType() && v.LengthInt() == 1 {
				checkNumbers(ps, at, e)
			} else {
				checkNumbers(ps, fmt.Sprintf("%s[%d]", at, i), e)
			}
		}
	}
}

// positions maps attribute paths ("nomad.base_config.enabled",
// "policies.library[1]") to the line they start on.
type positions map[string]int

func (p positions) collect(prefix string, body *hclsyntax.Body) {
	for name, attr := range body.Attributes {
		path := prefix + name
		p[path] = attr.SrcRange.Start.Line
		if tuple, ok := attr.Expr.(*hclsyntax.TupleConsExpr); ok {
			for i, e := range tuple.Exprs {
				p[fmt.Sprintf("%s[%d]", path, i)] = e.Range().Start.Line
			}
		}
	}
	for _, block := range body.Blocks {
		path := prefix + block.Type
		if _, seen := p[path]; !seen {
			p[path] = block.DefRange().Start.Line
		}
		p.collect(path+".", block.Body)
	}
}

var indexSuffix = regexp.MustCompile(`\[\d+\]$`)

// line finds the closest declared ancestor of path: a default that is wrong
// only because of another setting points at that setting's block, else line 1.
func (p positions) line(path string) int {
	for path != "" {
		if l, ok := p[path]; ok {
			return l
		}
		if trimmed := indexSuffix.ReplaceAllString(path, ""); trimmed != path {
			path = trimmed
			continue
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 1
}

// attributeAt names the attribute whose definition starts on line.
func (p positions) attributeAt(line int) string {
	best := ""
	for path, l := range p {
		if l == line && (best == "" || len(path) > len(best)) {
			best = path
		}
	}
	return best
}

func (p positions) locate(filename string, ps Problems) FileErrors {
	out := make(FileErrors, len(ps))
	for i, pr := range ps {
		out[i] = FileError{Filename: filename, Line: p.line(pr.Path), Attribute: pr.Path, Message: pr.Message}
	}
	sortFileErrors(out)
	return out
}

func diagErrors(filename string, diags hcl.Diagnostics, pos positions) FileErrors {
	var out FileErrors
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		e := FileError{Filename: filename, Line: 1, Message: d.Summary}
		if d.Detail != "" {
			e.Message = d.Summary + ": " + d.Detail
		}
		if d.Subject != nil {
			e.Line = d.Subject.Start.Line
		}
		e.Attribute = pos.attributeAt(e.Line)
		if e.Attribute == "" {
			e.Attribute = "(syntax)"
		}
		out = append(out, e)
	}
	sortFileErrors(out)
	return out
}

func sortFileErrors(es FileErrors) {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Attribute < es[j].Attribute
	})
}
