#!/usr/bin/env bash
# Prints one line from an afl-fuzz fuzzer_stats file (run time, executions,
# exec/s, edges, crashes, hangs) and fails when the run saved crashes.
# Usage: fuzz/fuzz-stats.sh OUT/default/fuzzer_stats NAME
set -uo pipefail
f=$1; name=$2
[ -f "$f" ] || { echo "fuzz: $name: no fuzzer_stats (afl-fuzz did not start; see its log)"; exit 1; }
v() { sed -nE "s/^$1 *: *//p" "$f" | head -n1; }
start=$(v start_time); last=$(v last_update)
crashes=$(v saved_crashes); hangs=$(v saved_hangs)
echo "fuzz: $name: $((last - start)) s, $(v execs_done) execs, $(v execs_per_sec) exec/s," \
     "edges $(v edges_found)/$(v total_edges), corpus $(v corpus_count), crashes $crashes, hangs $hangs"
if [ "${crashes:-0}" != 0 ]; then
    d=$(dirname "$f")/crashes
    echo "fuzz: $name: crashes in $d; replay one with the plain harness program, e.g."
    echo "  build/clang-asan/fuzz/${name}_prog $(ls "$d" | grep -v README | head -n1 | sed "s|^|$d/|")"
    exit 1
fi
exit 0
