#!/usr/bin/env bash
# The differential report: every conformance case with its verdict on the
# sim target, the kernel target and the guest target, side by side.
#
# Usage: ci/differential.sh SIM_REPORT KERNEL_REPORT [GUEST_REPORT] OUT_PREFIX
#   *_REPORT    `kyua report --verbose` of each run (results of the same
#               test programs, run with target=sim, kernel and guest); a
#               report that does not exist (that target was not run) shows
#               as "-" in its column and takes no part in the agreement
#   OUT_PREFIX  writes OUT_PREFIX.tsv and OUT_PREFIX.md
# The TSV has one line per case: case, sim, kernel and guest verdicts,
# agree (the verdicts of the targets that ran the case are all the same: a
# skip takes no part, skips are listed apart), the three reasons, the first
# differing packet on sim and on kernel (where those two verdicts differ and
# neither skipped), and on sim and on guest (the same).
# Packets come from the "vsocksim-pkt g>h|h>g ..." lines a target prints
# when it closes; where a target prints none, the column says so. Packets
# are compared by direction, op, type, len and flags (ports and credit
# fields may differ legitimately between targets).
set -euo pipefail
usage="usage: differential.sh SIM_REPORT KERNEL_REPORT [GUEST_REPORT] OUT_PREFIX"
sim=${1:?$usage}
ker=${2:?$usage}
if [ $# -ge 4 ]; then gst=$3; out=$4; else gst=; out=${3:?$usage}; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One report into: verdicts (case TAB verdict TAB reason) and packets
# (case TAB packet line), in order.
parse() { # report verdicts packets
    awk -v V="$2" -v P="$3" '
        /^===> Execution context/ { inctx = 1; next }
        /^===> / {
            inctx = 0
            name = substr($0, 6)
            if (name ~ /:/) { cur = name; out = 0 } else { cur = "" }
            next
        }
        inctx || cur == "" { next }
        /^Result: / {
            r = $0; sub(/^Result: +/, "", r)
            verdict = r; reason = ""
            i = index(r, ": ")
            if (i > 0) { verdict = substr(r, 1, i - 1); reason = substr(r, i + 2) }
            gsub(/\t/, " ", reason)
            printf "%s\t%s\t%s\n", cur, verdict, reason > V
            next
        }
        /^Standard output:/ { out = 1; next }
        /^Standard error:/ { out = 2; next }
        out >= 1 && /^vsocksim-pkt (g>h|h>g) / {
            line = $0; sub(/^vsocksim-pkt /, "", line)
            printf "%s\t%s\n", cur, line > P
        }
    ' "$1"
    touch "$2" "$3"
}
# A report that is not there: its column is "-" for every case.
ran() { [ -n "$1" ] && [ -f "$1" ]; }
for t in sim:"$sim" ker:"$ker" gst:"$gst"; do
    name=${t%%:*} rep=${t#*:}
    if ran "$rep"; then parse "$rep" "$tmp/$name.v" "$tmp/$name.p"; echo 1 >"$tmp/$name.ran"
    else : >"$tmp/$name.v"; : >"$tmp/$name.p"; echo 0 >"$tmp/$name.ran"; fi
done

# Join on the case name (a case missing from a report that ran is "absent"
# there; every case is "-" where the report did not run).
awk -F'\t' -v SP="$tmp/sim.p" -v KP="$tmp/ker.p" -v GP="$tmp/gst.p" \
    -v RS_="$(cat "$tmp/sim.ran")" -v RK="$(cat "$tmp/ker.ran")" -v RG="$(cat "$tmp/gst.ran")" '
    function key(l,   f, n) { # dir op type= len= flags=
        n = split(l, f, " ")
        return f[1] " " f[2] " " f[6] " " f[7] " " f[8]
    }
    function note(c) { if (!(c in seen)) { order[++n] = c; seen[c] = 1 } }
    function ran(v) { return v != "-" && v != "skipped" } # the target ran the case
    # The first packet where case c differs between the sim target (a) and
    # another (b): into da and db.
    function pdiff(c, ap, an, bp, bn,   j, m, a1, b1) {
        da = "-"; db = "-"
        if (an[c] == 0 && bn[c] == 0) { da = "(no transcript)"; db = "(no transcript)"; return }
        if (an[c] == 0) { da = "(the sim target prints no transcript)"; db = (bn[c] > 0 ? "(" bn[c] " packets) first: " bp[c, 1] " ... last: " bp[c, bn[c]] : "(none)"); return }
        if (bn[c] == 0) { db = "(no packets)"; da = "first: " ap[c, 1]; return }
        m = an[c] > bn[c] ? an[c] : bn[c]
        for (j = 1; j <= m; j++) {
            a1 = (j <= an[c]) ? ap[c, j] : ""; b1 = (j <= bn[c]) ? bp[c, j] : ""
            if (a1 == "" || b1 == "" || key(a1) != key(b1)) {
                da = "#" j ": " (a1 == "" ? "(none)" : a1)
                db = "#" j ": " (b1 == "" ? "(none)" : b1)
                return
            }
        }
    }
    FILENAME == ARGV[1] { sv[$1] = $2; sr[$1] = $3; note($1); next }
    FILENAME == ARGV[2] { kv[$1] = $2; kr[$1] = $3; note($1); next }
    FILENAME == ARGV[3] { gv[$1] = $2; gr[$1] = $3; note($1); next }
    function verdict(ranit, has, v) { return ranit ? (has ? v : "absent") : "-" }
    END {
        while ((getline l < SP) > 0) { split(l, a, "\t"); sp[a[1], ++sn[a[1]]] = a[2] }
        while ((getline l < KP) > 0) { split(l, a, "\t"); kp[a[1], ++kn[a[1]]] = a[2] }
        while ((getline l < GP) > 0) { split(l, a, "\t"); gp[a[1], ++gn[a[1]]] = a[2] }
        for (i = 1; i <= n; i++) {
            c = order[i]
            s = verdict(RS_, c in sv, sv[c]); k = verdict(RK, c in kv, kv[c]); g = verdict(RG, c in gv, gv[c])
            # Only the targets that ran the case take part: "-" (not run)
            # and "skipped" (the target cannot run it) do not.
            first = ""; agree = "yes"
            split(s SUBSEP k SUBSEP g, vs, SUBSEP)
            for (t = 1; t <= 3; t++) {
                if (vs[t] == "-" || vs[t] == "skipped") continue
                if (first == "") first = vs[t]; else if (vs[t] != first) agree = "no"
            }
            ds = "-"; dk = "-"; dgs = "-"; dg = "-"
            if (ran(s) && ran(k) && s != k) {
                pdiff(c, sp, sn, kp, kn); ds = da; dk = db
            }
            if (ran(s) && ran(g) && s != g) {
                pdiff(c, sp, sn, gp, gn); dgs = da; dg = db
            }
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c, s, k, g, agree, sr[c], kr[c], gr[c], ds, dk, dgs, dg
        }
    }
' "$tmp/sim.v" "$tmp/ker.v" "$tmp/gst.v" >"$tmp/rows"

{
    printf 'case\tsim\tkernel\tguest\tagree\tsim_reason\tkernel_reason\tguest_reason\tsim_first_diff_packet\tkernel_first_diff_packet\tsim_vs_guest_first_diff_packet\tguest_first_diff_packet\n'
    cat "$tmp/rows"
} >"$out.tsv"

total=$(wc -l <"$tmp/rows")
agree=$(awk -F'\t' '$5 == "yes"' "$tmp/rows" | wc -l)
count() { awk -F'\t' -v col="$1" -v v="$2" '$col == v' "$tmp/rows" | wc -l; }
{
    echo "# Differential report: sim, kernel and guest targets"
    echo
    echo "Each conformance case run on the sim target (our driver + our device, in process),"
    echo "the kernel target (our driver + the real Linux vhost-vsock, in a QEMU guest) and the"
    echo "guest target (the real Linux guest driver + our device through vhost-user, in a QEMU"
    echo "guest). A column of \"-\" is a target that was not run (make check-kernel, make"
    echo "check-guest); it takes no part in the agreement, and neither does a skip (the"
    echo "target cannot run that case: see Skips)."
    echo
    echo "| | sim | kernel | guest |"
    echo "|---|---|---|---|"
    for v in passed failed skipped broken expected_failure absent -; do
        s=$(count 2 "$v"); k=$(count 3 "$v"); g=$(count 4 "$v")
        [ "$s" = 0 ] && [ "$k" = 0 ] && [ "$g" = 0 ] && continue
        echo "| $v | $s | $k | $g |"
    done
    echo
    echo "$agree of $total cases agree."
    echo
    echo "## Disagreements"
    echo
    if [ "$agree" = "$total" ]; then
        echo "None."
    else
        awk -F'\t' '$5 == "no" {
            printf "### %s\n\n", $1
            printf "- sim: **%s**%s\n", $2, ($6 != "" ? " — " $6 : "")
            printf "- kernel: **%s**%s\n", $3, ($7 != "" ? " — " $7 : "")
            printf "- guest: **%s**%s\n", $4, ($8 != "" ? " — " $8 : "")
            if ($9 != "-" || $10 != "-")
                printf "- first differing packet, sim: `%s`\n- first differing packet, kernel: `%s`\n", $9, $10
            if ($11 != "-" || $12 != "-")
                printf "- first differing packet, sim: `%s`\n- first differing packet, guest: `%s`\n", $11, $12
            printf "\n"
        }' "$tmp/rows"
    fi
    echo "## Skips"
    echo
    for side in sim:2:6 kernel:3:7 guest:4:8; do
        IFS=: read -r name col rcol <<<"$side"
        n=$(count "$col" skipped)
        echo "- $name: $n skipped"
        awk -F'\t' -v c="$col" -v r="$rcol" '$c == "skipped" { print $r }' "$tmp/rows" |
            sed -E 's/^seed [0-9]+: //' | sort | uniq -c | sort -rn |
            awk '{ n = $1; $1 = ""; sub(/^ /, ""); printf "  - %d × %s\n", n, $0 }'
    done
} >"$out.md"
echo "differential: $agree of $total cases agree (sim, kernel, guest): $out.md, $out.tsv"
