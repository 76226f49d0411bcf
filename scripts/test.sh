#!/usr/bin/env bash
# Every test of l2tpctl; this is what CI runs (.ci/run).
#
#   bash scripts/test.sh          as root: everything; otherwise the root tests are skipped
#
# Steps: go version; gofmt; go vet; layering (go list); static build and CLI
# smoke test; macOS cross-build (amd64, arm64); go test ./... (unit tests and the end-to-end tests without root);
# as root, against the SoftEther peer in network namespaces: install
# (scripts/peer-install.sh), start (scripts/peer-up.sh), the SoftEther tests
# (go test -run SoftEther ., with L2TPCTL_E2E=1 and SE_STATE), stop
# (scripts/peer-down.sh, also on any exit); as root, the strongSwan charon
# tests (scripts/charon-install.sh, go test -run Charon ., which make their
# own namespaces ch-srv/ch-cli); every fuzz target briefly
# (scripts/fuzz.sh). It keeps going after a failing step, prints a summary and
# ends with the line "N passed, N failed"; the exit status is 0 only when no
# step failed.
#
# Not root: the SoftEther steps print SKIP locally and FAIL when CI=true.
# A SoftEther peer that is already running (same SE_STATE) is reused and left
# running; one started here is stopped here.
# Env (defaults): SE_STATE (/tmp/l2tpctl-softether) FUZZTIME (3s)
#   FUZZ_BUDGET (240 s) CI; the knobs of scripts/peer-up.sh.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT" || exit 1
MOD=github.com/l2tpctl/l2tpctl

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then PATH=/usr/local/go/bin:$PATH; fi
# go needs a cache dir; CI may start us without HOME.
if [ -z "${HOME:-}" ]; then HOME=$(getent passwd "$(id -u)" | cut -d: -f6); export HOME; fi
export SE_STATE=${SE_STATE:-/tmp/l2tpctl-softether}
export FUZZTIME=${FUZZTIME:-3s}
export FUZZ_BUDGET=${FUZZ_BUDGET:-240}
CI=${CI:-false}
IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1

TMP=$(mktemp -d /tmp/l2tpctl-test.XXXXXX)
BIN=$TMP/l2tpctl
PEER_STARTED=0
T_START=$(date +%s)

# ---------------------------------------------------------------- step bookkeeping
PASS=0; FAIL=0
RESULTS=()
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }
# step NAME CMD...: run CMD, record PASS/FAIL with its duration
step() {
  local name=$1; shift
  local t0 rc
  printf '\n==> %s\n' "$name"
  t0=$(now)
  "$@"; rc=$?
  if [ "$rc" = 0 ]; then
    PASS=$((PASS + 1)); RESULTS+=("PASS  $name ($(since "$t0"))")
    printf -- '--- PASS  %s (%s)\n' "$name" "$(since "$t0")"
  else
    FAIL=$((FAIL + 1)); RESULTS+=("FAIL  $name ($(since "$t0"), exit $rc)")
    printf -- '--- FAIL  %s (%s, exit %s)\n' "$name" "$(since "$t0")" "$rc"
  fi
  return "$rc"
}
skip() {  # skip NAME REASON
  RESULTS+=("SKIP  $1: $2")
  printf '\n==> %s\n--- SKIP  %s: %s\n' "$1" "$1" "$2"
}
failed() {  # failed NAME REASON: a step that cannot run counts as failed
  FAIL=$((FAIL + 1)); RESULTS+=("FAIL  $1: $2")
  printf '\n==> %s\n--- FAIL  %s: %s\n' "$1" "$1" "$2"
}

stop_peer() {
  if [ "$PEER_STARTED" = 1 ]; then
    PEER_STARTED=0
    bash "$HERE/peer-down.sh"
  fi
}
finish() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$PEER_STARTED" = 1 ]; then
    echo "(exit path) stopping the SoftEther peer"
    stop_peer || true
  fi
  rm -rf "$TMP"
  printf '\n==> summary (%ss)\n' "$(( $(date +%s) - T_START ))"
  printf '    %s\n' "${RESULTS[@]}"
  echo "$PASS passed, $FAIL failed"
  if [ "$FAIL" -gt 0 ] || [ "$rc" != 0 ]; then exit 1; fi
  exit 0
}
trap finish EXIT
trap 'echo "interrupted"; FAIL=$((FAIL + 1)); RESULTS+=("FAIL  interrupted"); exit 130' INT TERM

# ---------------------------------------------------------------- steps
go_version() {
  command -v go >/dev/null || { echo "go not found: install Go 1.26 or later"; return 1; }
  go version && go env GOOS GOARCH GOTOOLCHAIN
}

gofmt_check() {
  local files
  files=$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 |
    xargs -0 -r gofmt -l) || return 1
  if [ -n "$files" ]; then
    echo "not gofmt-ed (run gofmt -w on them):"
    printf '%s\n' "$files" | sed 's/^/  /'
    return 1
  fi
}

layering_check() {
  # Direct (non-test) imports of every package, one "pkg imp imp ..." line each.
  local list bad=0 pkg imp
  list=$(go list -f '{{.ImportPath}}{{range .Imports}} {{.}}{{end}}' ./...) || return 1
  while read -r pkg rest; do
    for imp in $rest; do
      case "$pkg" in
        "$MOD"/proto|"$MOD"/proto/*)
          case "$imp" in
            net|os|os/exec|log|log/slog|"$MOD"/tunnel|"$MOD"/tunnel/*|"$MOD"/cmd|"$MOD"/cmd/*)
              echo "$pkg imports $imp (proto/ is pure: no I/O, no logging, no upward imports)"; bad=1;;
          esac;;
      esac
      case "$imp" in
        github.com/songgao/water|github.com/songgao/water/*)
          [ "$pkg" = "$MOD/tunnel" ] || { echo "$pkg imports $imp (only package tunnel may)"; bad=1; };;
        gvisor.dev/gvisor|gvisor.dev/gvisor/*)
          [ "$pkg" = "$MOD/tunnel" ] || { echo "$pkg imports $imp (only package tunnel may)"; bad=1; };;
        golang.org/x/term|github.com/urfave/cli/v2|github.com/urfave/cli/v2/*)
          [ "$pkg" = "$MOD/cmd" ] || { echo "$pkg imports $imp (only package cmd may)"; bad=1; };;
      esac
    done
  done <<< "$list"
  [ "$bad" = 0 ] && echo "layering OK ($(wc -l <<< "$list") packages)"
  [ "$bad" = 0 ]
}

build() {
  rm -f "$BIN"
  CGO_ENABLED=0 go build -o "$BIN" . && ls -l "$BIN"
}

darwin_build() {
  # macOS cannot be tested here; it must at least build (tunnel/tun_darwin.go).
  local arch rc=0
  for arch in amd64 arm64; do
    if CGO_ENABLED=0 GOOS=darwin GOARCH=$arch go build -o "$TMP/l2tpctl-darwin-$arch" . &&
       CGO_ENABLED=0 GOOS=darwin GOARCH=$arch go vet ./...; then
      echo "darwin/$arch: ok"
    else
      echo "darwin/$arch: FAILED"; rc=1
    fi
  done
  return "$rc"
}

cli_smoke() {
  [ -x "$BIN" ] || { echo "no binary (build failed)"; return 1; }
  local args rc=0
  for args in "--help" "connect --help" "probe --help" "profile --help" "version"; do
    # shellcheck disable=SC2086
    if "$BIN" $args < /dev/null > "$TMP/out" 2>&1; then
      echo "l2tpctl $args: ok ($(wc -l < "$TMP/out") lines)"
    else
      echo "l2tpctl $args: FAILED"; sed 's/^/  | /' "$TMP/out"; rc=1
    fi
  done
  sed 's/^/  | /' "$TMP/out"   # the version line
  return "$rc"
}

static_check() {
  [ -x "$BIN" ] || { echo "no binary (build failed)"; return 1; }
  go version -m "$BIN" | grep -qE '^[[:space:]]*build[[:space:]]+CGO_ENABLED=0$' ||
    { echo "go version -m does not show CGO_ENABLED=0"; return 1; }
  # An ELF file with no PT_INTERP and no PT_DYNAMIC program header is static.
  python3 - "$BIN" <<'EOF'
import struct, sys
with open(sys.argv[1], "rb") as f:
    ident = f.read(16)
    if ident[:4] != b"\x7fELF":
        sys.exit("not an ELF file")
    is64, end = ident[4] == 2, "<" if ident[5] == 1 else ">"
    hdr = f.read(48 if is64 else 36)
    if is64:
        phoff, = struct.unpack_from(end + "Q", hdr, 0x20 - 16)
        phentsize, phnum = struct.unpack_from(end + "HH", hdr, 0x36 - 16)
    else:
        phoff, = struct.unpack_from(end + "I", hdr, 0x1C - 16)
        phentsize, phnum = struct.unpack_from(end + "HH", hdr, 0x2A - 16)
    types = []
    for i in range(phnum):
        f.seek(phoff + i * phentsize)
        types.append(struct.unpack(end + "I", f.read(4))[0])
PT_DYNAMIC, PT_INTERP = 2, 3
if PT_INTERP in types or PT_DYNAMIC in types:
    sys.exit("dynamically linked (PT_INTERP/PT_DYNAMIC present)")
print("static: CGO_ENABLED=0, no ELF interpreter, no dynamic section")
EOF
}

unit_tests() {
  # The SoftEther tests (package main, TestSoftEther*) need the peer: they run
  # in their own step below, as do the network namespace tests (TestNetns*).
  # Under CI=true they would fail here, so skip them.
  env -u L2TPCTL_E2E go test -count=1 -timeout 10m -skip '^Test(SoftEther|Charon|Netns)' ./...
}

charon_tests() {
  local list n
  if ! list=$(go test -list 'Charon' . 2>&1); then
    echo "package main does not build its tests:"
    printf '%s\n' "$list" | sed 's/^/  | /'
    return 1
  fi
  n=$(grep -c '^Test' <<< "$list") || true
  if [ "${n:-0}" -eq 0 ]; then
    echo "no charon tests found in package main (expected TestCharon* in e2e_charon_test.go)"
    return 1
  fi
  echo "$n charon tests (namespaces ch-srv/ch-cli, made and removed by the tests)"
  L2TPCTL_E2E=1 go test -count=1 -p 1 -run 'Charon' -v -timeout 10m .
}

softether_tests() {
  local list n
  if ! list=$(go test -list 'SoftEther' . 2>&1); then
    echo "package main does not build its tests:"
    printf '%s\n' "$list" | sed 's/^/  | /'
    return 1
  fi
  n=$(grep -c '^Test' <<< "$list") || true
  if [ "${n:-0}" -eq 0 ]; then
    echo "no SoftEther tests found in package main (expected TestSoftEther* in e2e_softether_test.go)"
    return 1
  fi
  echo "$n SoftEther tests; peer parameters from $SE_STATE/conn.env"
  L2TPCTL_E2E=1 go test -count=1 -p 1 -run 'SoftEther' -v -timeout 15m .
}

peer_running() {  # a vpnserver recorded in $SE_STATE is alive
  local pid
  pid=$(cat "$SE_STATE/vpnserver.pid" 2>/dev/null) && [ -n "$pid" ] &&
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "softether/vpnserver/vpnserver"
}
peer_up() {
  peer_running || PEER_STARTED=1
  bash "$HERE/peer-up.sh"
}

# ---------------------------------------------------------------- run
echo "l2tpctl tests in $ROOT ($(date -u +%FT%TZ), uid $(id -u), CI=$CI)"
if ! step "go version" go_version; then
  echo "no usable Go toolchain: nothing else can run"
  exit 1
fi
step "gofmt" gofmt_check
step "go vet ./..." go vet ./...
step "layering (go list imports)" layering_check
step "CGO_ENABLED=0 go build" build
step "l2tpctl --help, connect --help, probe --help, profile --help, version" cli_smoke
step "static binary" static_check
step "CGO_ENABLED=0 GOOS=darwin go build + vet (amd64, arm64)" darwin_build
step "go test ./... (unit + end-to-end without root)" unit_tests

ROOT_STEPS="SoftEther end-to-end tests"
if [ "$IS_ROOT" = 1 ]; then
  step "install the SoftEther peer (scripts/peer-install.sh)" bash "$HERE/peer-install.sh"
  if step "start the SoftEther peer (scripts/peer-up.sh)" peer_up; then
    step "$ROOT_STEPS (go test -run SoftEther .)" softether_tests
  else
    failed "$ROOT_STEPS" "the peer did not start"
  fi
  step "xl2tpd tunnel authentication (go test -run Xl2tpd ./tunnel)" env L2TPCTL_E2E=1 go test -count=1 -run Xl2tpd -v ./tunnel
  step "tshark decrypts with --keylog, every ESP suite (go test -run KeylogTshark ./tunnel)" env L2TPCTL_E2E=1 go test -count=1 -run KeylogTshark -v ./tunnel
  step "plain ESP in network namespaces (go test -run Netns ./tunnel)" env L2TPCTL_E2E=1 go test -count=1 -p 1 -run '^TestNetns' -v ./tunnel
  if [ "$PEER_STARTED" = 1 ]; then
    step "stop the SoftEther peer (scripts/peer-down.sh)" stop_peer
  else
    skip "stop the SoftEther peer" "it was already running before this run; left running"
  fi
elif [ "$CI" = true ]; then
  failed "$ROOT_STEPS" "CI=true but not root: the root tests cannot run"
else
  skip "$ROOT_STEPS" "not root (run as root to include them)"
fi

CHARON_STEPS="strongSwan charon end-to-end tests"
if [ "$IS_ROOT" = 1 ]; then
  if step "install strongSwan charon (scripts/charon-install.sh)" bash "$HERE/charon-install.sh"; then
    step "$CHARON_STEPS (go test -run Charon .)" charon_tests
  else
    failed "$CHARON_STEPS" "charon could not be installed"
  fi
elif [ "$CI" = true ]; then
  failed "$CHARON_STEPS" "CI=true but not root: the root tests cannot run"
else
  skip "$CHARON_STEPS" "not root (run as root to include them)"
fi

step "fuzz every target for $FUZZTIME (scripts/fuzz.sh)" bash "$HERE/fuzz.sh"
