package transport

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"
)

// The Target file methods, written once over a fileSystem (SFTP or local
// system calls) and an idResolver.

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// cleanPath refuses relative paths: over SFTP they would be relative to
// the login user's home, locally to the controller's working directory.
func cleanPath(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("path %q is not absolute", p)
	}
	return path.Clean(p), nil
}

// unixPerm converts the Mode of Attrs to POSIX bits. Both conventions are
// accepted: raw bits (0o4755) and Go's ModeSetuid/ModeSetgid/ModeSticky.
func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m & 0o7777)
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

// tempName is .NAME.pgplay-XXXXXX in the directory of p (NAME cut to
// 200 bytes, X a letter or digit).
func tempName(p string) string {
	dir, base := path.Split(p)
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [6]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return path.Join(dir, tempPrefix(base)+string(b[:]))
}

// tempPrefix is what the names tempName gives for base start with.
func tempPrefix(base string) string {
	if len(base) > 200 {
		base = base[:200]
	}
	return "." + base + ".pgplay-"
}

// isTempOf says whether name is one tempName gives for base.
func isTempOf(name, base string) bool {
	rest, ok := strings.CutPrefix(name, tempPrefix(base))
	if !ok || len(rest) != 6 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// staleTempAge is how much older than the file just written a temporary
// file of an earlier atomic write of the same path must be before that
// write removes it as the leftover of a writer that died with its
// connection. A live writer touches its file with every block it writes,
// and pgplay's keepalives end a stalled connection within a minute: an
// hour is far beyond any writer still at work, whatever tool or run.
const staleTempAge = time.Hour

// maxStaleRemovals bounds the leftovers one write removes.
const maxStaleRemovals = 32

// removeStaleTemps removes, best effort, the leftovers of earlier atomic
// writes of p found in entries (p's directory, listed during the write
// that used the temporary file tmp): regular files or links named as
// tempName names them, owned by uid (resolved only when there is a
// candidate), and staleTempAge older than p, just written (the host's
// clock, not the controller's). Without a candidate it costs nothing.
func removeStaleTemps(ctx context.Context, fsys fileSystem, p, tmp string, entries []namedStat, uid func() (int, error)) {
	dir, base := path.Split(p)
	var cands []namedStat
	for _, e := range entries {
		if (e.st.isRegular || e.st.isLink) && isTempOf(e.name, base) && e.name != path.Base(tmp) {
			cands = append(cands, e)
		}
	}
	if len(cands) == 0 {
		return
	}
	now, err := fsys.lstat(p)
	if err != nil {
		return
	}
	owner, err := uid()
	if err != nil {
		return
	}
	removed := 0
	for _, c := range cands {
		if c.st.uid != owner || now.mtime.Sub(c.st.mtime) < staleTempAge {
			continue
		}
		if ctx.Err() != nil || removed == maxStaleRemovals {
			return
		}
		_ = fsys.removeFile(path.Join(dir, c.name))
		removed++
	}
}

// tempLeftError is a failed write whose temporary file could not be
// removed (its file session broke); the message is the write's.
type tempLeftError struct {
	tmp string
	err error
}

func (e *tempLeftError) Error() string { return e.err.Error() }
func (e *tempLeftError) Unwrap() error { return e.err }

func statPath(ctx context.Context, fsys fileSystem, ids *idResolver, p string) (FileInfo, error) {
	st, err := fsys.lstat(p)
	return describe(ctx, fsys, ids, p, st, err)
}

// describe turns the result of an lstat of p into a FileInfo: an absent
// path is not an error; a link's target is read; owner and group names
// are resolved.
func describe(ctx context.Context, fsys fileSystem, ids *idResolver, p string, st rawStat, err error) (FileInfo, error) {
	if isNotExist(err) {
		return FileInfo{Path: p}, nil
	}
	if err != nil {
		return FileInfo{}, err
	}
	fi := FileInfo{
		Path:    p,
		Exists:  true,
		IsDir:   st.isDir,
		IsLink:  st.isLink,
		Mode:    fs.FileMode(st.perm),
		Size:    st.size,
		UID:     st.uid,
		GID:     st.gid,
		ModTime: st.mtime,
	}
	if st.isLink {
		if fi.LinkTarget, err = fsys.readLink(p); err != nil {
			return FileInfo{}, err
		}
	}
	ids.preload(fsys)
	fi.Owner = ids.userName(ctx, st.uid)
	fi.Group = ids.groupName(ctx, st.gid)
	return fi, nil
}

// wantOwner resolves a's Owner and Group; -1 means "not asked".
func wantOwner(ctx context.Context, fsys fileSystem, ids *idResolver, a Attrs) (uid, gid int, err error) {
	uid, gid = -1, -1
	if a.Owner != "" || a.Group != "" {
		ids.preload(fsys)
	}
	if a.Owner != "" {
		if uid, err = ids.uid(ctx, a.Owner); err != nil {
			return 0, 0, err
		}
	}
	if a.Group != "" {
		if gid, err = ids.gid(ctx, a.Group); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

// writeFile replaces p atomically: a temporary file in the same directory
// gets the data, is fsynced, chowned and chmodded, then renamed over p. On
// any error the temporary file is removed and p is left as it was; when
// the removal fails too, the error is a *tempLeftError. writer is the user
// the file session acts as: after the rename, the temporary files of
// earlier writes of p that writer left behind are removed when stale
// (removeStaleTemps; p's directory is listed while the data is written).
func writeFile(ctx context.Context, fsys fileSystem, ids *idResolver, p string, data []byte, a Attrs, writer string) (err error) {
	listed := make(chan []namedStat, 1)
	go func() {
		entries, _ := fsys.listPrefixed(path.Dir(p), tempPrefix(path.Base(p)))
		listed <- entries
	}()
	old, err := fsys.lstat(p)
	exists := err == nil
	if err != nil && !isNotExist(err) {
		return err
	}
	if exists && old.isDir {
		return fmt.Errorf("%s is a directory", p)
	}
	keepOld := exists && old.isRegular
	perm := unixPerm(a.Mode)
	if perm == 0 {
		perm = 0o644
		if keepOld {
			perm = old.perm
		}
	}
	uid, gid, err := wantOwner(ctx, fsys, ids, a)
	if err != nil {
		return err
	}
	if keepOld {
		if uid < 0 && a.Owner == "" {
			uid = old.uid
		}
		if gid < 0 && a.Group == "" {
			gid = old.gid
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	tmp := tempName(p)
	f, err := fsys.createTemp(tmp)
	if err != nil {
		if isNotExist(err) {
			return fmt.Errorf("directory %s does not exist (create it first): %w", path.Dir(p), err)
		}
		err = fmt.Errorf("create temporary file %s: %w", tmp, err)
		var local *fs.PathError // a system call: no answer to miss
		if !answered(err) && !errors.As(err, &local) {
			// No answer: the file may have been made all the same.
			err = &tempLeftError{tmp: tmp, err: err}
		}
		return err
	}
	closed := false
	defer func() {
		if err == nil {
			return
		}
		if !closed {
			_ = f.close()
		}
		if rerr := fsys.removeFile(tmp); rerr != nil && !isNotExist(rerr) {
			err = &tempLeftError{tmp: tmp, err: err}
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err = f.sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if uid >= 0 || gid >= 0 {
		cu, cg, err := f.owner()
		if err != nil {
			return fmt.Errorf("stat %s: %w", tmp, err)
		}
		nu, ng := cu, cg
		if uid >= 0 {
			nu = uid
		}
		if gid >= 0 {
			ng = gid
		}
		if nu != cu || ng != cg {
			if err := f.chown(nu, ng); err != nil {
				return fmt.Errorf("chown %s to %d:%d: %w", tmp, nu, ng, err)
			}
		}
	}
	// chmod after chown: chown clears the setuid/setgid bits.
	if err = f.chmod(perm); err != nil {
		return fmt.Errorf("chmod %s to %04o: %w", tmp, perm, err)
	}
	closed = true
	if err = f.close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	if err = fsys.rename(tmp, p); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, p, err)
	}
	removeStaleTemps(ctx, fsys, p, tmp, <-listed, func() (int, error) {
		ids.preload(fsys)
		return ids.uid(ctx, writer)
	})
	return nil
}

// setAttrs changes the mode and/or ownership of an existing path.
func setAttrs(ctx context.Context, fsys fileSystem, ids *idResolver, p string, a Attrs) error {
	st, err := fsys.lstat(p)
	if err != nil {
		return err
	}
	uid, gid, err := wantOwner(ctx, fsys, ids, a)
	if err != nil {
		return err
	}
	if (uid >= 0 && uid != st.uid) || (gid >= 0 && gid != st.gid) {
		if uid < 0 {
			uid = st.uid
		}
		if gid < 0 {
			gid = st.gid
		}
		if err := fsys.chown(p, uid, gid); err != nil {
			return err
		}
	}
	if perm := unixPerm(a.Mode); perm != 0 {
		if err := fsys.chmod(p, perm); err != nil {
			return err
		}
	}
	return nil
}

// mkdirAll creates p and its missing parents (0755 unless a.Mode says
// otherwise), applying a to the directories it creates.
func mkdirAll(ctx context.Context, fsys fileSystem, ids *idResolver, p string, a Attrs) error {
	var missing []string
	for d := p; ; d = path.Dir(d) {
		st, err := fsys.lstat(d)
		if err == nil {
			if !st.isDir && !st.isLink {
				return fmt.Errorf("%s exists and is not a directory", d)
			}
			break
		}
		if !isNotExist(err) {
			return err
		}
		missing = append(missing, d)
		if d == "/" {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	uid, gid, err := wantOwner(ctx, fsys, ids, a)
	if err != nil {
		return err
	}
	perm := unixPerm(a.Mode)
	if perm == 0 {
		perm = 0o755
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := missing[i]
		if err := fsys.mkdir(d); err != nil {
			if st, serr := fsys.lstat(d); serr == nil && st.isDir {
				continue // made meanwhile by someone else: not ours to change
			}
			return err
		}
		if uid >= 0 || gid >= 0 {
			st, err := fsys.lstat(d)
			if err != nil {
				return err
			}
			nu, ng := st.uid, st.gid
			if uid >= 0 {
				nu = uid
			}
			if gid >= 0 {
				ng = gid
			}
			if err := fsys.chown(d, nu, ng); err != nil {
				return err
			}
		}
		if err := fsys.chmod(d, perm); err != nil {
			return err
		}
	}
	return nil
}

// removeAll deletes p, recursively for a directory (links are removed, not
// followed); an absent path is not an error.
func removeAll(ctx context.Context, fsys fileSystem, p string) error {
	if p == "/" {
		return errors.New("refusing to remove /")
	}
	st, err := fsys.lstat(p)
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.isDir {
		if err := fsys.removeFile(p); err != nil && !isNotExist(err) {
			return err
		}
		return nil
	}
	return removeTree(ctx, fsys, p)
}

func removeTree(ctx context.Context, fsys fileSystem, dir string) error {
	entries, err := fsys.readDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		child := path.Join(dir, e.name)
		if e.isDir {
			err = removeTree(ctx, fsys, child)
		} else {
			err = fsys.removeFile(child)
		}
		if err != nil && !isNotExist(err) {
			return err
		}
	}
	if err := fsys.removeDir(dir); err != nil && !isNotExist(err) {
		return err
	}
	return nil
}

// symlinkAt makes p a symbolic link to target, atomically replacing what
// is at p (a file or a link; not a directory).
func symlinkAt(fsys fileSystem, target, p string) error {
	tmp := tempName(p)
	if err := fsys.symlink(target, tmp); err != nil {
		return err
	}
	if err := fsys.rename(tmp, p); err != nil {
		_ = fsys.removeFile(tmp)
		return err
	}
	return nil
}
