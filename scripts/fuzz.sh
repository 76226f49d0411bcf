#!/usr/bin/env bash
# Run every Go fuzz target in the module for a short time.
#
#   bash scripts/fuzz.sh                 each target for $FUZZTIME (default 5s)
#   bash scripts/fuzz.sh 60              each target for 60 seconds (overrides FUZZTIME)
#   FUZZTIME=1m bash scripts/fuzz.sh     the same as 60
#   bash scripts/fuzz.sh FuzzParseAVP    only targets whose name matches this regexp
#   bash scripts/fuzz.sh 60 'Handle$'    both
#
# Targets are found with go list (the packages and their test files) and grep
# (`func FuzzXxx(`); each runs as
#   go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime $FUZZTIME \
#     -fuzzminimizetime $FUZZMINIMIZETIME <package>
# FUZZMINIMIZETIME (default 2s) bounds how long Go minimises each new
# interesting input (its default, 60s, can take a short run's whole time
# with nothing executed: a target that finds new coverage in a 64 KiB input
# stood still for most of a 20 s run).
# Each target compiles its own instrumented test binary, so allow a few seconds
# per target on top of FUZZTIME. FUZZ_BUDGET (seconds, default 0 = none): do
# not start another target once this much time has passed (those are listed
# as skipped). A failing input is written by Go to the package's
# testdata/fuzz/FuzzXxx/ directory: commit it as a regression seed once fixed.
# The seed corpora also run as plain tests in `go test ./...`.
# Prints one PASS/FAIL line per target, with its executions per second as the
# fuzzer reported them last (docs/testing.md has a table; every target should
# manage several thousand), and ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then PATH=/usr/local/go/bin:$PATH; fi
FUZZTIME=${FUZZTIME:-5s}
FUZZ_BUDGET=${FUZZ_BUDGET:-0}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-2s}
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
  FUZZTIME=${1}s
  shift
fi
FILTER=${1:-.}

pkgs=$(go list -f '{{.ImportPath}}|{{.Dir}}|{{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' ./...) || {
  echo "fuzz: go list failed"; echo "0 passed, 1 failed"; exit 1; }

targets=()   # "importpath name"
while IFS='|' read -r ip dir files; do
  for f in $files; do
    while read -r name; do
      [ -n "$name" ] && [[ $name =~ $FILTER ]] && targets+=("$ip $name")
    done < <(sed -nE 's/^func (Fuzz[[:alnum:]_]*)\(.*/\1/p' "$dir/$f")
  done
done <<< "$pkgs"

if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets found"
  echo "0 passed, 0 failed"
  exit 0
fi
echo "fuzz: ${#targets[@]} targets, -fuzztime $FUZZTIME each"

pass=0; fail=0; skipped=0
start=$(date +%s)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in "${targets[@]}"; do
  ip=${t% *}; name=${t#* }
  if [ "$FUZZ_BUDGET" -gt 0 ] && [ $(( $(date +%s) - start )) -ge "$FUZZ_BUDGET" ]; then
    echo "SKIP  $name ($ip): FUZZ_BUDGET of ${FUZZ_BUDGET}s used up"
    skipped=$((skipped + 1))
    continue
  fi
  t0=$(date +%s)
  ok=0
  for try in 1 2 3; do
    if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "$ip" > "$out" 2>&1; then
      ok=1
      break
    fi
    # Go's fuzzer sometimes reports its own -fuzztime deadline as a failure
    # ("context deadline exceeded") with no failing input; run such a
    # target once more. A real finding always writes a failing input.
    if [ "$try" -lt 3 ] && grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
      echo "note  $name: the fuzzer's deadline race (no failing input); running it again"
      continue
    fi
    break
  done
  # The last progress line, "fuzz: elapsed: 3s, execs: 12345 (4115/sec), …",
  # has the rate of its last interval; the overall rate is execs/elapsed.
  rate=$(sed -nE 's/^fuzz: elapsed: ([0-9]+)s, execs: ([0-9]+) .*/\1 \2/p' "$out" | tail -n 1 |
    awk '$1 > 0 { printf "%d execs/s", $2 / $1 }')
  if [ "$ok" = 1 ]; then
    pass=$((pass + 1))
    echo "PASS  $name ($ip, $(( $(date +%s) - t0 ))s${rate:+, $rate})"
  else
    fail=$((fail + 1))
    echo "FAIL  $name ($ip, $(( $(date +%s) - t0 ))s)"
    tail -n 40 "$out" | sed 's/^/      | /'
  fi
done
[ "$skipped" -eq 0 ] || echo "fuzz: $skipped targets skipped (budget)"
echo "fuzz: total $(( $(date +%s) - start ))s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
