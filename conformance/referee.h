/*
 * The referee: the conformance cases' results on the sim target beside a
 * real-kernel target (kernel: our driver against Linux's vhost-vsock; guest:
 * Linux's guest driver against our device), compared verdict by verdict and
 * packet by packet, every difference explained by
 * conformance/known-differences.txt or reported as unexplained.
 *
 * Inputs are `kyua report --verbose` texts of the same test programs run on
 * each target. A case's standard output holds its transcripts
 * (conformance/conf_target.h): one "vsocksim-pkt begin ... end" block per
 * run, that is one per seed on sim and one on a real target.
 *
 * Packets: for a case that ran (not skipped) on sim and on the judged
 * target, each sim seed's transcript is compared with the target's:
 *  - packets are grouped into connections by their guest and host
 *    endpoints (g>h: src is the guest's; h>g: dst is);
 *  - a connection's service endpoint is where its first packet went: that
 *    port is literal (the case chose it), and connections are paired by
 *    (service side, service port, how many such connections came before);
 *  - CIDs and the other endpoint's ports are names bound at first sight:
 *    sim's value and the target's must map one to one through the case;
 *  - within a pair, each direction's packets are compared in order, on op,
 *    type, flags, len, buf_alloc and fwd_cnt. Interleaving across
 *    connections, and between a connection's two directions, is free.
 * Every seed must agree with the target; a difference names the seeds.
 *
 * Everything here is pure: text in, structures and text out.
 */
#ifndef VSOCKSIM_REFEREE_H
#define VSOCKSIM_REFEREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "transport/transport.h"

enum ref_target { REF_SIM, REF_KERNEL, REF_GUEST, REF_NTARGETS };
const char *ref_target_name(enum ref_target t); /* "sim", "kernel", "guest" */

/* The kernels a known difference may apply to. */
enum ref_kernel { REF_K61 = 1u << 0, REF_K612 = 1u << 1 };
/* "6.1" or "6.12" to REF_K61 / REF_K612; 0 for anything else. */
unsigned ref_kernel_parse(const char *s);

/* ---- reports ---- */

struct ref_pkt {
    struct vsock_hdr h;
    bool to_host;  /* g>h */
    uint32_t line; /* in the report */
};

/* One transcript block: a run of the case (one seed on sim). */
struct ref_run {
    char target[8]; /* sim, kernel or guest */
    bool seeded;
    uint64_t seed;
    char linux_ver[8]; /* the profile the run said it followed, or "" */
    struct ref_pkt *p;
    uint32_t n, cap;
    uint64_t dropped;       /* packets the target could not log */
    bool ended;             /* its end line came: the block is whole */
    char unavailable[320];  /* the target had no transcript: why, or "" */
    uint32_t line;          /* of its begin line */
};

struct ref_case {
    char *name;     /* program:case */
    bool conformance; /* a conformance case (its metadata names its targets):
                         only those are compared packet by packet */
    char *verdict;  /* passed, failed, skipped, broken, expected_failure, ... */
    char *reason;   /* "" when none */
    struct ref_run *runs;
    unsigned nruns, capruns;
};

struct ref_report {
    char path[256];
    char target[8]; /* the target its conformance cases' transcripts name, or "" */
    struct ref_case *cases;
    size_t n, cap;
};

/* Parses a kyua report. Anything before the first "===> " line is a
 * preamble and ignored. Errors (0 or -1 with "path:line: what"): a case
 * section without a Result, a case given twice, a transcript line outside
 * a begin/end block or that does not parse, a block whose end counts
 * differ from what it held, conformance cases of two targets in one report
 * (a program's own tests, which have no custom.targets, may open any). A
 * block that a case's output leaves open (the case died while printing) is
 * no error: the run is kept without its end (ended false). */
int ref_report_parse(const char *text, size_t len, const char *path, struct ref_report *out,
                     char *err, size_t errlen);
void ref_report_free(struct ref_report *r);
const struct ref_case *ref_report_find(const struct ref_report *r, const char *name);

/* One transcript line after "vsocksim-pkt " ("g>h REQUEST 3:1024 -> 2:5000
 * type=STREAM len=0 flags=0x0 buf_alloc=262144 fwd_cnt=0"): 0, or -1 with
 * what is wrong. */
int ref_pkt_parse(const char *s, struct ref_pkt *out, char *err, size_t errlen);
/* The packet as its transcript line (without "vsocksim-pkt "). */
void ref_pkt_format(const struct ref_pkt *p, char *buf, size_t len);

/* ---- known differences ---- */

/* Packet fields a comparison looks at. */
enum ref_field {
    REF_F_OP = 1u << 0,
    REF_F_TYPE = 1u << 1,
    REF_F_FLAGS = 1u << 2,
    REF_F_LEN = 1u << 3,
    REF_F_BUF_ALLOC = 1u << 4,
    REF_F_FWD_CNT = 1u << 5,
};
/* "op, len" for a mask. */
void ref_fields_format(uint32_t fields, char *buf, size_t len);

/* What a packets block lets the comparison leave out, per direction
 * ([0] h>g, [1] g>h): fields of every packet, whole packets by op, and
 * where RWs split: with rw_boundaries, consecutive RWs of a connection's
 * direction (up to one with EOM: a seqpacket message) count as one whose
 * len is their sum and whose other fields are the last one's. */
struct ref_ignore {
    uint32_t fields[2]; /* REF_F_*, never REF_F_OP */
    uint32_t ops[2];    /* 1u << op */
    bool rw_boundaries[2];
};

enum ref_kind {
    REF_KIND_SAME,    /* documents a behaviour the case accepts both ways */
    REF_KIND_DIFFERS, /* the case's verdict on the target differs from sim */
    REF_KIND_PACKETS, /* the transcripts differ in what `ignore` names */
    REF_KIND_DEVIATION, /* documents a named deviation (off by default) */
};

struct ref_block {
    unsigned line;      /* its first line in the file */
    char **cases;       /* program:case or case */
    unsigned ncases;
    unsigned targets;   /* 1u << REF_KERNEL | 1u << REF_GUEST */
    unsigned kernels;   /* REF_K61 | REF_K612 */
    enum ref_kind kind;
    char *spec;
    struct ref_ignore ignore; /* REF_KIND_PACKETS only */
    char *deviation;    /* REF_KIND_DEVIATION only: the name --deviate takes */
    unsigned used;      /* differences it explained in this judgement */
};

struct ref_known {
    char path[256];
    struct ref_block *b;
    unsigned n;
};

/* Parses known-differences.txt: blocks of "key: value" lines separated by
 * blank lines, indented lines continuing a value, "#" lines ignored. Keys:
 * case, targets (kernel, guest), kernel (6.1, 6.12 or both), linux (what
 * Linux does), ours, spec, verdict (same, differs, packets) and, for
 * verdict packets only and required there, ignore (a list of fields type,
 * flags, len, buf_alloc, fwd_cnt, ops REQUEST ... CREDIT_REQUEST, and
 * rw_boundaries, each optionally "g>h:" or "h>g:" for one direction).
 * Every key but ignore is
 * required. Errors name path:line. */
int ref_known_parse(const char *text, size_t len, const char *path, struct ref_known *out,
                    char *err, size_t errlen);
void ref_known_free(struct ref_known *k);
/* The first block of that kind naming the case for target t on kernel
 * (REF_K61 or REF_K612), or NULL. A block's case name matches the full
 * program:case or the part after the colon. */
struct ref_block *ref_known_find(struct ref_known *k, const char *case_name, enum ref_target t,
                                 unsigned kernel, enum ref_kind kind);
/* Whether block b is of that kind and names the case for t on kernel. */
bool ref_block_applies(const struct ref_block *b, const char *case_name, enum ref_target t,
                       unsigned kernel, enum ref_kind kind);

/* ---- comparing two runs ---- */

/* A connection in a run: its endpoints, and how it pairs with the other
 * run's. */
struct ref_conn {
    uint64_t gcid, hcid;
    uint32_t gport, hport;
    bool service_host;     /* its first packet went to the host side */
    uint32_t service_port; /* the port that first packet went to: literal */
    unsigned occurrence;   /* earlier connections with the same service */
    uint32_t first;        /* its first packet's index in the run */
};

enum ref_diff_kind {
    REF_D_PACKET,      /* a direction's sequences differ at `index` */
    REF_D_ONLY_SIM,    /* a connection only sim has */
    REF_D_ONLY_TARGET, /* a connection only the target has */
    REF_D_BINDING,     /* a bound name maps to two values */
};

struct ref_diff {
    enum ref_diff_kind kind;
    struct ref_conn a, b; /* sim's and the target's (one of them unset for ONLY_*) */
    bool to_host;         /* REF_D_PACKET: the direction */
    uint32_t index;       /* REF_D_PACKET: 1-based, within that direction */
    bool has_a, has_b;    /* the differing packets (one may have run out) */
    struct ref_pkt pa, pb;
    uint32_t ia, ib;      /* their 1-based positions in their runs */
    uint32_t fields;      /* REF_F_* that differ when both are there */
    char note[200];       /* REF_D_BINDING: which name */
    uint32_t order;       /* for sorting: where in the runs it shows first */
};

/* Compares run a (sim) with run b (the target) leaving out what ign names
 * (NULL: nothing). Writes up to max differences, first shown first, into
 * out and returns how many there are in all; 0 means the runs agree, -1
 * that memory ran out. */
int ref_compare(const struct ref_run *a, const struct ref_run *b, const struct ref_ignore *ign,
                     struct ref_diff *out, unsigned max);
/* "connection to host port 5140 #1 (sim: guest 3:33352018; kernel: guest
 * 129:261086588)": the pairing key and each side's other endpoint. */
void ref_conn_format(const struct ref_diff *d, const char *target, char *buf, size_t len);

/* ---- the judgement ---- */

struct ref_inputs {
    const struct ref_report *rep[REF_NTARGETS]; /* NULL: that target was not run */
    struct ref_known *known;
    enum ref_target judged;     /* REF_KERNEL or REF_GUEST: whose differences count */
    unsigned kernel;            /* REF_K61 or REF_K612 */
    const char *kernel_package; /* "linux-image-... VERSION", or NULL */
    unsigned note_max;          /* unexplained packet differences told to note (0: all) */
};

struct ref_summary {
    unsigned cases, agree;
    unsigned verdict_diffs, verdict_known, verdict_na, verdict_unexplained;
    unsigned pkt_compared, pkt_same, pkt_known, pkt_unexplained, pkt_incomparable;
};

/* Lines the reports up, writes the Markdown report to md and the TSV to tsv
 * (either may be NULL), and a short account of every unexplained
 * difference to note (NULL: none). Returns 0 when every difference of the
 * judged target is explained, 1 otherwise, -1 (with err) when the inputs
 * cannot be judged (a sim run made with another Linux profile). */
int ref_judge(const struct ref_inputs *in, FILE *md, FILE *tsv, FILE *note,
              struct ref_summary *s, char *err, size_t errlen);

#endif
