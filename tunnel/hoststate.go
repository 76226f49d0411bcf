package tunnel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// The state file: what l2tpctl changed on the host, written before each
// change, so that whatever ends the process, the next run (or "l2tpctl
// cleanup") can undo it.
//
// One file per interface and network namespace, /run/l2tpctl/NAME.state
// (NAME@net-INODE.state outside the host's namespace, or everywhere when
// the host's cannot be told apart: interface names are per namespace; see
// netnsID). The TUN's Close undoes everything in reverse order and
// removes the file; a file left behind means the process died first (the
// kernel then removed the TUN with its routes, but not the default route
// l2tpctl replaced, the host route to the server, or resolv.conf).

// defaultStateDir holds the state files; /run is emptied at boot, as the
// state should be.
const defaultStateDir = "/run/l2tpctl"

// hostPaths are the files the host changes touch; tests point them into a
// temporary directory.
type hostPaths struct {
	stateDir   string
	resolvConf string
}

var defaultHostPaths = hostPaths{stateDir: defaultStateDir, resolvConf: defaultResolvConf}

// hostState is the state file's content (JSON).
type hostState struct {
	PID       int            `json:"pid"`
	Interface string         `json:"interface"`
	Netns     string         `json:"netns,omitempty"`  // network namespace ("" = the host's)
	Routes    []netip.Prefix `json:"routes,omitempty"` // through the interface; they go with it
	// HostRoute is the route to the server through the previous gateway,
	// added for DefaultRoute.
	HostRoute *savedRoute `json:"host_route,omitempty"`
	// DefaultRoute is true once l2tpctl's default route may be in place;
	// OldDefault is the default route it replaced (nil: there was none).
	DefaultRoute bool          `json:"default_route,omitempty"`
	OldDefault   *savedRoute   `json:"old_default_route,omitempty"`
	ResolvConf   *resolvBackup `json:"resolv_conf,omitempty"` // resolv.conf before l2tpctl wrote it
	Resolved     bool          `json:"resolved,omitempty"`    // per-link DNS set in systemd-resolved
}

// savedRoute is an IPv4 route in the main table, by interface name (the
// index of a device may change, its name does not while it lives).
type savedRoute struct {
	Dst      netip.Prefix `json:"dst"`
	Gateway  netip.Addr   `json:"gateway,omitzero"`
	Dev      string       `json:"dev"`
	Src      netip.Addr   `json:"src,omitzero"`
	Metric   int          `json:"metric,omitempty"`
	Scope    uint8        `json:"scope,omitempty"`
	Protocol int          `json:"protocol,omitempty"`
}

func (r savedRoute) String() string {
	s := r.Dst.String()
	if r.Gateway.IsValid() {
		s += " via " + r.Gateway.String()
	}
	s += " dev " + r.Dev
	if r.Metric != 0 {
		s += fmt.Sprintf(" metric %d", r.Metric)
	}
	return s
}

// InUseError is returned when another live l2tpctl process owns the
// interface's state.
type InUseError struct {
	Interface string
	PID       int
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("interface %s is in use by pid %d", e.Interface, e.PID)
}

// stateFile is one state file and its content; owned by whoever opened it
// (openTUN, then the TUN's Close).
type stateFile struct {
	path string
	st   hostState
	// noState is why there is no state file (nil: there is one): a process
	// with CAP_NET_ADMIN but not root may not write /run/l2tpctl. It can
	// still run, without the changes that would outlive it (see
	// needsState).
	noState error
}

// errNoStateFile is wrapped by changes refused without a state file.
var errNoStateFile = errors.New("needs the state file")

// needsState returns an error if f cannot record a change: what (a
// change that outlives the process) is then refused rather than made
// unrecoverably.
func (f *stateFile) needsState(what string) error {
	if f.noState == nil {
		return nil
	}
	return fmt.Errorf("tunnel: %s %w, which cannot be written (%v): run as root", what, errNoStateFile, f.noState)
}

// isNoAccess reports errors that mean "not allowed here" rather than
// "broken".
func isNoAccess(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// InstanceName names the files of the connection on interface iface in
// this network namespace (its state file, control socket and background
// log): iface, or iface@net-INODE outside the host's network namespace,
// since interface names are per namespace.
func InstanceName(iface string) string {
	if ns := netnsID(); ns != "" {
		return iface + "@" + ns
	}
	return iface
}

func statePath(dir, iface, netns string) string {
	name := iface
	if netns != "" {
		name += "@" + netns
	}
	return filepath.Join(dir, name+".state")
}

// save writes the state (to a temporary file renamed over the old one, so
// a crash never leaves half a file).
func (f *stateFile) save() error {
	if f.noState != nil {
		return f.needsState("recording host changes")
	}
	data, err := json.MarshalIndent(&f.st, "", "  ")
	if err != nil {
		return fmt.Errorf("tunnel: state file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("tunnel: state file: %w", err)
	}
	tmp := f.path + ".tmp"
	if err := writeInPlace(tmp, append(data, '\n'), 0o600); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tunnel: writing state file %s: %w", f.path, err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tunnel: writing state file %s: %w", f.path, err)
	}
	return nil
}

// update applies change to the state and saves it; call it before making
// the change on the host. Without a state file the state is kept in
// memory only (Close still undoes it): changes that would outlive the
// process check needsState first.
func (f *stateFile) update(change func(*hostState)) error {
	change(&f.st)
	if f.noState != nil {
		return nil
	}
	return f.save()
}

func (f *stateFile) remove() error {
	if f.noState != nil {
		return nil
	}
	if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tunnel: removing state file: %w", err)
	}
	return nil
}

// readState reads the state file at path; (nil, nil) if there is none.
func readState(path string) (*stateFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || isNoAccess(err) {
		return nil, nil // none, or not ours to see (not root)
	}
	if err != nil {
		return nil, fmt.Errorf("tunnel: reading state file: %w", err)
	}
	f := &stateFile{path: path}
	if err := json.Unmarshal(data, &f.st); err != nil {
		return nil, fmt.Errorf("tunnel: state file %s is corrupt (%v): check the host's routes and DNS by hand, then delete it", path, err)
	}
	return f, nil
}

// repairStale undoes what a dead process recorded in the state file for
// iface in this network namespace and removes the file. It returns what it
// restored, or an *InUseError if the recorded process is alive.
func repairStale(paths hostPaths, iface string) ([]string, error) {
	f, err := readState(statePath(paths.stateDir, iface, netnsID()))
	if err != nil || f == nil {
		return nil, err
	}
	if f.st.PID != os.Getpid() && pidAlive(f.st.PID) {
		return nil, &InUseError{Interface: iface, PID: f.st.PID}
	}
	done, err := undoHost(&f.st)
	if err != nil {
		return done, fmt.Errorf("tunnel: repairing what pid %d left behind on %s (state file %s kept): %w", f.st.PID, iface, f.path, err)
	}
	return done, f.remove()
}

// claimState repairs what a dead process left for iface and starts a new
// state file owned by this process.
func claimState(paths hostPaths, iface string, log *Logger) (*stateFile, error) {
	done, err := repairStale(paths, iface)
	for _, d := range done {
		log.infof("restored after an earlier run: %s", d)
	}
	if err != nil {
		return nil, err
	}
	f := &stateFile{
		path: statePath(paths.stateDir, iface, netnsID()),
		st:   hostState{PID: os.Getpid(), Interface: iface, Netns: netnsID()},
	}
	if err := f.save(); err != nil {
		if !isNoAccess(err) {
			return nil, err
		}
		f.noState = err
		log.infof("no state file: %v", err)
	}
	return f, nil
}

// undoHost reverses the host changes recorded in st, in reverse order:
// DNS, then the default route, then the host route to the server (routes
// through the interface go with it). It tries every step, records in st
// what it undid (so a retry does not repeat it), and returns a description
// of each and the errors.
func undoHost(st *hostState) ([]string, error) {
	var done []string
	var errs []error
	if st.Resolved {
		if err := revertResolved(st.Interface); err != nil {
			errs = append(errs, err)
		} else {
			st.Resolved = false
			done = append(done, "systemd-resolved: reverted the DNS settings of "+st.Interface)
		}
	}
	if b := st.ResolvConf; b != nil {
		if err := restoreResolvConf(b); err != nil && !errors.Is(err, errResolvChanged) {
			errs = append(errs, err)
		} else {
			if err != nil {
				done = append(done, err.Error())
			} else {
				done = append(done, "restored "+b.Path)
			}
			st.ResolvConf = nil
		}
	}
	d, err := undoRoutes(st)
	done = append(done, d...)
	if err != nil {
		errs = append(errs, err)
	}
	return done, errors.Join(errs...)
}

// Cleanup repairs what l2tpctl processes that died without cleaning up
// (SIGKILL, a crash, power loss of the process) left on the host: for
// interface iface, or for every interface with a state file in this network
// namespace when iface is "". It returns one line per thing restored.
// A state file whose process is alive is not touched: the error is then an
// *InUseError.
func Cleanup(iface string) ([]string, error) {
	return cleanupIn(defaultHostPaths, iface)
}

func cleanupIn(paths hostPaths, iface string) ([]string, error) {
	if iface != "" {
		if err := CheckInterfaceName(iface); err != nil {
			return nil, err
		}
		return repairStale(paths, iface)
	}
	names, err := stateInterfaces(paths.stateDir, netnsID())
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, n := range names {
		d, err := repairStale(paths, n)
		done = append(done, d...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return done, errors.Join(errs...)
}

// stateInterfaces lists the interfaces with a state file in dir for the
// network namespace netns, sorted.
func stateInterfaces(dir, netns string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tunnel: listing state files: %w", err)
	}
	var names []string
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".state")
		if !ok {
			continue
		}
		iface, ns, _ := strings.Cut(name, "@")
		if ns == netns && CheckInterfaceName(iface) == nil {
			names = append(names, iface)
		}
	}
	sort.Strings(names)
	return names, nil
}

// checkHostState runs before connecting: it repairs what a dead l2tpctl
// left on iface and fails with an *InUseError if a live one owns it, so
// that a second connection on the same interface fails before it starts.
func checkHostState(iface string, log *Logger) error {
	done, err := repairStale(defaultHostPaths, iface)
	for _, d := range done {
		log.infof("restored after an earlier run: %s", d)
	}
	return err
}
