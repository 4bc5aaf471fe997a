// Package policydir reads a policy directory the way Tetragon v1.7.0 reads
// --tracing-policy-dir at start, so `lint DIR` sees exactly the files the
// agent will load: every regular file (symlinks followed) directly in the
// directory and in its subdirectories one level down, whatever the name or
// extension, in lexical order. The agent does not skip a README or an
// editor's backup file; one bad file aborts its start.
//
// Upstream: loadTpFromDir in cilium/tetragon@v1.7.0:cmd/tetragon/main.go:530-570.
package policydir

import (
	"fmt"
	"github.com/tetranomad/packer-plugin-tetranomad/internal/inputfile"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tetranomad/packer-plugin-tetranomad/policy"
)

// maxDepth is the agent's tpMaxDepth: directories this deep are skipped.
const maxDepth = 1

// Read returns the files the agent would load from dir, with paths joined
// to dir. An empty result is not an error here; the caller decides.
func Read(dir string) ([]policy.File, error) {
	var out []policy.File
	err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.Count(p, "/") >= maxDepth {
				return fs.SkipDir
			}
			return nil
		}
		file := filepath.Join(dir, filepath.FromSlash(p))
		st, err := os.Stat(file) // follows symlinks, as the agent does
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return nil
		}
		data, err := inputfile.Read(file, inputfile.MaxPolicy)
		if err != nil {
			return err
		}
		out = append(out, policy.File{Path: file, Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading policy directory %s as Tetragon would: %w", dir, err)
	}
	return out, nil
}
