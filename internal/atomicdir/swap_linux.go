package atomicdir

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// exchange atomically swaps the directories a and b (renameat2
// RENAME_EXCHANGE): b is never missing, and a ends up holding b's old
// content. File systems without RENAME_EXCHANGE get two renames.
func exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return exchangeByRenames(a, b)
	}
	if err != nil {
		return &os.LinkError{Op: "rename-exchange", Old: a, New: b, Err: err}
	}
	return nil
}

// replaceEmpty renames a onto b, which does not exist or is an empty
// directory; rename(2) fails if b gained content meanwhile. (os.Rename
// refuses any existing directory, so the system call is used directly.)
func replaceEmpty(a, b string) error {
	if err := unix.Rename(a, b); err != nil {
		return &os.LinkError{Op: "rename", Old: a, New: b, Err: err}
	}
	return nil
}
