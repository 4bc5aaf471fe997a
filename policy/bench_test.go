package policy

import (
	"bytes"
	"testing"

	"gopkg.in/yaml.v3"
)

// The benchmarks lint Tetragon's upstream example set (83 files in v1.7.0).
// BenchmarkLintUpstream is the whole linter over the set in one Lint call;
// the two peers measure parts of it in the same run so the report can give
// ratios: BenchmarkYAMLParseUpstream is yaml.v3 parsing alone (the floor any
// line-aware linter pays) and BenchmarkSchemaOnlyUpstream is parsing plus
// JSON Schema validation without the Nomad rules.

func benchFiles(b *testing.B) []File {
	ex := upstreamExamples(b)
	files := make([]File, 0, len(ex))
	for _, name := range sortedNames(ex) {
		files = append(files, File{Path: name, Data: ex[name]})
	}
	if _, err := loadSchema(); err != nil {
		b.Fatal(err)
	}
	return files
}

func reportFiles(b *testing.B, n int) {
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
}

func BenchmarkLintUpstream(b *testing.B) {
	files := benchFiles(b)
	b.ResetTimer()
	for b.Loop() {
		lint(files)
	}
	reportFiles(b, len(files))
}

func BenchmarkYAMLParseUpstream(b *testing.B) {
	files := benchFiles(b)
	b.ResetTimer()
	for b.Loop() {
		for _, f := range files {
			dec := yaml.NewDecoder(bytes.NewReader(f.Data))
			for {
				var n yaml.Node
				if dec.Decode(&n) != nil {
					break
				}
			}
		}
	}
	reportFiles(b, len(files))
}

func BenchmarkSchemaOnlyUpstream(b *testing.B) {
	files := benchFiles(b)
	cs, _ := loadSchema()
	b.ResetTimer()
	for b.Loop() {
		for _, f := range files {
			docs, _ := parseDocuments(f.Data)
			for _, d := range docs {
				if v, err := toValue(d); err == nil {
					_ = cs.sch.Validate(v)
				}
			}
		}
	}
	reportFiles(b, len(files))
}

// BenchmarkCompileSchema is the one-time cost a fresh process (the lint
// command, a Packer plugin start) pays before its first Lint.
func BenchmarkCompileSchema(b *testing.B) {
	for b.Loop() {
		c := newCompiledSchema()
		if _, err := c(); err != nil {
			b.Fatal(err)
		}
	}
}
