package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
	"github.com/urfave/cli/v2"
)

// connectMode is what connect does around tunnel.Run besides staying in
// the foreground: exec mode, background mode, readiness reports and the
// bring-up bound.
type connectMode struct {
	command      []string      // exec mode: CMD ARGS…; nil: none
	background   bool          // --background, in the parent
	readyFD      int           // --ready-fd, or the pipe of --background; 0: none
	upTimeout    time.Duration // --up-timeout; 0: none
	notifySocket string        // $NOTIFY_SOCKET; empty: not under systemd
}

// errUpTimeout is wrapped into the *tunnel.PhaseError of a bring-up that
// did not finish within --up-timeout.
var errUpTimeout = errors.New("the link did not come up in time")

// connectModeFrom reads the flags and environment of connect that
// connectMode holds. The command after "--" was checked by
// checkConnectArgs.
func connectModeFrom(c *cli.Context, d appDeps, f connectFlags) (connectMode, error) {
	m := connectMode{background: c.Bool(flgBackground), readyFD: c.Int(flgReadyFD), upTimeout: f.UpTimeout}
	m.command, _ = commandAfterDashes(c)
	if m.readyFD < 0 || c.IsSet(flgReadyFD) && m.readyFD == 0 {
		return m, usageErrorf("--%s %d: not a file descriptor for writing (want 1 or more)", flgReadyFD, m.readyFD)
	}
	if m.upTimeout < 0 {
		return m, usageErrorf("%s %v: must not be negative", f.ref(flgUpTimeout), m.upTimeout)
	}
	if m.background && len(m.command) > 0 {
		return m, usageErrorf("--%s and a command after -- do not go together", flgBackground)
	}
	m.notifySocket, _ = d.lookupEnv(envNotifySocket)
	if s, ok := d.lookupEnv(envBackgroundFD); ok {
		// This is the child of --background: report "up" on its pipe.
		fd, err := strconv.Atoi(s)
		if err != nil || fd < 3 {
			return m, usageErrorf("%s=%q: not a file descriptor", envBackgroundFD, s)
		}
		m.readyFD, m.background = fd, false
	}
	return m, nil
}

// runDir is where control sockets and background logs go: $L2TPCTL_RUN_DIR,
// else for a user other than root (netstack mode needs no root)
// $XDG_RUNTIME_DIR/l2tpctl, else /run/l2tpctl.
func runDir(d appDeps) string {
	if dir, ok := d.lookupEnv(envRunDir); ok && dir != "" {
		return dir
	}
	if os.Geteuid() != 0 {
		if dir, ok := d.lookupEnv(envXDGRuntimeDir); ok && filepath.IsAbs(dir) {
			return filepath.Join(dir, "l2tpctl")
		}
	}
	return defaultRunDir
}

// controlSocket is the path of the control socket of interface name (in
// this network namespace: tunnel.InstanceName).
func controlSocket(d appDeps, name string) string {
	return filepath.Join(runDir(d), tunnel.InstanceName(name)+".sock")
}

// phaseOf is the phase the connection is in after ev, or 0 when ev does
// not say.
func phaseOf(ev tunnel.Event) tunnel.Phase {
	if ev.Kind == tunnel.EventPhase {
		return ev.Phase
	}
	return 0
}

// upTimeoutError is the error of a bring-up that was still in phase p
// after d: in setup (resolving the server's name) it counts as a name that
// does not resolve, in IKE phase 1 as a server that does not answer, and
// later as a failure of that phase.
func upTimeoutError(p tunnel.Phase, d time.Duration) error {
	err := fmt.Errorf("%w: not up within %v (--%s)", errUpTimeout, d, flgUpTimeout)
	switch p {
	case tunnel.PhaseSetup:
		err = fmt.Errorf("%w: %w", tunnel.ErrResolve, err)
	case tunnel.PhaseIKE:
		err = fmt.Errorf("%w: %w", tunnel.ErrNoAnswer, err)
	}
	return &tunnel.PhaseError{Phase: p, Err: err}
}

// supervise runs the tunnel and, once the link is up, reports readiness
// and runs exec mode's command. It bounds the bring-up by m.upTimeout.
func supervise(ctx context.Context, d appDeps, cfg tunnel.Config, deps tunnel.Deps, m connectMode) error {
	var sigs chan os.Signal
	runCtx := ctx
	if len(m.command) > 0 {
		// Signals go to the command; the tunnel ends after it.
		runCtx = context.WithoutCancel(ctx)
		sigs = make(chan os.Signal, 4)
		if d.notifySignals != nil {
			defer d.notifySignals(sigs)()
		}
	}
	runCtx, cancel := context.WithCancel(runCtx)
	defer cancel()
	stopping := sync.OnceFunc(func() {
		if err := sdNotify(m.notifySocket, sdStopping); err != nil {
			fmt.Fprintln(d.stderr, ErrorLine(err))
		}
	})
	cancelRun := func() { stopping(); cancel() }

	var phase atomic.Int32
	phase.Store(int32(tunnel.PhaseSetup))
	up := make(chan *tunnel.LinkInfo, 1)
	mem := newMemoryReleaser(d.releaseMemory, memoryReleaseEvery)
	defer mem.stop()
	events := deps.Events
	deps.Events = func(ev tunnel.Event) {
		if events != nil {
			events(ev)
		}
		mem.event(ev)
		if p := phaseOf(ev); p != 0 {
			phase.Store(int32(p))
		}
		if ev.Kind == tunnel.EventUp && ev.Link != nil {
			select {
			case up <- ev.Link:
			default:
			}
		}
	}
	runDone := make(chan error, 1)
	go func() { runDone <- runTunnel(runCtx, d.run, cfg, deps) }()

	var timeout <-chan time.Time
	if m.upTimeout > 0 {
		t := time.NewTimer(m.upTimeout)
		defer t.Stop()
		timeout = t.C
	}
	var link *tunnel.LinkInfo
	select {
	case link = <-up:
	case err := <-runDone:
		return err // a failed connect never runs the command
	case <-ctx.Done():
		cancelRun()
		return <-runDone
	case <-timeout:
		p := tunnel.Phase(phase.Load())
		cancelRun()
		if err := <-runDone; err != nil {
			return err
		}
		return upTimeoutError(p, m.upTimeout)
	}

	if m.readyFD > 0 {
		if err := writeReady(m.readyFD, link); err != nil {
			fmt.Fprintln(d.stderr, ErrorLine(err))
		}
	}
	if err := sdNotify(m.notifySocket, sdReady(link)); err != nil {
		fmt.Fprintln(d.stderr, ErrorLine(err))
	}
	if len(m.command) > 0 {
		return runCommand(ctx, d, m.command, link, sigs, cancelRun, runDone)
	}
	select {
	case err := <-runDone:
		stopping()
		return err
	case <-ctx.Done():
		stopping()
		return <-runDone
	}
}
