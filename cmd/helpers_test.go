package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// fakeWorld is the outside world of one app run: environment, files, a
// terminal (or not) and a fake tunnel.Run.
type fakeWorld struct {
	env      map[string]string
	files    map[string]string      // name → content; missing → fs.ErrNotExist
	modes    map[string]fs.FileMode // permissions of files; default 0644
	unread   map[string]error       // files and directories that cannot be read or listed
	stdin    string
	terminal bool
	typed    []string // answers to the terminal prompts, in order
	prompts  int      // how many times readPassword was called

	run    func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error
	gotCfg *tunnel.Config // the Config run (or probe) was called with
	probe  probeFunc      // the fake tunnel.Probe; nil: an empty result

	stdout, stderr bytes.Buffer

	// Exec mode, background mode and the control socket.
	args        []string              // os.Args for --background; nil: l2tpctl and the args of runApp
	executable  string                // l2tpctl itself for --background
	signals     chan chan<- os.Signal // receives exec mode's signal channel
	queryStatus func(ctx context.Context, path string) (tunnel.Status, error)
	disconnect  func(ctx context.Context, path string) error
	lastArgs    []string

	releaseMemory func() // nil: connect releases no memory
}

func (w *fakeWorld) secretSource() secretSource {
	return w.deps().secretSource()
}

func (w *fakeWorld) deps() appDeps {
	return appDeps{
		releaseMemory: w.releaseMemory,
		run: func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
			w.gotCfg = &cfg
			if w.run == nil {
				return nil
			}
			return w.run(ctx, cfg, deps)
		},
		probe: func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) (*tunnel.ProbeResult, error) {
			w.gotCfg = &cfg
			if w.probe == nil {
				return &tunnel.ProbeResult{}, nil
			}
			return w.probe(ctx, cfg, deps)
		},
		stdout: &w.stdout,
		stderr: &w.stderr,
		lookupEnv: func(k string) (string, bool) {
			v, ok := w.env[k]
			return v, ok
		},
		readFile: func(name string) ([]byte, error) {
			if err := w.unread[name]; err != nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: err}
			}
			c, ok := w.files[name]
			if !ok {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			}
			return []byte(c), nil
		},
		stat: func(name string) (fs.FileInfo, error) {
			if c, ok := w.files[name]; ok {
				return w.info(name, c), nil
			}
			for f := range w.files {
				if strings.HasPrefix(f, name+"/") {
					return fakeInfo{name: path.Base(name), mode: fs.ModeDir | 0o755}, nil
				}
			}
			return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
		},
		readDir: func(dir string) ([]fs.DirEntry, error) {
			if err := w.unread[dir]; err != nil {
				return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
			}
			seen := map[string]bool{}
			var out []fs.DirEntry
			for f, c := range w.files {
				rest, ok := strings.CutPrefix(f, dir+"/")
				if !ok {
					continue
				}
				name, _, sub := strings.Cut(rest, "/")
				if seen[name] {
					continue
				}
				seen[name] = true
				info := w.info(path.Join(dir, name), c)
				if sub {
					info = fakeInfo{name: name, mode: fs.ModeDir | 0o755}
				}
				out = append(out, fs.FileInfoToDirEntry(info))
			}
			if out == nil {
				return nil, &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
			}
			slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
			return out, nil
		},
		stdin:      strings.NewReader(w.stdin),
		isTerminal: func() bool { return w.terminal },
		readPassword: func(ctx context.Context) ([]byte, error) {
			if w.prompts >= len(w.typed) {
				return nil, fmt.Errorf("unexpected prompt #%d", w.prompts+1)
			}
			w.prompts++
			return []byte(w.typed[w.prompts-1]), nil
		},
		now: func() time.Time { return time.Date(2025, 11, 25, 14, 35, 0, 0, time.UTC) },

		args: w.args,
		environ: func() []string {
			var env []string
			for k, v := range w.env {
				env = append(env, k+"="+v)
			}
			return append(env, "PATH="+os.Getenv("PATH"))
		},
		executable: func() (string, error) { return w.executable, nil },
		notifySignals: func(ch chan<- os.Signal) func() {
			if w.signals != nil {
				w.signals <- ch // the test sends its signals on ch, as the signal package would
			}
			return func() {}
		},
		queryStatus: w.queryStatus,
		disconnect:  w.disconnect,
	}
}

func (w *fakeWorld) info(name, content string) fakeInfo {
	mode, ok := w.modes[name]
	if !ok {
		mode = 0o644
	}
	return fakeInfo{name: path.Base(name), size: int64(len(content)), mode: mode}
}

// fakeInfo is a fs.FileInfo of a fakeWorld file.
type fakeInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (i fakeInfo) Name() string       { return i.name }
func (i fakeInfo) Size() int64        { return i.size }
func (i fakeInfo) Mode() fs.FileMode  { return i.mode }
func (i fakeInfo) ModTime() time.Time { return time.Time{} }
func (i fakeInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fakeInfo) Sys() any           { return nil }

// runApp runs l2tpctl with args the way main does and returns the exit code.
func (w *fakeWorld) runApp(t *testing.T, args ...string) int {
	t.Helper()
	return w.runAppContext(t, context.Background(), args...)
}

// runAppContext is runApp with a context, cancelled as main's is on a signal.
func (w *fakeWorld) runAppContext(t *testing.T, ctx context.Context, args ...string) int {
	t.Helper()
	argv := append([]string{"l2tpctl"}, args...)
	if w.args == nil {
		w.args = argv
	}
	app := newApp("1.2.3", w.deps())
	err := app.RunContext(ctx, argv)
	if err != nil {
		fmt.Fprintln(&w.stderr, ErrorLine(err))
	}
	return ExitCode(err)
}

// okWorld has both secrets in files.
func okWorld() *fakeWorld {
	return &fakeWorld{files: map[string]string{"psk": "the-psk\n", "pw": "the-password\n"}}
}

var okArgs = []string{"connect", "--server", "10.200.0.1", "--psk-file", "psk", "--user", "alice", "--password-file", "pw"}

func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
