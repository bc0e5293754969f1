# Sourced by ci/kernel-check.sh and vhostuser/guest/check-guest.sh: what
# becomes of a conformance run that came back from a QEMU guest, and the
# sim run beside it for ci/differential.sh. Everything goes to OUT as
# NAME-results.db, NAME-output.txt, NAME-report.txt, NAME-junit.xml.

conf_kyua() { kyua --config=none --logfile="$CONF_OUT/kyua.log" "$@"; }
CONF_ALL_RESULTS=passed,skipped,xfail,broken,failed

# conf_target_report NAME OUT RESULTS_DIR: the guest's results.db and
# output.txt (in RESULTS_DIR) as a Kyua report and JUnit in OUT; sets
# CONF_PASSED, CONF_FAILED (failed or broken) and CONF_SKIPPED. Returns 1
# (with the reason) when no results came back or Kyua ran no test.
conf_target_report() {
    local name=$1 res=$3 line
    CONF_OUT=$2
    if [ ! -f "$res/results.db" ]; then
        echo "$name: the guest sent back no Kyua results" >&2
        tail -n 30 "$res/output.txt" 2>/dev/null >&2
        return 1
    fi
    cp "$res/results.db" "$CONF_OUT/$name-results.db"
    cp "$res/output.txt" "$CONF_OUT/$name-output.txt"
    cp "$res/kyua.log" "$CONF_OUT/$name-kyua.log" 2>/dev/null || true
    conf_kyua report --results-file="$CONF_OUT/$name-results.db" --verbose \
        --results-filter="$CONF_ALL_RESULTS" >"$CONF_OUT/$name-report.txt" 2>&1
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

# conf_sim_report BUILD_DIR KYUAFILE: the same programs on the sim target,
# as OUT/sim-report.txt ($VSOCKSIM_KYUA_FILTER applies here too). A fresh
# run every time: Kyua will not write over an earlier results file, and a
# report of that one would compare the targets against an old sim run.
# Returns 1 (with the reason) when Kyua could not run the programs; failed
# cases are no error here (the differential shows them).
conf_sim_report() {
    local build=$1 kyuafile=$2 kyuadir rc=0
    kyuadir=$(dirname "$kyuafile")
    rm -f "$CONF_OUT/sim-results.db" "$CONF_OUT/sim-report.txt"
    (cd "$kyuadir" && conf_kyua -v "test_suites.vsocksim.target=sim" test \
        --kyuafile="$(basename "$kyuafile")" --build-root="$build" \
        --results-file="$CONF_OUT/sim-results.db" ${VSOCKSIM_KYUA_FILTER//,/ } \
        >"$CONF_OUT/sim-output.txt" 2>&1) || rc=$?
    if [ $rc -gt 1 ] || [ ! -s "$CONF_OUT/sim-results.db" ]; then
        echo "conformance: the sim run for the differential failed (kyua exit $rc):" >&2
        tail -n 5 "$CONF_OUT/sim-output.txt" >&2
        return 1
    fi
    conf_kyua report --results-file="$CONF_OUT/sim-results.db" --verbose \
        --results-filter="$CONF_ALL_RESULTS" >"$CONF_OUT/sim-report.txt" 2>&1
}
