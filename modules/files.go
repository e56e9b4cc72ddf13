package modules

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pgplay/pgplay/internal/transport"
)

// FileAttrs are the mode, owner and group arguments that file modules
// share. Unset values leave the path's current attribute alone.
type FileAttrs struct {
	Mode  Mode   `arg:"mode" doc:"permissions: \"0644\", \"u=rw,g=r,o=r\"; unset keeps the current mode (a new file gets 0644)"`
	Owner string `arg:"owner" doc:"user name or uid; unset keeps the owner"`
	Group string `arg:"group" doc:"group name or gid; unset keeps the group"`
}

// Attrs returns the wanted attributes for the Target.
func (a FileAttrs) Attrs() transport.Attrs {
	return transport.Attrs{Mode: a.Mode.FileMode(), Owner: a.Owner, Group: a.Group}
}

// differing returns the wanted attributes that fi does not have yet.
func (a FileAttrs) differing(fi transport.FileInfo) (transport.Attrs, bool) {
	var d transport.Attrs
	if a.Mode != 0 && Mode(fi.Mode&0o7777) != a.Mode {
		d.Mode = a.Mode.FileMode()
	}
	if a.Owner != "" && !sameID(a.Owner, fi.Owner, fi.UID) {
		d.Owner = a.Owner
	}
	if a.Group != "" && !sameID(a.Group, fi.Group, fi.GID) {
		d.Group = a.Group
	}
	return d, d != (transport.Attrs{})
}

// sameID says whether a wanted user or group (a name or a number) is the
// one a path has.
func sameID(want, name string, id int) bool {
	if n, err := strconv.Atoi(want); err == nil {
		return n == id
	}
	return want == name
}

// idRef names a user or group by name when known, else by number.
func idRef(name string, id int) string {
	if name != "" {
		return name
	}
	return strconv.Itoa(id)
}

// applyAttrs sets the wanted attributes that differ; it says whether it
// changed anything.
func applyAttrs(ctx context.Context, t transport.Target, p string, a FileAttrs, fi transport.FileInfo) (bool, error) {
	d, ok := a.differing(fi)
	if !ok {
		return false, nil
	}
	if err := t.SetAttrs(ctx, p, d); err != nil {
		return false, fmt.Errorf("set attributes of %s: %w", p, err)
	}
	return true, nil
}

// attrsDiff shows, for --diff, the attributes of p that a will change
// (mode, owner, group), old and new: a change of attributes alone has no
// content diff to show why the task changed. nil when none differs.
func attrsDiff(p string, a FileAttrs, fi transport.FileInfo) []Diff {
	d, ok := a.differing(fi)
	if !ok {
		return nil
	}
	var before, after strings.Builder
	if d.Mode != 0 {
		fmt.Fprintf(&before, "mode: %s\n", Mode(fi.Mode&0o7777))
		fmt.Fprintf(&after, "mode: %s\n", a.Mode)
	}
	if d.Owner != "" {
		fmt.Fprintf(&before, "owner: %s\n", idRef(fi.Owner, fi.UID))
		fmt.Fprintf(&after, "owner: %s\n", d.Owner)
	}
	if d.Group != "" {
		fmt.Fprintf(&before, "group: %s\n", idRef(fi.Group, fi.GID))
		fmt.Fprintf(&after, "group: %s\n", d.Group)
	}
	return []Diff{{Path: p + " (attributes)", Before: before.String(), After: after.String()}}
}

// isText says whether b can be shown in a diff: valid UTF-8 without NUL.
func isText(b []byte) bool {
	return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0
}

// maxDiffRead is the size above which a file whose size differs from the
// wanted content is not read (so no diff is shown for it).
const maxDiffRead = 1 << 20

// fileWrite is a wanted file content.
type fileWrite struct {
	Path  string
	Data  []byte
	Attrs FileAttrs
	// Backup keeps the old content as PATH.YYYYmmddTHHMMSS~ before a change.
	Backup bool
	// Force false writes only when the path does not exist.
	Force bool
	// Stat, when not nil, is Path's FileInfo already read by the caller.
	Stat *transport.FileInfo
	// Old, with Stat, is Path's content when the caller read it too (nil:
	// not read).
	Old []byte
}

// fileOutcome is what putFile did.
type fileOutcome struct {
	Changed bool
	Diffs   []Diff
	Backup  string
}

// putFile makes w.Path hold w.Data with w.Attrs, changing only what
// differs. An unchanged file costs two round trips over SFTP (the stat and
// the open together, then the read: transport.StatRead).
func putFile(ctx context.Context, t transport.Target, w fileWrite) (fileOutcome, error) {
	var out fileOutcome
	var st transport.FileInfo
	var old []byte
	var err error
	if w.Stat != nil {
		st, old = *w.Stat, w.Old
	} else if st, old, err = transport.StatRead(ctx, t, w.Path, maxDiffRead); err != nil {
		return out, fmt.Errorf("stat %s: %w", w.Path, err)
	}
	if st.Exists && st.IsDir {
		return out, fmt.Errorf("%s is a directory", w.Path)
	}
	if st.Exists && !w.Force {
		return out, nil
	}
	haveOld := old != nil
	if !haveOld && st.Exists && !st.IsLink && (st.Size == int64(len(w.Data)) || st.Size <= maxDiffRead || w.Backup) {
		if old, err = t.ReadFile(ctx, w.Path); err != nil {
			return out, fmt.Errorf("read %s: %w", w.Path, err)
		}
		haveOld = true
	}
	if haveOld && bytes.Equal(old, w.Data) {
		out.Diffs = attrsDiff(w.Path, w.Attrs, st)
		out.Changed, err = applyAttrs(ctx, t, w.Path, w.Attrs, st)
		return out, err
	}
	if !haveOld {
		old = nil
		if st.Exists {
			st.Size = -1 // content unknown: no diff, no backup
		}
	}
	return writeChanged(ctx, t, w, st, old)
}

// writeChanged writes w.Data to w.Path, whose FileInfo is st and whose
// current content is old (nil for a new file, or when unknown: st.Size
// -1). It backs up the old content if asked and returns the diff.
func writeChanged(ctx context.Context, t transport.Target, w fileWrite, st transport.FileInfo, old []byte) (fileOutcome, error) {
	var out fileOutcome
	haveOld := st.Exists && st.Size >= 0 && !st.IsLink
	if w.Backup && haveOld {
		out.Backup = backupName(w.Path, time.Now())
		if err := t.WriteFile(ctx, out.Backup, old, transport.Attrs{Mode: st.Mode, Owner: idRef(st.Owner, st.UID), Group: idRef(st.Group, st.GID)}); err != nil {
			return out, fmt.Errorf("back up %s to %s: %w", w.Path, out.Backup, err)
		}
	}
	if err := t.WriteFile(ctx, w.Path, w.Data, w.Attrs.Attrs()); err != nil {
		if !st.Exists {
			if dir := path.Dir(w.Path); dir != w.Path {
				if ds, serr := t.Stat(ctx, dir); serr == nil && !ds.Exists {
					return out, fmt.Errorf("write %s: directory %s does not exist (create it first, e.g. with the file module and state: directory): %w", w.Path, dir, err)
				}
			}
		}
		return out, fmt.Errorf("write %s: %w", w.Path, err)
	}
	out.Changed = true
	if (haveOld || !st.Exists) && isText(old) && isText(w.Data) {
		out.Diffs = []Diff{{Path: w.Path, Before: string(old), After: string(w.Data)}}
	}
	return out, nil
}

// backupName is where a backup of p made at tm goes.
func backupName(p string, tm time.Time) string {
	return p + "." + tm.Format("20060102T150405") + "~"
}

// sha1Hex is the hex SHA-1 of b (Ansible's checksum).
func sha1Hex(b []byte) string {
	h := sha1.Sum(b)
	return hex.EncodeToString(h[:])
}

// fileData is the registered result of a file-writing module.
func fileData(key, p string, o fileOutcome) map[string]any {
	d := map[string]any{key: p}
	if o.Backup != "" {
		d["backup_file"] = o.Backup
	}
	return d
}

// finishEdit ends a line-editing module's run (lineinfile, blockinfile):
// with no edit (msg ""), only the attributes are applied; else the edited
// lines are written (the parent directory made when the file is new), with
// the diff and the file data in res.
func finishEdit(ctx context.Context, t transport.Target, res *Result, w fileWrite, st transport.FileInfo, old []byte, msg string) (*Result, error) {
	res.Msg = msg
	if msg == "" {
		if st.Exists {
			var err error
			res.Diffs = attrsDiff(w.Path, w.Attrs, st)
			if res.Changed, err = applyAttrs(ctx, t, w.Path, w.Attrs, st); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	if !st.Exists {
		dir := path.Dir(w.Path)
		ds, err := t.Stat(ctx, dir)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", dir, err)
		}
		if !ds.Exists {
			if err := t.Mkdir(ctx, dir, transport.Attrs{}); err != nil {
				return nil, fmt.Errorf("create directory %s: %w", dir, err)
			}
		}
	}
	o, err := writeChanged(ctx, t, w, st, old)
	if err != nil {
		return nil, err
	}
	for k, v := range fileData("path", w.Path, o) {
		res.Data[k] = v
	}
	res.Changed, res.Diffs = true, o.Diffs
	return res, nil
}
