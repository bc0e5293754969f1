# Sourced by ci/kernel-check.sh and vhostuser/guest/check-guest.sh: what
# becomes of a conformance run that came back from a QEMU guest, the sim run
# beside it, and the referee that lines them up. Everything goes to OUT (one
# directory per kernel) as NAME-results.db, NAME-output.txt, NAME-report.txt,
# NAME-junit.xml. $VSOCKSIM_LINUX (6.1 or 6.12) is the kernel the guest
# booted and the Linux profile the sim run follows.

conf_kyua() { kyua --config=none --logfile="$CONF_OUT/kyua.log" "$@"; }
CONF_ALL_RESULTS=passed,skipped,xfail,broken,failed

# conf_target_report NAME OUT RESULTS_DIR PACKAGE: the guest's results.db
# and output.txt (in RESULTS_DIR) as a Kyua report and JUnit in OUT; the
# report's first line names the kernel package it ran on (PACKAGE: "NAME
# VERSION", from the image) and the guest's uname -r. Sets CONF_PASSED,
# CONF_FAILED (failed or broken) and CONF_SKIPPED. Returns 1 (with the
# reason) when no results came back or Kyua ran no test.
conf_target_report() {
    local name=$1 res=$3 pkg=$4 line rel
    CONF_OUT=$2
    if [ ! -f "$res/results.db" ]; then
        echo "$name: the guest sent back no Kyua results" >&2
        tail -n 30 "$res/output.txt" 2>/dev/null >&2
        return 1
    fi
    cp "$res/results.db" "$CONF_OUT/$name-results.db"
    cp "$res/output.txt" "$CONF_OUT/$name-output.txt"
    cp "$res/kyua.log" "$CONF_OUT/$name-kyua.log" 2>/dev/null || true
    rel=$(cat "$res/kernel-release" 2>/dev/null || echo unknown)
    echo "$pkg (uname -r: $rel)" >"$CONF_OUT/$name-kernel.txt"
    { echo "Kernel: $pkg (uname -r in the guest: $rel)"
      conf_kyua report --results-file="$CONF_OUT/$name-results.db" --verbose \
        --results-filter="$CONF_ALL_RESULTS" 2>&1
    } >"$CONF_OUT/$name-report.txt"
    conf_kyua report-junit --results-file="$CONF_OUT/$name-results.db" \
        --output="$CONF_OUT/$name-junit.xml" >/dev/null 2>&1
    line=$(grep -E '^[0-9]+/[0-9]+ passed' "$CONF_OUT/$name-output.txt" | tail -n1)
    if [ -z "$line" ]; then
        echo "$name: kyua in the guest ran no test" >&2
        tail -n 30 "$CONF_OUT/$name-output.txt" >&2
        return 1
    fi
    # Kyua's closing line counts skips as passes: count each verdict instead.
    CONF_PASSED=$(grep -cE -e '->  passed' "$CONF_OUT/$name-output.txt" || true)
    CONF_SKIPPED=$(grep -cE -e '->  skipped' "$CONF_OUT/$name-output.txt" || true)
    CONF_FAILED=$(grep -cE -e '->  (failed|broken)' "$CONF_OUT/$name-output.txt" || true)
}

# conf_print_failures NAME: the failed and broken cases' details.
conf_print_failures() {
    conf_kyua report --results-file="$CONF_OUT/$1-results.db" --results-filter=broken,failed 2>/dev/null |
        sed -n '/^===> \(Failed\|Broken\) tests/,/^===> Summary/p' | grep -v '^===> Summary' | head -n 100
}

# conf_print_skips NAME PREFIX: every skip reason with its count (the
# case's own name taken out of "CASE applies to ..., not to target T").
conf_print_skips() {
    grep -E -e '->  skipped' "$CONF_OUT/$1-output.txt" |
        sed -E 's/.*->  skipped: //; s/ +\[[0-9.]+s\]$//; s/^[A-Za-z0-9_.-]+ applies to /the case applies to /' |
        sort | uniq -c | sort -rn | sed "s/^ */$2/"
}

# conf_sim_report NAME BUILD_DIR KYUAFILE: the same programs on the sim
# target, with the Linux profile $VSOCKSIM_LINUX, as OUT/NAME-report.txt
# ($VSOCKSIM_KYUA_FILTER applies here too). NAME keeps the run beside make
# check-kernel (sim-kernel) apart from the one beside make check-guest
# (sim-guest). A fresh run every time: Kyua will not write over an earlier
# results file, and a report of that one would compare the targets against
# an old sim run. Returns 1 (with the reason) when Kyua could not run the
# programs; failed cases are no error here (the referee shows them).
conf_sim_report() {
    local name=$1 build=$2 kyuafile=$3 kyuadir rc=0
    kyuadir=$(dirname "$kyuafile")
    rm -f "$CONF_OUT/$name-results.db" "$CONF_OUT/$name-report.txt"
    (cd "$kyuadir" && conf_kyua -v "test_suites.vsocksim.target=sim" \
        -v "test_suites.vsocksim.linux=${VSOCKSIM_LINUX:-6.1}" test \
        --kyuafile="$(basename "$kyuafile")" --build-root="$build" \
        --results-file="$CONF_OUT/$name-results.db" ${VSOCKSIM_KYUA_FILTER//,/ } \
        >"$CONF_OUT/$name-output.txt" 2>&1) || rc=$?
    if [ $rc -gt 1 ] || [ ! -s "$CONF_OUT/$name-results.db" ]; then
        echo "conformance: the sim run for the referee failed (kyua exit $rc):" >&2
        tail -n 5 "$CONF_OUT/$name-output.txt" >&2
        return 1
    fi
    { echo "Linux profile: ${VSOCKSIM_LINUX:-6.1} (the sim target's model)"
      conf_kyua report --results-file="$CONF_OUT/$name-results.db" --verbose \
        --results-filter="$CONF_ALL_RESULTS" 2>&1
    } >"$CONF_OUT/$name-report.txt"
}

# conf_referee TARGET PACKAGE: vsocksim-referee ($VSOCKSIM_REFEREE) on the
# sim run beside TARGET (kernel or guest) and TARGET's report, with the
# other real target's last report as a column for reference; writes
# OUT/differential-TARGET.md and .tsv and prints every unexplained
# difference. Returns the referee's status: 0 all explained, 1 some
# unexplained, 2 it could not judge (said why).
conf_referee() {
    local target=$1 pkg=$2 rc=0 known
    known=$(cd "$(dirname "${BASH_SOURCE[0]}")/../conformance" && pwd)/known-differences.txt
    "${VSOCKSIM_REFEREE:?the referee program}" --sim "$CONF_OUT/sim-$target-report.txt" \
        --kernel "$CONF_OUT/kernel-report.txt" --guest "$CONF_OUT/guest-report.txt" \
        --judge "$target" --linux "${VSOCKSIM_LINUX:-6.1}" --package "$pkg" \
        --known "$known" \
        --out "$CONF_OUT/differential-$target" || rc=$?
    return $rc
}
