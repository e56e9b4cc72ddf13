package transport

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Overlay holds the file changes a check run simulated on one host: what
// the WriteFile, Mkdir, Remove, Symlink and SetAttrs of its check-mode
// Targets would have done. The runner gives every check-mode Target of a
// host the same Overlay for the whole run, so that Stat and ReadFile (and
// StatRead) of a later task answer as if the earlier tasks had been
// performed. Commands (Query) still run on the host and cannot see it:
// see Simulated. Paths are global on a host, so one Overlay serves every
// effective user. It is safe for concurrent use.
type Overlay struct {
	mu      sync.Mutex
	entries map[string]*simEntry // by clean absolute path
	groups  map[string]idName    // a user's primary group, asked once
}

// NewOverlay returns an empty Overlay.
func NewOverlay() *Overlay {
	return &Overlay{entries: map[string]*simEntry{}, groups: map[string]idName{}}
}

// simKind is what a simulated change left at a path.
type simKind int

const (
	simAttrs  simKind = iota // the host's path with other mode/owner/group
	simAbsent                // removed
	simFile                  // a regular file written
	simDir                   // a directory created (nothing of the host's below it)
	simLink                  // a symbolic link made
)

// idName is a user or group: its name ("" when unknown) and id (-1 when
// unknown).
type idName struct {
	name string
	id   int
}

// simEntry is the simulated state of one path.
type simEntry struct {
	kind   simKind
	data   []byte // simFile
	target string // simLink
	// mode is the permission bits; for simAttrs 0 means unchanged.
	mode fs.FileMode
	// owner and group; for simAttrs set says which were changed.
	owner, group       idName
	ownerSet, groupSet bool
	modTime            time.Time
}

// maxLinkHops bounds the symbolic links followed while resolving a path.
const maxLinkHops = 40

// linkDest is where a link at p pointing to target leads.
func linkDest(p, target string) string {
	if path.IsAbs(target) {
		return path.Clean(target)
	}
	return path.Join(path.Dir(p), target)
}

// resolve returns where p is according to the overlay: p itself, or p
// with a simulated link among its parent directories replaced by where
// it leads. hidden is true when a simulated change above that path (a
// removal, a file or a link written over a parent, a directory created
// where there was none) makes it absent. The entry at the path, if any,
// is returned as a copy. o.mu must be held.
func (o *Overlay) resolve(p string) (q string, e *simEntry, hidden bool) {
	q = p
	for hops := 0; hops <= maxLinkHops; hops++ {
		if e, ok := o.entries[q]; ok {
			c := *e
			return q, &c, false
		}
		redirected := false
		for d := path.Dir(q); ; d = path.Dir(d) {
			if a, ok := o.entries[d]; ok && a.kind != simAttrs {
				if a.kind != simLink {
					return q, nil, true
				}
				q = path.Join(linkDest(d, a.target), strings.TrimPrefix(q, d))
				redirected = true
				break
			}
			if d == "/" || d == "." {
				break
			}
		}
		if !redirected {
			return q, nil, false
		}
	}
	return q, nil, false
}

// put makes e the state of p: whatever the overlay knew of p and below
// it is replaced. o.mu must be held.
func (o *Overlay) put(p string, e *simEntry) {
	delete(o.entries, p)
	prefix := p + "/"
	if p == "/" {
		prefix = "/"
	}
	for k := range o.entries {
		if strings.HasPrefix(k, prefix) {
			delete(o.entries, k)
		}
	}
	o.entries[p] = e
}

// find is resolve under the lock.
func (o *Overlay) find(p string) (string, *simEntry, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.resolve(p)
}

// info describes the simulated path p (whose entry e is a file, a
// directory or a link).
func (e *simEntry) info(p string) FileInfo {
	fi := FileInfo{Path: p, Exists: true, Simulated: true, Mode: e.mode, ModTime: e.modTime,
		UID: e.owner.id, Owner: e.owner.name, GID: e.group.id, Group: e.group.name}
	switch e.kind {
	case simDir:
		fi.IsDir = true
		fi.Size = 4096
	case simLink:
		fi.IsLink = true
		fi.LinkTarget = e.target
		fi.Size = int64(len(e.target))
	default:
		fi.Size = int64(len(e.data))
	}
	return fi
}

// apply puts the attributes of a simAttrs entry on the host's fi.
func (e *simEntry) apply(fi *FileInfo) {
	if e.mode != 0 {
		fi.Mode = e.mode
	}
	if e.ownerSet {
		fi.Owner, fi.UID = e.owner.name, e.owner.id
	}
	if e.groupSet {
		fi.Group, fi.GID = e.group.name, e.group.id
	}
	fi.Simulated = true
}

// setAttrs changes e's attributes as SetAttrs with a (resolved) would.
func (e *simEntry) setAttrs(mode fs.FileMode, owner, group *idName) {
	if mode != 0 {
		e.mode = mode
	}
	if owner != nil {
		e.owner, e.ownerSet = *owner, true
	}
	if group != nil {
		e.group, e.groupSet = *group, true
	}
}

// cleanAbs is p cleaned, and whether it is absolute (a relative path is
// left to the host Target, which refuses it).
func cleanAbs(p string) (string, bool) {
	if !path.IsAbs(p) {
		return p, false
	}
	return path.Clean(p), true
}

// Simulated says whether t is a check-mode Target on which an earlier
// simulated change (a write, a new directory or link, a removal) makes p
// differ from what is on the host: Stat and ReadFile through t answer
// from the simulation, but a command run on the host (Query) would see
// the host's file, or none. A simulated change of mode or ownership only
// does not count. It costs no round trip.
func Simulated(t Target, p string) bool {
	c, ok := t.(*checkTarget)
	if !ok {
		return false
	}
	cp, ok := cleanAbs(p)
	if !ok {
		return false
	}
	q, e, hidden := c.ov.find(cp)
	return hidden || q != cp || (e != nil && e.kind != simAttrs)
}

// notExist is the error of reading a path that the simulation made absent.
func (c *checkTarget) notExist(p string) error {
	return fmt.Errorf("host %s: read %s: %w (as left by the changes earlier tasks of this check run simulated)", c.Host(), p, fs.ErrNotExist)
}

// hostIDs returns the host Target under c, when it is one: it resolves
// user and group names.
func (c *checkTarget) hostIDs(ctx context.Context) (*hostTarget, *idResolver) {
	h, ok := c.t.(*hostTarget)
	if !ok {
		return nil, nil
	}
	ids := h.b.ids()
	if fsys, err := h.b.files(ctx, h.become); err == nil {
		ids.preload(fsys)
	}
	return h, ids
}

// resolveID resolves a wanted owner (db "passwd") or group (db "group"),
// a name or a number, on the host as far as it can: unknown parts are ""
// and -1 (a user an earlier simulated task would have created, say).
func (c *checkTarget) resolveID(ctx context.Context, db, want string) idName {
	_, ids := c.hostIDs(ctx)
	n, err := strconv.Atoi(want)
	numeric := err == nil && n >= 0
	if ids == nil {
		if numeric {
			return idName{name: want, id: n}
		}
		return idName{name: want, id: -1}
	}
	if numeric {
		if db == "passwd" {
			return idName{name: ids.userName(ctx, n), id: n}
		}
		return idName{name: ids.groupName(ctx, n), id: n}
	}
	e, err := ids.lookup(ctx, db, want)
	if err != nil || !e.found {
		return idName{name: want, id: -1}
	}
	return idName{name: e.name, id: e.id}
}

// writer returns the user that would create files through c, and its
// primary group (unknown: "" and -1).
func (c *checkTarget) writer(ctx context.Context) (idName, idName) {
	h, ids := c.hostIDs(ctx)
	if h == nil {
		return idName{id: -1}, idName{id: -1}
	}
	user := h.become
	if user == "" {
		user = h.b.loginUser()
	}
	u := idName{name: user, id: -1}
	if id, err := ids.uid(ctx, user); err == nil {
		u.id = id
	}
	c.ov.mu.Lock()
	g, ok := c.ov.groups[user]
	c.ov.mu.Unlock()
	if !ok {
		g = idName{id: -1}
		if r, err := h.b.run(ctx, Cmd{Argv: []string{"id", "-g", "--", user}}, ""); err == nil && r.RC == 0 {
			if id, err := strconv.Atoi(strings.TrimSpace(string(r.Stdout))); err == nil {
				g = idName{name: ids.groupName(ctx, id), id: id}
			}
		}
		c.ov.mu.Lock()
		c.ov.groups[user] = g
		c.ov.mu.Unlock()
	}
	return u, g
}

// newEntry is the entry of a path c creates with attributes a: mode def
// unless a says otherwise, owned by a's owner and group or the writer's.
func (c *checkTarget) newEntry(ctx context.Context, kind simKind, a Attrs, def fs.FileMode) *simEntry {
	e := &simEntry{kind: kind, mode: fs.FileMode(unixPerm(a.Mode)), modTime: time.Now()}
	if e.mode == 0 {
		e.mode = def
	}
	u, g := c.writer(ctx)
	e.owner, e.group = u, g
	if a.Owner != "" {
		e.owner = c.resolveID(ctx, "passwd", a.Owner)
	}
	if a.Group != "" {
		e.group = c.resolveID(ctx, "group", a.Group)
	}
	return e
}

// simWrite records that p now holds data (after the check for a
// directory that WriteFile does).
func (c *checkTarget) simWrite(ctx context.Context, p string, data []byte, a Attrs) error {
	cp, ok := cleanAbs(p)
	if !ok {
		return nil
	}
	old, err := c.Stat(ctx, cp)
	if err != nil {
		old = FileInfo{}
	}
	if old.Exists && old.IsDir {
		return fmt.Errorf("host %s: write %s: %s is a directory", c.Host(), p, cp)
	}
	e := c.newEntry(ctx, simFile, a, 0o644)
	e.data = append([]byte{}, data...)
	if old.Exists && !old.IsLink {
		// As writeFile: an existing file keeps what a does not set.
		if a.Mode == 0 {
			e.mode = old.Mode
		}
		if a.Owner == "" {
			e.owner = idName{name: old.Owner, id: old.UID}
		}
		if a.Group == "" {
			e.group = idName{name: old.Group, id: old.GID}
		}
	}
	c.ov.mu.Lock()
	defer c.ov.mu.Unlock()
	q, _, _ := c.ov.resolve(cp)
	c.ov.put(q, e)
	return nil
}

// simMkdir records the directories mkdir -p p would create.
func (c *checkTarget) simMkdir(ctx context.Context, p string, a Attrs) {
	cp, ok := cleanAbs(p)
	if !ok {
		return
	}
	var missing []string
	for d := cp; ; d = path.Dir(d) {
		fi, err := c.Stat(ctx, d)
		if err != nil || fi.Exists {
			break
		}
		missing = append(missing, d)
		if d == "/" {
			break
		}
	}
	if len(missing) == 0 {
		return
	}
	proto := c.newEntry(ctx, simDir, a, 0o755)
	c.ov.mu.Lock()
	defer c.ov.mu.Unlock()
	for i := len(missing) - 1; i >= 0; i-- {
		e := *proto
		q, _, _ := c.ov.resolve(missing[i])
		c.ov.put(q, &e)
	}
}

// simRemove records that p (and all below it) is gone.
func (c *checkTarget) simRemove(p string) {
	cp, ok := cleanAbs(p)
	if !ok || cp == "/" {
		return
	}
	c.ov.mu.Lock()
	defer c.ov.mu.Unlock()
	q, _, _ := c.ov.resolve(cp)
	c.ov.put(q, &simEntry{kind: simAbsent})
}

// simSymlink records that p is a link to target.
func (c *checkTarget) simSymlink(ctx context.Context, target, p string) {
	cp, ok := cleanAbs(p)
	if !ok {
		return
	}
	e := c.newEntry(ctx, simLink, Attrs{}, 0o777)
	e.target = target
	c.ov.mu.Lock()
	defer c.ov.mu.Unlock()
	q, _, _ := c.ov.resolve(cp)
	c.ov.put(q, e)
}

// simSetAttrs records a's mode and ownership on p, when p exists.
func (c *checkTarget) simSetAttrs(ctx context.Context, p string, a Attrs) {
	cp, ok := cleanAbs(p)
	if !ok {
		return
	}
	if fi, err := c.Stat(ctx, cp); err != nil || !fi.Exists {
		return // SetAttrs would fail on the host: nothing to record
	}
	var owner, group *idName
	if a.Owner != "" {
		o := c.resolveID(ctx, "passwd", a.Owner)
		owner = &o
	}
	if a.Group != "" {
		g := c.resolveID(ctx, "group", a.Group)
		group = &g
	}
	mode := fs.FileMode(unixPerm(a.Mode))
	c.ov.mu.Lock()
	defer c.ov.mu.Unlock()
	q, _, _ := c.ov.resolve(cp)
	e, ok := c.ov.entries[q]
	if !ok {
		e = &simEntry{kind: simAttrs}
		c.ov.entries[q] = e
	}
	e.setAttrs(mode, owner, group)
}
