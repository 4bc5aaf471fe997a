// Package atomicdir puts a freshly written directory in place of another:
// readers see the old contents or the new, never a mix, and a failure or an
// interruption leaves the old in place. It never decides what may be
// replaced — its callers refuse what the user owns — and it touches nothing
// but the directory it is given and its own hidden temporary sibling.
package atomicdir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Replace fills a new hidden temporary directory next to dir (fill writes
// with WriteFile), syncs it, then puts it in dir's place. With existing
// false, dir must be missing or an empty directory (the rename fails if it
// gained content meanwhile); with existing true, dir is swapped out — on
// Linux in one atomic exchange, so dir is never missing — and its old
// contents removed. When fill fails or ctx ends before the swap, the
// temporary directory is removed and dir is untouched.
func Replace(ctx context.Context, dir string, existing bool, fill func(tmp string) error) (err error) {
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	// tmp holds the new contents until the swap and the old ones after it;
	// either way it goes.
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if err := fill(tmp); err != nil {
		return err
	}
	if err := syncTree(tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted; %s was not changed: %w", dir, err)
	}
	if existing {
		err = exchange(tmp, dir)
	} else {
		err = replaceEmpty(tmp, dir)
	}
	if err != nil {
		return fmt.Errorf("putting %s in place: %w", dir, err)
	}
	return syncDir(parent)
}

// WriteFile writes data to a new file name with mode perm (not masked by
// the umask) and syncs it, so the swap never exposes unwritten data.
func WriteFile(name string, data []byte, perm fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncTree syncs every directory below root, so the new entries are durable
// before the swap makes them visible.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return err
		}
		return syncDir(p)
	})
}

func syncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	// Some file systems cannot sync a directory; the files are synced anyway.
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}

// exchangeByRenames swaps the directories a and b with renames; unlike
// Linux's RENAME_EXCHANGE, b is missing for a moment between them. The
// aside name derives from a, the caller's unique temporary directory, so
// nothing of the user's is ever in the way. If the second rename fails, b
// is put back.
func exchangeByRenames(a, b string) error {
	aside := a + ".old"
	if err := os.Rename(b, aside); err != nil {
		return err
	}
	if err := os.Rename(a, b); err != nil {
		_ = os.Rename(aside, b)
		return err
	}
	return os.Rename(aside, a)
}
