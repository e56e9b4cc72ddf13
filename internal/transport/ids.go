package transport

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// idResolver maps user and group names to ids and back on one host, with
// getent, caching every answer (negative ones too) for the whole run.
type idResolver struct {
	host string
	run  func(ctx context.Context, argv []string) (Result, error)

	mu     sync.Mutex
	cache  map[string]idEntry // "passwd:name", "group:1000", ...
	loaded bool               // /etc/passwd and /etc/group were read
}

type idEntry struct {
	name  string
	id    int
	found bool
}

func newIDResolver(host string, run func(ctx context.Context, argv []string) (Result, error)) *idResolver {
	return &idResolver{host: host, run: run, cache: map[string]idEntry{}}
}

// lookup asks getent for key (a name or a numeric id) in db ("passwd" or
// "group").
func (r *idResolver) lookup(ctx context.Context, db, key string) (idEntry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.cache[db+":"+key]; ok {
		return e, nil
	}
	res, err := r.run(ctx, []string{"getent", db, key})
	if err != nil {
		return idEntry{}, err
	}
	var e idEntry
	switch res.RC {
	case 0:
		line, _, _ := strings.Cut(strings.TrimSpace(string(res.Stdout)), "\n")
		f := strings.Split(line, ":")
		if len(f) < 3 {
			return idEntry{}, fmt.Errorf("host %s: getent %s %s: unexpected output %q", r.host, db, key, line)
		}
		id, err := strconv.Atoi(f[2])
		if err != nil {
			return idEntry{}, fmt.Errorf("host %s: getent %s %s: unexpected id %q", r.host, db, key, f[2])
		}
		e = idEntry{name: f[0], id: id, found: true}
		r.cache[db+":"+f[0]] = e
		r.cache[db+":"+f[2]] = e
	case 2: // not found
	default:
		return idEntry{}, fmt.Errorf("host %s: getent %s %s failed (rc %d): %s", r.host, db, key, res.RC,
			strings.TrimSpace(string(res.Stderr)))
	}
	// Only answers that found something are cached: a user or group that
	// is missing now may be created by a later task of the same run.
	if e.found {
		r.cache[db+":"+key] = e
	}
	return e, nil
}

// preload reads /etc/passwd and /etc/group through fsys, once, and caches
// their entries, so that most lookups need no getent command (a process
// on the host) at all; names and ids not found there (NSS sources such as
// LDAP) are still asked of getent. Errors are ignored: getent remains.
func (r *idResolver) preload(fsys fileSystem) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loaded {
		return
	}
	r.loaded = true
	dbs := []string{"passwd", "group"}
	texts := make([][]byte, len(dbs))
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b, err := fsys.readFile("/etc/" + db); err == nil {
				texts[i] = b
			}
		}()
	}
	wg.Wait()
	for i, db := range dbs {
		for _, line := range strings.Split(string(texts[i]), "\n") {
			if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
				continue // comments and NIS compat entries: left to getent
			}
			f := strings.Split(line, ":")
			if len(f) < 3 || f[0] == "" {
				continue
			}
			id, err := strconv.Atoi(f[2])
			if err != nil || id < 0 {
				continue
			}
			e := idEntry{name: f[0], id: id, found: true}
			for _, k := range []string{db + ":" + f[0], db + ":" + f[2]} {
				if _, ok := r.cache[k]; !ok { // the first entry wins, as with getent
					r.cache[k] = e
				}
			}
		}
	}
}

// uid resolves a user name (or a numeric uid) to a uid.
func (r *idResolver) uid(ctx context.Context, user string) (int, error) {
	return r.id(ctx, "passwd", "user", user)
}

// gid resolves a group name (or a numeric gid) to a gid.
func (r *idResolver) gid(ctx context.Context, group string) (int, error) {
	return r.id(ctx, "group", "group", group)
}

func (r *idResolver) id(ctx context.Context, db, what, name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	e, err := r.lookup(ctx, db, name)
	if err != nil {
		return 0, err
	}
	if !e.found {
		return 0, fmt.Errorf("no %s %q on the host (getent %s found none); create it first or fix the name", what, name, db)
	}
	return e.id, nil
}

// userName returns the name of uid, or "" when it has none.
func (r *idResolver) userName(ctx context.Context, uid int) string {
	e, err := r.lookup(ctx, "passwd", strconv.Itoa(uid))
	if err != nil {
		return ""
	}
	return e.name
}

// groupName returns the name of gid, or "" when it has none.
func (r *idResolver) groupName(ctx context.Context, gid int) string {
	e, err := r.lookup(ctx, "group", strconv.Itoa(gid))
	if err != nil {
		return ""
	}
	return e.name
}
