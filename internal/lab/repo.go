package lab

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // apt's Packages index lists MD5 sums too
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// fillRepo makes dst a flat apt repository ("deb file:DIR ./") of the .deb
// files in archives (moved, not copied): the debs, a Packages index as
// dpkg-scanpackages writes it (each package's control fields read with
// dpkg-deb, plus Filename, Size and checksums), a Release file, and the
// recipe stamp.
func fillRepo(ctx context.Context, archives, dst string, img image) error {
	debs, err := filepath.Glob(filepath.Join(archives, "*.deb"))
	if err != nil {
		return fmt.Errorf("local apt repository: %w", err)
	}
	if len(debs) == 0 {
		return fmt.Errorf("local apt repository: apt-get downloaded nothing into %s", archives)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("local apt repository: %w", err)
	}
	sort.Strings(debs)
	var index bytes.Buffer
	for _, src := range debs {
		name := debFileName(filepath.Base(src))
		path := filepath.Join(dst, name)
		if err := os.Rename(src, path); err != nil {
			return fmt.Errorf("local apt repository: %w", err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			return fmt.Errorf("local apt repository: %w", err)
		}
		entry, err := packagesEntry(ctx, path)
		if err != nil {
			return err
		}
		index.WriteString(entry)
		index.WriteString("\n")
	}
	if err := writeFile(filepath.Join(dst, "Packages"), index.String(), 0o644); err != nil {
		return fmt.Errorf("local apt repository: %w", err)
	}
	if err := writeFile(filepath.Join(dst, "Release"), releaseFile(index.Bytes(), time.Now()), 0o644); err != nil {
		return fmt.Errorf("local apt repository: %w", err)
	}
	if err := writeFile(filepath.Join(dst, repoStampFile), img.repoStampText(), 0o644); err != nil {
		return fmt.Errorf("local apt repository: %w", err)
	}
	return nil
}

// epochInName is the epoch apt writes into a downloaded file's name,
// URL-encoded ("keepalived_1%3a2.2.7-1_amd64.deb").
var epochInName = regexp.MustCompile(`_[0-9]+%3[aA]`)

// debFileName is the name a deb gets in the repository: without the
// epoch, as in Debian's pool, so that no URI escape is in a Filename.
func debFileName(name string) string { return epochInName.ReplaceAllString(name, "_") }

// packagesEntry is the Packages paragraph of one .deb in a flat
// repository.
func packagesEntry(ctx context.Context, deb string) (string, error) {
	out, err := exec.CommandContext(ctx, "dpkg-deb", "--field", deb).Output()
	if err != nil {
		return "", fmt.Errorf("local apt repository: dpkg-deb --field %s: %w", deb, err)
	}
	f, err := os.Open(deb)
	if err != nil {
		return "", fmt.Errorf("local apt repository: %w", err)
	}
	defer f.Close()
	m, s := md5.New(), sha256.New() //nolint:gosec
	n, err := io.Copy(io.MultiWriter(m, s), f)
	if err != nil {
		return "", fmt.Errorf("local apt repository: reading %s: %w", deb, err)
	}
	return controlWithFile(string(out), filepath.Base(deb), n, hex.EncodeToString(m.Sum(nil)), hex.EncodeToString(s.Sum(nil))), nil
}

// controlWithFile appends the fields of a Packages entry that locate and
// check the file to a package's control fields.
func controlWithFile(control, name string, size int64, md5sum, sha256sum string) string {
	control = strings.TrimRight(control, "\n")
	return fmt.Sprintf("%s\nFilename: ./%s\nSize: %d\nMD5sum: %s\nSHA256: %s\n", control, name, size, md5sum, sha256sum)
}

// releaseFile is the Release file of a flat repository whose only index
// is packages.
func releaseFile(packages []byte, now time.Time) string {
	m := md5.Sum(packages) //nolint:gosec
	s := sha256.Sum256(packages)
	return fmt.Sprintf(`Origin: pgplay-lab
Label: pgplay-lab
Suite: pgplay-lab
Codename: pgplay-lab
Date: %s
Description: packages the pgplay roles install, for the offline lab (pgplay lab up --image stock)
MD5Sum:
 %s %d Packages
SHA256:
 %s %d Packages
`, now.UTC().Format(time.RFC1123), hex.EncodeToString(m[:]), len(packages), hex.EncodeToString(s[:]), len(packages))
}

// localSources is the deb822 apt source of the lab's local repository, as
// an admin would write it for an offline mirror.
func localSources() string {
	return fmt.Sprintf(`# Written by pgplay lab: the packages of pgplay's roles, served read-only
# from the controller's cache (the lab has no internet).
Types: deb
URIs: file:%s
Suites: ./
Trusted: yes
`, StockRepoMount)
}
