# Sourced by the host-side scripts that boot a test guest (ci/qemu-run.sh,
# vhostuser/guest/check-guest.sh): the guest's results come back over its
# second serial port as a base64 tar.gz between VSOCKSIM-RESULTS-BEGIN and
# VSOCKSIM-RESULTS-END <sha256> (ci/guest-lib.sh's vs_finish).

# guest_results_unpack SERIAL_FILE DIR: unpacks into DIR (and DIR.tar.gz).
# 0 when they came back whole; 1 with the reason on stderr otherwise.
guest_results_unpack() {
    local res=$1 dir=$2 clean end_line want got
    clean=$(mktemp)
    tr -d '\r' <"$res" >"$clean" 2>/dev/null
    end_line=$(grep -a '^VSOCKSIM-RESULTS-END ' "$clean" | tail -n1)
    if ! grep -aq '^VSOCKSIM-RESULTS-BEGIN$' "$clean" || [ -z "$end_line" ]; then
        rm -f "$clean"
        echo "the results did not come back (no BEGIN/END on ttyS1)" >&2
        return 1
    fi
    want=${end_line#VSOCKSIM-RESULTS-END }
    rm -rf "$dir"
    mkdir -p "$dir"
    sed -n '/^VSOCKSIM-RESULTS-BEGIN$/,/^VSOCKSIM-RESULTS-END /p' "$clean" | sed '1d;$d' |
        base64 -d >"$dir.tar.gz" 2>/dev/null
    rm -f "$clean"
    got=$(sha256sum "$dir.tar.gz" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
        echo "the results came back damaged (sha256 $got, guest said $want)" >&2
        return 1
    fi
    tar -xzf "$dir.tar.gz" -C "$dir"
}
