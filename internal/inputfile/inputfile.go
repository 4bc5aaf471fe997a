// Package inputfile reads the files a user hands to the plugin (a
// declaration, policies, a bundle's files) with the limits every such read
// needs: regular files only, so a FIFO or a device cannot hang or exhaust
// the process, and a size cap with a message that says what to do.
package inputfile

import (
	"fmt"
	"io"
	"os"
)

// Caps for the inputs the plugin reads.
const (
	// MaxDeclaration bounds a declaration file.
	MaxDeclaration = 1 << 20
	// MaxPolicy bounds one TracingPolicy file. Tetragon's own examples are
	// a few KiB; a policy is inlined into the jobspec without a bucket.
	MaxPolicy = 1 << 20
	// MaxBundleFile bounds one file of a bundle directory.
	MaxBundleFile = 16 << 20
)

// Read returns the content of the regular file name, refusing anything else
// (directory, FIFO, device, socket) and files larger than limit bytes.
func Read(name string, limit int64) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO for reading does not wait for a writer, so
	// the Stat below can refuse it instead of hanging.
	f, err := os.OpenFile(name, os.O_RDONLY|nonblock, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); give the path of a file", name, kind(fi.Mode()))
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d this input may have; check that it is the file you mean", name, fi.Size(), limit)
	}
	// The size can change while reading; never read more than the cap.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d this input may have; check that it is the file you mean", name, len(data), limit)
	}
	return data, nil
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "mode " + m.String()
}
