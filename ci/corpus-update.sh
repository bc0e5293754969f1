#!/usr/bin/env bash
# Re-records every trace of traces/corpus from its own header (seed, scenario,
# faults, options), after an intended change of behaviour. Review the diff.
# A trace listed as input-ok in the INDEX came from a fuzzer's input: it is
# re-recorded from that input (traces/fuzz/regressions/sim/NAME for
# fuzz-NAME.trace) by the plain sim harness.
set -euo pipefail
cd "$(dirname "$0")/.."
vsocksim=${1:-build/cc-release/vsocksim}
sim_prog=${2:-$(dirname "$vsocksim")/fuzz/sim_prog}
for t in traces/corpus/*.trace; do
    if awk -v f="$(basename "$t")" '$1 == f && $2 == "input-ok" { found = 1 } END { exit !found }' \
        traces/corpus/INDEX; then
        name=$(basename "$t" .trace); name=${name#fuzz-}
        "$sim_prog" --trace "$t" "traces/fuzz/regressions/sim/$name" >/dev/null ||
            { echo "corpus-update: $sim_prog could not re-record $t (see above)" >&2; exit 1; }
        echo "re-recorded $t from traces/fuzz/regressions/sim/$name"
        continue
    fi
    args=$(awk '
        $1 == "seed" { printf "--seed %s ", $2 }
        $1 == "scenario" { sc = $2 }
        $1 == "option" && $2 == "scenario-file" { file = $3 }
        $1 == "option" && $2 ~ /^fault-/ && $2 != "fault-window-ms" {
            f = f (f ? "," : "") substr($2, 7) "=" $3 }
        $1 == "option" && $2 == "steps" && $3 != "0" { printf "--steps %s ", $3 }
        $1 == "option" && $2 == "fault-window-ms" && $3 != "0" { printf "--fault-window-ms %s ", $3 }
        $1 == "option" && $2 == "liveness-ms" && $3 != "0" { printf "--liveness-ms %s ", $3 }
        $1 == "option" && $2 == "linux" { printf "--linux %s ", $3 }
        $1 == "option" && $2 ~ /^deviate-/ { d = d (d ? "," : "") substr($2, 9) }
        $1 == "begin" { exit }
        END { printf "%s --faults %s%s", (file ? "--scenario-file " file : "--scenario " sc), (f ? f : "none"),
                  (d ? " --deviate " d : "") }
    ' "$t")
    # shellcheck disable=SC2086
    "$vsocksim" run $args --trace "$t" --quiet || true
    echo "re-recorded $t"
done
