#!/usr/bin/env bash
# The differential report: every conformance case with its verdict on the
# sim target and on the kernel target, side by side.
#
# Usage: ci/differential.sh SIM_REPORT KERNEL_REPORT OUT_PREFIX
#   *_REPORT    `kyua report --verbose` of each run (results of the same
#               test programs, run with target=sim and target=kernel)
#   OUT_PREFIX  writes OUT_PREFIX.tsv and OUT_PREFIX.md
# The TSV has one line per case: case, sim verdict, kernel verdict, agree,
# sim reason, kernel reason, first differing packet on sim, on kernel.
# Packets come from the "vsocksim-pkt g>h|h>g ..." lines a target prints
# when it closes; where a target prints none, the column says so. Packets
# are compared by direction, op, type, len and flags (ports and credit
# fields may differ legitimately between targets).
set -euo pipefail
sim=${1:?usage: differential.sh SIM_REPORT KERNEL_REPORT OUT_PREFIX}
ker=${2:?}
out=${3:?}
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
parse "$sim" "$tmp/sim.v" "$tmp/sim.p"
parse "$ker" "$tmp/ker.v" "$tmp/ker.p"

# Join on the case name (a case missing on one side is "absent" there).
awk -F'\t' -v SP="$tmp/sim.p" -v KP="$tmp/ker.p" '
    function key(l,   f, n) { # dir op type= len= flags=
        n = split(l, f, " ")
        return f[1] " " f[2] " " f[6] " " f[7] " " f[8]
    }
    FNR == NR && FILENAME == ARGV[1] { sv[$1] = $2; sr[$1] = $3; order[++n] = $1; seen[$1] = 1; next }
    FILENAME == ARGV[2] { kv[$1] = $2; kr[$1] = $3; if (!($1 in seen)) { order[++n] = $1; seen[$1] = 1 }; next }
    END {
        while ((getline l < SP) > 0) { split(l, a, "\t"); sp[a[1], ++sn[a[1]]] = a[2] }
        while ((getline l < KP) > 0) { split(l, a, "\t"); kp[a[1], ++kn[a[1]]] = a[2] }
        for (i = 1; i <= n; i++) {
            c = order[i]
            s = (c in sv) ? sv[c] : "absent"; k = (c in kv) ? kv[c] : "absent"
            agree = (s == k) ? "yes" : "no"
            ds = "-"; dk = "-"
            if (agree == "no") {
                if (sn[c] == 0 && kn[c] == 0) { ds = "(no transcript)"; dk = "(no transcript)" }
                else if (sn[c] == 0) { ds = "(the sim target prints no transcript)"; dk = (kn[c] > 0 ? "(" kn[c] " packets) first: " kp[c, 1] " ... last: " kp[c, kn[c]] : "(none)") }
                else if (kn[c] == 0) { dk = "(no packets)"; ds = "first: " sp[c, 1] }
                else {
                    m = sn[c] > kn[c] ? sn[c] : kn[c]
                    for (j = 1; j <= m; j++) {
                        a1 = (j <= sn[c]) ? sp[c, j] : ""; b1 = (j <= kn[c]) ? kp[c, j] : ""
                        if (a1 == "" || b1 == "" || key(a1) != key(b1)) {
                            ds = "#" j ": " (a1 == "" ? "(none)" : a1)
                            dk = "#" j ": " (b1 == "" ? "(none)" : b1)
                            break
                        }
                    }
                }
            }
            printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c, s, k, agree, sr[c], kr[c], ds, dk
        }
    }
' "$tmp/sim.v" "$tmp/ker.v" >"$tmp/rows"

{
    printf 'case\tsim\tkernel\tagree\tsim_reason\tkernel_reason\tsim_first_diff_packet\tkernel_first_diff_packet\n'
    cat "$tmp/rows"
} >"$out.tsv"

total=$(wc -l <"$tmp/rows")
agree=$(awk -F'\t' '$4 == "yes"' "$tmp/rows" | wc -l)
count() { awk -F'\t' -v col="$1" -v v="$2" '$col == v' "$tmp/rows" | wc -l; }
{
    echo "# Differential report: sim vs kernel"
    echo
    echo "Each conformance case run on the sim target (our driver + our device, in process)"
    echo "and on the kernel target (our driver + the real Linux vhost-vsock, in a QEMU guest)."
    echo
    echo "| | sim | kernel |"
    echo "|---|---|---|"
    for v in passed failed skipped broken expected_failure absent; do
        s=$(count 2 "$v"); k=$(count 3 "$v")
        [ "$s" = 0 ] && [ "$k" = 0 ] && continue
        echo "| $v | $s | $k |"
    done
    echo
    echo "$agree of $total cases agree."
    echo
    echo "## Disagreements"
    echo
    if [ "$agree" = "$total" ]; then
        echo "None."
    else
        awk -F'\t' '$4 == "no" {
            printf "### %s\n\n- sim: **%s**%s\n- kernel: **%s**%s\n", $1, $2, ($5 != "" ? " — " $5 : ""), $3, ($6 != "" ? " — " $6 : "")
            printf "- first differing packet, sim: `%s`\n- first differing packet, kernel: `%s`\n\n", $7, $8
        }' "$tmp/rows"
    fi
    echo "## Skips"
    echo
    for side in sim kernel; do
        col=2; rcol=5
        [ "$side" = kernel ] && col=3 && rcol=6
        n=$(count "$col" skipped)
        echo "- $side: $n skipped"
        awk -F'\t' -v c="$col" -v r="$rcol" '$c == "skipped" { print $r }' "$tmp/rows" |
            sed -E 's/^seed [0-9]+: //' | sort | uniq -c | sort -rn |
            awk '{ n = $1; $1 = ""; sub(/^ /, ""); printf "  - %d × %s\n", n, $0 }'
    done
} >"$out.md"
echo "differential: $agree of $total cases agree (sim vs kernel): $out.md, $out.tsv"
