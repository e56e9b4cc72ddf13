package playbook

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pgplay/pgplay/internal/content"
	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// Options say where content is found and which modules exist.
type Options struct {
	// Source finds playbooks, roles, task files and vars files (disk
	// first, then embedded). Nil means the working directory only.
	Source *content.Source
	// KnownModule reports whether a module exists; nil accepts all names.
	// An unknown module is an error at the task's module key.
	KnownModule func(name string) bool
	// ModuleNames optionally lists the modules, for "did you mean" hints.
	ModuleNames []string
	// ModuleHint, if set, says what to write instead of an unknown module
	// name (an Ansible module pgplay spells differently); "" when it has
	// nothing to say, and the did-you-mean hint is given.
	ModuleHint func(name string) string
	// Decrypt, if set, is given every vars file (a play's vars_files, a
	// role's vars/ and defaults/ main file) before it is parsed, so
	// that encrypted files (pgplay vault) can be read; it returns the
	// plain text (data unchanged when the file is not encrypted).
	Decrypt func(file string, data []byte) ([]byte, error)
	// CheckTemplate, if set, is given every string that is rendered
	// strictly when a task runs (module arguments, loop, delegate_to), and
	// every condition (when, changed_when, failed_when, until, and a role's
	// when; cond is true). A problem stops the parse with an error at that
	// string's position, so that a template syntax error is reported before
	// any host is contacted. tmpl.Engine.Check has this signature.
	CheckTemplate func(text string, cond bool) (problem, hint string)
}

// place is where a file was found: what to call it in messages, and the
// directory relative names in it are resolved against.
type place struct {
	display  string // yamlsrc.Pos.File: a disk path or "embedded:NAME"
	dir      string // disk directory, or slash directory inside the embedded FS
	embedded bool
}

func placeOfName(file string) place {
	if rest, ok := strings.CutPrefix(file, "embedded:"); ok {
		return place{display: file, dir: path.Dir(rest), embedded: true}
	}
	return place{display: file, dir: filepath.Dir(file)}
}

func placeOfFound(f content.Found) place {
	if f.Embedded {
		return placeOfName(f.Path)
	}
	return place{display: f.Path, dir: f.Dir}
}

// parser holds the state of one Load/Parse call.
type parser struct {
	opt   Options
	src   *content.Source
	chain []string         // files being read (include/import cycle detection)
	roles map[string]*Role // roles already loaded, by Role.Dir
	// loading are the roles being loaded, outermost first (dependency
	// cycle detection).
	loading []*Role
}

func newParser(opt Options) *parser {
	src := opt.Source
	if src == nil {
		src = &content.Source{Dirs: []string{"."}}
	}
	return &parser{opt: opt, src: src, roles: map[string]*Role{}}
}

// read finds name relative to base (the directory of the file naming it),
// then through src (its disk dirs, then the embedded root).
func (p *parser) read(name string, base place, src *content.Source) ([]byte, place, error) {
	var tried []string
	if base.embedded && !filepath.IsAbs(name) && src.Embedded != nil {
		rel := path.Clean(path.Join(base.dir, filepath.ToSlash(name)))
		if b, err := fs.ReadFile(src.Embedded, rel); err == nil {
			return b, placeOfName("embedded:" + rel), nil
		}
		tried = append(tried, "embedded:"+rel)
	}
	s := src
	if !base.embedded && base.dir != "" {
		s = withDirs(src, base.dir)
	}
	b, found, err := s.ReadFile(name)
	if err != nil {
		if errors.Is(err, content.ErrNotFound) && len(tried) > 0 && !strings.Contains(err.Error(), tried[0]) {
			// Still an ErrNotFound: callers try other names (main.yml) on it.
			return nil, place{}, fmt.Errorf("%s (also looked in %s): %w", strings.TrimSuffix(err.Error(), ": "+content.ErrNotFound.Error()), strings.Join(tried, ", "), content.ErrNotFound)
		}
		return nil, place{}, err
	}
	return b, placeOfFound(found), nil
}

// withDirs is src.With(dirs...) without repeated directories.
func withDirs(src *content.Source, dirs ...string) *content.Source {
	all := src.With(dirs...)
	seen := map[string]bool{}
	out := &content.Source{Embedded: all.Embedded}
	for _, d := range all.Dirs {
		if c := filepath.Clean(d); !seen[c] {
			seen[c] = true
			out.Dirs = append(out.Dirs, d)
		}
	}
	return out
}

// push records that file is being read; it fails when file is already
// being read further up (an include cycle).
func (p *parser) push(file string, at *yaml.Node, atFile string) error {
	if !strings.HasPrefix(file, "embedded:") {
		file = filepath.Clean(file)
	}
	for i, f := range p.chain {
		if f == file {
			cyc := append(append([]string{}, p.chain[i:]...), file)
			return yamlsrc.ErrAt(atFile, at, "remove one of the includes (a file cannot include itself, directly or through others)",
				"include cycle: %s", strings.Join(cyc, " -> "))
		}
	}
	p.chain = append(p.chain, file)
	return nil
}

func (p *parser) pop() { p.chain = p.chain[:len(p.chain)-1] }

// Load reads a playbook found via opt.Source (disk first, then embedded).
func Load(name string, opt Options) (*Playbook, error) {
	p := newParser(opt)
	data, pl, err := p.read(name, place{}, p.src)
	if err != nil {
		return nil, fmt.Errorf("playbook %w", err)
	}
	return p.playbook(pl, data)
}

// Parse parses a playbook from data; file names it in positions and is the
// base for relative vars_files, roles and includes ("embedded:NAME" means a
// file of opt.Source.Embedded).
func Parse(file string, data []byte, opt Options) (*Playbook, error) {
	return newParser(opt).playbook(placeOfName(file), data)
}

// pbctx is what tasks of one playbook file need to find their files.
type pbctx struct {
	at    place           // the playbook file
	src   *content.Source // src with the playbook's directory first
	roles *content.Source // where roles/NAME is looked for
}

func (p *parser) playbook(pl place, data []byte) (*Playbook, error) {
	if err := p.push(pl.display, nil, pl.display); err != nil {
		return nil, err
	}
	defer p.pop()
	file := pl.display
	root, err := yamlsrc.ParseYAML(file, data)
	if err != nil {
		return nil, err
	}
	const listHint = "a playbook is a list of plays: start with `- name: ...`"
	if root == nil {
		return nil, &yamlsrc.Error{Pos: yamlsrc.Pos{File: file, Line: 1, Col: 1}, Msg: "playbook is empty", Hint: listHint + " then `hosts: all` and `tasks:`"}
	}
	if root.Kind != yaml.SequenceNode {
		return nil, yamlsrc.ErrAt(file, root, listHint, "a playbook must be a list of plays, not a %s", yamlsrc.KindName(root))
	}
	pc := &pbctx{at: pl, src: p.src, roles: p.src}
	if !pl.embedded {
		pc.src = withDirs(p.src, pl.dir)
		// roles/ next to the playbook, or next to its directory (the
		// layout of `pgplay init`: playbooks/ and roles/ side by side).
		pc.roles = withDirs(p.src, pl.dir, filepath.Dir(pl.dir))
	}
	pb := &Playbook{File: file}
	for _, item := range root.Content {
		item = yamlsrc.Deref(item)
		if item.Kind != yaml.MappingNode {
			return nil, yamlsrc.ErrAt(file, item, "each play is a mapping: `- name: ...`, `hosts: ...`, `tasks: ...`",
				"a play must be a mapping, not %s", yamlsrc.Describe(item))
		}
		ps, err := yamlsrc.Pairs(file, item)
		if err != nil {
			return nil, err
		}
		if imp := findPair(ps, "import_playbook"); imp != nil {
			plays, err := p.importPlaybook(pc, ps, imp)
			if err != nil {
				return nil, err
			}
			pb.Plays = append(pb.Plays, plays...)
			continue
		}
		play, err := p.play(pc, item, ps)
		if err != nil {
			return nil, err
		}
		pb.Plays = append(pb.Plays, play)
	}
	return pb, nil
}

func findPair(ps []yamlsrc.Pair, key string) *yamlsrc.Pair {
	for i := range ps {
		if ps[i].Key == key {
			return &ps[i]
		}
	}
	return nil
}

func (p *parser) importPlaybook(pc *pbctx, ps []yamlsrc.Pair, imp *yamlsrc.Pair) ([]*Play, error) {
	file := pc.at.display
	for _, q := range ps {
		if q.Key != "import_playbook" && q.Key != "name" {
			return nil, yamlsrc.ErrAt(file, q.K, "an import_playbook entry takes only `name:`; put vars and tags on the plays of the imported file",
				"%q is not allowed with import_playbook", q.Key)
		}
	}
	name, err := yamlsrc.RequiredString(file, imp.V, "import_playbook", "name the playbook file to import")
	if err != nil {
		return nil, err
	}
	if strings.Contains(name, "{{") {
		return nil, yamlsrc.ErrAt(file, imp.V, "name the playbook file literally", "dynamic import_playbook is not supported")
	}
	data, pl, err := p.read(name, pc.at, p.src)
	if err != nil {
		return nil, yamlsrc.ErrAt(file, imp.V, "paths are relative to the importing playbook's directory", "cannot find playbook %q: %v", name, err)
	}
	if err := p.push(pl.display, imp.V, file); err != nil {
		return nil, err
	}
	p.pop()
	sub, err := p.playbook(pl, data)
	if err != nil {
		return nil, err
	}
	return sub.Plays, nil
}

// playKeys are the keys a play may have.
var playKeys = []string{
	"name", "hosts", "become", "become_user", "vars", "vars_files", "roles",
	"pre_tasks", "tasks", "post_tasks", "handlers", "serial", "gather_facts",
	"any_errors_fatal", "force_handlers", "tags", "secret_vars",
}

// PlayKeywords lists the keys a play may have, for documentation.
func PlayKeywords() []string { return append([]string(nil), playKeys...) }

// unsupportedPlayKeys are Ansible play keys pgplay does not have, with what
// to do instead.
var unsupportedPlayKeys = map[string]string{
	"remote_user":         "set ssh_user in the inventory",
	"connection":          "set connection: local for the host in the inventory",
	"port":                "set ssh_port in the inventory",
	"environment":         "set environment variables in the command itself (env NAME=value ...)",
	"strategy":            "pgplay runs tasks in lock step like Ansible's linear strategy",
	"vars_prompt":         "pass values with -e name=value",
	"max_fail_percentage": "use any_errors_fatal: true to stop at the first failure",
	"order":               "hosts run in inventory order",
	"include_vars":        "use vars_files:",
	"become_method":       "pgplay always becomes with sudo",
}

func (p *parser) play(pc *pbctx, n *yaml.Node, ps []yamlsrc.Pair) (*Play, error) {
	file := pc.at.display
	play := &Play{Pos: yamlsrc.PosOf(file, n), ValPos: Positions{}}
	var hostsSeen bool
	var handlerNodes, roleNode *yaml.Node
	lists := map[string]*yaml.Node{}
	for _, q := range ps {
		var err error
		switch q.Key {
		case "name":
			play.Name, err = yamlsrc.String(file, q.V, "name")
		case "hosts":
			hostsSeen = true
			play.Hosts, err = yamlsrc.RequiredString(file, q.V, "hosts",
				"name a host, a group or a pattern: hosts: all, hosts: db, hosts: \"web:&prod\"")
			if err != nil && yamlsrc.Deref(q.V).Kind == yaml.SequenceNode {
				err.(*yamlsrc.Error).Hint = "write several patterns as one string: hosts: \"web:db\" (or \"web,db\")"
			}
		case "become":
			play.Become, err = boolPtr(file, q.V, "become")
		case "become_user":
			play.BecomeUser, err = yamlsrc.String(file, q.V, "become_user")
			play.ValPos.record(file, q.Key, q.V)
		case "vars":
			play.Vars, err = yamlsrc.DecodeVars(file, q.V, "play vars")
		case "vars_files":
			err = p.varsFiles(pc, play, q.V)
		case "roles":
			roleNode = q.V
		case "pre_tasks", "tasks", "post_tasks":
			lists[q.Key] = q.V
		case "handlers":
			handlerNodes = q.V
		case "serial":
			play.Serial, err = serialValue(file, q.V)
		case "gather_facts":
			play.GatherFacts, err = yamlsrc.Bool(file, q.V, "gather_facts")
		case "any_errors_fatal":
			play.AnyErrorsFatal, err = yamlsrc.Bool(file, q.V, "any_errors_fatal")
		case "force_handlers":
			play.ForceHandlers, err = yamlsrc.Bool(file, q.V, "force_handlers")
		case "tags":
			play.Tags, err = yamlsrc.StringList(file, q.V, "tags")
		case "secret_vars":
			play.SecretVars, err = yamlsrc.StringList(file, q.V, "secret_vars")
		default:
			if h, ok := unsupportedPlayKeys[q.Key]; ok {
				return nil, yamlsrc.ErrAt(file, q.K, h, "play key %q is not supported by pgplay", q.Key)
			}
			hint := yamlsrc.DidYouMean(q.Key, playKeys) + "valid play keys: " + strings.Join(playKeys, ", ")
			if _, isTask := taskKeywordSet[q.Key]; isTask || p.moduleLike(q.Key) {
				hint = "tasks go in a list under `tasks:`; " + hint
			}
			return nil, yamlsrc.ErrAt(file, q.K, hint, "unknown play key %q", q.Key)
		}
		if err != nil {
			return nil, err
		}
	}
	if !hostsSeen {
		return nil, yamlsrc.ErrAt(file, n, "add `hosts: all` (or a group or pattern) to the play", "play %s has no hosts", playLabel(play))
	}
	if roleNode != nil {
		refs, err := p.roleRefs(pc, roleNode)
		if err != nil {
			return nil, err
		}
		play.Roles = ExpandRoles(refs)
	}
	tc := &taskCtx{file: file, base: pc.at, src: pc.src}
	for _, key := range []string{"pre_tasks", "tasks", "post_tasks"} {
		nd, ok := lists[key]
		if !ok {
			continue
		}
		ts, err := p.taskList(tc, nd, key)
		if err != nil {
			return nil, err
		}
		switch key {
		case "pre_tasks":
			play.PreTasks = ts
		case "tasks":
			play.Tasks = ts
		default:
			play.PostTasks = ts
		}
	}
	if handlerNodes != nil {
		hc := *tc
		hc.handler = true
		hs, err := p.taskList(&hc, handlerNodes, "handlers")
		if err != nil {
			return nil, err
		}
		play.Handlers = hs
	}
	if err := checkNotify(play); err != nil {
		return nil, err
	}
	return play, nil
}

func playLabel(p *Play) string {
	if p.Name != "" {
		return strconv.Quote(p.Name)
	}
	return "(unnamed)"
}

var serialRE = regexp.MustCompile(`^([0-9]+)(%?)$`)

func serialValue(file string, n *yaml.Node) ([]string, error) {
	n = yamlsrc.Deref(n)
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
		if len(items) == 0 {
			return nil, yamlsrc.ErrAt(file, n, "write a batch size (2, \"30%\") or a list of them", "serial is an empty list")
		}
	}
	var out []string
	for _, it := range items {
		it = yamlsrc.Deref(it)
		s := strings.TrimSpace(it.Value)
		m := serialRE.FindStringSubmatch(s)
		ok := it.Kind == yaml.ScalarNode && m != nil
		if ok {
			v, _ := strconv.Atoi(m[1])
			ok = v > 0 && (m[2] == "" || v <= 100)
		}
		if !ok {
			return nil, yamlsrc.ErrAt(file, it, "a batch size is a positive number of hosts (2) or a percentage (\"30%\"); a list gives successive batches",
				"serial must be a batch size, not %s", yamlsrc.Describe(it))
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *parser) varsFiles(pc *pbctx, play *Play, n *yaml.Node) error {
	file := pc.at.display
	names, err := yamlsrc.StringList(file, n, "vars_files")
	if err != nil {
		return err
	}
	items := []*yaml.Node{yamlsrc.Deref(n)}
	if yamlsrc.Deref(n).Kind == yaml.SequenceNode {
		items = yamlsrc.Deref(n).Content
	}
	play.VarsFiles = names
	for i, name := range names {
		at := items[i]
		if strings.Contains(name, "{{") {
			return yamlsrc.ErrAt(file, at, "name the file literally; to vary values per host, use inventory group vars",
				"vars_files with a template (%s) is not supported", name)
		}
		data, pl, err := p.read(name, pc.at, p.src)
		if err != nil {
			return yamlsrc.ErrAt(file, at, "vars_files are relative to the playbook's directory", "vars file %q not found: %v", name, err)
		}
		if data, err = p.decrypt(file, at, "vars file", pl.display, data); err != nil {
			return err
		}
		root, err := yamlsrc.ParseYAML(pl.display, data)
		if err != nil {
			return err
		}
		vars, err := yamlsrc.DecodeVars(pl.display, root, "a vars file")
		if err != nil {
			return err
		}
		if play.VarsFromFiles == nil {
			play.VarsFromFiles = map[string]any{}
		}
		for k, v := range vars {
			play.VarsFromFiles[k] = v
		}
	}
	return nil
}

// decrypt returns the plain text of a vars file (what: "vars file", "role
// vars file"; display: its name) that may be a vault file, through
// Options.Decrypt; errors are at node at of file.
func (p *parser) decrypt(file string, at *yaml.Node, what, display string, data []byte) ([]byte, error) {
	if p.opt.Decrypt != nil {
		plain, err := p.opt.Decrypt(display, data)
		if err != nil {
			return nil, yamlsrc.ErrAt(file, at, "check the vault key (see `pgplay vault --help`)", "cannot decrypt %s %s: %v", what, display, err)
		}
		return plain, nil
	}
	if strings.HasPrefix(strings.TrimSpace(string(data)), "-----BEGIN AGE ENCRYPTED FILE-----") {
		return nil, yamlsrc.ErrAt(file, at, "give the vault key to decrypt it (see `pgplay vault --help`)", "%s %s is encrypted", what, display)
	}
	return data, nil
}

// --- roles -------------------------------------------------------------------

var roleNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// roleLookup says where a list of role entries is written and where the
// roles it names are looked for.
type roleLookup struct {
	file string          // the file holding the list (for positions)
	key  string          // "roles" or "dependencies"
	base place           // relative names are resolved against it first
	src  *content.Source // then looked up here
}

func (p *parser) roleRefs(pc *pbctx, n *yaml.Node) ([]*RoleRef, error) {
	return p.roleList(roleLookup{file: pc.at.display, key: "roles", base: pc.at, src: pc.roles}, n)
}

// roleList parses a list of role entries (a play's roles:, a role's
// dependencies:) and loads the roles.
func (p *parser) roleList(lk roleLookup, n *yaml.Node) ([]*RoleRef, error) {
	file := lk.file
	n = yamlsrc.Deref(n)
	if yamlsrc.IsNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, yamlsrc.ErrAt(file, n, "list the roles: `- postgres` or `- role: postgres` with params", "%s must be a list, not a %s", lk.key, yamlsrc.KindName(n))
	}
	var out []*RoleRef
	for _, it := range n.Content {
		it = yamlsrc.Deref(it)
		ref := &RoleRef{Pos: yamlsrc.PosOf(file, it)}
		nameNode := it
		switch it.Kind {
		case yaml.ScalarNode:
			ref.Name = it.Value
		case yaml.MappingNode:
			ps, err := yamlsrc.Pairs(file, it)
			if err != nil {
				return nil, err
			}
			var paramsFrom map[string]*yaml.Node
			for _, q := range ps {
				switch q.Key {
				case "role", "name":
					if ref.Name != "" {
						return nil, yamlsrc.ErrAt(file, q.K, "give the role's name once, with `role:`", "role entry has both role: and name:")
					}
					ref.Name, err = yamlsrc.RequiredString(file, q.V, q.Key, "name the role: role: postgres")
					nameNode = q.V
				case "vars":
					var vars map[string]any
					vars, err = yamlsrc.DecodeVars(file, q.V, "role vars")
					for k, v := range vars {
						if ref.Params == nil {
							ref.Params = map[string]any{}
						}
						if _, dup := ref.Params[k]; dup {
							return nil, yamlsrc.ErrAt(file, paramsFrom[k], "give the param once, either directly or under vars:", "role param %q is given twice", k)
						}
						ref.Params[k] = v
					}
				case "when":
					ref.When, err = conditions(file, q.V, "when")
					if err == nil {
						err = p.checkTemplates(file, q.V, true)
					}
					ref.recordPos(file, q.Key, q.V)
				case "tags":
					ref.Tags, err = yamlsrc.StringList(file, q.V, "tags")
				case "become":
					ref.Become, err = boolPtr(file, q.V, "become")
				case "become_user":
					ref.BecomeUser, err = yamlsrc.String(file, q.V, "become_user")
					ref.recordPos(file, q.Key, q.V)
				default:
					var v any
					v, err = yamlsrc.DecodeValue(file, q.V)
					if ref.Params == nil {
						ref.Params = map[string]any{}
					}
					if _, dup := ref.Params[q.Key]; dup {
						return nil, yamlsrc.ErrAt(file, q.K, "give the param once, either directly or under vars:", "role param %q is given twice", q.Key)
					}
					if paramsFrom == nil {
						paramsFrom = map[string]*yaml.Node{}
					}
					paramsFrom[q.Key] = q.K
					ref.Params[q.Key] = v
				}
				if err != nil {
					return nil, err
				}
			}
			if ref.Name == "" {
				return nil, yamlsrc.ErrAt(file, it, "name the role: `- role: postgres`", "role entry has no role name")
			}
		default:
			return nil, yamlsrc.ErrAt(file, it, "write `- postgres` or `- role: postgres`", "a role entry must be a name or a mapping, not a %s", yamlsrc.KindName(it))
		}
		if err := checkRoleName(file, nameNode, ref.Name); err != nil {
			return nil, err
		}
		role, err := p.loadRole(ref.Name, lk.base, lk.src)
		if err != nil {
			var nf *roleNotFound
			if errors.As(err, &nf) {
				return nil, yamlsrc.ErrAt(file, nameNode, yamlsrc.DidYouMean(ref.Name, lk.src.Subdirs("roles"))+"looked for "+strings.Join(nf.tried, ", ")+"; create the role there or fix the name",
					"role %q not found", ref.Name)
			}
			var cyc *roleCycle
			if errors.As(err, &cyc) {
				return nil, yamlsrc.ErrAt(file, nameNode, "remove one of these dependencies: a role cannot depend on itself, directly or through other roles",
					"role dependency cycle: %s", strings.Join(cyc.chain, " -> "))
			}
			return nil, err
		}
		ref.Role = role
		out = append(out, ref)
	}
	return out, nil
}

func checkRoleName(file string, n *yaml.Node, name string) error {
	if strings.Contains(name, "{{") {
		return yamlsrc.ErrAt(file, n, "name the role literally", "dynamic role names are not supported")
	}
	if !roleNameRE.MatchString(name) || strings.Contains(name, "..") {
		return yamlsrc.ErrAt(file, n, "a role name is letters, digits, _ . and - (the directory under roles/)", "invalid role name %q", name)
	}
	return nil
}

type roleNotFound struct {
	name  string
	tried []string
}

func (e *roleNotFound) Error() string {
	return fmt.Sprintf("role %q not found (looked for %s)", e.name, strings.Join(e.tried, ", "))
}

func (e *roleNotFound) Unwrap() error { return content.ErrNotFound }

// LoadRole loads roles/NAME/{tasks,handlers,defaults,meta}/main.yaml (.yml
// is accepted too) through opt.Source, and the roles meta/main.yaml names as
// dependencies.
func LoadRole(name string, opt Options) (*Role, error) {
	if !roleNameRE.MatchString(name) || strings.Contains(name, "..") {
		return nil, fmt.Errorf("invalid role name %q: a role name is letters, digits, _ . and - (the directory under roles/)", name)
	}
	p := newParser(opt)
	r, err := p.loadRole(name, place{}, p.src)
	var nf *roleNotFound
	if errors.As(err, &nf) {
		hint := "check the name; a role is roles/NAME/tasks/main.yaml in the working directory, or built into pgplay (`pgplay init DIR` writes those out)"
		if known := p.src.Subdirs("roles"); len(known) > 0 {
			hint = yamlsrc.DidYouMean(name, known) + hint + "; roles found: " + strings.Join(known, ", ")
		}
		return nil, fmt.Errorf("%w\n  hint: %s", err, hint)
	}
	return r, err
}

// RoleRefFor makes a role reference for `pgplay role NAME`: the role loaded
// through opt.Source, with params as its role params. Handlers a task of the
// role notifies must be the role's own or its dependencies'. The role's
// dependencies are in ref.Role.Dependencies: ExpandRoles([]*RoleRef{ref})
// is the list of roles to run (the runner's Prepare expands a play's roles).
func RoleRefFor(name string, params map[string]any, opt Options) (*RoleRef, error) {
	role, err := LoadRole(name, opt)
	if err != nil {
		return nil, err
	}
	ref := &RoleRef{Name: name, Role: role, Pos: yamlsrc.Pos{File: role.Dir, Line: 1, Col: 1}}
	if len(role.Tasks) > 0 {
		ref.Pos.File = role.Tasks[0].Pos.File
	}
	if len(params) > 0 {
		ref.Params = make(map[string]any, len(params))
		for k, v := range params {
			ref.Params[k] = v
		}
	}
	play := &Play{Roles: ExpandRoles([]*RoleRef{ref})}
	if err := checkNotify(play); err != nil {
		return nil, err
	}
	return ref, nil
}

func (p *parser) loadRole(name string, base place, src *content.Source) (*Role, error) {
	var tried []string
	var data []byte
	var main place
	found := false
	for _, ext := range []string{"yaml", "yml"} {
		rel := "roles/" + name + "/tasks/main." + ext
		b, pl, err := p.read(rel, base, src)
		if err == nil {
			data, main, found = b, pl, true
			break
		}
		if !errors.Is(err, content.ErrNotFound) {
			return nil, fmt.Errorf("role %s: %w", name, err)
		}
		tried = append(tried, rel)
	}
	if !found {
		var dirs []string
		if base.embedded {
			dirs = append(dirs, "embedded:"+base.dir)
		}
		dirs = append(dirs, src.Dirs...)
		if src.Embedded != nil {
			dirs = append(dirs, "the embedded content")
		}
		return nil, &roleNotFound{name: name, tried: []string{strings.Join(tried, " or ") + " in " + strings.Join(dirs, ", ")}}
	}
	// main.display is .../roles/NAME/tasks/main.yaml
	tasksDir := main.dir
	role := &Role{Name: name}
	var roleDir place
	if main.embedded {
		roleDir = place{dir: path.Dir(tasksDir), embedded: true}
		role.Dir = "embedded:" + roleDir.dir
	} else {
		roleDir = place{dir: filepath.Dir(tasksDir)}
		role.Dir = roleDir.dir
	}
	for i, r := range p.loading {
		if r.Dir == role.Dir {
			var chain []string
			for _, x := range p.loading[i:] {
				chain = append(chain, x.Name)
			}
			return nil, &roleCycle{chain: append(chain, name)}
		}
	}
	if r, ok := p.roles[role.Dir]; ok {
		return r, nil
	}
	p.roles[role.Dir] = role
	p.loading = append(p.loading, role)
	defer func() { p.loading = p.loading[:len(p.loading)-1] }()

	// defaults
	if b, pl, ok, err := p.roleFile(roleDir, src, "defaults"); err != nil {
		return nil, err
	} else if ok {
		if b, err = p.decrypt(pl.display, nil, "role defaults file", pl.display, b); err != nil {
			return nil, err
		}
		root, err := yamlsrc.ParseYAML(pl.display, b)
		if err != nil {
			return nil, err
		}
		role.Defaults, err = yamlsrc.DecodeVars(pl.display, root, "role defaults")
		if err != nil {
			return nil, err
		}
	}
	if role.Defaults == nil {
		role.Defaults = map[string]any{}
	}

	// vars: above the inventory and the play's vars, as in Ansible
	if b, pl, ok, err := p.roleFile(roleDir, src, "vars"); err != nil {
		return nil, err
	} else if ok {
		if b, err = p.decrypt(pl.display, nil, "role vars file", pl.display, b); err != nil {
			return nil, err
		}
		root, err := yamlsrc.ParseYAML(pl.display, b)
		if err != nil {
			return nil, err
		}
		role.Vars, err = yamlsrc.DecodeVars(pl.display, root, "role vars")
		if err != nil {
			return nil, err
		}
	}
	if role.Vars == nil {
		role.Vars = map[string]any{}
	}

	// meta: dependencies
	if b, pl, ok, err := p.roleFile(roleDir, src, "meta"); err != nil {
		return nil, err
	} else if ok {
		if err := p.roleMeta(role, pl.display, b, base, src); err != nil {
			return nil, err
		}
	}

	// tasks
	if err := p.push(main.display, nil, main.display); err != nil {
		return nil, err
	}
	ts, err := p.taskFile(&taskCtx{file: main.display, base: main, src: src, role: role}, data)
	p.pop()
	if err != nil {
		return nil, err
	}
	role.Tasks = ts

	// handlers
	if b, pl, ok, err := p.roleFile(roleDir, src, "handlers"); err != nil {
		return nil, err
	} else if ok {
		if err := p.push(pl.display, nil, pl.display); err != nil {
			return nil, err
		}
		hs, err := p.taskFile(&taskCtx{file: pl.display, base: pl, src: src, role: role, handler: true}, b)
		p.pop()
		if err != nil {
			return nil, err
		}
		role.Handlers = hs
	}
	return role, nil
}

// roleFile reads SUB/main.yaml (or .yml) in the role's own directory.
func (p *parser) roleFile(roleDir place, src *content.Source, sub string) ([]byte, place, bool, error) {
	for _, ext := range []string{"yaml", "yml"} {
		if roleDir.embedded {
			rel := path.Join(roleDir.dir, sub, "main."+ext)
			b, err := fs.ReadFile(src.Embedded, rel)
			if err == nil {
				return b, placeOfName("embedded:" + rel), true, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, place{}, false, fmt.Errorf("embedded:%s: %w", rel, err)
			}
			continue
		}
		f := filepath.Join(roleDir.dir, sub, "main."+ext)
		b, err := os.ReadFile(f)
		if err == nil {
			return b, place{display: f, dir: filepath.Dir(f)}, true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, place{}, false, err
		}
	}
	return nil, place{}, false, nil
}

// --- notify checks -----------------------------------------------------------

// checkNotify verifies that every literal notify of the play's tasks (and
// handlers) names a handler or listen topic of the play or its roles.
func checkNotify(play *Play) error {
	names := map[string]bool{}
	var all []string
	addHandlers := func(hs []*Task) {
		walk(hs, func(t *Task) {
			if t.Name != "" {
				names[t.Name] = true
				all = append(all, t.Name)
			}
			for _, l := range t.Listen {
				names[l] = true
				all = append(all, l)
			}
		})
	}
	addHandlers(play.Handlers)
	for _, r := range play.Roles {
		addHandlers(r.Role.Handlers)
	}
	sort.Strings(all)
	var err error
	check := func(t *Task) {
		if err != nil {
			return
		}
		for _, n := range t.Notify {
			if names[n] || strings.Contains(n, "{{") {
				continue
			}
			at, ok := t.KeyPos["notify"]
			if !ok {
				at = t.Pos
			}
			hint := "add a handler with this name under `handlers:` (or `listen: " + n + "` on a handler)"
			if len(all) > 0 {
				hint = yamlsrc.DidYouMean(n, all) + "handlers here: " + strings.Join(uniq(all), ", ")
			}
			err = &yamlsrc.Error{Pos: at, Msg: fmt.Sprintf("notify: no handler named %q", n), Hint: hint}
			return
		}
	}
	for _, ts := range [][]*Task{play.PreTasks, play.Tasks, play.PostTasks, play.Handlers} {
		walk(ts, check)
	}
	for _, r := range play.Roles {
		walk(r.Role.Tasks, check)
		walk(r.Role.Handlers, check)
	}
	return err
}

func uniq(s []string) []string {
	var out []string
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// walk calls f for every task in ts, blocks' tasks included.
func walk(ts []*Task, f func(*Task)) {
	for _, t := range ts {
		f(t)
		walk(t.Block, f)
		walk(t.Rescue, f)
		walk(t.Always, f)
	}
}
