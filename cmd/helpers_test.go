package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// fakeWorld is the outside world of one app run: environment, files, a
// terminal (or not) and a fake tunnel.Run.
type fakeWorld struct {
	env      map[string]string
	files    map[string]string // name → content; missing → fs.ErrNotExist
	terminal bool
	typed    []string // answers to the terminal prompts, in order
	prompts  int      // how many times readPassword was called

	run    func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error
	gotCfg *tunnel.Config // the Config run was called with

	stdout, stderr bytes.Buffer

	// Exec mode, background mode and the control socket.
	args        []string              // os.Args for --background; nil: l2tpctl and the args of runApp
	executable  string                // l2tpctl itself for --background
	signals     chan chan<- os.Signal // receives exec mode's signal channel
	queryStatus func(ctx context.Context, path string) (tunnel.Status, error)
	disconnect  func(ctx context.Context, path string) error
	lastArgs    []string
}

func (w *fakeWorld) secretSource() secretSource {
	d := w.deps()
	return secretSource{
		lookupEnv: d.lookupEnv, readFile: d.readFile, isTerminal: d.isTerminal,
		readPassword: d.readPassword, stderr: &w.stderr,
	}
}

func (w *fakeWorld) deps() appDeps {
	return appDeps{
		run: func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
			w.gotCfg = &cfg
			if w.run == nil {
				return nil
			}
			return w.run(ctx, cfg, deps)
		},
		stdout: &w.stdout,
		stderr: &w.stderr,
		lookupEnv: func(k string) (string, bool) {
			v, ok := w.env[k]
			return v, ok
		},
		readFile: func(name string) ([]byte, error) {
			c, ok := w.files[name]
			if !ok {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			}
			return []byte(c), nil
		},
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
