package transport

import (
	"context"
	"errors"
)

// StatReader is an optional ability of a Target, found by type assertion
// (StatRead below does that): Stat and ReadFile in one call. Over SFTP it
// costs two round trips, the lstat and the open sent together and then
// one read, where Stat then ReadFile cost four.
type StatReader interface {
	// StatRead describes p like Stat. When p is a regular file (not a
	// link) of at most max bytes it also returns its content; otherwise
	// the content is nil. An unreadable regular file is an error.
	StatRead(ctx context.Context, p string, max int64) (FileInfo, []byte, error)
}

// StatRead describes p and, when it is a regular file of at most max
// bytes, returns its content too: with t's StatRead when t has one, else
// with Stat and ReadFile.
func StatRead(ctx context.Context, t Target, p string, max int64) (FileInfo, []byte, error) {
	if sr, ok := t.(StatReader); ok {
		return sr.StatRead(ctx, p, max)
	}
	fi, err := t.Stat(ctx, p)
	if err != nil || !fi.Exists || fi.IsDir || fi.IsLink || fi.Size > max {
		return fi, nil, err
	}
	b, err := t.ReadFile(ctx, p)
	if err != nil {
		return fi, nil, err
	}
	return fi, b, nil
}

// StatRead is Stat, and ReadFile of a regular file of at most max bytes,
// in two round trips over SFTP.
func (t *hostTarget) StatRead(ctx context.Context, p string, max int64) (FileInfo, []byte, error) {
	fsys, cp, err := t.fs(ctx, "stat", p)
	if err != nil {
		return FileInfo{}, nil, err
	}
	st, data, lerr, rerr := fsys.statRead(cp, max)
	if sf, ok := fsys.(*sftpFS); ok && sf.stuck.Load() {
		// p is a FIFO or the like, and the session waits on its open:
		// owner names come from a new one.
		if fsys, _, err = t.fs(ctx, "stat", p); err != nil {
			return FileInfo{}, nil, err
		}
		if errors.Is(lerr, errOpenFirst) {
			// Ask again one request at a time: lstat first, and open
			// only a regular file.
			st, lerr = fsys.lstat(cp)
			data, rerr = nil, nil
			if lerr == nil && st.isRegular && st.size <= max {
				data, rerr = fsys.readFile(cp)
			}
		}
	}
	fi, err := describe(ctx, fsys, t.b.ids(), cp, st, lerr)
	if err != nil {
		return FileInfo{}, nil, t.fileErr("stat", p, err)
	}
	if rerr != nil {
		return FileInfo{}, nil, t.fileErr("read", p, rerr)
	}
	if !fi.Exists {
		data = nil
	}
	return fi, data, nil
}

// StatRead reads, so it runs in check mode too; it answers from the
// simulated changes first (see checkTarget.statRead).
func (c *checkTarget) StatRead(ctx context.Context, p string, max int64) (FileInfo, []byte, error) {
	return c.statRead(ctx, p, max)
}
