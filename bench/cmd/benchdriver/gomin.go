package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"
	"github.com/pkg/sftp"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// The minimal Go client: the reference the issue asks pgplay to be within
// 1.5x of. It does workload A's work with no playbook engine at all: one
// SSH connection per host, one SFTP session, one exec per command, the
// tasks hard-coded in Go, all hosts in parallel. Its file operations are
// those a plain client would write: stat, then open/read/close to compare,
// and on a difference an atomic write (temp file, fsync, chmod, rename).

// goMinMain is the hidden `gomin` subcommand.
func goMinMain(args []string) error {
	fl := flag.NewFlagSet("gomin", flag.ContinueOnError)
	hostsFile := fl.String("hosts", "", "JSON host list written by the driver")
	workload := fl.String("workload", "", "workload directory (site.yaml, files/, templates/)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	var hosts []minHost
	b, err := os.ReadFile(*hostsFile)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &hosts); err != nil {
		return fmt.Errorf("%s: %w", *hostsFile, err)
	}
	w, err := loadMinWorkload(*workload)
	if err != nil {
		return err
	}
	start := time.Now()
	results := make([]Recap, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := w.run(h)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", h.Name, err)
				r.Failed = 1
				if errors.Is(err, errUnreachable) {
					r.Failed, r.Unreachable = 0, 1
				}
			}
			results[i] = r
		}()
	}
	wg.Wait()
	order := make([]int, len(hosts))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return hosts[order[a]].Name < hosts[order[b]].Name })
	fmt.Println("RECAP")
	failed := false
	for _, i := range order {
		r := results[i]
		fmt.Printf("%s : ok=%d changed=%d unreachable=%d failed=%d\n", hosts[i].Name, r.OK, r.Changed, r.Unreachable, r.Failed)
		failed = failed || r.Failed > 0 || r.Unreachable > 0
	}
	fmt.Printf("finished in %.2fs\n", time.Since(start).Seconds())
	if failed {
		os.Exit(2)
	}
	return nil
}

var errUnreachable = errors.New("unreachable")

// minWorkload is workload A's data: the play's vars, the files and the
// parsed templates.
type minWorkload struct {
	vars  map[string]any
	files map[string][]byte
	tmpls map[string]*template.Template
}

func loadMinWorkload(dir string) (*minWorkload, error) {
	b, err := os.ReadFile(filepath.Join(dir, "site.yaml"))
	if err != nil {
		return nil, err
	}
	var plays []struct {
		Vars map[string]any `yaml:"vars"`
	}
	if err := yaml.Unmarshal(b, &plays); err != nil || len(plays) == 0 {
		return nil, fmt.Errorf("%s: want a list of plays: %v", filepath.Join(dir, "site.yaml"), err)
	}
	w := &minWorkload{vars: plays[0].Vars, files: map[string][]byte{}, tmpls: map[string]*template.Template{}}
	for _, f := range []string{"pg_ident.conf", "environment", "logrotate-postgresql"} {
		if w.files[f], err = os.ReadFile(filepath.Join(dir, "files", f)); err != nil {
			return nil, err
		}
	}
	for _, t := range []string{"postgresql.conf", "pg_hba.conf", "patroni.yml", "postgresql.service"} {
		text, err := os.ReadFile(filepath.Join(dir, "templates", t+".tmpl"))
		if err != nil {
			return nil, err
		}
		if w.tmpls[t], err = template.New(t).Option("missingkey=error").Funcs(sprig.TxtFuncMap()).Parse(string(text)); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// minRun is one host's connection and tally.
type minRun struct {
	c    *ssh.Client
	fs   *sftp.Client
	root string
	rc   Recap
}

func (r *minRun) task(changed bool, err error) error {
	if err != nil {
		return err
	}
	r.rc.OK++ // ok counts changed tasks too, as Ansible's and pgplay's recaps do
	if changed {
		r.rc.Changed++
	}
	return nil
}

func dialMin(h minHost) (*ssh.Client, error) {
	key, err := os.ReadFile(h.KeyFile)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return nil, err
	}
	hk, err := knownhosts.New(h.KnownHosts)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{
		User:              h.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hk,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           10 * time.Second,
	}
	c, err := ssh.Dial("tcp", net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)), cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnreachable, err)
	}
	return c, nil
}

// run does workload A's 21 tasks on host h.
func (w *minWorkload) run(h minHost) (Recap, error) {
	c, err := dialMin(h)
	if err != nil {
		return Recap{}, err
	}
	defer c.Close()
	fsys, err := sftp.NewClient(c)
	if err != nil {
		return Recap{}, fmt.Errorf("sftp: %w", err)
	}
	defer fsys.Close()
	r := &minRun{c: c, fs: fsys, root: h.PGRoot}
	vars := map[string]any{}
	for k, v := range w.vars {
		vars[k] = v
	}
	vars["inventory_hostname"] = h.Name
	vars["ssh_host"] = h.Addr
	vars["pg_root"] = h.PGRoot
	etc := path.Join(h.PGRoot, "etc")

	// ensure directories (one task, a loop of three)
	changed := false
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"etc", 0o755}, {"data", 0o700}, {"log", 0}} {
		ch, err := r.dir(path.Join(h.PGRoot, d.name), d.mode)
		if err != nil {
			return r.rc, err
		}
		changed = changed || ch
	}
	if err := r.task(changed, nil); err != nil {
		return r.rc, err
	}
	// copies
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{{"pg_ident.conf", 0o640}, {"environment", 0o644}, {"logrotate-postgresql", 0o644}} {
		if err := r.task(r.put(path.Join(etc, f.name), w.files[f.name], f.mode)); err != nil {
			return r.rc, err
		}
	}
	// templates
	for _, t := range []struct {
		name string
		mode os.FileMode
	}{{"postgresql.conf", 0o640}, {"pg_hba.conf", 0}, {"patroni.yml", 0o600}, {"postgresql.service", 0o644}} {
		var b bytes.Buffer
		if err := w.tmpls[t.name].Execute(&b, vars); err != nil {
			return r.rc, err
		}
		if err := r.task(r.put(path.Join(etc, t.name), b.Bytes(), t.mode)); err != nil {
			return r.rc, err
		}
	}
	// lineinfile
	auto := path.Join(etc, "postgresql.auto.conf")
	for _, l := range []struct{ re, line string }{
		{`^max_connections\s*=`, "max_connections = 200"},
		{`^work_mem\s*=`, "work_mem = '16MB'"},
		{`^wal_level\s*=`, "wal_level = replica"},
		{`^archive_mode\s*=`, "archive_mode = on"},
	} {
		if err := r.task(r.lineInFile(auto, regexp.MustCompile(l.re), l.line, 0o644)); err != nil {
			return r.rc, err
		}
	}
	// read-only commands
	out := map[string]string{}
	for _, cmd := range []string{"cat /proc/loadavg", "id -u", "ls -1 " + etc} {
		o, err := r.exec(cmd)
		if err := r.task(false, err); err != nil {
			return r.rc, err
		}
		out[cmd] = o
	}
	// stats
	stConf, err := r.stat(path.Join(etc, "postgresql.conf"))
	if err := r.task(false, err); err != nil {
		return r.rc, err
	}
	stData, err := r.stat(path.Join(h.PGRoot, "data"))
	if err := r.task(false, err); err != nil {
		return r.rc, err
	}
	// set_fact and debug
	uid, _ := strconv.Atoi(strings.TrimSpace(out["id -u"]))
	ready := stConf.exists && stData.isDir && uid > 0
	files := len(strings.Split(strings.TrimSpace(out["ls -1 "+etc]), "\n"))
	load := strings.Fields(out["cat /proc/loadavg"])
	if len(load) == 0 {
		return r.rc, errors.New("no load average")
	}
	_ = fmt.Sprintf("%s ready=%t files=%d load=%s", h.Name, ready, files, load[0])
	r.rc.OK += 2
	// modes
	if err := r.task(r.chmod(path.Join(etc, "pg_hba.conf"), 0o600)); err != nil {
		return r.rc, err
	}
	if err := r.task(r.chmod(path.Join(h.PGRoot, "log"), 0o750)); err != nil {
		return r.rc, err
	}
	return r.rc, nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// dir makes p a directory (with parents); mode 0 leaves the mode alone.
func (r *minRun) dir(p string, mode os.FileMode) (bool, error) {
	fi, err := r.fs.Lstat(p)
	switch {
	case err == nil && fi.IsDir():
		if mode != 0 && fi.Mode().Perm() != mode {
			return true, r.fs.Chmod(p, mode)
		}
		return false, nil
	case err == nil:
		return false, fmt.Errorf("%s is not a directory", p)
	case !isNotExist(err):
		return false, err
	}
	if err := r.fs.MkdirAll(p); err != nil {
		return false, err
	}
	if mode == 0 {
		mode = 0o755
	}
	return true, r.fs.Chmod(p, mode)
}

// read returns p's content and mode, or exists=false.
func (r *minRun) read(p string) (data []byte, mode os.FileMode, exists bool, err error) {
	fi, err := r.fs.Lstat(p)
	if isNotExist(err) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	data, err = r.readN(p, fi.Size())
	return data, fi.Mode().Perm(), err == nil, err
}

// readN reads the size bytes of p: open, read, close.
func (r *minRun) readN(p string, size int64) ([]byte, error) {
	f, err := r.fs.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, err
	}
	return data, nil
}

// put makes p hold data with mode (0: keep an existing file's mode, 0644
// for a new one).
func (r *minRun) put(p string, data []byte, mode os.FileMode) (bool, error) {
	fi, err := r.fs.Lstat(p)
	exists := err == nil
	if err != nil && !isNotExist(err) {
		return false, err
	}
	if exists && fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		old, err := r.readN(p, fi.Size())
		if err != nil {
			return false, err
		}
		if bytes.Equal(old, data) {
			if mode != 0 && fi.Mode().Perm() != mode {
				return true, r.fs.Chmod(p, mode)
			}
			return false, nil
		}
	}
	if mode == 0 {
		mode = 0o644
		if exists {
			mode = fi.Mode().Perm()
		}
	}
	return true, r.write(p, data, mode)
}

// write replaces p atomically: temp file, fsync (as pgplay does), chmod,
// rename.
func (r *minRun) write(p string, data []byte, mode os.FileMode) error {
	tmp := path.Join(path.Dir(p), fmt.Sprintf(".%s.gomin-%d", path.Base(p), time.Now().UnixNano()))
	f, err := r.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return r.fs.PosixRename(tmp, p)
}

// lineInFile makes the last line matching re be line (appending it when
// none matches), creating p when absent.
func (r *minRun) lineInFile(p string, re *regexp.Regexp, line string, mode os.FileMode) (bool, error) {
	old, oldMode, exists, err := r.read(p)
	if err != nil {
		return false, err
	}
	text := string(old)
	lines := strings.SplitAfter(text, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	found := -1
	for i, l := range lines {
		if re.MatchString(strings.TrimRight(l, "\n")) {
			found = i
		}
	}
	changed := false
	switch {
	case found >= 0 && strings.TrimRight(lines[found], "\n") == line:
	case found >= 0:
		lines[found] = line + "\n"
		changed = true
	default:
		if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1], "\n") {
			lines[n-1] += "\n"
		}
		lines = append(lines, line+"\n")
		changed = true
	}
	if changed {
		return true, r.write(p, []byte(strings.Join(lines, "")), mode)
	}
	if exists && oldMode != mode {
		return true, r.fs.Chmod(p, mode)
	}
	return false, nil
}

// exec runs cmd on its own channel and returns its output.
func (r *minRun) exec(cmd string) (string, error) {
	s, err := r.c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.Output(cmd)
	if err != nil {
		return "", fmt.Errorf("%s: %w", cmd, err)
	}
	return string(out), nil
}

type minStat struct {
	exists, isDir bool
	checksum      string
}

// stat describes p, with the SHA-1 of a regular file (as stat does).
func (r *minRun) stat(p string) (minStat, error) {
	fi, err := r.fs.Lstat(p)
	if isNotExist(err) {
		return minStat{}, nil
	}
	if err != nil {
		return minStat{}, err
	}
	st := minStat{exists: true, isDir: fi.IsDir()}
	if fi.Mode().IsRegular() {
		b, err := r.readN(p, fi.Size())
		if err != nil {
			return st, err
		}
		sum := sha1.Sum(b)
		st.checksum = hex.EncodeToString(sum[:])
	}
	return st, nil
}

// chmod sets p's mode when it differs.
func (r *minRun) chmod(p string, mode os.FileMode) (bool, error) {
	fi, err := r.fs.Lstat(p)
	if err != nil {
		return false, err
	}
	if fi.Mode().Perm() == mode {
		return false, nil
	}
	return true, r.fs.Chmod(p, mode)
}
