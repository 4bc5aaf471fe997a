package hostsetup

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"slices"
)

// Stream is a payload file supplied at write time, read from r.
type Stream struct {
	Name string
	Mode int64
	Size int64
	R    io.Reader
}

// Write emits the self-extracting script: the script, the payload marker
// line, then a gzipped tar of the data files and streams. Headers carry no
// timestamps or owners, so the same input writes the same bytes. Every name
// in p.Streams must be supplied, and nothing else.
func (p *Payload) Write(w io.Writer, streams ...Stream) error {
	var got []string
	for _, s := range streams {
		got = append(got, s.Name)
	}
	want := slices.Clone(p.Streams)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("hostsetup: the payload needs streams %q, got %q", want, got)
	}
	if _, err := w.Write(p.Script); err != nil {
		return err
	}
	if _, err := io.WriteString(w, payloadMarker+"\n"); err != nil {
		return err
	}
	// The Nomad binary dominates: BestSpeed takes 136 MB to 58 MB in about
	// 2 s, less than Packer's scp needs for the difference (~13 MB/s here).
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	dirs := map[string]bool{}
	header := func(name string, mode, size int64) error {
		var missing []string
		for dir := parentDir(name); dir != "" && !dirs[dir]; dir = parentDir(dir) {
			missing = append(missing, dir)
		}
		for i := len(missing) - 1; i >= 0; i-- {
			dirs[missing[i]] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: missing[i] + "/", Mode: 0o755, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: size, Format: tar.FormatPAX})
	}
	for _, f := range p.Files {
		if err := header(f.Name, f.Mode, int64(len(f.Data))); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	for _, s := range streams {
		if err := header(s.Name, s.Mode, s.Size); err != nil {
			return err
		}
		if n, err := io.Copy(tw, s.R); err != nil {
			return fmt.Errorf("hostsetup: %s: %w", s.Name, err)
		} else if n != s.Size {
			return fmt.Errorf("hostsetup: %s: read %d bytes, expected %d", s.Name, n, s.Size)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// parentDir is the parent of a slash-separated relative name, "" at the top.
func parentDir(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[:i]
		}
	}
	return ""
}
