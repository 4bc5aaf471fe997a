//go:build !linux

package atomicdir

import (
	"errors"
	"io/fs"
	"os"
)

func exchange(a, b string) error { return exchangeByRenames(a, b) }

// replaceEmpty renames a onto b, which does not exist or is an empty
// directory (os.Remove never removes a directory with content).
func replaceEmpty(a, b string) error {
	if err := os.Remove(b); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(a, b)
}
