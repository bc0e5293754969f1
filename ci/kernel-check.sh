#!/usr/bin/env bash
# make check-kernel: the conformance programs run with target=kernel inside
# the QEMU guest (ci/qemu-run.sh --run kernel); their Kyua results database
# comes back over the second serial port and becomes, on the host, a Kyua
# report and a JUnit file. The same programs then run here with target=sim,
# and ci/differential.sh lines the two up.
#
# Usage: ci/kernel-check.sh GUEST_DIR OUT_DIR BUILD_DIR KYUAFILE TIMEOUT
#   $VSOCKSIM_KYUA_FILTER (comma-separated kyua filters) limits both runs.
#   OUT_DIR gets kernel-results.db, kernel-report.txt, kernel-junit.xml,
#   kernel-output.txt, sim-results.db, sim-report.txt, differential.md/.tsv
# Fails when the guest did not finish, when a case failed or broke on the
# kernel target, or when a sim-vs-kernel disagreement is unexplained.
set -uo pipefail
VSOCKSIM_KYUA_FILTER=${VSOCKSIM_KYUA_FILTER:-}
guest=${1:?usage: kernel-check.sh GUEST_DIR OUT_DIR BUILD_DIR KYUAFILE TIMEOUT}
out=${2:?}
build=${3:?}
kyuafile=${4:?}
timeout_s=${5:-600}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
build=$(cd "$build" && pwd)
k() { kyua --config=none --logfile="$out/kyua.log" "$@"; }
all=passed,skipped,xfail,broken,failed

t0=$(date +%s%N)
"$here/qemu-run.sh" --timeout "$timeout_s" --run kernel "$guest"
qrc=$?
t1=$(date +%s%N)
if [ $qrc -eq 1 ]; then
    echo "check-kernel: FAILED: the guest did not finish (see $guest/console.log)" >&2
    exit 1
fi
res=$guest/results
if [ ! -f "$res/results.db" ]; then
    echo "check-kernel: FAILED: the guest sent back no Kyua results" >&2
    cat "$res/output.txt" 2>/dev/null | tail -n 30 >&2
    exit 1
fi
cp "$res/results.db" "$out/kernel-results.db"
cp "$res/output.txt" "$out/kernel-output.txt"
cp "$res/kyua.log" "$out/kernel-kyua.log" 2>/dev/null || true
k report --results-file="$out/kernel-results.db" --verbose --results-filter="$all" >"$out/kernel-report.txt" 2>&1
k report-junit --results-file="$out/kernel-results.db" --output="$out/kernel-junit.xml" >/dev/null 2>&1
line=$(grep -E '^[0-9]+/[0-9]+ passed' "$out/kernel-output.txt" | tail -n1)
[ -n "$line" ] || { echo "check-kernel: FAILED: kyua in the guest ran no test" >&2; tail -n 30 "$out/kernel-output.txt" >&2; exit 1; }

# The same programs on the sim target, for the differential report.
kyuadir=$(dirname "$kyuafile")
(cd "$kyuadir" && k -v "test_suites.vsocksim.target=sim" test --kyuafile="$(basename "$kyuafile")" \
    --build-root="$build" --results-file="$out/sim-results.db" ${VSOCKSIM_KYUA_FILTER//,/ } \
    >"$out/sim-output.txt" 2>&1)
k report --results-file="$out/sim-results.db" --verbose --results-filter="$all" >"$out/sim-report.txt" 2>&1
"$here/differential.sh" "$out/sim-report.txt" "$out/kernel-report.txt" "$out/differential"
# Every disagreement is explained (known-differences.txt, or a case that
# does not apply to the target) or it fails the run.
"$here/differential-explain.sh" "$out/differential.tsv" "$here/../conformance/known-differences.txt" \
    "$out/explain.md"
erc=$?
{ echo; cat "$out/explain.md"; } >>"$out/differential.md"

# Kyua's closing line counts skips as passes: count each verdict instead.
passed=$(grep -cE -e '->  passed' "$out/kernel-output.txt" || true)
skipped=$(grep -cE -e '->  skipped' "$out/kernel-output.txt" || true)
failed=$(grep -cE -e '->  (failed|broken)' "$out/kernel-output.txt" || true)
secs=$(( (t1 - t0) / 1000000 ))
printf 'check-kernel: kernel target: %d passed, %d failed, %d skipped (guest run %d.%03d s); report %s, JUnit %s\n' \
    "$passed" "$failed" "$skipped" $((secs / 1000)) $((secs % 1000)) "$out/kernel-report.txt" "$out/kernel-junit.xml"
if [ "$failed" -ne 0 ] || [ $qrc -ne 0 ] || [ $erc -ne 0 ]; then
    [ $erc -eq 0 ] || echo "check-kernel: unexplained differences between sim and kernel (see $out/differential.md)"
    k report --results-file="$out/kernel-results.db" --results-filter=broken,failed 2>/dev/null |
        sed -n '/^===> \(Failed\|Broken\) tests/,/^===> Summary/p' | grep -v '^===> Summary' | head -n 100
    echo "(each case's packets: vsocksim-pkt lines in $out/kernel-report.txt; sim vs kernel: $out/differential.md)"
    echo "check-kernel: FAILED"
    exit 1
fi
echo "check-kernel: passed"
