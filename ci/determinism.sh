#!/usr/bin/env bash
# Cross-compiler, cross-optimisation determinism: the same seed and options
# must give the same trace, byte for byte, whoever compiled vsocksim and how.
# Builds vsocksim four ways through the Makefile (gcc and clang, -O0 and -O2,
# in build/$BUILD_PREFIX<cc>-<mode>/), records a trace of every built-in
# scenario for a few seeds, with faults all=0.002 and with the scenario's
# default faults (Linux 6.1's rules), and with faults all=0.002 under Linux
# 6.12's (--linux 6.12), and requires the four traces of each run to be
# identical.
# Usage: ci/determinism.sh [SEEDS]     (SEEDS: how many, from 1; default 5)
# Exit status: 0 when every run matched, 1 otherwise (each difference is
# named, with the first differing lines), 2 when a build failed.
set -uo pipefail
cd "$(dirname "$0")/.."

seeds=${1:-5}
prefix=${BUILD_PREFIX:-}
# A clean build of each: nothing of a calling make's options (CC, MODE, -j)
# leaks in.
unset MAKEFLAGS MFLAGS MAKELEVEL
builds=("gcc debug" "gcc release" "clang debug" "clang release")
scenarios=(echo bulk churn seqpacket mixed reset-storm)
# fault spec and profile of each run
faults=("all=0.002" "default" "all=0.002@6.12")

for b in "${builds[@]}"; do
    read -r cc mode <<<"$b"
    if ! make --no-print-directory -j"$(nproc)" CC="$cc" MODE="$mode" BUILD_PREFIX="$prefix" \
            "build/$prefix$cc-$mode/vsocksim" >/dev/null; then
        echo "determinism: building vsocksim with CC=$cc MODE=$mode failed" >&2
        exit 2
    fi
done

out=$(mktemp -d "${TMPDIR:-/tmp}/vsocksim-determinism.XXXXXX")
trap 'rm -rf "$out"' EXIT

passed=0
failed=0
for sc in "${scenarios[@]}"; do
    for f in "${faults[@]}"; do
        fargs=()
        spec=${f%@*}
        [ "$spec" = default ] || fargs=(--faults "$spec")
        [ "$spec" = "$f" ] || fargs+=(--linux "${f#*@}")
        for ((seed = 1; seed <= seeds; seed++)); do
            ref=
            ok=1
            for b in "${builds[@]}"; do
                read -r cc mode <<<"$b"
                name="$cc-$mode"
                t="$out/$sc.$f.$seed.$name.trace"
                bin="build/$prefix$name/vsocksim"
                # The run's own result does not matter here (a violation is
                # a trace too); only that every build recorded the same one.
                "$bin" run --scenario "$sc" --seed "$seed" "${fargs[@]}" \
                    --trace "$t" --quiet >/dev/null 2>"$t.err"
                rc=$?
                if [ ! -s "$t" ] || [ $rc -ge 2 ]; then
                    echo "determinism: $sc seed $seed faults $f: $name recorded no trace (exit $rc):" \
                         "$(head -n1 "$t.err")" >&2
                    ok=0
                    continue
                fi
                if [ -z "$ref" ]; then
                    ref=$t
                    refname=$name
                elif ! cmp -s "$ref" "$t"; then
                    echo "determinism: $sc seed $seed faults $f: traces of $refname and $name differ:" >&2
                    diff "$ref" "$t" | head -n 6 >&2
                    ok=0
                fi
            done
            if [ $ok -eq 1 ]; then
                passed=$((passed + 1))
            else
                failed=$((failed + 1))
            fi
        done
    done
done

echo "determinism: $passed passed, $failed failed"
[ $failed -eq 0 ]
