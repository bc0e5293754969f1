#!/usr/bin/env bash
# Runs every benchmark, prints one table, and writes build/bench/results.tsv
# (build/bench/smoke.tsv for a smoke run) and build/bench/scaling.svg.
# Usage: bench/run.sh BUILD_DIR full|smoke
#   full   the real measurement (a few minutes; downloads Linux's ringtest once)
#   smoke  the same programs with tiny parameters, in seconds (for CI); the
#          ringtest comparison runs only if ringtest was already built
set -euo pipefail

b=${1:?usage: bench/run.sh BUILD_DIR full|smoke}
mode=${2:?usage: bench/run.sh BUILD_DIR full|smoke}
case "$mode" in full|smoke) ;; *) echo "bench: mode must be full or smoke" >&2; exit 2 ;; esac
out=build/bench
mkdir -p "$out"
tsv="$out/results.tsv"
svg="$out/scaling.svg"
if [ "$mode" = smoke ]; then tsv="$out/smoke.tsv"; svg="$out/smoke-scaling.svg"; fi
smoke=(); [ "$mode" = smoke ] && smoke=(--smoke)
rows=$(mktemp); trap 'rm -f "$rows" "$rows".*' EXIT

ncpu=$(nproc)
model=$(lscpu | sed -n 's/^Model name: *//p' | head -n1)
host_cpu=$((ncpu - 1)); guest_cpu=0
aff=(); [ "$ncpu" -gt 1 ] && aff=(--host-affinity "$host_cpu" --guest-affinity "$guest_cpu")

# ---- the ring, one thread -------------------------------------------------------
if [ "$mode" = smoke ]; then
    "$b/bench/ringbench" roundtrip --iters 200000 --reps 1 >>"$rows"
else
    "$b/bench/ringbench" roundtrip --iters 20000000 --reps 7 >>"$rows"
fi

# ---- the ring, two threads, against ringtest's virtio_ring_0_9 ------------------
# Both are timed the same way, as whole processes (ringtest prints nothing),
# interleaved so that load from elsewhere hits both alike; min and median.
wall_ns() { # command... -> ns on stdout
    local t0=$EPOCHREALTIME
    "$@" >/dev/null
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f\n", (b - a) * 1e9 }'
}
stats() { # file -> "min median"
    sort -n "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print v[1], m }'
}
ringtest=""
if [ "$mode" = full ]; then
    ringtest=$(bench/ringtest.sh "$out/ringtest")
elif [ -x "$out/ringtest/linux-source-6.1/tools/virtio/ringtest/virtio_ring_0_9" ]; then
    ringtest="$out/ringtest/linux-source-6.1/tools/virtio/ringtest/virtio_ring_0_9"
fi
cycles=1000000; runs=9
[ "$mode" = smoke ] && { cycles=20000; runs=1; }
params=(--ring-size 256 --run-cycles "$cycles" "${aff[@]}")
: >"$rows.ours"; : >"$rows.theirs"
for _ in $(seq "$runs"); do
    wall_ns "$b/bench/ringbench" threads "${params[@]}" >>"$rows.ours"
    [ -n "$ringtest" ] && wall_ns "$ringtest" "${params[@]}" >>"$rows.theirs"
done
read -r omin omed < <(stats "$rows.ours")
note="ring 256, $cycles buffers, whole process, $runs runs interleaved, ${aff[*]:-no affinity}"
if [ -n "$ringtest" ]; then
    read -r tmin tmed < <(stats "$rows.theirs")
    ver=$(cat "$(dirname "$ringtest")/../../../VERSION" 2>/dev/null || echo linux-source-6.1)
    awk -v o="$omin" -v t="$tmin" -v c="$cycles" -v n="$note (min); ringtest from $ver" 'BEGIN {
        printf "ring\tthreads_min\t%.6g\tns/buf\t%.6g\tns/buf(ringtest)\t%.4f\t%s\n", o / c, t / c, o / t, n }' >>"$rows"
    awk -v o="$omed" -v t="$tmed" -v c="$cycles" -v n="$note (median)" 'BEGIN {
        printf "ring\tthreads_median\t%.6g\tns/buf\t%.6g\tns/buf(ringtest)\t%.4f\t%s\n", o / c, t / c, o / t, n }' >>"$rows"
else
    awk -v o="$omin" -v c="$cycles" -v n="$note (min); ringtest not built (make bench builds it)" 'BEGIN {
        printf "ring\tthreads_min\t%.6g\tns/buf\t-\t-\t-\t%s\n", o / c, n }' >>"$rows"
fi

# ---- the stack and the simulator ----------------------------------------------------
for what in datapath sim memory scaling; do
    "$b/bench/simbench" "$what" "${smoke[@]}" >>"$rows"
done

# ---- outputs --------------------------------------------------------------------------
{
    printf '# vsocksim bench (%s) %s\n' "$mode" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '# machine: %s CPUs, %s; compiler: %s; load average at the end: %s\n' "$ncpu" "$model" "$(basename "$b")" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf '# single-thread figures are timed by thread CPU time (= wall time on an idle core);\n'
    printf '# the two-thread ring figures by wall time, as ringtest is timed\n'
    printf 'section\tname\tvalue\tunit\treference\tref_unit\tratio\tnote\n'
    cat "$rows"
} >"$tsv"

awk -F'\t' '
    /^#/ { print; next }
    $1 == "section" { printf "%-12s %-30s %14s %-9s %14s %-20s %8s\n", "section", "name", "value", "unit", "reference", "", "ratio"; next }
    { printf "%-12s %-30s %14s %-9s %14s %-20s %8s\n", $1, $2, $3, $4, $5, $6, $7 }
' "$tsv"
echo "bench: wrote $tsv"

if command -v gnuplot >/dev/null; then
    awk -F'\t' '$1 == "scale_conns" { split($2, a, "="); print a[2], $3, $5 }' "$rows" >"$rows.conns"
    awk -F'\t' '$1 == "scale_ring" { split($2, a, "="); print a[2], $3, $5 }' "$rows" >"$rows.ring"
    gnuplot <<EOF
set terminal svg size 1000,420 dynamic font "DejaVu Sans,12" background "white"
set output "$svg"
set multiplot layout 1,2 title "vsocksim: cost per event ($model, $mode run)"
set logscale x 2
set logscale y 10
set grid
set key top left
set ylabel "ns per event"
set xlabel "connections (ring 128)"
plot "$rows.conns" using 1:2 with linespoints lw 2 title "with oracle", \
     "$rows.conns" using 1:3 with linespoints lw 2 title "without oracle"
set xlabel "ring size (16 connections)"
plot "$rows.ring" using 1:2 with linespoints lw 2 title "with oracle", \
     "$rows.ring" using 1:3 with linespoints lw 2 title "without oracle"
unset multiplot
EOF
    echo "bench: wrote $svg"
else
    echo "bench: gnuplot not installed (ci/install-deps.sh bench): no $svg"
fi
