package yamlsrc

import (
	"strings"
	"testing"
)

// A merge key that merges the mapping it is in (its own anchor) is an
// error at the merge, not an endless recursion (found by FuzzParse of
// the inventory); merging another mapping still works.
func TestPairsMergeIntoItself(t *testing.T) {
	for _, src := range []string{
		"all: &v {<<: *v, b: 2}\n",
		"all: &v\n  <<: [{a: 1}, *v]\n",
		"all: &v\n  <<: &w {<<: *v}\n",
	} {
		n, err := ParseYAML("inv.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		top, err := Pairs("inv.yaml", n)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		_, err = Pairs("inv.yaml", top[0].V)
		if err == nil || !strings.Contains(err.Error(), "inv.yaml:") || !strings.Contains(err.Error(), "<< merges a mapping into itself") {
			t.Errorf("%q: %v; want inv.yaml:LINE: << merges a mapping into itself", src, err)
		}
	}
	n, err := ParseYAML("inv.yaml", []byte("d: &d {a: 1, b: 2}\nall: {<<: *d, b: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := Pairs("inv.yaml", n)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := Pairs("inv.yaml", top[1].V)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Key+"="+p.V.Value)
	}
	if strings.Join(got, " ") != "b=3 a=1" {
		t.Errorf("merged: %v, want b=3 a=1", got)
	}
}
