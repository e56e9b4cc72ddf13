// Package atomicfile replaces files on the controller so that a crash or
// a full disk leaves either the old content or the new, never a part:
// the vault's encrypted files, the lab's state and configuration files,
// and (through Rename) the controller Target's writes.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile replaces path with data and gives it mode (permission bits):
// a temporary file in the same directory (".NAME.tmp-*"), written and
// fsynced, then renamed over path, then the directory fsynced so that the
// rename itself survives a crash. The directory must exist. On an error
// path is unchanged and the temporary file removed.
func WriteFile(path string, data []byte, mode fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err = f.Chmod(mode.Perm()); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return Rename(tmp, path)
}

// Rename renames from to to (replacing to atomically, as rename(2) does)
// and fsyncs to's directory, so that the new name is on disk when Rename
// returns. from must be a file written and fsynced in the same directory.
func Rename(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(to))
}

// SyncDir fsyncs directory dir (its entries: names created, renamed or
// removed in it). A directory pgplay may write in but not read (mode
// -wx), or a file system that cannot fsync a directory, is not an error:
// there is nothing more to do there.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrPermission) {
		return nil
	}
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil && !errors.Is(serr, syscall.EINVAL) && !errors.Is(serr, syscall.ENOTSUP) {
		return fmt.Errorf("fsync directory %s: %w", dir, serr)
	}
	return cerr
}
