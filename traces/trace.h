/*
 * traces/: the trace of one simulator run, so that `vsocksim replay FILE` can
 * re-execute it and stop at the first divergence, and `vsocksim show FILE`
 * can print a timeline.
 *
 * The format is text, one record a line, so that a trace in traces/corpus/
 * reads as a bug report and diffs well. Numbers are decimal unless stated:
 *
 *   vsocksim-trace 1
 *   program <version, no spaces>
 *   seed <u64>
 *   scenario <name, no spaces>
 *   option <key [a-z0-9-]+> <value, no spaces>     (0 to 32 of them)
 *   begin
 *   D <kind [a-z-]+> <n> <value>                   a scheduler decision, value < n
 *   P <t_ns> g2h|h2g <op> <type> <src_cid>:<src_port> <dst_cid>:<dst_port>
 *     len=<u32> flags=<u32> buf_alloc=<u32> fwd_cnt=<u32> sum=<8 hex digits>
 *                                                  (one line) a packet crossing the ring
 *   F <t_ns> <fault [a-z-]+> [detail, no spaces]   a fault injected
 *   N <t_ns> [text]                                a note: the rest of the line
 *   end ok|violation|divergence|error steps=<u64> t=<u64> digest=<16 hex digits>
 *
 * op and type are the names of vsock_op_name()/vsock_type_name(), or decimal
 * numbers when they have none. sum is the CRC-32 of the payload.
 *
 * Lines are at most TRACE_LINE_MAX bytes of printable ASCII. The writer ends
 * lines with "\n"; the reader also accepts "\r\n" (a corpus checked out with
 * git's autocrlf must still replay; the writer never emits a CR, so dropping
 * one before the LF loses nothing). A lone CR elsewhere is an error. Blank
 * lines are accepted only after `end`; a missing final newline is accepted.
 *
 * No global state: writers and readers are independent objects on a FILE*
 * the caller owns (opens and closes).
 */
#ifndef VSOCKSIM_TRACES_TRACE_H
#define VSOCKSIM_TRACES_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "transport/transport.h"

#define TRACE_FORMAT_VERSION 1u
#define TRACE_LINE_MAX 4096u    /* bytes per line, without the line ending */
#define TRACE_FIELD_MAX 64u     /* program, scenario, option keys and values */
#define TRACE_MAX_OPTIONS 32u
#define TRACE_NAME_MAX 32u      /* decision kinds and fault names */
#define TRACE_DETAIL_MAX 256u   /* fault details */
#define TRACE_NOTE_MAX 4000u    /* note text; longer notes are cut by the writer */

/* ---- header ------------------------------------------------------------------- */

struct trace_option {
    char key[TRACE_FIELD_MAX + 1];
    char value[TRACE_FIELD_MAX + 1];
};

struct trace_header {
    unsigned version;                  /* filled by the reader; the writer writes 1 */
    char program[TRACE_FIELD_MAX + 1];
    uint64_t seed;
    char scenario[TRACE_FIELD_MAX + 1];
    unsigned noptions;
    struct trace_option options[TRACE_MAX_OPTIONS]; /* keys are unique */
};

/* Appends an option: 0, -EINVAL for a bad or duplicate key or a bad value,
 * -ENOSPC when there are already TRACE_MAX_OPTIONS. */
int trace_header_add_option(struct trace_header *h, const char *key, const char *value);
/* The value of key, or NULL. */
const char *trace_header_option(const struct trace_header *h, const char *key);

/* ---- records ------------------------------------------------------------------ */

enum trace_rec_type { TRACE_DECISION, TRACE_PACKET, TRACE_FAULT, TRACE_NOTE, TRACE_END };
enum trace_dir { TRACE_G2H, TRACE_H2G };
enum trace_status { TRACE_OK, TRACE_VIOLATION, TRACE_DIVERGENCE, TRACE_ERROR };

struct trace_decision {
    char kind[TRACE_NAME_MAX + 1];
    uint64_t n;     /* >= 1 */
    uint64_t value; /* < n */
};

struct trace_packet {
    uint64_t t;            /* simulated ns */
    enum trace_dir dir;
    struct vsock_hdr hdr;  /* hdr.len is the payload length */
    uint32_t sum;          /* trace_crc32 of the payload */
};

struct trace_fault {
    uint64_t t;
    char name[TRACE_NAME_MAX + 1];
    char detail[TRACE_DETAIL_MAX + 1]; /* "" for none */
};

struct trace_note {
    uint64_t t;
    char text[TRACE_NOTE_MAX + 1];
};

struct trace_end {
    enum trace_status status;
    uint64_t steps;
    uint64_t t;
    uint64_t digest;
};

struct trace_record {
    enum trace_rec_type type;
    union {
        struct trace_decision decision;
        struct trace_packet packet;
        struct trace_fault fault;
        struct trace_note note;
        struct trace_end end;
    };
};

const char *trace_rec_type_name(enum trace_rec_type t); /* "decision", ..., "record?" */
const char *trace_dir_name(enum trace_dir d);           /* "g2h", "h2g", "dir?" */
const char *trace_status_name(enum trace_status s);     /* "ok", ..., "status?" */

/* CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320), zlib-style: start with 0
 * and feed the pieces of a scattered payload in order. */
uint32_t trace_crc32_update(uint32_t crc, const void *data, size_t len);
uint32_t trace_crc32(const void *data, size_t len);

/* ---- writer ------------------------------------------------------------------- */

/*
 * Every write returns 0 or a negative errno: -EINVAL for a value the format
 * cannot hold (a bad name, value >= n, a record after `end`), -EIO when the
 * FILE failed. The first error sticks: later writes do nothing and return it,
 * so a caller may check only trace_writer_close().
 */
struct trace_writer;

/* Writes the header through `begin`. NULL only when out of memory; a bad
 * header is the writer's sticky error. */
struct trace_writer *trace_writer_open(FILE *f, const struct trace_header *h);
int trace_write_decision(struct trace_writer *w, const char *kind, uint64_t n, uint64_t value);
int trace_write_packet(struct trace_writer *w, const struct trace_packet *p);
/* detail may be NULL or "" for none. */
int trace_write_fault(struct trace_writer *w, uint64_t t, const char *name, const char *detail);
/* text is made printable ASCII (control characters become spaces, other
 * bytes '?') and cut to TRACE_NOTE_MAX characters. */
int trace_write_note(struct trace_writer *w, uint64_t t, const char *text);
int trace_write_end(struct trace_writer *w, enum trace_status status, uint64_t steps, uint64_t t,
                    uint64_t digest);
/* Any record, as read by a reader (for tools that rewrite traces). */
int trace_write_record(struct trace_writer *w, const struct trace_record *r);
int trace_writer_error(const struct trace_writer *w);
/* Flushes the FILE (without closing it), frees w, returns the sticky error. */
int trace_writer_close(struct trace_writer *w);

/* ---- reader ------------------------------------------------------------------- */

struct trace_error {
    unsigned long line; /* 1-based line the error is on */
    char msg[256];      /* "line 12: packet record: bad src address '3:x'" */
};

/*
 * Streams records from f in constant memory, whatever the file's size. Every
 * malformed input is an error with its line number; errors stick.
 */
struct trace_reader;

/* Reads and checks the header through `begin`. NULL with *err on error
 * (err may be NULL). */
struct trace_reader *trace_reader_open(FILE *f, struct trace_header *out,
                                       struct trace_error *err);
/* 1: *rec is the next record (the last one is TRACE_END); 0: the trace is
 * complete (call again after `end` so that content after it is checked);
 * -1: *err says what is wrong. */
int trace_reader_next(struct trace_reader *r, struct trace_record *rec, struct trace_error *err);
/* The line of the record last returned (for replay's divergence messages). */
unsigned long trace_reader_line(const struct trace_reader *r);
void trace_reader_close(struct trace_reader *r);

/* ---- show and compare --------------------------------------------------------- */

/*
 * One timeline line for `vsocksim show`, without a newline, e.g.
 *   t=1.204ms guest 3:1024 -> host 2:5000 REQUEST STREAM len=0 buf_alloc=262144 fwd_cnt=0
 *   t=2.000ms FAULT kick-delay 500us
 *   decision actor 2/5                      (only when verbose)
 * Returns the length the whole line needs (as snprintf; the buffer holds a
 * cut, terminated line when it is too small), or 0 for a hidden record.
 */
size_t trace_record_show(const struct trace_record *r, bool verbose, char *buf, size_t size);
/* The whole of `vsocksim show`: the header, then one line per shown record.
 * 0, or -1 with *err for a malformed trace (the lines before it are printed). */
int trace_show(FILE *in, FILE *out, bool verbose, struct trace_error *err);

bool trace_record_equal(const struct trace_record *a, const struct trace_record *b);
/* false when equal; otherwise true and the first difference in buf, as
 * "packet fwd_cnt: expected 4096, got 0" (a: expected, b: got). buf may be NULL. */
bool trace_record_diff(const struct trace_record *expected, const struct trace_record *got,
                       char *buf, size_t size);

#endif
