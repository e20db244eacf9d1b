#!/usr/bin/env bash
# Runs test files again and again under Node and Bun, unloaded or with the CPU squeezed, and
# counts the green runs: the check that a test does not depend on how fast the machine is.
#
#   bash scripts/repeat_tests.sh [--runs N] [--squeeze [--hogs N]] [--runtime node|bun|both] FILE...
#
# --squeeze pins the test process and everything it starts (servers, child processes) to CPU 0
# with `taskset -c 0`, beside N busy loops pinned to the same CPU (default 4): the tests get
# about a fifth of one core, a machine about 10x slower than this 2-core one. Prints one line
# per run and a closing 'N passed, N failed'.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=20 squeeze=0 hogs=4 runtime=both files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --squeeze) squeeze=1; shift ;;
    --hogs) hogs="$2"; shift 2 ;;
    --runtime) runtime="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) files+=("$1"); shift ;;
  esac
done
[ ${#files[@]} -gt 0 ] || { echo "repeat_tests: name at least one test file" >&2; exit 2; }
BUN="${BUN:-node_modules/.bin/bun}"
runtimes=()
case "$runtime" in
  node) runtimes=(node) ;; bun) runtimes=(bun) ;; both) runtimes=(node bun) ;;
  *) echo "repeat_tests: --runtime node, bun or both" >&2; exit 2 ;;
esac

hog_pids=()
pin=()
if [ "$squeeze" = 1 ]; then
  command -v taskset >/dev/null || { echo "repeat_tests: --squeeze needs taskset (util-linux)" >&2; exit 2; }
  for _ in $(seq 1 "$hogs"); do
    taskset -c 0 bash -c 'while :; do :; done' &
    hog_pids+=($!)
  done
  trap 'kill "${hog_pids[@]}" 2>/dev/null' EXIT
  pin=(taskset -c 0)
fi
echo "repeat_tests: $runs run(s) of ${files[*]} under ${runtimes[*]}$([ "$squeeze" = 1 ] && echo ", squeezed onto CPU 0 beside $hogs busy loops")" >&2
grep -m1 -o 'model name.*' /proc/cpuinfo >&2 || true

passed=0 failed=0
log="$(mktemp)"
for r in "${runtimes[@]}"; do
  for i in $(seq 1 "$runs"); do
    started=$(date +%s)
    if [ "$r" = node ]; then
      "${pin[@]}" node --test --test-concurrency=1 "${files[@]}" >"$log" 2>&1
    else
      "${pin[@]}" "$BUN" test --timeout 120000 "${files[@]}" >"$log" 2>&1
    fi
    status=$?
    if [ $status -eq 0 ]; then
      passed=$((passed + 1)); echo "$r run $i: pass ($(( $(date +%s) - started )) s)"
    else
      failed=$((failed + 1)); echo "$r run $i: FAIL ($(( $(date +%s) - started )) s)"
      grep -E 'not ok|✗|\(fail\)|Error|error:' "$log" | head -20
    fi
  done
done
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
