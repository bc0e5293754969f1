/*
 * traces/views: what people look at, made from a trace.
 *
 * - pcap: every packet record as a frame of LINKTYPE_VSOCK (271), the format
 *   Linux's vsockmon emits (include/uapi/linux/vsockmon.h), written with
 *   libpcap, so Wireshark and tshark dissect it. Timestamps are the simulated
 *   time (nanosecond pcap, starting at the epoch).
 * - chart: a message sequence chart (SVG) with lanes for the guest app, the
 *   driver, the device and the host app.
 *
 * Both read the trace with the trace reader (constant memory for pcap; the
 * chart keeps its rows) and stop at the first malformed record with its line.
 */
#ifndef VSOCKSIM_TRACES_VIEWS_H
#define VSOCKSIM_TRACES_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "traces/trace.h"

/* ---- pcap ------------------------------------------------------------------------- */

#define VIEWS_LINKTYPE_VSOCK 271
#define VSOCKMON_HDR_LEN 32u

/* af_vsockmon_hdr.op */
enum vsockmon_op {
    VSOCKMON_OP_UNKNOWN = 0,
    VSOCKMON_OP_CONNECT = 1,    /* REQUEST, RESPONSE */
    VSOCKMON_OP_DISCONNECT = 2, /* RST, SHUTDOWN */
    VSOCKMON_OP_CONTROL = 3,    /* CREDIT_UPDATE, CREDIT_REQUEST */
    VSOCKMON_OP_PAYLOAD = 4,    /* RW */
};
#define VSOCKMON_TRANSPORT_VIRTIO 2u

/* Traces keep a CRC-32 of each payload, not the bytes. A PAYLOAD frame
 * carries hdr.len bytes of zeros in their place (at most this many: a
 * header may claim more than any packet holds; the frame's length on the
 * wire still says hdr.len). Frames of other ops carry no payload. */
#define VIEWS_PCAP_MAX_PAYLOAD 65536u
#define VIEWS_PCAP_SNAPLEN (VSOCKMON_HDR_LEN + VSOCK_HDR_LEN + VIEWS_PCAP_MAX_PAYLOAD)

uint16_t vsockmon_op_of(uint16_t vsock_op);

/* One frame for packet p: af_vsockmon_hdr, the 44-byte virtio header, then
 * the zero filler of a PAYLOAD frame. out holds at least VIEWS_PCAP_SNAPLEN
 * bytes. Returns the bytes written (the captured length); *wire_len gets the
 * frame's full length (32 + 44 + hdr.len for PAYLOAD, saturating). */
size_t vsockmon_frame(const struct trace_packet *p, uint8_t *out, uint32_t *wire_len);

/* Whether this build was made with libpcap (libpcap-dev); without it
 * views_trace_to_pcap only reports that. */
bool views_have_pcap(void);

struct views_pcap_stats {
    uint64_t records;
    uint64_t packets;
};

/* Writes every packet record of the trace read from in to the pcap file
 * path. 0, or -1 with a one-line message in err (a malformed trace names its
 * line; a file that cannot be written names the path). */
int views_trace_to_pcap(FILE *in, const char *path, struct views_pcap_stats *st, char *err,
                        size_t errlen);

/* ---- chart ------------------------------------------------------------------------ */

#define VIEWS_CHART_PAGE_ROWS 60u

struct views_chart_opts {
    unsigned page_rows; /* rows per page (<g class="page">); 0 = VIEWS_CHART_PAGE_ROWS */
    bool fold;          /* one arrow for each run of RW packets of one connection and way */
    uint64_t max_rows;  /* stop after this many rows (a note says so); 0 = no limit */
};

struct views_chart_stats {
    uint64_t packets;       /* packet records read */
    uint64_t arrows;        /* packet arrows drawn (packets, less what folding merged) */
    uint64_t notifications; /* kick and interrupt arrows */
    uint64_t faults;
    uint64_t decisions;
    uint64_t rows;
    uint64_t pages;
};

/* Writes the chart of the trace read from in as one SVG document to out.
 * 0, or -1 with a one-line message in err. */
int views_trace_to_chart(FILE *in, FILE *out, const struct views_chart_opts *o,
                         struct views_chart_stats *st, char *err, size_t errlen);

#endif
