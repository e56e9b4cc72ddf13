package modules

import (
	"strings"
	"testing"
)

// Every hint names a pgplay module that exists (or a task keyword).
func TestAnsibleHintsNameRealModules(t *testing.T) {
	for name, h := range ansibleModules {
		i := strings.Index(h, "`")
		if i < 0 {
			continue
		}
		j := strings.Index(h[i+1:], "`")
		word, _, _ := strings.Cut(h[i+1:i+1+j], ":")
		word, _, _ = strings.Cut(word, " ")
		if _, ok := Lookup(word); !ok && word != "pgplay" && word != "roles" {
			t.Errorf("%s: the hint names %q, which is no pgplay module: %s", name, word, h)
		}
	}
	if h := AnsibleHint("ansible.posix.sysctl"); !strings.Contains(h, "write `sysctl`") {
		t.Errorf("ansible.posix.sysctl: %q", h)
	}
	if h := AnsibleHint("community.general.systemd"); !strings.Contains(h, "use `service`") {
		t.Errorf("community.general.systemd: %q", h)
	}
	if h := AnsibleHint("frobnicate"); h != "" {
		t.Errorf("an unknown name got a hint: %q", h)
	}
}

// setup's documented return values name every fact it gathers.
func TestSetupReturnsListFacts(t *testing.T) {
	spec, _ := Lookup("setup")
	facts := ParseFacts("os_id=debian\nhostname=h\nfqdn=h.x\nkernel=6\narch=x86_64\nuser=root\nsystemd=true\ncpus=2\nmemtotal_kb=2048\naddr4=eth0 10.0.0.2/24\ndefault=eth0 10.0.0.1\npg=15\n")
	for k := range facts {
		if !strings.Contains(spec.Returns, "facts."+k) {
			t.Errorf("setup's Returns does not mention facts.%s", k)
		}
	}
}
