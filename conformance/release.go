package conformance

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Release is an unpacked official Tetragon release tarball
// (tetragon-vX.Y.Z-ARCH.tar.gz): tetragon-vX.Y.Z-ARCH/usr/local/bin/tetragon
// and the BPF objects in .../usr/local/lib/tetragon/bpf/
// (cilium/tetragon@v1.7.0: install/linux-tarball/README.md, Dockerfile.tarball).
type Release struct {
	Agent  string // the tetragon binary
	BPFLib string // the directory of BPF objects, for --bpf-lib
}

const (
	agentRel  = "usr/local/bin/tetragon"
	bpfLibRel = "usr/local/lib/tetragon/bpf"
)

// OpenRelease finds the agent and BPF objects in path: a release tarball
// (unpacked into work) or a directory it was unpacked into.
func OpenRelease(path, work string) (*Release, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	dir := path
	if !st.IsDir() {
		dir = filepath.Join(work, "release")
		if err := untar(path, dir); err != nil {
			return nil, fmt.Errorf("release %s: %w", path, err)
		}
	}
	// The tarball has one top directory, tetragon-vX.Y.Z-ARCH; accept the
	// layout with or without it.
	roots := []string{dir}
	if m, _ := filepath.Glob(filepath.Join(dir, "tetragon-*")); len(m) > 0 {
		roots = append(m, roots...)
	}
	for _, r := range roots {
		agent, bpf := filepath.Join(r, agentRel), filepath.Join(r, bpfLibRel)
		if fi, err := os.Stat(agent); err != nil || fi.IsDir() {
			continue
		}
		objs, _ := filepath.Glob(filepath.Join(bpf, "*.o"))
		if len(objs) == 0 {
			return nil, fmt.Errorf("release %s: %s has no BPF objects (*.o); is this the official tetragon-vX.Y.Z-ARCH.tar.gz?", path, bpf)
		}
		return &Release{Agent: agent, BPFLib: bpf + "/"}, nil
	}
	return nil, fmt.Errorf("release %s: no %s inside; want the official tetragon-vX.Y.Z-ARCH.tar.gz or the directory it unpacks to", path, agentRel)
}

// untar unpacks a gzip'd tar into dir, refusing entries that leave it.
func untar(tgz, dir string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("entry %q leaves the archive", h.Name)
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o755|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		}
	}
}
