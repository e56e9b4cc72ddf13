package runner

import (
	"fmt"
	"testing"

	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/tmpl"
	"github.com/pgplay/pgplay/modules"
)

// TestModuleExamples holds every module's examples (what `pgplay doc
// MODULE` and docs/modules.md show) to what `pgplay run` accepts: each is
// parsed as a task file with the loader options of `pgplay run` (known
// modules, template and condition syntax) and each task's arguments are
// checked as Prepare checks them (names; and types, choices and required
// arguments where no value is a template). Each module has at least two
// examples, each uses the module and names its first task.
func TestModuleExamples(t *testing.T) {
	opt := playbook.Options{
		KnownModule: func(n string) bool {
			_, ok := modules.Lookup(n)
			return ok || n == "meta"
		},
		ModuleNames:   modules.Names(),
		CheckTemplate: tmpl.New().Check,
	}
	for _, name := range modules.Names() {
		spec, _ := modules.Lookup(name)
		if len(spec.Examples) < 2 {
			t.Errorf("module %s has %d examples, want at least 2", name, len(spec.Examples))
		}
		for i, ex := range spec.Examples {
			file := fmt.Sprintf("%s example %d", name, i+1)
			tasks, err := playbook.ParseTasks(file, []byte(ex), opt)
			if err != nil {
				t.Errorf("%s does not parse: %v\n%s", file, err, ex)
				continue
			}
			if len(tasks) == 0 || tasks[0].Name == "" {
				t.Errorf("%s: its first task has no name: saying what the example does is its point", file)
			}
			uses := false
			var walk func([]*playbook.Task)
			walk = func(ts []*playbook.Task) {
				for _, task := range ts {
					if task.IsBlock() {
						walk(task.Block)
						walk(task.Rescue)
						walk(task.Always)
						continue
					}
					uses = uses || task.Module == name
					if err := checkArgs(task); err != nil {
						t.Errorf("%s: %v", file, err)
					}
				}
			}
			walk(tasks)
			if !uses {
				t.Errorf("%s does not use the module %s", file, name)
			}
		}
	}
}
