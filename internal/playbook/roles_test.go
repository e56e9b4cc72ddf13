package playbook

import (
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// roleSummary is what the runner sees of an expanded role list.
type roleSummary struct {
	Name       string
	Params     map[string]any
	When, Tags []string
	Become     string // "", "true", "false"
	BecomeUser string
	Of         string // DependencyOf's name
}

func summarize(refs []*RoleRef) []roleSummary {
	var out []roleSummary
	for _, r := range refs {
		s := roleSummary{Name: r.Name, When: nonNil(r.When), Tags: nonNil(r.Tags), BecomeUser: r.BecomeUser}
		if len(r.Params) > 0 {
			s.Params = r.Params
		}
		if r.Become != nil {
			s.Become = map[bool]string{true: "true", false: "false"}[*r.Become]
		}
		if r.DependencyOf != nil {
			s.Of = r.DependencyOf.Name
		}
		out = append(out, s)
	}
	return out
}

func TestRoleDependencies(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"site.yaml": `- hosts: all
  roles:
    - app
    - {role: web, port: 80, become: true, become_user: postgres}
`,
		"roles/app/tasks/main.yaml": "- debug: {msg: app}\n",
		"roles/app/meta/main.yaml": `galaxy_info: {author: x}
dependencies:
  - common
  - {role: db, db_port: 5433}
  - logger
`,
		"roles/db/tasks/main.yaml":    "- debug: {msg: db}\n",
		"roles/db/defaults/main.yaml": "db_port: 5432\n",
		"roles/db/meta/main.yml":      "dependencies: [common]\n",
		"roles/web/tasks/main.yaml":   "- debug: {msg: web}\n  notify: rotate\n", // a dependency's handler
		"roles/web/meta/main.yaml": `dependencies:
  - role: db
    vars: {db_port: 5433}
  - {role: db, db_port: 6000}
  - logger
  - {role: common, become: false}
`,
		"roles/logger/tasks/main.yaml":    "- debug: {msg: logger}\n",
		"roles/logger/handlers/main.yaml": "- name: rotate\n  debug: {msg: rotate}\n",
		"roles/logger/meta/main.yaml":     "allow_duplicates: true\n",
		"roles/common/tasks/main.yaml":    "- debug: {msg: common}\n",
		"roles/common/defaults/main.yaml": "c: 1\n",
		"roles/common/meta/main.yaml":     "# no dependencies\n",
	})
	pb, err := Load("site.yaml", testOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	roles := pb.Plays[0].Roles
	got := summarize(roles)
	web := roleSummary{Name: "web", Params: map[string]any{"port": 80}, Tags: []string{}, When: []string{}, Become: "true", BecomeUser: "postgres"}
	want := []roleSummary{
		// app's dependencies, then app; db's own dependency (common) ran already.
		{Name: "common", Tags: []string{}, When: []string{}, Of: "app"},
		{Name: "db", Params: map[string]any{"db_port": 5433}, Tags: []string{}, When: []string{}, Of: "app"},
		{Name: "logger", Tags: []string{}, When: []string{}, Of: "app"},
		{Name: "app", Tags: []string{}, When: []string{}},
		// web's: db with the same params (given under vars:) and common are
		// left out; db with other params runs; logger allows duplicates and
		// inherits web's become.
		{Name: "db", Params: map[string]any{"db_port": 6000}, Tags: []string{}, When: []string{}, Become: "true", BecomeUser: "postgres", Of: "web"},
		{Name: "logger", Tags: []string{}, When: []string{}, Become: "true", BecomeUser: "postgres", Of: "web"},
		web,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("roles in run order:\n got %+v\nwant %+v", got, want)
	}
	if p := roles[1].Pos; p != pos(dir, "roles/app/meta/main.yaml", 4, 5) {
		t.Errorf("dependency position = %v", p)
	}
	if roles[1].Role != roles[4].Role || roles[1].Role.Defaults["db_port"] != 5432 || !roles[2].Role.AllowDuplicates || roles[0].Role.AllowDuplicates {
		t.Errorf("loaded roles: %+v %+v", roles[1].Role, roles[2].Role)
	}
	if deps := roles[3].Role.Dependencies; len(deps) != 3 || deps[1].Name != "db" || deps[1].DependencyOf != nil {
		t.Errorf("app's dependencies as written = %+v", deps)
	}
	if again := ExpandRoles(roles); !reflect.DeepEqual(summarize(again), got) {
		t.Errorf("ExpandRoles is not idempotent:\n%+v", summarize(again))
	}
}

func TestRoleDependencyInheritsWhenAndTags(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"site.yaml":                    "- hosts: all\n  roles:\n    - {role: db, when: eq .x 1, tags: [t], become: false}\n    - common\n    - common\n    - {role: common, x: 1}\n",
		"roles/db/tasks/main.yaml":     "[]\n",
		"roles/db/meta/main.yaml":      "dependencies:\n  - {role: common, when: ne .z 0, tags: c, become: true}\n",
		"roles/common/tasks/main.yaml": "[]\n",
	})
	pb, err := Load("site.yaml", testOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	got := summarize(pb.Plays[0].Roles)
	want := []roleSummary{
		{Name: "common", When: []string{"eq .x 1", "ne .z 0"}, Tags: []string{"t", "c"}, Become: "true", Of: "db"},
		{Name: "db", When: []string{"eq .x 1"}, Tags: []string{"t"}, Become: "false"},
		// Not the same as the conditional dependency: it runs, once.
		{Name: "common", Tags: []string{}, When: []string{}},
		{Name: "common", Params: map[string]any{"x": 1}, Tags: []string{}, When: []string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("roles:\n got %+v\nwant %+v", got, want)
	}
}

func TestRoleDependenciesEmbedded(t *testing.T) {
	emb := fstest.MapFS{
		"playbooks/site.yaml":       {Data: []byte("- hosts: all\n  roles: [a]\n")},
		"roles/a/tasks/main.yaml":   {Data: []byte("[]\n")},
		"roles/a/meta/main.yaml":    {Data: []byte("dependencies: [b]\n")},
		"roles/b/tasks/main.yaml":   {Data: []byte("- name: embedded b\n  debug: {msg: b}\n")},
		"roles/b/defaults/main.yml": {Data: []byte("b: 1\n")},
	}
	empty := t.TempDir()
	opt := testOpts(empty)
	opt.Source.Embedded = emb
	pb, err := Load("playbooks/site.yaml", opt)
	if err != nil {
		t.Fatal(err)
	}
	rs := pb.Plays[0].Roles
	if len(rs) != 2 || rs[0].Role.Dir != "embedded:roles/b" || rs[0].Pos != (yamlsrc.Pos{File: "embedded:roles/a/meta/main.yaml", Line: 1, Col: 16}) || rs[0].Role.Defaults["b"] != 1 {
		t.Fatalf("roles = %+v", summarize(rs))
	}

	// A dependency on disk wins over the embedded one, as roles do.
	writeFile(t, filepath.Join(empty, "roles/b/tasks/main.yaml"), "- name: disk b\n  debug: {msg: b}\n")
	ref, err := RoleRefFor("a", nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	rs = ExpandRoles([]*RoleRef{ref})
	if len(rs) != 2 || rs[0].Role.Dir != filepath.Join(empty, "roles/b") || rs[0].Role.Tasks[0].Name != "disk b" || rs[1] != ref {
		t.Errorf("roles = %+v", summarize(rs))
	}
}

func TestRoleDependencyErrors(t *testing.T) {
	site := "- hosts: all\n  roles: [a]\n"
	cases := []struct {
		name  string
		files map[string]string
		where string
		msg   string
		hint  string
	}{
		{"cycle", map[string]string{
			"roles/a/meta/main.yaml": "dependencies: [b]\n",
			"roles/b/meta/main.yaml": "dependencies:\n  - c\n",
			"roles/c/meta/main.yaml": "dependencies:\n  - {role: a, x: 1}\n"},
			"roles/c/meta/main.yaml:2:12", "role dependency cycle: a -> b -> c -> a", "a role cannot depend on itself"},
		{"self", map[string]string{"roles/a/meta/main.yaml": "dependencies: [a]\n"},
			"roles/a/meta/main.yaml:1:16", "role dependency cycle: a -> a", "remove one of these dependencies"},
		{"unknown key", map[string]string{"roles/a/meta/main.yaml": "dependancies: [b]\n"},
			"roles/a/meta/main.yaml:1:1", `unknown key "dependancies" in role meta`, `did you mean "dependencies"? valid keys in a role's meta/main.yaml: allow_duplicates, dependencies, galaxy_info`},
		{"missing dependency", map[string]string{"roles/a/meta/main.yaml": "dependencies:\n  - role: nope\n"},
			"roles/a/meta/main.yaml:2:11", `role "nope" not found`, "roles/nope/tasks/main.yaml"},
		{"not a mapping", map[string]string{"roles/a/meta/main.yaml": "- b\n"},
			"roles/a/meta/main.yaml:1:1", "meta/main.yaml must be a mapping, not a list", "dependencies: [other_role]"},
		{"dependencies mapping", map[string]string{"roles/a/meta/main.yaml": "dependencies: {b: 1}\n"},
			"roles/a/meta/main.yaml:1:15", "dependencies must be a list", "`- role: postgres`"},
		{"allow_duplicates maybe", map[string]string{"roles/a/meta/main.yaml": "allow_duplicates: maybe\n"},
			"roles/a/meta/main.yaml:1:19", `allow_duplicates must be true or false, not "maybe"`, "true or false"},
		{"error in a dependency's tasks", map[string]string{"roles/a/meta/main.yaml": "dependencies: [b]\n", "roles/b/tasks/main.yaml": "- comand: ls\n"},
			"roles/b/tasks/main.yaml:1:3", `unknown module "comand"`, `"command"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"site.yaml": site}
			for _, r := range []string{"a", "b", "c"} {
				files["roles/"+r+"/tasks/main.yaml"] = "[]\n"
			}
			for k, v := range c.files {
				files[k] = v
			}
			dir := writeTree(t, files)
			_, err := Load("site.yaml", testOpts(dir))
			t.Log(err)
			wantErr(t, err, filepath.Join(dir, c.where), c.msg, c.hint)
		})
	}
}
