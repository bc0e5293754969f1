#!/usr/bin/env bash
# Runs the Kyua suite against one build directory, keeps Kyua's store and logs
# there, writes a JUnit file, and fails when any case failed or broke.
# The tests that run the program find it through the ATF config variable
# test_suites.vsocksim.vsocksim (an absolute path: each case runs in its own
# temporary directory).
# Usage: ci/kyua-run.sh BUILD_DIR LABEL [kyua -v options...]
set -uo pipefail
b=$1; label=$2; shift 2
b=$(cd "$b" && pwd) || { echo "$label: no build directory" >&2; exit 1; }
db="$b/kyua-results.db"
rm -f "$db"
out=$(kyua --config=none --logfile="$b/kyua.log" -v "test_suites.vsocksim.vsocksim=$b/vsocksim" "$@" \
        test --kyuafile=Kyuafile --build-root="$b" --results-file="$db" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -vE -e '->  passed' || true
kyua --config=none --logfile="$b/kyua.log" report-junit --results-file="$db" --output="$b/junit.xml" >/dev/null 2>&1 || true
last=$(printf '%s\n' "$out" | grep -E '^[0-9]+/[0-9]+ passed' | tail -n1)
if [ -z "$last" ]; then
    echo "$label: kyua ran no test (see $b/kyua.log)" >&2
    exit 1
fi
passed=$(sed -E 's@^([0-9]+)/([0-9]+) passed.*@\1@' <<<"$last")
total=$(sed -E 's@^([0-9]+)/([0-9]+) passed.*@\2@' <<<"$last")
skipped=$(printf '%s\n' "$out" | grep -cE -e '->  skipped' || true)
# Kyua's "N/M passed" counts skipped cases among the passed ones.
failed=$((total - passed))
passed=$((passed - skipped))
echo "$label: $passed passed, $failed failed, $skipped skipped"
if [ $rc -ne 0 ]; then
    kyua --config=none --logfile="$b/kyua.log" report --results-file="$db" --verbose \
        --results-filter=broken,failed 2>/dev/null | head -n 200
    exit 1
fi
exit 0
