#!/usr/bin/env bash
# Explains each disagreement of the differential report, or says that it is
# unexplained: a case whose verdict on a real-kernel target differs from its
# verdict on sim is explained when
#   - conformance/known-differences.txt has a block naming it for that target
#     with "verdict: differs" (the block gives the spec reference; a block
#     with "verdict: same" documents a behaviour the case accepts both ways,
#     so a disagreement there stays unexplained), or
#   - the target skipped it because the case declares that it does not apply
#     there ("applies to ..., not to target ...") or needs a capability the
#     target does not offer.
# Anything else is a bug in our model until shown otherwise.
#
# Usage: ci/differential-explain.sh DIFF_TSV KNOWN_DIFFERENCES OUT_MD
#   DIFF_TSV  ci/differential.sh's TSV: a header line naming the columns
#             case, <target>..., agree, <target>_reason...; sim first
#   OUT_MD    the explanation section, in Markdown (appended to by nobody:
#             the caller concatenates it to the report)
# Prints one summary line; exits 1 when any disagreement is unexplained.
set -euo pipefail
tsv=${1:?usage: differential-explain.sh DIFF_TSV KNOWN_DIFFERENCES OUT_MD}
known=${2:?}
out=${3:?}
[ -f "$tsv" ] || { echo "differential-explain: $tsv missing" >&2; exit 1; }
[ -f "$known" ] || { echo "differential-explain: $known missing" >&2; exit 1; }

awk -F'\t' -v OUT="$out" '
    # known-differences.txt: blocks of "key: value" lines; continuation
    # lines are indented. Keep case names and targets per block.
    FNR == NR {
        if ($0 ~ /^#/) next
        if ($0 ~ /^[ \t]*$/) { blk++; next }
        if ($0 ~ /^case:/) {
            v = $0; sub(/^case:[ \t]*/, "", v)
            n = split(v, names, /[ \t]*,[ \t]*/)
            for (i = 1; i <= n; i++) if (names[i] != "") { bcase[blk, names[i]] = 1; if (!(blk in bfirst)) bfirst[blk] = names[i] }
            blocks[blk] = 1
        } else if ($0 ~ /^targets:/) {
            v = $0; sub(/^targets:[ \t]*/, "", v)
            n = split(v, ts, /[ \t]*,[ \t]*/)
            for (i = 1; i <= n; i++) btarget[blk, ts[i]] = 1
        } else if ($0 ~ /^verdict:/) {
            v = $0; sub(/^verdict:[ \t]*/, "", v); bverdict[blk] = v
        } else if ($0 ~ /^spec:/) {
            v = $0; sub(/^spec:[ \t]*/, "", v); bspec[blk] = v
        }
        next
    }
    FNR == 1 {
        for (i = 1; i <= NF; i++) { col[$i] = i; hdr[i] = $i }
        if (!("case" in col) || !("agree" in col) || !("sim" in col)) {
            print "differential-explain: the TSV has no case/sim/agree columns" > "/dev/stderr"
            bad = 1; exit 1
        }
        for (i = col["sim"] + 1; i < col["agree"]; i++) targets[++nt] = hdr[i]
        next
    }
    function known_block(name, t,   b, short) {
        short = name; sub(/^.*:/, "", short)
        for (b in blocks)
            if (((b, name) in bcase || (b, short) in bcase) && (b, t) in btarget && bverdict[b] == "differs")
                return b
        return ""
    }
    {
        if ($col["agree"] == "yes") next
        for (k = 1; k <= nt; k++) {
            t = targets[k]; v = $col[t]; s = $col["sim"]
            if (v == s || v == "-" || v == "absent") continue
            r = ((t "_reason") in col) ? $col[t "_reason"] : ""
            b = known_block($1, t)
            if (b != "") { kind = "known difference"; why = "known-differences.txt (" bfirst[b] "): " bspec[b]; nk++ }
            else if (v == "skipped" && (r ~ /applies to .*, not to target/ || r ~ /needs .*, which target .* does not offer/)) {
                kind = "not applicable"; why = r; na++
            } else { kind = "UNEXPLAINED"; why = "sim " s ", " t " " v (r != "" ? ": " r : ""); nu++ }
            rows[++nr] = "| " $1 " | " t " | " s " / " v " | " kind " | " why " |"
        }
    }
    END {
        if (bad) exit 1
        print "## Explanations" > OUT
        print "" > OUT
        printf "%d disagreements: %d known differences (conformance/known-differences.txt), %d not applicable to the target, %d unexplained.\n", nr, nk, na, nu > OUT
        print "" > OUT
        if (nr > 0) {
            print "| case | target | sim / target | kind | why |" > OUT
            print "|---|---|---|---|---|" > OUT
            for (i = 1; i <= nr; i++) print rows[i] > OUT
        }
        printf "differential-explain: %d disagreements: %d known, %d not applicable, %d unexplained\n", nr, nk, na, nu
        exit (nu > 0 ? 1 : 0)
    }
' "$known" "$tsv"
