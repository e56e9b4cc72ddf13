package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/sshconfig"
)

func stockPlan(t *testing.T) Plan {
	t.Helper()
	o := DefaultOptions()
	o.Image = ImageStock
	p, err := NewPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The stock image's inventory logs in as admin and becomes root with sudo
// (ansible_become, as an Ansible inventory for such hosts has it).
func TestStockInventoryLogsInAsAdminWithBecome(t *testing.T) {
	p := stockPlan(t)
	text, err := renderInventory(p, stateFiles("/lab"), StockUser, nil)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse("inventory.yaml", []byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	for _, h := range p.Hosts {
		v := inv.Hosts[h.Name].Vars
		if v["ssh_user"] != "admin" || v["ansible_become"] != true {
			t.Errorf("%s: ssh_user %v, ansible_become %v; want admin, true", h.Name, v["ssh_user"], v["ansible_become"])
		}
	}
	// The default image keeps root and no become variable.
	text, err = renderInventory(defaultPlan(t), stateFiles("/lab"), "root", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "ansible_become") {
		t.Errorf("default image inventory sets ansible_become:\n%s", text)
	}
}

func TestStockSSHConfigUser(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(file, []byte(renderSSHConfig(stockPlan(t), stateFiles("/lab"), StockUser)), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := sshconfig.Resolve(context.Background(), sshconfig.Query{Host: "node2", Files: []string{file},
		Local: sshconfig.LocalUser{Name: "me", Home: "/home/me", UID: "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.User != "admin" {
		t.Errorf("User = %q, want admin", res.User)
	}
}

func TestPlanRejectsUnknownImage(t *testing.T) {
	o := DefaultOptions()
	o.Image = "ubuntu"
	_, err := NewPlan(o)
	if err == nil || !strings.Contains(err.Error(), `--image "ubuntu"`) || !strings.Contains(err.Error(), "default or stock") {
		t.Fatalf("err = %v", err)
	}
}

// A stock host gets the local repository bound read-only, and its apt
// source; a default host neither.
func TestStockHostRepoBindAndSource(t *testing.T) {
	root := t.TempDir()
	if err := writeFile(filepath.Join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\nadmin:x:"+stockUID+":"+stockUID+"::/home/admin:/bin/bash\n", 0o644); err != nil {
		t.Fatal(err)
	}
	h := &hostRecord{Name: "node1", Netns: "pglab-node1", Root: root, Repo: "/var/cache/pgplay-lab/apt-stock"}
	if args := strings.Join(nspawnArgs(h), " "); !strings.Contains(args, "--bind-ro=/var/cache/pgplay-lab/apt-stock:"+StockRepoMount) {
		t.Errorf("nspawn args lack the repository bind: %s", args)
	}
	if os.Geteuid() != 0 {
		t.Skip("chown of authorized_keys needs root")
	}
	kp, err := newKeyPair("test")
	if err != nil {
		t.Fatal(err)
	}
	if err := populate(stockPlan(t), h, hostFiles{HostKey: kp, Authorized: "ssh-ed25519 AAAA test\n", User: StockUser}); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "etc/apt/sources.list.d/pgplay-local.sources"))
	if err != nil || !strings.Contains(string(src), "URIs: file:"+StockRepoMount) || !strings.Contains(string(src), "Trusted: yes") {
		t.Errorf("pgplay-local.sources: %v\n%s", err, src)
	}
	fi, err := os.Stat(filepath.Join(root, "home/admin/.ssh/authorized_keys"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("authorized_keys mode %o", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(root, "root/.ssh/authorized_keys")); err == nil {
		t.Error("root can log in: /root/.ssh/authorized_keys written on a stock host")
	}
	plain := &hostRecord{Name: "node1", Netns: "pglab-node1", Root: root}
	if args := strings.Join(nspawnArgs(plain), " "); strings.Contains(args, "--bind") {
		t.Errorf("default host gets a bind: %s", args)
	}
}

func TestHomeOfUnknownUser(t *testing.T) {
	root := t.TempDir()
	if err := writeFile(filepath.Join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n", 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := homeOf(root, "admin"); err == nil || !strings.Contains(err.Error(), "--rebuild-rootfs") {
		t.Errorf("err = %v", err)
	}
}

// The Packages entry is the control fields plus where the file is and its
// sums; the Release file's sum is the index's.
func TestRepoIndex(t *testing.T) {
	e := controlWithFile("Package: keepalived\nVersion: 1:2.2.7-1\nDescription: x\n more\n\n", "keepalived_2.2.7-1_amd64.deb", 42, "m", "s")
	want := "Package: keepalived\nVersion: 1:2.2.7-1\nDescription: x\n more\nFilename: ./keepalived_2.2.7-1_amd64.deb\nSize: 42\nMD5sum: m\nSHA256: s\n"
	if e != want {
		t.Errorf("entry:\n%s\nwant:\n%s", e, want)
	}
	idx := []byte(e + "\n")
	sum := sha256.Sum256(idx)
	rel := releaseFile(idx, time.Unix(0, 0))
	if !strings.Contains(rel, " "+hex.EncodeToString(sum[:])+" "+strconv.Itoa(len(idx))+" Packages\n") {
		t.Errorf("Release lacks the Packages sum:\n%s", rel)
	}
}

// The stock image and its repository have their own directories and
// stamps: a change of the repository's recipe rebuilds it, and the
// default image is not affected.
func TestStockStamps(t *testing.T) {
	p := Paths{Cache: t.TempDir()}
	if p.rootfsOf(stockImage) == p.rootfs() || p.repoOf(stockImage) == "" || p.repoOf(defaultImage) != "" {
		t.Fatalf("dirs: %s %s %q", p.rootfsOf(stockImage), p.rootfs(), p.repoOf(stockImage))
	}
	if err := writeFile(filepath.Join(p.rootfsOf(stockImage), stampFile), stockImage.stampText(), 0o644); err != nil {
		t.Fatal(err)
	}
	if p.imageReady(stockImage) {
		t.Error("stock image ready without its repository")
	}
	if err := writeFile(filepath.Join(p.repoOf(stockImage), repoStampFile), "old recipe\n", 0o644); err != nil {
		t.Fatal(err)
	}
	if p.imageReady(stockImage) {
		t.Error("stock image ready with a repository of another recipe")
	}
	if err := writeFile(filepath.Join(p.repoOf(stockImage), repoStampFile), stockImage.repoStampText(), 0o644); err != nil {
		t.Fatal(err)
	}
	if !p.imageReady(stockImage) {
		t.Error("current stock image not ready")
	}
	if p.rootfsReady() {
		t.Error("the default image is ready because the stock one is")
	}
}

func TestDebFileNameDropsTheEpoch(t *testing.T) {
	for in, want := range map[string]string{
		"keepalived_1%3a2.2.7-1+b2_amd64.deb": "keepalived_2.2.7-1+b2_amd64.deb",
		"barman_3.4.0-1_all.deb":              "barman_3.4.0-1_all.deb",
	} {
		if got := debFileName(in); got != want {
			t.Errorf("debFileName(%q) = %q, want %q", in, got, want)
		}
	}
}
