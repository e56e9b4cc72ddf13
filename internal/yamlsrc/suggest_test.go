package yamlsrc

import (
	"reflect"
	"testing"
)

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"pgsql", "pgslq", 1}, {"comand", "command", 1},
		{"kitten", "sitting", 3}, {"fiel", "file", 1}, {"état", "etat", 1},
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	modules := []string{"apt", "command", "copy", "file", "service", "shell", "template", "user"}
	for _, c := range []struct {
		name  string
		cands []string
		want  []string
	}{
		{"templte", modules, []string{"template"}},
		{"zzzzzz", modules, nil},
		{"fiel", modules, []string{"file"}},      // a swap is one edit
		{"Copy", modules, []string{"copy"}},      // case alone: distance 0
		{"usr", modules, []string{"user"}},       // short name: one edit
		{"srvce", modules, nil},                  // 5 characters: one edit, this is two
		{"servce", modules, []string{"service"}}, // 6 characters: up to two edits
		{"sevrce", modules, []string{"service"}}, // a swap and a missing letter
		{"dbx", []string{"db", "dbs", "web"}, []string{"db", "dbs"}},
		{"pg_prot", []string{"pg_port", "pg_host", "pg_port"}, []string{"pg_port"}}, // once each
		{"a", []string{"b", "c", "d", "e"}, []string{"b", "c", "d"}},                // at most three
		{"copy", modules, nil},                                                      // the name itself is not a suggestion
	} {
		got := Suggest(c.name, c.cands)
		if len(got) == 0 && len(c.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Suggest(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	if got := DidYouMean("whne", []string{"when", "name"}); got != `did you mean "when"? ` {
		t.Errorf("DidYouMean = %q", got)
	}
	if got := DidYouMean("hots", []string{"hosts", "host"}); got != `did you mean "host" or "hosts"? ` {
		t.Errorf("DidYouMean = %q", got)
	}
	if got := DidYouMean("xyz", []string{"when"}); got != "" {
		t.Errorf("DidYouMean = %q", got)
	}
}
