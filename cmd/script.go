package cmd

import (
	"os"
	"path/filepath"
)

// scriptPath checks the --script PATH before anything is sent to the
// server: an executable regular file. It returns the path made absolute,
// so that a later change of directory (or a PATH lookup of a bare name)
// cannot change which file runs.
func scriptPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", usageErrorf("--%s %q: %v", flgScript, p, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case err != nil:
		return "", usageErrorf("--%s: %v", flgScript, err)
	case !fi.Mode().IsRegular():
		return "", usageErrorf("--%s %q: not a regular file", flgScript, p)
	case fi.Mode().Perm()&0o111 == 0:
		return "", usageErrorf("--%s %q: not executable (chmod +x)", flgScript, p)
	}
	return abs, nil
}
