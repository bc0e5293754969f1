#!/usr/bin/env bash
# Runs afl-fuzz on one harness for a while and prints its summary line
# (fuzz/fuzz-stats.sh); fails when the run did not start or saved crashes.
# Usage: fuzz/fuzz-run.sh NAME SECONDS OUT_DIR PROGRAM
#
# afl-fuzz binds itself, and so the harness, to one free CPU core. On this
# kind of virtual machine that is worth 4-10x: a persistent-mode round trip
# is four context switches between afl-fuzz, the fork server and the
# harness, and when the scheduler spreads them over two cores each one is a
# cross-CPU wakeup (measured: the empty harness at 27k exec/s bound, 4-7k
# unbound). When every core is already taken by other bound fuzzers
# afl-fuzz refuses to bind; the run then goes on unbound, with a warning.
set -uo pipefail
name=$1; seconds=$2; out=$3; prog=$4
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_ALLOW_TMP=1

seeds=traces/fuzz/$name
if [ "$name" = empty ]; then
    seeds=$out/empty-seed
    mkdir -p "$seeds" && echo x > "$seeds/x"
fi
dict=()
[ -f "traces/fuzz/$name.dict" ] && dict=(-x "traces/fuzz/$name.dict")
log=$out/$name.log

run() {
    rm -rf "${out:?}/$name"
    afl-fuzz -V "$seconds" -i "$seeds" -o "$out/$name" "${dict[@]}" -- "$prog" > "$log" 2>&1
}

echo "fuzz: $name for $seconds s -> $out/$name"
run
if [ ! -f "$out/$name/default/fuzzer_stats" ] && grep -q 'CPU cores on your system are allocated' "$log"; then
    echo "fuzz: $name: every CPU core is taken by other bound fuzzers; running unbound (slower)"
    AFL_NO_AFFINITY=1 run
fi
exec fuzz/fuzz-stats.sh "$out/$name/default/fuzzer_stats" "$name"
