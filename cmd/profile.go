package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	"github.com/urfave/cli/v2"
)

// A profile is a TOML file of connect settings, so that
//
//	l2tpctl connect --profile office
//
// does what a long command line would. Its keys are the long names of
// connect's flags, taken from the flag definitions (connectFlagDefs), so a
// new flag is a new key without further code; each value has the TOML type
// that matches the flag's:
//
//	string flag        string             server = "vpn.example.net"
//	int flag           integer            natt-port = 4500
//	bool flag          boolean            verbose = true
//	duration flag      string             sa-lifetime = "1h"
//	string slice flag  array of strings   route = ["10.0.0.0/8"]
//
// A string flag that takes a comma-separated list (listKeys) may also be an
// array of strings: auth = ["mschapv2", "pap"]. The file is flat: no tables.
// Unknown keys, values of the wrong type, duplicate keys and unparsable
// durations are errors that name the file, the line and the key; the
// values themselves are checked where the flags' are, in configFrom.
//
// Flags given on the command line override the profile's values (see
// flagsFrom); a secret given on the command line or in the environment
// overrides the profile's source for that secret (see secretSource). docs/profile.md
// documents every key.

// profile is a decoded profile file.
type profile struct {
	Path   string         // the file, as found
	values valueMap       // key → value, typed as the key's flag (see decodeValue)
	lines  map[string]int // key → the line it is set on
}

// at locates a key for messages: "FILE:LINE: key".
func (p *profile) at(key string) string {
	return fmt.Sprintf("%s:%d: %s", p.Path, p.lines[key], key)
}

// listKeys are string flags whose value is a comma-separated list: in a
// profile they may also be an array of strings.
var listKeys = map[string]bool{flgAuth: true}

// notKeys are connect's flags that a profile cannot set, and why.
var notKeys = map[string]string{
	flgProfile:    "a profile cannot name another profile",
	flgBackground: "it is a choice of each command line",
	flgReadyFD:    "a file descriptor belongs to one command line",
	flgKeyLog:     "keys are written only when a command line asks for them",
}

// inlineSecretKeys hold a secret in the profile itself: such a profile must
// be readable and writable by its owner only.
var inlineSecretKeys = []string{flgPSK, flgPassword, flgL2TPSecret}

// fileKeys name files. In a profile, "~/" is the home directory and a
// relative name is relative to the profile's directory, so that a profile
// and its secret files can sit side by side.
var fileKeys = []string{flgPSKFile, flgPasswordFile, flgL2TPSecretFile, flgCert, flgKey, flgCA, flgPcap, flgSOCKS5PasswordFile}

// profileKeys returns the keys a profile may set: the long names of
// connect's flags but notKeys, in the order connect --help lists them.
func profileKeys(flags []cli.Flag) []string {
	var keys []string
	for _, fl := range flags {
		if name := fl.Names()[0]; notKeys[name] == "" {
			keys = append(keys, name)
		}
	}
	return keys
}

// keyType describes the TOML type a flag's key takes, for messages and
// docs.
func keyType(name string, fl cli.Flag) string {
	switch fl.(type) {
	case *cli.StringFlag:
		if listKeys[name] {
			return "a string or an array of strings"
		}
		return "a string"
	case *cli.IntFlag:
		return "an integer"
	case *cli.BoolFlag:
		return "a boolean (true or false)"
	case *cli.DurationFlag:
		return `a duration string such as "1h" or "30m"`
	case *cli.StringSliceFlag:
		return "an array of strings"
	default:
		return "" // not readable from a profile: TestProfileKeys catches this
	}
}

// flagDefault returns a flag's default value, typed as decodeValue types
// the key's value.
func flagDefault(fl cli.Flag) any {
	switch fl := fl.(type) {
	case *cli.StringFlag:
		return fl.Value
	case *cli.IntFlag:
		return fl.Value
	case *cli.BoolFlag:
		return fl.Value
	case *cli.DurationFlag:
		return fl.Value
	case *cli.StringSliceFlag:
		if fl.Value == nil {
			return []string(nil)
		}
		return fl.Value.Value()
	default:
		return nil
	}
}

// decodeValue checks a TOML value against the key's flag and returns it as
// a string, int, bool, time.Duration or []string.
func decodeValue(name string, fl cli.Flag, v any) (any, error) {
	wrongType := fmt.Errorf("want %s, not %s", keyType(name, fl), tomlType(v))
	switch fl.(type) {
	case *cli.StringFlag:
		switch v := v.(type) {
		case string:
			return v, nil
		case []any:
			if listKeys[name] {
				s, err := stringArray(v)
				return strings.Join(s, ","), err
			}
		}
		return nil, wrongType
	case *cli.IntFlag:
		if v, ok := v.(int64); ok {
			return int(v), nil
		}
		return nil, wrongType
	case *cli.BoolFlag:
		if v, ok := v.(bool); ok {
			return v, nil
		}
		return nil, wrongType
	case *cli.DurationFlag:
		s, ok := v.(string)
		if !ok {
			return nil, wrongType
		}
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf(`bad duration %q: want a number and a unit, such as "1h", "30m" or "90s"`, s)
		}
		return d, nil
	case *cli.StringSliceFlag:
		if v, ok := v.([]any); ok {
			return stringArray(v)
		}
		return nil, wrongType
	default:
		return nil, fmt.Errorf("the flag --%s (%T) cannot be set in a profile", name, fl)
	}
}

func stringArray(a []any) ([]string, error) {
	out := make([]string, len(a))
	for i, e := range a {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("want an array of strings, but element %d is %s", i+1, tomlType(e))
		}
		out[i] = s
	}
	return out, nil
}

// tomlType names the TOML type of a value decoded into an interface.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return "a date or time"
	}
}

// parseProfile decodes a profile for the given flags (connectFlagDefs).
// Errors are usage errors that name path, the line and the key; none
// contains a value from the file.
func parseProfile(path string, data []byte, flags []cli.Flag) (*profile, error) {
	lines, err := keyLines(path, data)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, _ := de.Position()
			return nil, usageErrorf("%s:%d: %s", path, line, withoutCharacters(strings.TrimPrefix(de.Error(), "toml: ")))
		}
		return nil, usageErrorf("%s: %s", path, withoutCharacters(err.Error()))
	}

	byName := map[string]cli.Flag{}
	alias := map[string]string{}
	for _, fl := range flags {
		names := fl.Names()
		byName[names[0]] = fl
		for _, a := range names[1:] {
			alias[a] = names[0]
		}
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if lines[a] != lines[b] {
			return lines[a] - lines[b]
		}
		return strings.Compare(a, b)
	})

	p := &profile{Path: path, values: valueMap{}, lines: lines}
	for _, k := range keys {
		at := p.at(k)
		fl, ok := byName[k]
		switch {
		case ok && notKeys[k] != "":
			return nil, usageErrorf("%s: not allowed in a profile: %s", at, notKeys[k])
		case !ok && alias[k] != "":
			return nil, usageErrorf("%s:%d: unknown key %q (use the long name %q)", path, lines[k], k, alias[k])
		case !ok:
			hint := ""
			if s := closestKey(k, profileKeys(flags)); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			return nil, usageErrorf("%s:%d: unknown key %q%s; the keys are the long names of the flags of 'l2tpctl connect'",
				path, lines[k], k, hint)
		}
		v, err := decodeValue(k, fl, doc[k])
		if err != nil {
			return nil, usageErrorf("%s: %v", at, err)
		}
		p.values[k] = v
	}
	return p, nil
}

// keyLines returns the line of every top-level key, and reports duplicate
// keys with both lines. It leaves syntax errors to toml.Unmarshal, which
// reports them with their position.
//
// go-toml's Unmarshal does not say where a key is, so this walks the
// document with go-toml's own parser. Its package is "unstable" (no
// compatibility promise): go.mod pins the version, and TestParseProfileLines
// and the duplicate-key tests check what this relies on.
func keyLines(path string, data []byte) (map[string]int, error) {
	lines := map[string]int{}
	simple := map[string]bool{} // set by a plain "key = value", not a dotted key or a table
	var p unstable.Parser
	p.Reset(data)
	inTable := false // after a table header, "key = value" sets the table's keys
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.KeyValue:
			if inTable {
				continue
			}
		case unstable.Table, unstable.ArrayTable:
			inTable = true
		default:
			continue
		}
		k := e.Key()
		if !k.Next() {
			continue
		}
		name, line := string(k.Node().Data), p.Shape(k.Node().Raw).Start.Line
		isSimple := e.Kind == unstable.KeyValue && k.IsLast()
		if first, seen := lines[name]; seen {
			if isSimple && simple[name] {
				return nil, usageErrorf("%s:%d: %s: duplicate key (first set on line %d)", path, line, name, first)
			}
		} else {
			lines[name], simple[name] = line, isSimple
		}
	}
	return lines, nil
}

// withoutCharacters drops the characters that go-toml quotes in its syntax
// errors ("expected newline but got U+0073 's'"): the line and the key
// locate the mistake, and the character could be part of a secret.
func withoutCharacters(msg string) string {
	msg = gotCharacter.ReplaceAllString(msg, "got another character")
	return quotedCharacter.ReplaceAllString(msg, "")
}

var (
	gotCharacter    = regexp.MustCompile(`got U\+[0-9A-Fa-f]+( '(\\.|[^'])*')?`)
	quotedCharacter = regexp.MustCompile(`:? U\+[0-9A-Fa-f]+( '(\\.|[^'])*')?`)
)

// closestKey returns the key within two edits of k, if there is one.
func closestKey(k string, keys []string) string {
	best, bestDist := "", 3
	for _, c := range keys {
		// A short key such as "id" is near everything short: suggest
		// only what shares more than it differs.
		if d := editDistance(k, c); d < bestDist && d < len(c) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// profileDirs returns the directories searched for a profile given by name,
// in order: the user's ($XDG_CONFIG_HOME/l2tpctl, else
// $HOME/.config/l2tpctl; none if neither is set) and systemProfileDir.
func profileDirs(lookupEnv func(string) (string, bool)) []string {
	var dirs []string
	if x, _ := lookupEnv(envXDGConfigHome); filepath.IsAbs(x) { // the spec: ignore a relative value
		dirs = append(dirs, filepath.Join(x, "l2tpctl"))
	} else if h, _ := lookupEnv(envHome); h != "" {
		dirs = append(dirs, filepath.Join(h, ".config", "l2tpctl"))
	}
	return append(dirs, systemProfileDir)
}

// findProfile returns the file of a profile given by name or path. A value
// with a '/' is a path ("~/" is the home directory); otherwise it is a name,
// looked up as NAME.toml in profileDirs. origin says where the value came
// from, for messages ("--profile", "L2TPCTL_PROFILE", "profile").
func findProfile(ref, origin string, d appDeps) (string, fs.FileInfo, error) {
	if ref == "" {
		return "", nil, usageErrorf("%s: empty profile name", origin)
	}
	if origin == envProfile {
		origin += "=" + ref // "L2TPCTL_PROFILE=office"
	} else {
		origin += " " + ref // "--profile office"
	}
	if strings.Contains(ref, "/") {
		path := ref
		if rest, ok := strings.CutPrefix(ref, "~/"); ok {
			home, _ := d.lookupEnv(envHome)
			if home == "" {
				return "", nil, usageErrorf("%s: $HOME is not set", origin)
			}
			path = filepath.Join(home, rest)
		}
		info, err := d.stat(path)
		if err != nil {
			return "", nil, usageErrorf("%s: %v", origin, err)
		}
		if info.IsDir() {
			return "", nil, usageErrorf("%s: is a directory, not a profile file", origin)
		}
		return path, info, nil
	}
	if base, ok := strings.CutSuffix(ref, ".toml"); ok {
		return "", nil, usageErrorf("%s: give the profile's name without .toml (%s), or a path such as ./%s", origin, base, ref)
	}
	var tried []string
	for _, dir := range profileDirs(d.lookupEnv) {
		path := filepath.Join(dir, ref+".toml")
		info, err := d.stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			tried = append(tried, path)
			continue
		case err != nil:
			return "", nil, usageErrorf("%s: %v", origin, err)
		case info.IsDir():
			return "", nil, usageErrorf("%s: %s is a directory, not a profile file", origin, path)
		}
		return path, info, nil
	}
	return "", nil, usageErrorf("%s: no such profile; looked for %s", origin, strings.Join(tried, " and "))
}

// loadProfile finds, reads and decodes a profile, resolves its file names
// (fileKeys), and refuses one that holds a secret (psk, password) while
// other users may read or change it.
func loadProfile(ref, origin string, d appDeps) (*profile, error) {
	path, info, err := findProfile(ref, origin, d)
	if err != nil {
		return nil, err
	}
	data, err := d.readFile(path)
	if err != nil {
		return nil, usageErrorf("reading the profile: %v", err) // err names the file
	}
	p, err := parseProfile(path, data, connectFlagDefs())
	if err != nil {
		return nil, err
	}
	for _, k := range fileKeys {
		name, _ := p.values[k].(string)
		if rest, ok := strings.CutPrefix(name, "~/"); ok {
			home, _ := d.lookupEnv(envHome)
			if home == "" {
				return nil, usageErrorf("%s %q: $HOME is not set", p.at(k), name)
			}
			p.values[k] = filepath.Join(home, rest)
		} else if name != "" && !filepath.IsAbs(name) {
			p.values[k] = filepath.Join(filepath.Dir(path), name)
		}
	}
	for _, k := range inlineSecretKeys {
		if _, ok := p.values[k]; ok && info.Mode().Perm()&0o077 != 0 {
			return nil, usageErrorf("%s:%d: %s: the profile holds a secret, but its permissions %04o let other users read or change it: "+
				"make it private with chmod 600 %s (or move the secret to a file named by %s-file)",
				path, p.lines[k], k, info.Mode().Perm(), shellQuote(path), k)
		}
	}
	return p, nil
}

// shellQuote quotes s for a POSIX shell if it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+~:@%,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// flagValues reads settings by flag name. *cli.Context implements it (the
// command line, with the flags' defaults); so do valueMap (a profile),
// flagDefaults and layered (the command line over a profile over the
// defaults).
type flagValues interface {
	IsSet(name string) bool
	String(name string) string
	Int(name string) int
	Bool(name string) bool
	Duration(name string) time.Duration
	StringSlice(name string) []string
}

// valueMap holds settings by name, typed as decodeValue returns them. A
// name it has is set.
type valueMap map[string]any

func (m valueMap) IsSet(name string) bool             { _, ok := m[name]; return ok }
func (m valueMap) String(name string) string          { v, _ := m[name].(string); return v }
func (m valueMap) Int(name string) int                { v, _ := m[name].(int); return v }
func (m valueMap) Bool(name string) bool              { v, _ := m[name].(bool); return v }
func (m valueMap) Duration(name string) time.Duration { v, _ := m[name].(time.Duration); return v }
func (m valueMap) StringSlice(name string) []string {
	v, _ := m[name].([]string)
	return slices.Clone(v)
}

// flagDefaults holds the flags' default values, none of them set: what
// the command line is when it gives no flag.
type flagDefaults struct{ valueMap }

func newFlagDefaults(flags []cli.Flag) flagDefaults {
	m := valueMap{}
	for _, fl := range flags {
		m[fl.Names()[0]] = flagDefault(fl)
	}
	return flagDefaults{m}
}

func (flagDefaults) IsSet(string) bool { return false }

// layered reads each setting from the first layer that sets it, and from
// the last layer (the defaults) otherwise.
type layered []flagValues

func (l layered) pick(name string) flagValues {
	for _, v := range l[:len(l)-1] {
		if v.IsSet(name) {
			return v
		}
	}
	return l[len(l)-1]
}

func (l layered) IsSet(name string) bool             { return l.pick(name).IsSet(name) }
func (l layered) String(name string) string          { return l.pick(name).String(name) }
func (l layered) Int(name string) int                { return l.pick(name).Int(name) }
func (l layered) Bool(name string) bool              { return l.pick(name).Bool(name) }
func (l layered) Duration(name string) time.Duration { return l.pick(name).Duration(name) }
func (l layered) StringSlice(name string) []string   { return l.pick(name).StringSlice(name) }
