package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// ErrMissing says PostgreSQL cannot run here: its programs are not
// installed, or the tests run as root and there is no unprivileged user
// to run it as. Tests skip on it unless RequiredEnv is set.
var ErrMissing = errors.New("pgtest: PostgreSQL is not available")

// install is a PostgreSQL installation: where its programs are, and its
// major version (the cached cluster is made per major version).
type install struct {
	bin   string
	major string
}

func (in install) path(program string) string { return filepath.Join(in.bin, program) }

// findInstall finds initdb and postgres: in $DEPLOYQ_PG_BIN, else in the
// newest /usr/lib/postgresql/*/bin (Debian, Ubuntu), else on PATH.
func findInstall() (install, error) {
	var dirs []string
	if d := os.Getenv("DEPLOYQ_PG_BIN"); d != "" {
		dirs = append(dirs, d)
	} else {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		slices.SortFunc(found, func(a, b string) int { return versionOf(b) - versionOf(a) }) // newest first
		dirs = append(dirs, found...)
		if p, err := exec.LookPath("postgres"); err == nil {
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	for _, d := range dirs {
		if !executable(filepath.Join(d, "postgres")) || !executable(filepath.Join(d, "initdb")) {
			continue
		}
		out, err := exec.Command(filepath.Join(d, "postgres"), "--version").Output()
		if err != nil {
			return install{}, fmt.Errorf("pgtest: %s/postgres --version: %w", d, err)
		}
		major, err := majorVersion(string(out))
		if err != nil {
			return install{}, err
		}
		return install{bin: d, major: major}, nil
	}
	return install{}, fmt.Errorf("%w: no initdb and postgres in $DEPLOYQ_PG_BIN, /usr/lib/postgresql/*/bin or PATH (apt-get install postgresql)", ErrMissing)
}

// versionOf is the number of a /usr/lib/postgresql/N/bin directory.
func versionOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?`)

// majorVersion reads "postgres (PostgreSQL) 15.14 (Debian ...)": 15 (9.6
// for the versions before 10, whose major had two parts).
func majorVersion(out string) (string, error) {
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("pgtest: cannot read the version in %q", strings.TrimSpace(out))
	}
	if n, _ := strconv.Atoi(m[1]); n < 10 && m[2] != "" {
		return m[1] + "." + m[2], nil
	}
	return m[1], nil
}

// runAs is who runs initdb and the server: the tests' own user, or, when
// the tests run as root (which PostgreSQL refuses), the system user
// postgres. nil means the tests' own user.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: the tests run as root, which PostgreSQL refuses, and there is no user postgres to run it as (%v)", ErrMissing, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// cacheDir is where the cluster of a major version is kept between runs:
// $DEPLOYQ_PG_CACHE, else deployq-pg in the user's cache directory.
func cacheDir(major string) string {
	if d := os.Getenv("DEPLOYQ_PG_CACHE"); d != "" {
		return filepath.Join(d, major)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "deployq-pg", major)
}

// cachedCluster returns the data directory of a fresh cluster made by
// initdb, making it the first time. initdb runs in a scratch directory
// the server's user can reach (the cache may be in root's home, which
// it cannot enter); the result is copied next to the cache and renamed
// into place, so that the cache is whole or absent, and of two test
// binaries that make it at once, one wins and the other uses it.
func cachedCluster(in install, cred *syscall.Credential) (string, error) {
	final := cacheDir(in.major)
	data := filepath.Join(final, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err == nil {
		return data, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", err
	}
	scratch, err := os.MkdirTemp("", "deployq-initdb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	if err := chownTree(scratch, cred); err != nil {
		return "", err
	}
	var out bytes.Buffer
	initdb := exec.Command(in.path("initdb"), "-D", filepath.Join(scratch, "data"), "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
	initdb.Stdout, initdb.Stderr = &out, &out
	initdb.Env = serverEnv()
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := initdb.Run(); err != nil {
		return "", fmt.Errorf("pgtest: initdb: %w\n%s", err, out.Bytes())
	}
	staging, err := os.MkdirTemp(filepath.Dir(final), filepath.Base(final)+".tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(staging) // nothing left there once renamed
	if err := copyTree(filepath.Join(scratch, "data"), filepath.Join(staging, "data")); err != nil {
		return "", err
	}
	if err := os.Rename(staging, final); err != nil {
		if _, statErr := os.Stat(filepath.Join(data, "PG_VERSION")); statErr == nil {
			return data, nil // another test binary made it meanwhile
		}
		return "", err
	}
	return data, nil
}

// serverEnv is the environment of initdb and the server: the tests' own,
// without PG* variables, which would change what they do, and in the C
// locale.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "LC_") && !strings.HasPrefix(kv, "LANG") {
			env = append(env, kv)
		}
	}
	return append(env, "LC_ALL=C")
}

// copyTree copies the directory src to dst (which must not exist), with
// the files' modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		fi, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case e.IsDir():
			return os.Mkdir(to, fi.Mode().Perm())
		case fi.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, to)
		case fi.Mode().IsRegular():
			return copyFile(path, to, fi.Mode().Perm())
		}
		return nil // sockets and the like are not part of a cluster at rest
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// chownTree gives dir and all in it to the user of cred (nil: nothing to
// do).
func chownTree(dir string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	})
}
