package transport

import (
	"context"
	"slices"
)

// DirLister is an optional ability of a Target, found by type assertion:
// the names in a directory. Over SFTP it costs one open, the reads of the
// entries and one close. A check-mode Target does not have it (its
// simulated files would have to be merged in): a module falls back to
// what it does without it.
type DirLister interface {
	// ListDir returns the names of the entries of the directory p (not
	// "." or ".."), sorted bytewise. An absent p is an error that
	// satisfies errors.Is(err, fs.ErrNotExist).
	ListDir(ctx context.Context, p string) ([]string, error)
}

// ListDir lists the directory p over the host's SFTP session (or the
// controller's file system for a local Target).
func (t *hostTarget) ListDir(ctx context.Context, p string) ([]string, error) {
	fsys, cp, err := t.fs(ctx, "list", p)
	if err != nil {
		return nil, err
	}
	des, err := fsys.readDir(cp)
	if err != nil {
		return nil, t.fileErr("list", p, err)
	}
	names := make([]string, 0, len(des))
	for _, d := range des {
		if d.name != "." && d.name != ".." {
			names = append(names, d.name)
		}
	}
	slices.Sort(names)
	return names, nil
}
