package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"

	"github.com/pgplay/pgplay/internal/atomicfile"
)

// fileSystem is the handful of primitive file operations the Target file
// methods are built from. Two implementations: sftpFS (a persistent SFTP
// session, remote or over a local sudo'd sftp-server) and osFS (direct
// system calls on the controller). Errors for absent paths satisfy
// errors.Is(err, fs.ErrNotExist).
type fileSystem interface {
	lstat(p string) (rawStat, error)
	readLink(p string) (string, error)
	readFile(p string) ([]byte, error)
	// statRead is lstat (its error: lerr) and, for a regular file of at
	// most max bytes, its content (nil otherwise; rerr says why it could
	// not be read).
	statRead(p string, max int64) (st rawStat, data []byte, lerr, rerr error)
	// createTemp creates p exclusively, readable by its owner only.
	createTemp(p string) (tempFile, error)
	chmod(p string, perm uint32) error
	chown(p string, uid, gid int) error
	// rename replaces to with from atomically (POSIX rename).
	rename(from, to string) error
	mkdir(p string) error
	removeFile(p string) error
	removeDir(p string) error
	readDir(p string) ([]dirEntry, error)
	// listPrefixed lists the entries of dir whose names start with
	// prefix, with what lstat says of them. It counts no round trip: it
	// runs alongside a write (writeFile).
	listPrefixed(dir, prefix string) ([]namedStat, error)
	symlink(target, p string) error
}

// namedStat is a directory entry and its lstat.
type namedStat struct {
	name string
	st   rawStat
}

// tempFile is a file being written by WriteFile.
type tempFile interface {
	io.Writer
	sync() error
	chmod(perm uint32) error
	chown(uid, gid int) error
	owner() (uid, gid int, err error)
	close() error
}

// rawStat is what lstat returns; perm holds the POSIX bits 0o7777.
type rawStat struct {
	isDir, isLink, isRegular bool
	perm                     uint32
	size                     int64
	uid, gid                 int
	mtime                    time.Time
}

type dirEntry struct {
	name  string
	isDir bool // a directory, not a link to one
}

// POSIX file type bits of st_mode.
const (
	sIFMT  = 0o170000
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFLNK = 0o120000
)

func rawFromMode(mode uint32, size int64, uid, gid int, mtime time.Time) rawStat {
	return rawStat{
		isDir:     mode&sIFMT == sIFDIR,
		isLink:    mode&sIFMT == sIFLNK,
		isRegular: mode&sIFMT == sIFREG,
		perm:      mode & 0o7777,
		size:      size,
		uid:       uid,
		gid:       gid,
		mtime:     mtime,
	}
}

// ---- SFTP ----

// sftpOptions are the options of every SFTP client pgplay opens.
func sftpOptions() []sftp.ClientOption {
	return []sftp.ClientOption{sftp.UseConcurrentWrites(true)}
}

// sftpFS drives a persistent SFTP session. Requests are counted on the
// wire (requestCounter); each method adds the round trips it waits for.
type sftpFS struct {
	c     *sftp.Client
	stats *poolStats
	// stuck: a request of this session may never be answered (an open
	// of a FIFO blocks sftp-server); the next operation opens a new one.
	stuck atomic.Bool
}

// leave marks the session stuck behind an open that may never be
// answered, and closes the file if the answer comes after all.
func (s *sftpFS) leave(opened <-chan openResult) {
	s.stuck.Store(true)
	go func() {
		if r := <-opened; r.f != nil {
			r.f.Close()
		}
	}()
}

// lstatResult is the answer to the lstat sent with an open.
type lstatResult struct {
	fi  os.FileInfo
	err error
}

// openStall is how long statRead waits for either of its two requests
// before it concludes that the open reached sftp-server first and blocks
// there. On a link slower than that the session is left for nothing, and
// the answer is still right (asked again on a new session).
const openStall = 3 * time.Second

// errOpenFirst says statRead's open was served first and never answered
// (see statRead): ask again with lstat alone.
var errOpenFirst = errors.New("the open sent with the lstat was not answered")

// openResult is the answer to an open sent ahead of a stat.
type openResult struct {
	f   *sftp.File
	err error
}

// rt counts n round trips.
func (s *sftpFS) rt(n int64) { s.stats.roundTrips.Add(n) }

func (s *sftpFS) lstat(p string) (rawStat, error) {
	s.rt(1)
	fi, err := s.c.Lstat(p)
	if err != nil {
		return rawStat{}, err
	}
	return rawFromSFTP(fi), nil
}

func rawFromSFTP(fi os.FileInfo) rawStat {
	st, ok := fi.Sys().(*sftp.FileStat)
	if !ok {
		return rawStat{isDir: fi.IsDir(), isRegular: fi.Mode().IsRegular(), perm: uint32(fi.Mode().Perm()),
			isLink: fi.Mode()&fs.ModeSymlink != 0, size: fi.Size(), mtime: fi.ModTime()}
	}
	return rawFromMode(st.Mode, int64(st.Size), int(st.UID), int(st.GID), time.Unix(int64(st.Mtime), 0))
}

func (s *sftpFS) readLink(p string) (string, error) {
	s.rt(1)
	return s.c.ReadLink(p)
}

// closeLater closes a file handle without waiting for the answer: nothing
// depends on it, and requests on one session are handled in order.
func closeLater(f *sftp.File) {
	go func() { _ = f.Close() }()
}

// readFile reads p: the open and a stat of p are sent together, then the
// file is read to its end (a read of its size and one more byte, which
// finds the end: two requests). Three round trips for a file up to 32
// KiB; the close is not waited for.
func (s *sftpFS) readFile(p string) ([]byte, error) {
	opened := make(chan openResult, 1)
	go func() {
		f, err := s.c.Open(p)
		opened <- openResult{f, err}
	}()
	fi, serr := s.c.Stat(p)
	if serr == nil && !fi.Mode().IsRegular() && !fi.IsDir() {
		// A FIFO or a device: the open may never come back (see statRead).
		select {
		case o := <-opened:
			if o.f != nil {
				closeLater(o.f)
			}
		case <-time.After(0):
			s.leave(opened)
		}
		s.rt(1)
		return nil, fmt.Errorf("%s is not a regular file (%s)", p, fi.Mode().Type())
	}
	o := <-opened
	s.rt(1)
	if o.err != nil {
		return nil, o.err
	}
	defer closeLater(o.f)
	size := int64(0)
	if serr == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	var b bytes.Buffer
	buf := make([]byte, size+1)
	for {
		s.rt(2)
		n, err := o.f.ReadAt(buf, int64(b.Len()))
		b.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			return b.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
		buf = make([]byte, 8*readBlock) // it grew since the stat, or is a /proc file
	}
}

// readBlock is what one SFTP read asks for at most (pkg/sftp's packet size).
const readBlock = 32 << 10

// statRead is lstat and, for a regular file of at most max bytes, its
// content, in two round trips: the lstat and the open are sent together,
// then the file is read whole (one request up to 32 KiB, several
// pipelined ones beyond). The open follows a link at p; its handle is
// closed unused.
//
// The two requests are sent from two goroutines, so either may reach
// sftp-server first, and it serves them in order. When the open is first
// and blocks (p is a FIFO), the lstat is never answered either: after
// openStall with no answer to either, the session is left and
// errOpenFirst returned; the caller asks again, one request at a time,
// on a new session.
func (s *sftpFS) statRead(p string, max int64) (rawStat, []byte, error, error) {
	opened := make(chan openResult, 1)
	go func() {
		f, err := s.c.Open(p)
		opened <- openResult{f, err}
	}()
	lstated := make(chan lstatResult, 1)
	go func() {
		fi, err := s.c.Lstat(p)
		lstated <- lstatResult{fi, err}
	}()
	var fi os.FileInfo
	var lerr error
	var o openResult
	gotOpen := false
	openCh := opened
	stall := time.NewTimer(openStall)
	defer stall.Stop()
wait:
	for {
		select {
		case r := <-lstated:
			fi, lerr = r.fi, r.err
			break wait
		case o = <-openCh:
			// Answered: the lstat, sent with it, will be too.
			gotOpen, openCh = true, nil
		case <-stall.C:
			if !gotOpen {
				s.leave(opened)
				return rawStat{}, nil, errOpenFirst, nil
			}
		}
	}
	if gotOpen {
		// o is the open's answer already.
	} else if lerr == nil && !rawFromSFTP(fi).isRegular {
		// Not a regular file: its content is not wanted, and the open
		// may never come back (a FIFO without a writer, a link to one,
		// a device). Do not wait long for it; if it hangs, sftp-server
		// answers nothing after it: leave this session.
		wait := time.Second
		if st := rawFromSFTP(fi); !st.isDir && !st.isLink {
			wait = 0
		}
		select {
		case o = <-opened:
		case <-time.After(wait):
			s.leave(opened)
		}
	} else {
		o = <-opened
	}
	s.rt(1)
	if o.f != nil {
		defer closeLater(o.f)
	}
	if lerr != nil {
		return rawStat{}, nil, lerr, nil
	}
	st := rawFromSFTP(fi)
	if !st.isRegular || st.size > max {
		return st, nil, nil, nil
	}
	if o.err != nil {
		return st, nil, nil, o.err
	}
	data := make([]byte, st.size)
	if st.size == 0 {
		return st, data, nil, nil
	}
	s.rt(1)
	n, err := o.f.ReadAt(data, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return st, nil, nil, err
	}
	if int64(n) < st.size { // shrunk since the lstat
		data = data[:n]
		st.size = int64(n)
	}
	return st, data, nil, nil
}

func (s *sftpFS) createTemp(p string) (tempFile, error) {
	s.rt(1)
	f, err := s.c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, err
	}
	// The server created it with its umask (0600 for the sftp-server we
	// start, usually 0644 for the sshd subsystem): make it private before
	// any data is written.
	s.rt(1)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		_ = s.c.Remove(p)
		return nil, err
	}
	return &sftpTemp{f: f, fs: s}, nil
}

func (s *sftpFS) chmod(p string, perm uint32) error {
	s.rt(1)
	return s.c.Chmod(p, os.FileMode(perm))
}

func (s *sftpFS) chown(p string, uid, gid int) error {
	s.rt(1)
	return s.c.Chown(p, uid, gid)
}

func (s *sftpFS) rename(from, to string) error {
	if _, ok := s.c.HasExtension("posix-rename@openssh.com"); !ok {
		return errors.New("the host's SFTP server lacks posix-rename@openssh.com (an OpenSSH sftp-server is needed for atomic writes)")
	}
	s.rt(1)
	return s.c.PosixRename(from, to)
}

func (s *sftpFS) mkdir(p string) error {
	s.rt(1)
	return s.c.Mkdir(p)
}

func (s *sftpFS) removeFile(p string) error {
	s.rt(1)
	return s.c.Remove(p)
}

func (s *sftpFS) removeDir(p string) error {
	s.rt(1)
	return s.c.RemoveDirectory(p)
}

func (s *sftpFS) readDir(p string) ([]dirEntry, error) {
	s.rt(3) // opendir, readdir until the end, close
	fis, err := s.c.ReadDir(p)
	if err != nil {
		return nil, err
	}
	out := make([]dirEntry, 0, len(fis))
	for _, fi := range fis {
		r := rawFromSFTP(fi)
		out = append(out, dirEntry{name: fi.Name(), isDir: r.isDir})
	}
	return out, nil
}

func (s *sftpFS) listPrefixed(dir, prefix string) ([]namedStat, error) {
	fis, err := s.c.ReadDir(dir) // READDIR answers with each entry's lstat
	if err != nil {
		return nil, err
	}
	var out []namedStat
	for _, fi := range fis {
		if strings.HasPrefix(fi.Name(), prefix) {
			out = append(out, namedStat{name: fi.Name(), st: rawFromSFTP(fi)})
		}
	}
	return out, nil
}

func (s *sftpFS) symlink(target, p string) error {
	s.rt(1)
	return s.c.Symlink(target, p)
}

type sftpTemp struct {
	f  *sftp.File
	fs *sftpFS
}

// Write sends b with concurrent requests (the client is made with
// UseConcurrentWrites): out-of-order writes are harmless in a temporary
// file that is discarded on any error.
func (t *sftpTemp) Write(b []byte) (int, error) {
	t.fs.rt(1)
	n, err := t.f.ReadFrom(bytes.NewReader(b))
	return int(n), err
}

func (t *sftpTemp) sync() error {
	if _, ok := t.fs.c.HasExtension("fsync@openssh.com"); !ok {
		return nil // the server cannot fsync; rename still keeps the old file whole
	}
	t.fs.rt(1)
	return t.f.Sync()
}

func (t *sftpTemp) chmod(perm uint32) error {
	t.fs.rt(1)
	return t.f.Chmod(os.FileMode(perm))
}

func (t *sftpTemp) chown(uid, gid int) error {
	t.fs.rt(1)
	return t.f.Chown(uid, gid)
}

func (t *sftpTemp) owner() (int, int, error) {
	t.fs.rt(1)
	fi, err := t.f.Stat()
	if err != nil {
		return 0, 0, err
	}
	r := rawFromSFTP(fi)
	return r.uid, r.gid, nil
}

func (t *sftpTemp) close() error {
	t.fs.rt(1)
	return t.f.Close()
}

// requestCounter counts the SFTP packets written through it (the first,
// SSH_FXP_INIT, excluded): the session's requests, counted on the wire.
type requestCounter struct {
	w       io.WriteCloser
	n       *atomic.Int64
	header  [4]byte
	have    int   // bytes of header read so far
	left    int64 // bytes left of the current packet's body
	skipped bool  // the INIT packet was passed
}

// Close closes the underlying writer.
func (c *requestCounter) Close() error { return c.w.Close() }

func (c *requestCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	for b := p[:n]; len(b) > 0; {
		if c.left > 0 {
			k := min(int64(len(b)), c.left)
			c.left -= k
			b = b[k:]
			continue
		}
		k := copy(c.header[c.have:], b)
		c.have += k
		b = b[k:]
		if c.have == 4 {
			c.have = 0
			c.left = int64(binary.BigEndian.Uint32(c.header[:]))
			if c.skipped {
				c.n.Add(1)
			}
			c.skipped = true
		}
	}
	return n, err
}

// ---- local system calls ----

// osFS operates on the controller's own files with system calls.
type osFS struct{}

func (osFS) lstat(p string) (rawStat, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return rawStat{}, &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	return rawFromMode(st.Mode, st.Size, int(st.Uid), int(st.Gid), time.Unix(st.Mtim.Unix())), nil
}

func (osFS) readLink(p string) (string, error) { return os.Readlink(p) }

func (osFS) readFile(p string) ([]byte, error) {
	// os.ReadFile of a FIFO without a writer would wait for one.
	if fi, err := os.Stat(p); err == nil && !fi.Mode().IsRegular() && !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", p, fi.Mode().Type())
	}
	return os.ReadFile(p)
}

func (o osFS) statRead(p string, max int64) (rawStat, []byte, error, error) {
	st, err := o.lstat(p)
	if err != nil || !st.isRegular || st.size > max {
		return st, nil, err, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return st, nil, nil, err
	}
	return st, b, nil, nil
}

func (osFS) createTemp(p string) (tempFile, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return &osTemp{f}, nil
}

func (osFS) chmod(p string, perm uint32) error {
	if err := syscall.Chmod(p, perm); err != nil {
		return &fs.PathError{Op: "chmod", Path: p, Err: err}
	}
	return nil
}

func (osFS) chown(p string, uid, gid int) error { return os.Chown(p, uid, gid) }

// rename also fsyncs the directory, as every controller-side atomic write
// does (atomicfile.Rename).
func (osFS) rename(from, to string) error { return atomicfile.Rename(from, to) }

func (osFS) mkdir(p string) error { return os.Mkdir(p, 0o700) }

func (osFS) removeFile(p string) error { return os.Remove(p) }

func (osFS) removeDir(p string) error { return os.Remove(p) }

func (osFS) readDir(p string) ([]dirEntry, error) {
	des, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	out := make([]dirEntry, 0, len(des))
	for _, d := range des {
		out = append(out, dirEntry{name: d.Name(), isDir: d.IsDir()})
	}
	return out, nil
}

func (o osFS) listPrefixed(dir, prefix string) ([]namedStat, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []namedStat
	for _, d := range des {
		if !strings.HasPrefix(d.Name(), prefix) {
			continue
		}
		if st, err := o.lstat(filepath.Join(dir, d.Name())); err == nil {
			out = append(out, namedStat{name: d.Name(), st: st})
		}
	}
	return out, nil
}

func (osFS) symlink(target, p string) error { return os.Symlink(target, p) }

type osTemp struct{ f *os.File }

func (t *osTemp) Write(b []byte) (int, error) { return t.f.Write(b) }
func (t *osTemp) sync() error                 { return t.f.Sync() }
func (t *osTemp) chown(uid, gid int) error    { return t.f.Chown(uid, gid) }
func (t *osTemp) close() error                { return t.f.Close() }

func (t *osTemp) chmod(perm uint32) error {
	// os.File.Chmod drops the raw setuid/setgid/sticky bits; fchmod keeps them.
	sc, err := t.f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	if err := sc.Control(func(fd uintptr) { cerr = syscall.Fchmod(int(fd), perm) }); err != nil {
		return err
	}
	if cerr != nil {
		return &fs.PathError{Op: "chmod", Path: t.f.Name(), Err: cerr}
	}
	return nil
}

func (t *osTemp) owner() (int, int, error) {
	fi, err := t.f.Stat()
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, errors.New("no owner information")
	}
	return int(st.Uid), int(st.Gid), nil
}
