/*
 * The trace format: the writer's exact bytes, write-then-read round trips of
 * every record, every reader error with its line and message, streaming a
 * long trace, the show timeline and replay's difference messages, and a
 * sweep of mutated traces that must each end in a clean error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "traces/trace.h"
#include "transport/transport_testlib.h"

/* ---- helpers ------------------------------------------------------------------ */

#define HDR "vsocksim-trace 1\nprogram 0.1\nseed 42\nscenario basic\nbegin\n"
#define HDR_LINES 5
#define END_LINE "end ok steps=1 t=5 digest=0000000000000000\n"

#define STR_EQ(expected, actual)                                                            \
    str_eq_at(__FILE__, __LINE__, (expected), (actual))

static void str_eq_at(const char *file, int line, const char *expected, const char *actual)
{
    if (strcmp(expected, actual) != 0)
        atf_tc_fail_requirement(file, line, "expected \"%s\", got \"%s\"", expected, actual);
}

/* A FILE holding exactly len bytes of data (NULs included), at its start. */
static FILE *file_with(const void *data, size_t len)
{
    FILE *f = tmpfile();
    ATF_REQUIRE(f != NULL);
    ATF_REQUIRE(fwrite(data, 1, len, f) == len);
    rewind(f);
    return f;
}

/* Reads a whole trace: the number of records, or -1 with *err. */
static long read_all(FILE *f, struct trace_error *err)
{
    struct trace_header h;
    struct trace_record rec;
    struct trace_reader *r = trace_reader_open(f, &h, err);
    if (r == NULL)
        return -1;
    long n = 0;
    int got;
    while ((got = trace_reader_next(r, &rec, err)) > 0)
        n++;
    trace_reader_close(r);
    return got < 0 ? -1 : n;
}

static void check_error_at(const char *file, int line, const char *data, size_t len,
                           unsigned long want_line, const char *want_msg)
{
    struct trace_error err;
    memset(&err, 0, sizeof err);
    FILE *f = file_with(data, len);
    long n = read_all(f, &err);
    fclose(f);
    if (n >= 0)
        atf_tc_fail_requirement(file, line, "expected \"%s\", but the trace read whole",
                                want_msg);
    if (err.line != want_line || strcmp(err.msg, want_msg) != 0)
        atf_tc_fail_requirement(file, line, "expected line %lu \"%s\", got line %lu \"%s\"",
                                want_line, want_msg, err.line, err.msg);
}

/* data is a string literal (it may hold NULs). */
#define EXPECT_ERROR(data, line, msg)                                                       \
    check_error_at(__FILE__, __LINE__, (data), sizeof(data) - 1, (line), (msg))

static long read_string(const char *s, struct trace_error *err)
{
    FILE *f = file_with(s, strlen(s));
    long n = read_all(f, err);
    fclose(f);
    return n;
}

static struct trace_header test_header(void)
{
    struct trace_header h;
    memset(&h, 0, sizeof h);
    strcpy(h.program, "0.1.0");
    h.seed = 42;
    strcpy(h.scenario, "two-streams");
    ATF_REQUIRE(trace_header_add_option(&h, "workload", "echo") == 0);
    ATF_REQUIRE(trace_header_add_option(&h, "kick-delay-ns", "500") == 0);
    return h;
}

static struct vsock_hdr hdr_of(uint16_t op, uint16_t type, uint64_t src_cid, uint32_t src_port,
                               uint64_t dst_cid, uint32_t dst_port)
{
    struct vsock_hdr h;
    memset(&h, 0, sizeof h);
    h.op = op;
    h.type = type;
    h.src_cid = src_cid;
    h.src_port = src_port;
    h.dst_cid = dst_cid;
    h.dst_port = dst_port;
    h.buf_alloc = 262144;
    return h;
}

static struct trace_record packet_rec(uint64_t t, enum trace_dir dir, struct vsock_hdr h,
                                      uint32_t sum)
{
    struct trace_record r;
    memset(&r, 0, sizeof r);
    r.type = TRACE_PACKET;
    r.packet.t = t;
    r.packet.dir = dir;
    r.packet.hdr = h;
    r.packet.sum = sum;
    return r;
}

static struct trace_record g2h_request(void)
{
    return packet_rec(1204000, TRACE_G2H,
                      hdr_of(VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, 3, 1024, 2, 5000), 0);
}

static struct trace_record decision_rec(const char *kind, uint64_t n, uint64_t v)
{
    struct trace_record r;
    memset(&r, 0, sizeof r);
    r.type = TRACE_DECISION;
    strcpy(r.decision.kind, kind);
    r.decision.n = n;
    r.decision.value = v;
    return r;
}

static struct trace_record fault_rec(uint64_t t, const char *name, const char *detail)
{
    struct trace_record r;
    memset(&r, 0, sizeof r);
    r.type = TRACE_FAULT;
    r.fault.t = t;
    strcpy(r.fault.name, name);
    strcpy(r.fault.detail, detail);
    return r;
}

static struct trace_record note_rec(uint64_t t, const char *text)
{
    struct trace_record r;
    memset(&r, 0, sizeof r);
    r.type = TRACE_NOTE;
    r.note.t = t;
    strcpy(r.note.text, text);
    return r;
}

static struct trace_record end_rec(enum trace_status s, uint64_t steps, uint64_t t, uint64_t d)
{
    struct trace_record r;
    memset(&r, 0, sizeof r);
    r.type = TRACE_END;
    r.end.status = s;
    r.end.steps = steps;
    r.end.t = t;
    r.end.digest = d;
    return r;
}

/* The whole contents of f, NUL-terminated (the caller frees it); f is left
 * at its end. */
static char *slurp(FILE *f)
{
    ATF_REQUIRE(fflush(f) == 0 && fseek(f, 0, SEEK_END) == 0);
    long size = ftell(f);
    ATF_REQUIRE(size >= 0);
    char *s = malloc((size_t)size + 1);
    ATF_REQUIRE(s != NULL);
    rewind(f);
    ATF_REQUIRE(fread(s, 1, (size_t)size, f) == (size_t)size);
    s[size] = '\0';
    return s;
}

/* Writes recs after test_header() and returns the file rewound. */
static FILE *write_trace(const struct trace_record *recs, size_t n)
{
    FILE *f = tmpfile();
    ATF_REQUIRE(f != NULL);
    struct trace_header h = test_header();
    struct trace_writer *w = trace_writer_open(f, &h);
    ATF_REQUIRE(w != NULL);
    for (size_t i = 0; i < n; i++)
        TT_EQ(0, trace_write_record(w, &recs[i]), "writing record %zu", i);
    TT_EQ(0, trace_writer_close(w), "close");
    rewind(f);
    return f;
}

/* Reads f back and checks it holds test_header() and exactly recs. */
static void read_back(FILE *f, const struct trace_record *recs, size_t n)
{
    struct trace_header h, want = test_header();
    struct trace_error err;
    struct trace_reader *r = trace_reader_open(f, &h, &err);
    TT_TRUE(r != NULL, "open: %s", err.msg);
    TT_EQ(1, h.version, "version");
    STR_EQ(want.program, h.program);
    TT_EQ(want.seed, h.seed, "seed");
    STR_EQ(want.scenario, h.scenario);
    TT_EQ(want.noptions, h.noptions, "options");
    for (unsigned i = 0; i < h.noptions; i++) {
        STR_EQ(want.options[i].key, h.options[i].key);
        STR_EQ(want.options[i].value, h.options[i].value);
    }
    struct trace_record got;
    char why[256];
    for (size_t i = 0; i < n; i++) {
        int rc = trace_reader_next(r, &got, &err);
        TT_EQ(1, rc, "record %zu: %s", i, rc < 0 ? err.msg : "early end");
        TT_TRUE(!trace_record_diff(&recs[i], &got, why, sizeof why), "record %zu: %s", i, why);
        TT_TRUE(trace_record_equal(&recs[i], &got), "record %zu equal", i);
    }
    TT_EQ(0, trace_reader_next(r, &got, &err), "after end: %s", err.msg);
    TT_EQ(0, trace_reader_next(r, &got, &err), "still done");
    trace_reader_close(r);
}

/* ---- checksum ----------------------------------------------------------------- */

static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

TT_TC(crc32_vectors, "CRC-32 known vectors, pieces, and agreement with a bitwise reference")
ATF_TC_BODY(crc32_vectors, tc)
{
    TT_EQ(0xcbf43926u, trace_crc32("123456789", 9), "check value");
    TT_EQ(0, trace_crc32("", 0), "empty");
    const char *fox = "The quick brown fox jumps over the lazy dog";
    TT_EQ(0x414fa339u, trace_crc32(fox, strlen(fox)), "fox");
    uint8_t all[256];
    for (unsigned i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    TT_EQ(0x29058c73u, trace_crc32(all, sizeof all), "bytes 0..255");
    for (size_t n = 0; n <= sizeof all; n++) {
        TT_EQ(crc32_bitwise(all, n), trace_crc32(all, n), "prefix %zu", n);
        uint32_t c = trace_crc32_update(0, all, n / 3);
        c = trace_crc32_update(c, all + n / 3, n - n / 3);
        TT_EQ(trace_crc32(all, n), c, "prefix %zu in two pieces", n);
    }
}

/* ---- writer ------------------------------------------------------------------- */

static const char fixed_trace[] =
    "vsocksim-trace 1\n"
    "program 0.1.0\n"
    "seed 42\n"
    "scenario two-streams\n"
    "option workload echo\n"
    "option kick-delay-ns 500\n"
    "begin\n"
    "D actor 5 2\n"
    "P 1204000 g2h REQUEST STREAM 3:1024 2:5000 len=0 flags=0 buf_alloc=262144 fwd_cnt=0 "
    "sum=00000000\n"
    "P 1300000 h2g RW SEQPACKET 2:5000 3:1024 len=9 flags=3 buf_alloc=65536 fwd_cnt=4096 "
    "sum=cbf43926\n"
    "P 1400000 g2h 99 0 3:1024 2:5000 len=0 flags=0 buf_alloc=262144 fwd_cnt=0 sum=00000000\n"
    "F 2000000 kick-delay 500us\n"
    "F 2100000 spurious-irq\n"
    "N 2200000 invariant: credit  exceeded\n"
    "N 2300000\n"
    "end violation steps=17 t=2300000 digest=00000000deadbeef\n";

static void fixed_records(struct trace_record r[9])
{
    r[0] = decision_rec("actor", 5, 2);
    r[1] = g2h_request();
    struct vsock_hdr rw = hdr_of(VSOCK_OP_RW, VSOCK_TYPE_SEQPACKET, 2, 5000, 3, 1024);
    rw.len = 9;
    rw.flags = VSOCK_SEQ_EOM | VSOCK_SEQ_EOR;
    rw.buf_alloc = 65536;
    rw.fwd_cnt = 4096;
    r[2] = packet_rec(1300000, TRACE_H2G, rw, trace_crc32("123456789", 9));
    r[3] = packet_rec(1400000, TRACE_G2H, hdr_of(99, 0, 3, 1024, 2, 5000), 0);
    r[4] = fault_rec(2000000, "kick-delay", "500us");
    r[5] = fault_rec(2100000, "spurious-irq", "");
    r[6] = note_rec(2200000, "invariant: credit  exceeded");
    r[7] = note_rec(2300000, "");
    r[8] = end_rec(TRACE_VIOLATION, 17, 2300000, 0xdeadbeef);
}

TT_TC(write_exact_bytes, "a small trace is written byte for byte as specified")
ATF_TC_BODY(write_exact_bytes, tc)
{
    struct trace_record r[9];
    fixed_records(r);
    FILE *f = tmpfile();
    ATF_REQUIRE(f != NULL);
    struct trace_header h = test_header();
    struct trace_writer *w = trace_writer_open(f, &h);
    ATF_REQUIRE(w != NULL);
    TT_EQ(0, trace_write_decision(w, "actor", 5, 2), "decision");
    TT_EQ(0, trace_write_packet(w, &r[1].packet), "request");
    TT_EQ(0, trace_write_packet(w, &r[2].packet), "rw");
    TT_EQ(0, trace_write_packet(w, &r[3].packet), "unknown op");
    TT_EQ(0, trace_write_fault(w, 2000000, "kick-delay", "500us"), "fault");
    TT_EQ(0, trace_write_fault(w, 2100000, "spurious-irq", NULL), "fault without detail");
    TT_EQ(0, trace_write_note(w, 2200000, "invariant: credit  exceeded"), "note");
    TT_EQ(0, trace_write_note(w, 2300000, ""), "empty note");
    TT_EQ(0, trace_write_end(w, TRACE_VIOLATION, 17, 2300000, 0xdeadbeef), "end");
    TT_EQ(0, trace_writer_close(w), "close");
    char *s = slurp(f);
    STR_EQ(fixed_trace, s);
    free(s);
    fclose(f);
}

TT_TC(round_trip_every_record, "every record type reads back equal to what was written")
ATF_TC_BODY(round_trip_every_record, tc)
{
    struct trace_record r[9];
    fixed_records(r);
    FILE *f = write_trace(r, 9);
    read_back(f, r, 9);
    fclose(f);
}

TT_TC(round_trip_extremes, "maximal u64/u32/u16 values, op and type without names")
ATF_TC_BODY(round_trip_extremes, tc)
{
    struct vsock_hdr max;
    memset(&max, 0xff, sizeof max);
    struct vsock_hdr zero;
    memset(&zero, 0, sizeof zero);
    struct trace_record r[] = {
        decision_rec("x", UINT64_MAX, UINT64_MAX - 1),
        decision_rec("workload-choice", 1, 0),
        packet_rec(UINT64_MAX, TRACE_H2G, max, UINT32_MAX),
        packet_rec(0, TRACE_G2H, zero, 0),
        packet_rec(7, TRACE_G2H, hdr_of(VSOCK_OP_CREDIT_REQUEST, 3, 0, 0, UINT64_MAX, 1), 1),
        fault_rec(UINT64_MAX, "a", "~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./"),
        note_rec(UINT64_MAX, "  leading and trailing spaces  "),
        end_rec(TRACE_DIVERGENCE, UINT64_MAX, UINT64_MAX, UINT64_MAX),
    };
    size_t n = sizeof r / sizeof r[0];
    FILE *f = write_trace(r, n);
    char *s = slurp(f);
    TT_TRUE(strstr(s, "P 18446744073709551615 h2g 65535 65535 18446744073709551615:4294967295 "
                      "18446744073709551615:4294967295 len=4294967295 flags=4294967295 "
                      "buf_alloc=4294967295 fwd_cnt=4294967295 sum=ffffffff\n") != NULL,
            "max packet line in:\n%s", s);
    TT_TRUE(strstr(s, "P 0 g2h INVALID 0 0:0 0:0 len=0") != NULL, "op 0 by name, type 0 as 0");
    TT_TRUE(strstr(s, " CREDIT_REQUEST 3 ") != NULL, "type 3 as a number");
    free(s);
    rewind(f);
    read_back(f, r, n);
    fclose(f);
}

TT_TC(round_trip_header, "a header with 32 options, maximal fields and seed reads back")
ATF_TC_BODY(round_trip_header, tc)
{
    struct trace_header h, got;
    memset(&h, 0, sizeof h);
    memset(h.program, 'p', TRACE_FIELD_MAX);
    memset(h.scenario, 's', TRACE_FIELD_MAX);
    h.seed = UINT64_MAX;
    for (unsigned i = 0; i < TRACE_MAX_OPTIONS; i++)
        TT_EQ(0, trace_header_add_option(&h, tt_fmt("opt-%u", i), tt_fmt("v%u", i * 7)), "%u", i);
    FILE *f = tmpfile();
    ATF_REQUIRE(f != NULL);
    struct trace_writer *w = trace_writer_open(f, &h);
    ATF_REQUIRE(w != NULL);
    TT_EQ(0, trace_write_end(w, TRACE_OK, 0, 0, 0), "end");
    TT_EQ(0, trace_writer_close(w), "close");
    rewind(f);
    struct trace_error err;
    struct trace_reader *r = trace_reader_open(f, &got, &err);
    TT_TRUE(r != NULL, "%s", err.msg);
    STR_EQ(h.program, got.program);
    STR_EQ(h.scenario, got.scenario);
    TT_EQ(UINT64_MAX, got.seed, "seed");
    TT_EQ(TRACE_MAX_OPTIONS, got.noptions, "options");
    STR_EQ("v217", trace_header_option(&got, "opt-31"));
    TT_TRUE(trace_header_option(&got, "opt-32") == NULL, "no opt-32");
    trace_reader_close(r);
    fclose(f);
}

TT_TC(header_options_api, "options: unique keys, [a-z0-9-] keys, token values, at most 32")
ATF_TC_BODY(header_options_api, tc)
{
    struct trace_header h;
    memset(&h, 0, sizeof h);
    TT_EQ(0, trace_header_add_option(&h, "rate-ppm", "1000"), "add");
    TT_EQ(-EINVAL, trace_header_add_option(&h, "rate-ppm", "2"), "duplicate");
    TT_EQ(-EINVAL, trace_header_add_option(&h, "Rate", "2"), "upper case key");
    TT_EQ(-EINVAL, trace_header_add_option(&h, "", "2"), "empty key");
    TT_EQ(-EINVAL, trace_header_add_option(&h, "k", "a b"), "space in value");
    TT_EQ(-EINVAL, trace_header_add_option(&h, "k", ""), "empty value");
    char longer[TRACE_FIELD_MAX + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    TT_EQ(-EINVAL, trace_header_add_option(&h, "k", longer), "value of 65");
    TT_EQ(-EINVAL, trace_header_add_option(&h, longer, "v"), "key of 65");
    for (unsigned i = 1; i < TRACE_MAX_OPTIONS; i++)
        TT_EQ(0, trace_header_add_option(&h, tt_fmt("k%u", i), "v"), "%u", i);
    TT_EQ(-ENOSPC, trace_header_add_option(&h, "one-more", "v"), "33rd");
    STR_EQ("1000", trace_header_option(&h, "rate-ppm"));
    TT_TRUE(trace_header_option(&h, "rate") == NULL, "prefix is not a key");
}

TT_TC(writer_refuses_invalid, "what the reader would reject is refused, and the error sticks")
ATF_TC_BODY(writer_refuses_invalid, tc)
{
    struct trace_header h = test_header();
    FILE *f = tmpfile();
    ATF_REQUIRE(f != NULL);
    struct trace_writer *w = trace_writer_open(f, &h);
    TT_EQ(-EINVAL, trace_write_decision(w, "Actor", 2, 1), "upper case kind");
    TT_EQ(-EINVAL, trace_write_decision(w, "actor", 2, 1), "sticky");
    TT_EQ(-EINVAL, trace_writer_close(w), "close reports it");

    struct trace_packet bad_dir;
    memset(&bad_dir, 0, sizeof bad_dir);
    bad_dir.dir = (enum trace_dir)2;
    char long_detail[TRACE_DETAIL_MAX + 2];
    memset(long_detail, 'd', sizeof long_detail - 1);
    long_detail[sizeof long_detail - 1] = '\0';
    for (int c = 0; c < 8; c++) {
        w = trace_writer_open(f, &h);
        int rc = 0;
        switch (c) {
        case 0: rc = trace_write_decision(w, "actor", 0, 0); break;
        case 1: rc = trace_write_decision(w, "actor", 3, 3); break;
        case 2: rc = trace_write_decision(w, "act0r", 3, 1); break;
        case 3: rc = trace_write_fault(w, 1, "kick delay", NULL); break;
        case 4: rc = trace_write_fault(w, 1, "kick-delay", "5 us"); break;
        case 5: rc = trace_write_fault(w, 1, "kick-delay", long_detail); break;
        case 6: rc = trace_write_packet(w, &bad_dir); break;
        case 7: rc = trace_write_end(w, (enum trace_status)9, 0, 0, 0); break;
        }
        TT_EQ(-EINVAL, rc, "case %d", c);
        TT_EQ(-EINVAL, trace_writer_error(w), "case %d sticks", c);
        TT_EQ(-EINVAL, trace_writer_close(w), "case %d close", c);
    }

    w = trace_writer_open(f, &h);
    TT_EQ(0, trace_write_end(w, TRACE_OK, 1, 1, 1), "end");
    TT_EQ(-EINVAL, trace_write_note(w, 2, "after end"), "record after end");
    TT_EQ(-EINVAL, trace_writer_close(w), "close");

    struct trace_header bad = test_header();
    strcpy(bad.program, "0.1 beta");
    w = trace_writer_open(f, &bad);
    TT_EQ(-EINVAL, trace_writer_error(w), "space in program");
    TT_EQ(-EINVAL, trace_writer_close(w), "close");
    bad = test_header();
    strcpy(bad.options[1].key, "workload");
    w = trace_writer_open(f, &bad);
    TT_EQ(-EINVAL, trace_writer_close(w), "duplicate option key");
    fclose(f);
}

TT_TC(writer_io_error, "a failing FILE makes the writer report -EIO at close")
ATF_TC_BODY(writer_io_error, tc)
{
    FILE *f = fopen("/dev/full", "w");
    if (f == NULL)
        atf_tc_skip("no /dev/full");
    struct trace_header h = test_header();
    struct trace_writer *w = trace_writer_open(f, &h);
    ATF_REQUIRE(w != NULL);
    for (int i = 0; i < 10000 && trace_writer_error(w) == 0; i++)
        trace_write_decision(w, "actor", 5, 1);
    TT_EQ(-EIO, trace_writer_close(w), "close");
    fclose(f);
}

TT_TC(note_sanitised, "notes become one line of printable ASCII, cut at TRACE_NOTE_MAX")
ATF_TC_BODY(note_sanitised, tc)
{
    FILE *f = tmpfile();
    ATF_REQUIRE(f != NULL);
    struct trace_header h = test_header();
    struct trace_writer *w = trace_writer_open(f, &h);
    char *huge = malloc(TRACE_NOTE_MAX + 100);
    ATF_REQUIRE(huge != NULL);
    memset(huge, 'x', TRACE_NOTE_MAX + 99);
    huge[TRACE_NOTE_MAX + 99] = '\0';
    TT_EQ(0, trace_write_note(w, 1, "two\nlines\tand\r\x01 \x7f caf\xc3\xa9"), "note");
    TT_EQ(0, trace_write_note(w, 2, huge), "huge note");
    TT_EQ(0, trace_write_note(w, 3, NULL), "NULL note");
    TT_EQ(0, trace_write_end(w, TRACE_ERROR, 0, 3, 0), "end");
    TT_EQ(0, trace_writer_close(w), "close");
    huge[TRACE_NOTE_MAX] = '\0';
    struct trace_record want[] = {
        note_rec(1, "two lines and     caf??"),
        note_rec(2, huge),
        note_rec(3, ""),
        end_rec(TRACE_ERROR, 0, 3, 0),
    };
    free(huge);
    rewind(f);
    read_back(f, want, 4);
    fclose(f);
}

/* ---- reader errors ------------------------------------------------------------ */

TT_TC(err_empty_file, "an empty file is not a trace")
ATF_TC_BODY(err_empty_file, tc)
{
    EXPECT_ERROR("", 1, "line 1: empty file: not a vsocksim trace");
}

TT_TC(err_wrong_magic, "the first line names the format; anything else is another file")
ATF_TC_BODY(err_wrong_magic, tc)
{
    const char *msg = "line 1: not a vsocksim trace (expected 'vsocksim-trace 1')";
    EXPECT_ERROR("hello\n", 1, msg);
    EXPECT_ERROR("vsocksim-trace\n", 1, msg);
    EXPECT_ERROR("\x7f" "ELF\x02\x01\x01\0\0\0\n", 1, msg);
    EXPECT_ERROR("\n", 1, msg);
    EXPECT_ERROR("VSOCKSIM-TRACE 1\n", 1, msg);
}

TT_TC(err_wrong_version, "another format version is refused by number")
ATF_TC_BODY(err_wrong_version, tc)
{
    EXPECT_ERROR("vsocksim-trace 7\nprogram 0.1\n", 1,
                 "line 1: trace format version 7 not supported (this program reads version 1)");
    EXPECT_ERROR("vsocksim-trace 0\n", 1,
                 "line 1: trace format version 0 not supported (this program reads version 1)");
    EXPECT_ERROR("vsocksim-trace x\n", 1, "line 1: bad trace format version 'x'");
    EXPECT_ERROR("vsocksim-trace 1 \n", 1, "line 1: bad trace format version '1 '");
    EXPECT_ERROR("vsocksim-trace 99999999999\n", 1, "line 1: bad trace format version '99999999999'");
}

TT_TC(err_header_lines, "missing or malformed program, seed, scenario")
ATF_TC_BODY(err_header_lines, tc)
{
    EXPECT_ERROR("vsocksim-trace 1\nprogram 0.1\nscenario basic\nbegin\n", 3,
                 "line 3: missing 'seed' line (expected 'seed <u64>', got 'scenario basic')");
    EXPECT_ERROR("vsocksim-trace 1\nseed 1\n", 2,
                 "line 2: missing 'program' line (expected 'program <version>', got 'seed 1')");
    EXPECT_ERROR("vsocksim-trace 1\nprogram 0.1\nseed\n", 3,
                 "line 3: seed: missing value (expected 'seed <u64>')");
    EXPECT_ERROR("vsocksim-trace 1\nprogram 0.1 beta\n", 2,
                 "line 2: program: bad value '0.1 beta' (1 to 64 characters, no spaces)");
    EXPECT_ERROR("vsocksim-trace 1\nprogram 0.1\nseed 1\nscenariox\n", 4,
                 "line 4: missing 'scenario' line (expected 'scenario <name>', got 'scenariox')");
    EXPECT_ERROR("vsocksim-trace 1\nprogram 0.1\nseed 1\n", 4,
                 "line 4: unexpected end of file in the header (expected 'scenario <name>')");
    EXPECT_ERROR("vsocksim-trace 1\nprogram 0.1\nseed 1\nscenario s\n", 5,
                 "line 5: unexpected end of file in the header (expected 'begin')");
    EXPECT_ERROR("vsocksim-trace 1\nprogram 0.1\nseed 1\nscenario s\nD actor 1 0\n", 5,
                 "line 5: expected 'option <key> <value>' or 'begin', got 'D actor 1 0'");
}

TT_TC(err_header_options, "option lines: key, value, duplicates, at most 32")
ATF_TC_BODY(err_header_options, tc)
{
#define PRE "vsocksim-trace 1\nprogram 0.1\nseed 1\nscenario s\n"
    EXPECT_ERROR(PRE "option Rate 5\nbegin\n", 5,
                 "line 5: option: bad key 'Rate' (1 to 64 of [a-z0-9-])");
    EXPECT_ERROR(PRE "option rate\nbegin\n", 5, "line 5: option: expected 'option <key> <value>'");
    EXPECT_ERROR(PRE "option rate 5 6\nbegin\n", 5,
                 "line 5: option: expected 'option <key> <value>'");
    EXPECT_ERROR(PRE "option rate 5\noption rate 6\nbegin\n", 6, "line 6: option rate given twice");
    EXPECT_ERROR(PRE "option rate \x01\nbegin\n", 5, "line 5: control character 0x01 at column 13");
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s", PRE);
    for (unsigned i = 0; i <= TRACE_MAX_OPTIONS; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "option k%u v\n", i);
    snprintf(buf + n, sizeof buf - n, "begin\n" END_LINE);
    check_error_at(__FILE__, __LINE__, buf, strlen(buf), 37,
                   "line 37: too many options (at most 32)");
#undef PRE
}

TT_TC(err_bad_numbers, "numbers are plain decimal digits")
ATF_TC_BODY(err_bad_numbers, tc)
{
    EXPECT_ERROR("vsocksim-trace 1\nprogram 0.1\nseed abc\n", 3, "line 3: seed: not a number: 'abc'");
    EXPECT_ERROR("vsocksim-trace 1\nprogram 0.1\nseed -1\n", 3, "line 3: seed: not a number: '-1'");
    EXPECT_ERROR("vsocksim-trace 1\nprogram 0.1\nseed 0x10\n", 3,
                 "line 3: seed: not a number: '0x10'");
    EXPECT_ERROR("vsocksim-trace 1\nprogram 0.1\nseed 1 2\n", 3, "line 3: seed: not a number: '1 2'");
    EXPECT_ERROR(HDR "D actor 5a 1\n", 6, "line 6: decision record: n: not a number: '5a'");
    EXPECT_ERROR(HDR "D actor 5 +1\n", 6, "line 6: decision record: value: not a number: '+1'");
    EXPECT_ERROR(HDR "F 1.5 kick-delay\n", 6, "line 6: fault record: t: not a number: '1.5'");
    EXPECT_ERROR(HDR "N x hello\n", 6, "line 6: note record: t: not a number: 'x'");
    EXPECT_ERROR(HDR "P 1 g2h RW STREAM 3:1 2:2 len=1k flags=0 buf_alloc=0 fwd_cnt=0 sum=00000000\n",
                 6, "line 6: packet record: len: not a number: '1k'");
    EXPECT_ERROR(HDR "end ok steps= t=5 digest=0000000000000000\n", 6,
                 "line 6: end record: steps: not a number: ''");
}

TT_TC(err_overflow, "numbers beyond their field's width are errors, not wrapped")
ATF_TC_BODY(err_overflow, tc)
{
    EXPECT_ERROR("vsocksim-trace 1\nprogram 0.1\nseed 18446744073709551616\n", 3,
                 "line 3: seed: 18446744073709551616 out of range (max 18446744073709551615)");
    EXPECT_ERROR(HDR "P 1 g2h RW STREAM 3:4294967296 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 "
                     "sum=00000000\n",
                 6, "line 6: packet record: src port 4294967296 out of range (max 4294967295)");
    EXPECT_ERROR(HDR "P 1 g2h RW STREAM 3:1 18446744073709551616:2 len=0 flags=0 buf_alloc=0 "
                     "fwd_cnt=0 sum=00000000\n",
                 6, "line 6: packet record: dst cid in '18446744073709551616:2' out of range "
                    "(max 18446744073709551615)");
    EXPECT_ERROR(HDR "P 1 g2h 65536 STREAM 3:1 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 "
                     "sum=00000000\n",
                 6, "line 6: packet record: op: 65536 out of range (max 65535)");
    EXPECT_ERROR(HDR "P 1 g2h RW 70000 3:1 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 sum=00000000\n",
                 6, "line 6: packet record: type: 70000 out of range (max 65535)");
    EXPECT_ERROR(HDR "P 1 g2h RW STREAM 3:1 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=4294967296 "
                     "sum=00000000\n",
                 6, "line 6: packet record: fwd_cnt: 4294967296 out of range (max 4294967295)");
    EXPECT_ERROR(HDR "D actor 99999999999999999999999 1\n", 6,
                 "line 6: decision record: n: 99999999999999999999999 out of range "
                 "(max 18446744073709551615)");
    EXPECT_ERROR(HDR "P 18446744073709551616 g2h RW STREAM 3:1 2:2 len=0 flags=0 buf_alloc=0 "
                     "fwd_cnt=0 sum=00000000\n",
                 6, "line 6: packet record: t: 18446744073709551616 out of range "
                    "(max 18446744073709551615)");
}

TT_TC(err_packet_fields, "packet records: direction, op/type names, addresses, order, sum")
ATF_TC_BODY(err_packet_fields, tc)
{
    EXPECT_ERROR(HDR "P 1 g2g RW STREAM 3:1 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 sum=00000000\n",
                 6, "line 6: packet record: bad direction 'g2g' (expected g2h or h2g)");
    EXPECT_ERROR(HDR "P 1 g2h RW STREAM 3:x 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 sum=00000000\n",
                 6, "line 6: packet record: bad src address '3:x'");
    EXPECT_ERROR(HDR "P 1 g2h RW STREAM 3:1 2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 sum=00000000\n",
                 6, "line 6: packet record: bad dst address '2' (expected <cid>:<port>)");
    EXPECT_ERROR(HDR "P 1 g2h RW STREAM :1 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 sum=00000000\n",
                 6, "line 6: packet record: bad src address ':1'");
    EXPECT_ERROR(HDR "P 1 g2h RW STREAM 3:1:1 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 "
                     "sum=00000000\n",
                 6, "line 6: packet record: bad src address '3:1:1'");
    EXPECT_ERROR(HDR "P 1 g2h READ STREAM 3:1 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 "
                     "sum=00000000\n",
                 6, "line 6: packet record: op: unknown name 'READ'");
    EXPECT_ERROR(HDR "P 1 g2h OP? STREAM 3:1 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 "
                     "sum=00000000\n",
                 6, "line 6: packet record: op: unknown name 'OP?'");
    EXPECT_ERROR(HDR "P 1 g2h RW stream 3:1 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 "
                     "sum=00000000\n",
                 6, "line 6: packet record: type: unknown name 'stream'");
    EXPECT_ERROR(HDR "P 1 g2h RW STREAM 3:1 2:2 flags=0 len=0 buf_alloc=0 fwd_cnt=0 sum=00000000\n",
                 6, "line 6: packet record: expected 'len=', got 'flags=0'");
    EXPECT_ERROR(HDR "P 1 g2h RW STREAM 3:1 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 sum=0000000\n",
                 6, "line 6: packet record: sum: expected 8 hex digits, got '0000000'");
    EXPECT_ERROR(HDR "P 1 g2h RW STREAM 3:1 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 sum=0000000g\n",
                 6, "line 6: packet record: sum: expected 8 hex digits, got '0000000g'");
    EXPECT_ERROR(HDR "P 1 g2h RW STREAM 3:1 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0\n", 6,
                 "line 6: packet record: expected 12 fields ('P <t> <dir> <op> <type> <src> "
                 "<dst> len= flags= buf_alloc= fwd_cnt= sum='), got 11");
    /* Numbers stand for ops and types too, as old traces may use them. */
    struct trace_error err;
    TT_EQ(2, read_string(HDR "P 1 g2h 5 1 3:1 2:2 len=0 flags=0 buf_alloc=0 fwd_cnt=0 "
                             "sum=ABCDEF01\n" END_LINE, &err),
          "numeric op and type, upper-case sum: %s", err.msg);
}

TT_TC(err_decision_value_not_below_n, "a decision's value must lie in [0, n)")
ATF_TC_BODY(err_decision_value_not_below_n, tc)
{
    EXPECT_ERROR(HDR "D actor 3 9\n", 6, "line 6: decision value 9 not below n=3");
    EXPECT_ERROR(HDR "D actor 3 3\n", 6, "line 6: decision value 3 not below n=3");
    EXPECT_ERROR(HDR "D actor 3\n", 6,
                 "line 6: decision record: expected 'D <kind> <n> <value>', got 3 fields");
    EXPECT_ERROR(HDR "D Actor 3 1\n", 6,
                 "line 6: decision record: bad kind 'Actor' (1 to 32 of [a-z-])");
}

TT_TC(err_decision_n_zero, "a decision among zero choices is an error")
ATF_TC_BODY(err_decision_n_zero, tc)
{
    EXPECT_ERROR(HDR "D actor 0 0\n", 6, "line 6: decision n must be at least 1, got 0");
}

TT_TC(err_unknown_record, "unknown record letters and header words in the body")
ATF_TC_BODY(err_unknown_record, tc)
{
    EXPECT_ERROR(HDR "X 1 2\n", 6, "line 6: unknown record 'X' (expected D, P, F, N or end)");
    EXPECT_ERROR(HDR "d actor 1 0\n", 6, "line 6: unknown record 'd' (expected D, P, F, N or end)");
    EXPECT_ERROR(HDR "begin\n", 6, "line 6: unknown record 'begin' (expected D, P, F, N or end)");
    EXPECT_ERROR(HDR "N\n", 6, "line 6: note record: missing t");
}

TT_TC(err_fault_and_end_fields, "fault and end records: names, status, digest")
ATF_TC_BODY(err_fault_and_end_fields, tc)
{
    EXPECT_ERROR(HDR "F 1 Kick\n", 6, "line 6: fault record: bad name 'Kick' (1 to 32 of [a-z-])");
    EXPECT_ERROR(HDR "F 1\n", 6, "line 6: fault record: expected 'F <t> <name> [detail]', got 2 fields");
    EXPECT_ERROR(HDR "F 1 kick a b\n", 6,
                 "line 6: fault record: expected 'F <t> <name> [detail]', got 5 fields");
    EXPECT_ERROR(HDR "end fine steps=1 t=5 digest=0000000000000000\n", 6,
                 "line 6: end record: bad status 'fine' (expected ok, violation, divergence or "
                 "error)");
    EXPECT_ERROR(HDR "end ok steps=1 t=5 digest=000000000000000\n", 6,
                 "line 6: end record: digest: expected 16 hex digits, got '000000000000000'");
    EXPECT_ERROR(HDR "end ok steps=1 time=5 digest=0000000000000000\n", 6,
                 "line 6: end record: expected 't=', got 'time=5'");
    EXPECT_ERROR(HDR "end ok\n", 6,
                 "line 6: end record: expected 'end <status> steps= t= digest=', got 2 fields");
}

TT_TC(err_spacing, "fields are separated by exactly one space")
ATF_TC_BODY(err_spacing, tc)
{
    const char *msg =
        "line 6: empty field or too many fields (fields are separated by one space)";
    EXPECT_ERROR(HDR "D  actor 1 0\n", 6, msg);
    EXPECT_ERROR(HDR "D actor 1 0 \n", 6, msg);
    EXPECT_ERROR(HDR " D actor 1 0\n", 6, msg);
    EXPECT_ERROR(HDR "\n" END_LINE, 6,
                 "line 6: empty line (blank lines are only allowed after 'end')");
    EXPECT_ERROR(HDR "D a b c d e f g h i j k l m n o p q\n", 6, msg);
}

TT_TC(err_truncated, "a trace without its end record is reported as truncated")
ATF_TC_BODY(err_truncated, tc)
{
    EXPECT_ERROR(HDR "D actor 5 1\n", 7,
                 "line 7: unexpected end of file: the trace is truncated (no 'end' record)");
    EXPECT_ERROR(HDR, 6, "line 6: unexpected end of file: the trace is truncated (no 'end' record)");
    EXPECT_ERROR(HDR "D actor 5 1", 7,
                 "line 7: unexpected end of file: the trace is truncated (no 'end' record)");
    EXPECT_ERROR(HDR "P 1 g2h RW STREAM 3:1 2:2 len=0 flags=0 buf_a", 6,
                 "line 6: packet record: expected 12 fields ('P <t> <dir> <op> <type> <src> "
                 "<dst> len= flags= buf_alloc= fwd_cnt= sum='), got 10 (the last line has no "
                 "newline: the trace may be truncated)");
    EXPECT_ERROR(HDR "end ok steps=1 t=5 digest=00000", 6,
                 "line 6: end record: digest: expected 16 hex digits, got '00000' (the last "
                 "line has no newline: the trace may be truncated)");
    /* A complete last line without its newline is fine. */
    struct trace_error err;
    TT_EQ(1, read_string(HDR "end ok steps=1 t=5 digest=0000000000000000", &err), "%s", err.msg);
}

TT_TC(err_garbage_after_end, "only blank lines may follow the end record")
ATF_TC_BODY(err_garbage_after_end, tc)
{
    EXPECT_ERROR(HDR END_LINE "\nD actor 1 0\n", 8, "line 8: content after 'end': 'D actor 1 0'");
    EXPECT_ERROR(HDR END_LINE END_LINE, 7,
                 "line 7: content after 'end': 'end ok steps=1 t=5 digest=0000000000000000'");
    EXPECT_ERROR(HDR END_LINE " \n", 7, "line 7: content after 'end': ' '");
    EXPECT_ERROR(HDR END_LINE "\0", 7, "line 7: NUL byte at column 1");
    struct trace_error err;
    TT_EQ(1, read_string(HDR END_LINE "\n\n\r\n\n", &err), "blank lines: %s", err.msg);
}

TT_TC(err_overlong_line, "a line over 4096 bytes is an error, and reading stops there")
ATF_TC_BODY(err_overlong_line, tc)
{
    size_t big = 1u << 20;
    char *s = malloc(sizeof HDR + big + 2);
    ATF_REQUIRE(s != NULL);
    memcpy(s, HDR, sizeof HDR - 1);
    char *line = s + sizeof HDR - 1;
    memset(line, 'x', big);
    line[big] = '\n';
    line[big + 1] = '\0';

    /* 4096 bytes is a line (here a bad record), 4097 is not. */
    memcpy(line, "N 1 ", 4);
    line[TRACE_LINE_MAX] = '\n';
    check_error_at(__FILE__, __LINE__, s, sizeof HDR - 1 + TRACE_LINE_MAX + 1, 6,
                   "line 6: note record: text longer than 4000 characters");
    line[TRACE_LINE_MAX] = 'x';
    line[TRACE_LINE_MAX + 1] = '\n';
    check_error_at(__FILE__, __LINE__, s, sizeof HDR - 1 + TRACE_LINE_MAX + 2, 6,
                   "line 6: line longer than 4096 bytes");

    /* A megabyte on one line: the reader gives up after the limit. */
    line[TRACE_LINE_MAX + 1] = 'x';
    FILE *f = file_with(s, strlen(s));
    struct trace_header h;
    struct trace_record rec;
    struct trace_error err;
    struct trace_reader *r = trace_reader_open(f, &h, &err);
    ATF_REQUIRE(r != NULL);
    TT_EQ(-1, trace_reader_next(r, &rec, &err), "next");
    STR_EQ("line 6: line longer than 4096 bytes", err.msg);
    long pos = ftell(f);
    TT_TRUE(pos <= (long)(sizeof HDR + TRACE_LINE_MAX + 2), "read up to %ld of %zu bytes", pos,
            strlen(s));
    trace_reader_close(r);
    fclose(f);

    /* The same on the first line: that is not a trace at all. */
    check_error_at(__FILE__, __LINE__, line, strlen(line), 1,
                   "line 1: not a vsocksim trace (expected 'vsocksim-trace 1')");
    free(s);
}

TT_TC(err_nul_and_non_ascii, "NUL bytes, non-ASCII bytes and control characters are errors")
ATF_TC_BODY(err_nul_and_non_ascii, tc)
{
    EXPECT_ERROR(HDR "D actor 5\0 1\n", 6, "line 6: NUL byte at column 10");
    EXPECT_ERROR(HDR "N 1 caf\xc3\xa9\n", 6, "line 6: non-ASCII byte 0xc3 at column 8");
    EXPECT_ERROR(HDR "D actor\t5 1\n", 6, "line 6: control character 0x09 at column 8");
    EXPECT_ERROR(HDR "N 1 \x7f\n", 6, "line 6: control character 0x7f at column 5");
    EXPECT_ERROR("vsocksim-trace 1\nprogram 0.1\0\n", 2, "line 2: NUL byte at column 12");
}

TT_TC(crlf_accepted, "CRLF line endings read as LF; a CR anywhere else is an error")
ATF_TC_BODY(crlf_accepted, tc)
{
    struct trace_record r[9];
    fixed_records(r);
    char crlf[sizeof fixed_trace * 2];
    size_t n = 0;
    for (const char *p = fixed_trace; *p; p++) {
        if (*p == '\n')
            crlf[n++] = '\r';
        crlf[n++] = *p;
    }
    FILE *f = file_with(crlf, n);
    read_back(f, r, 9);
    fclose(f);
    EXPECT_ERROR(HDR "D actor 5 1\r\r\n", 6,
                 "line 6: control character 0x0d at column 12 (a CR is only accepted right "
                 "before the newline)");
    EXPECT_ERROR(HDR "D actor\r5 1\n", 6,
                 "line 6: control character 0x0d at column 8 (a CR is only accepted right "
                 "before the newline)");
    /* The CR of a CRLF does not count towards the line limit. */
    char *s = malloc(sizeof HDR + TRACE_LINE_MAX + 2);
    ATF_REQUIRE(s != NULL);
    memcpy(s, HDR, sizeof HDR - 1);
    char *line = s + sizeof HDR - 1;
    memset(line, 'x', TRACE_LINE_MAX);
    memcpy(line, "N 1 ", 4);
    memcpy(line + TRACE_LINE_MAX, "\r\n", 2);
    check_error_at(__FILE__, __LINE__, s, sizeof HDR - 1 + TRACE_LINE_MAX + 2, 6,
                   "line 6: note record: text longer than 4000 characters");
    free(s);
}

TT_TC(errors_stick, "after an error the reader keeps returning it")
ATF_TC_BODY(errors_stick, tc)
{
    const char text[] = HDR "D actor 3 1\nD actor 3 7\nD actor 3 1\n" END_LINE;
    FILE *f = file_with(text, sizeof text - 1);
    struct trace_header h;
    struct trace_record rec;
    struct trace_error err;
    struct trace_reader *r = trace_reader_open(f, &h, &err);
    ATF_REQUIRE(r != NULL);
    TT_EQ(1, trace_reader_next(r, &rec, &err), "first");
    TT_EQ(6, trace_reader_line(r), "its line");
    TT_EQ(-1, trace_reader_next(r, &rec, &err), "second");
    memset(&err, 0, sizeof err);
    TT_EQ(-1, trace_reader_next(r, &rec, &err), "again");
    TT_EQ(7, err.line, "line");
    STR_EQ("line 7: decision value 7 not below n=3", err.msg);
    TT_EQ(-1, trace_reader_next(r, &rec, NULL), "without err");
    trace_reader_close(r);
    fclose(f);
}

/* Every single-byte change and every truncation of a valid trace ends in
 * either a complete read or an error naming a line: never a crash or hang
 * (the ASan build checks the memory side). */
TT_TC(mutations_end_cleanly, "mutated and truncated traces give errors, never crashes")
ATF_TC_BODY(mutations_end_cleanly, tc)
{
    static const unsigned char subst[] = {0, ' ', '\n', '\r', '0', '9', ':', '=', 'x', 0xff};
    size_t len = sizeof fixed_trace - 1;
    char *s = malloc(len);
    ATF_REQUIRE(s != NULL);
    unsigned long errors = 0, whole = 0;
    for (size_t i = 0; i <= len; i++) {
        for (size_t k = 0; k <= sizeof subst; k++) {
            memcpy(s, fixed_trace, len);
            size_t n = len;
            if (k == sizeof subst)
                n = i; /* truncated at i */
            else if (i < len)
                s[i] = (char)subst[k];
            else
                continue;
            struct trace_error err;
            memset(&err, 0, sizeof err);
            FILE *f = file_with(s, n);
            long got = read_all(f, &err);
            fclose(f);
            if (got >= 0) {
                whole++;
                continue;
            }
            errors++;
            TT_TRUE(err.line >= 1 && err.line <= 18, "byte %zu sub %zu: line %lu", i, k,
                    err.line);
            const char *prefix = tt_fmt("line %lu: ", err.line);
            TT_TRUE(strncmp(err.msg, prefix, strlen(prefix)) == 0 &&
                        strlen(err.msg) > strlen(prefix) + 4,
                    "byte %zu sub %zu: message \"%s\"", i, k, err.msg);
        }
    }
    TT_TRUE(errors > 1000, "%lu errors", errors);
    TT_TRUE(whole > 0, "some mutations are still valid (%lu)", whole);
    free(s);
}

/* ---- streaming ---------------------------------------------------------------- */

#define LONG_RECORDS 200000u

TT_TC(stream_200k_decisions, "200k records stream through the reader's fixed buffer")
ATF_TC_BODY(stream_200k_decisions, tc)
{
    FILE *f = tmpfile();
    ATF_REQUIRE(f != NULL);
    struct trace_header h = test_header();
    struct trace_writer *w = trace_writer_open(f, &h);
    for (uint32_t i = 0; i < LONG_RECORDS; i++)
        trace_write_decision(w, i % 2 ? "actor" : "latency", i + 1u, i);
    trace_write_end(w, TRACE_OK, LONG_RECORDS, 0, 0);
    TT_EQ(0, trace_writer_close(w), "close");
    rewind(f);

    struct trace_error err;
    struct trace_reader *r = trace_reader_open(f, &h, &err);
    ATF_REQUIRE(r != NULL);
    struct trace_record rec;
    for (uint32_t i = 0; i < LONG_RECORDS; i++) {
        int rc = trace_reader_next(r, &rec, &err);
        if (rc != 1 || rec.type != TRACE_DECISION || rec.decision.n != i + 1u ||
            rec.decision.value != i || strcmp(rec.decision.kind, i % 2 ? "actor" : "latency"))
            atf_tc_fail("record %u: rc %d %s", i, rc, rc < 0 ? err.msg : "");
    }
    TT_EQ(1, trace_reader_next(r, &rec, &err), "end");
    TT_EQ(TRACE_END, rec.type, "end record");
    TT_EQ(LONG_RECORDS, rec.end.steps, "steps");
    TT_EQ(7 + LONG_RECORDS + 1, trace_reader_line(r), "end's line");
    TT_EQ(0, trace_reader_next(r, &rec, &err), "done");
    trace_reader_close(r);
    fclose(f);
}

/* ---- show --------------------------------------------------------------------- */

static const char *show(const struct trace_record *r, bool verbose)
{
    static char buf[TRACE_LINE_MAX + 128];
    size_t n = trace_record_show(r, verbose, buf, sizeof buf);
    TT_EQ(strlen(buf), n, "returned length of \"%s\"", buf);
    return buf;
}

TT_TC(show_packets, "timeline lines for packets: direction, names, flags")
ATF_TC_BODY(show_packets, tc)
{
    struct trace_record r = g2h_request();
    STR_EQ("t=1.204ms guest 3:1024 -> host 2:5000 REQUEST STREAM len=0 buf_alloc=262144 "
           "fwd_cnt=0",
           show(&r, false));
    r = packet_rec(1300000, TRACE_H2G,
                   hdr_of(VSOCK_OP_RESPONSE, VSOCK_TYPE_STREAM, 2, 5000, 3, 1024), 0);
    STR_EQ("t=1.300ms host 2:5000 -> guest 3:1024 RESPONSE STREAM len=0 buf_alloc=262144 "
           "fwd_cnt=0",
           show(&r, false));
    r.packet.hdr.op = VSOCK_OP_SHUTDOWN;
    r.packet.hdr.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
    STR_EQ("t=1.300ms host 2:5000 -> guest 3:1024 SHUTDOWN STREAM len=0 flags=RCV|SEND "
           "buf_alloc=262144 fwd_cnt=0",
           show(&r, false));
    r.packet.hdr.flags = VSOCK_SHUTDOWN_SEND | 8u;
    STR_EQ("t=1.300ms host 2:5000 -> guest 3:1024 SHUTDOWN STREAM len=0 flags=SEND|0x8 "
           "buf_alloc=262144 fwd_cnt=0",
           show(&r, false));
    struct vsock_hdr rw = hdr_of(VSOCK_OP_RW, VSOCK_TYPE_SEQPACKET, 3, 1024, 2, 5000);
    rw.len = 9;
    rw.flags = VSOCK_SEQ_EOM | VSOCK_SEQ_EOR;
    rw.fwd_cnt = 4096;
    r = packet_rec(2500001, TRACE_G2H, rw, 0);
    STR_EQ("t=2.500ms guest 3:1024 -> host 2:5000 RW SEQPACKET len=9 flags=EOM|EOR "
           "buf_alloc=262144 fwd_cnt=4096",
           show(&r, false));
    r.packet.hdr.type = VSOCK_TYPE_STREAM;
    r.packet.hdr.flags = 1;
    STR_EQ("t=2.500ms guest 3:1024 -> host 2:5000 RW STREAM len=9 flags=0x1 buf_alloc=262144 "
           "fwd_cnt=4096",
           show(&r, false));
    r = packet_rec(999, TRACE_G2H, hdr_of(99, 7, 3, 1, 2, 2), 0);
    STR_EQ("t=0.000ms guest 3:1 -> host 2:2 op=99 type=7 len=0 buf_alloc=262144 fwd_cnt=0",
           show(&r, false));
}

TT_TC(show_other_records, "timeline lines for faults, notes, end, and decisions when verbose")
ATF_TC_BODY(show_other_records, tc)
{
    struct trace_record r = fault_rec(2000000, "kick-delay", "500us");
    STR_EQ("t=2.000ms FAULT kick-delay 500us", show(&r, false));
    r = fault_rec(UINT64_MAX, "drop-irq", "");
    STR_EQ("t=18446744073709.551ms FAULT drop-irq", show(&r, false));
    r = note_rec(12345678, "violation: credit exceeded");
    STR_EQ("t=12.345ms NOTE violation: credit exceeded", show(&r, false));
    r = end_rec(TRACE_VIOLATION, 17, 2300000, 0xdeadbeef);
    STR_EQ("t=2.300ms END violation steps=17 digest=00000000deadbeef", show(&r, false));
    r = decision_rec("actor", 5, 2);
    TT_EQ(0, trace_record_show(&r, false, NULL, 0), "decisions hidden");
    STR_EQ("decision actor 2/5", show(&r, true));
}

TT_TC(show_small_buffer, "show reports the size it needs and cuts safely")
ATF_TC_BODY(show_small_buffer, tc)
{
    struct trace_record r = g2h_request();
    char buf[10];
    memset(buf, '#', sizeof buf);
    size_t need = trace_record_show(&r, false, buf, sizeof buf);
    TT_EQ(strlen("t=1.204ms guest 3:1024 -> host 2:5000 REQUEST STREAM len=0 buf_alloc=262144 "
                 "fwd_cnt=0"),
          need, "needed");
    STR_EQ("t=1.204ms", buf);
    TT_EQ(need, trace_record_show(&r, false, NULL, 0), "size 0");
}

TT_TC(show_whole_trace, "trace_show prints the header and the visible records")
ATF_TC_BODY(show_whole_trace, tc)
{
    FILE *in = file_with(fixed_trace, sizeof fixed_trace - 1);
    FILE *out = tmpfile();
    ATF_REQUIRE(out != NULL);
    struct trace_error err;
    TT_EQ(0, trace_show(in, out, false, &err), "show: %s", err.msg);
    char *s = slurp(out);
    STR_EQ("vsocksim trace v1: program 0.1.0, seed 42, scenario two-streams\n"
           "options: workload=echo kick-delay-ns=500\n"
           "t=1.204ms guest 3:1024 -> host 2:5000 REQUEST STREAM len=0 buf_alloc=262144 "
           "fwd_cnt=0\n"
           "t=1.300ms host 2:5000 -> guest 3:1024 RW SEQPACKET len=9 flags=EOM|EOR "
           "buf_alloc=65536 fwd_cnt=4096\n"
           "t=1.400ms guest 3:1024 -> host 2:5000 op=99 type=0 len=0 buf_alloc=262144 "
           "fwd_cnt=0\n"
           "t=2.000ms FAULT kick-delay 500us\n"
           "t=2.100ms FAULT spurious-irq\n"
           "t=2.200ms NOTE invariant: credit  exceeded\n"
           "t=2.300ms NOTE\n"
           "t=2.300ms END violation steps=17 digest=00000000deadbeef\n",
           s);
    free(s);
    fclose(out);
    rewind(in);
    out = tmpfile();
    ATF_REQUIRE(out != NULL);
    TT_EQ(0, trace_show(in, out, true, &err), "verbose");
    s = slurp(out);
    TT_TRUE(strstr(s, "\ndecision actor 2/5\nt=1.204ms") != NULL, "decision shown:\n%s", s);
    free(s);
    fclose(out);
    fclose(in);

    in = file_with(HDR "D actor 1 0\nX\n", sizeof HDR - 1 + 14);
    out = tmpfile();
    TT_EQ(-1, trace_show(in, out, false, &err), "bad trace");
    STR_EQ("line 7: unknown record 'X' (expected D, P, F, N or end)", err.msg);
    fclose(out);
    fclose(in);
}

/* ---- comparison --------------------------------------------------------------- */

static const char *diff(const struct trace_record *a, const struct trace_record *b)
{
    static char buf[256];
    bool differ = trace_record_diff(a, b, buf, sizeof buf);
    TT_TRUE(differ == !trace_record_equal(a, b), "diff and equal agree on \"%s\"", buf);
    return differ ? buf : "(equal)";
}

TT_TC(compare_messages, "the first difference between records, in words")
ATF_TC_BODY(compare_messages, tc)
{
    struct trace_record a = g2h_request(), b = a;
    STR_EQ("(equal)", diff(&a, &b));
    a.packet.hdr.fwd_cnt = 4096;
    STR_EQ("packet fwd_cnt: expected 4096, got 0", diff(&a, &b));
    b.packet.hdr.op = VSOCK_OP_RST;
    STR_EQ("packet op: expected REQUEST, got RST", diff(&a, &b));
    b.packet.hdr.op = 99;
    STR_EQ("packet op: expected REQUEST, got 99", diff(&a, &b));
    b.packet.dir = TRACE_H2G;
    STR_EQ("packet direction: expected g2h, got h2g", diff(&a, &b));
    b = a;
    b.packet.sum = 0xabc;
    STR_EQ("packet sum: expected 00000000, got 00000abc", diff(&a, &b));
    b.packet.t = 5;
    STR_EQ("packet t: expected 1204000, got 5", diff(&a, &b));
    b = a;
    b.packet.hdr.type = VSOCK_TYPE_SEQPACKET;
    STR_EQ("packet type: expected STREAM, got SEQPACKET", diff(&a, &b));
    b = a;
    b.packet.hdr.src_port = 1025;
    STR_EQ("packet src_port: expected 1024, got 1025", diff(&a, &b));

    struct trace_record d = decision_rec("actor", 5, 2), e = decision_rec("latency", 5, 2);
    STR_EQ("record: expected packet, got decision", diff(&a, &d));
    STR_EQ("decision kind: expected 'actor', got 'latency'", diff(&d, &e));
    e = decision_rec("actor", 3, 2);
    STR_EQ("decision n: expected 5, got 3", diff(&d, &e));
    e = decision_rec("actor", 5, 4);
    STR_EQ("decision value: expected 2, got 4", diff(&d, &e));

    struct trace_record f = fault_rec(1, "kick-delay", "5us"), g = fault_rec(1, "kick-delay", "");
    STR_EQ("fault detail: expected '5us', got ''", diff(&f, &g));
    struct trace_record n1 = note_rec(1, "a"), n2 = note_rec(1, "b");
    STR_EQ("note text: expected 'a', got 'b'", diff(&n1, &n2));
    struct trace_record x = end_rec(TRACE_OK, 1, 2, 3), y = end_rec(TRACE_VIOLATION, 1, 2, 3);
    STR_EQ("end status: expected ok, got violation", diff(&x, &y));
    y = end_rec(TRACE_OK, 1, 2, 0xff);
    STR_EQ("end digest: expected 0000000000000003, got 00000000000000ff", diff(&x, &y));
    TT_TRUE(!trace_record_diff(&x, &x, NULL, 0), "NULL buffer, equal");
    TT_TRUE(trace_record_diff(&x, &y, NULL, 0), "NULL buffer, different");
}

TT_TC(names, "names of record types, directions and statuses")
ATF_TC_BODY(names, tc)
{
    STR_EQ("decision", trace_rec_type_name(TRACE_DECISION));
    STR_EQ("end", trace_rec_type_name(TRACE_END));
    STR_EQ("record?", trace_rec_type_name((enum trace_rec_type)42));
    STR_EQ("g2h", trace_dir_name(TRACE_G2H));
    STR_EQ("h2g", trace_dir_name(TRACE_H2G));
    STR_EQ("dir?", trace_dir_name((enum trace_dir)2));
    STR_EQ("ok", trace_status_name(TRACE_OK));
    STR_EQ("violation", trace_status_name(TRACE_VIOLATION));
    STR_EQ("divergence", trace_status_name(TRACE_DIVERGENCE));
    STR_EQ("error", trace_status_name(TRACE_ERROR));
    STR_EQ("status?", trace_status_name((enum trace_status)4));
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, crc32_vectors);
    ATF_TP_ADD_TC(tp, write_exact_bytes);
    ATF_TP_ADD_TC(tp, round_trip_every_record);
    ATF_TP_ADD_TC(tp, round_trip_extremes);
    ATF_TP_ADD_TC(tp, round_trip_header);
    ATF_TP_ADD_TC(tp, header_options_api);
    ATF_TP_ADD_TC(tp, writer_refuses_invalid);
    ATF_TP_ADD_TC(tp, writer_io_error);
    ATF_TP_ADD_TC(tp, note_sanitised);
    ATF_TP_ADD_TC(tp, err_empty_file);
    ATF_TP_ADD_TC(tp, err_wrong_magic);
    ATF_TP_ADD_TC(tp, err_wrong_version);
    ATF_TP_ADD_TC(tp, err_header_lines);
    ATF_TP_ADD_TC(tp, err_header_options);
    ATF_TP_ADD_TC(tp, err_bad_numbers);
    ATF_TP_ADD_TC(tp, err_overflow);
    ATF_TP_ADD_TC(tp, err_packet_fields);
    ATF_TP_ADD_TC(tp, err_decision_value_not_below_n);
    ATF_TP_ADD_TC(tp, err_decision_n_zero);
    ATF_TP_ADD_TC(tp, err_unknown_record);
    ATF_TP_ADD_TC(tp, err_fault_and_end_fields);
    ATF_TP_ADD_TC(tp, err_spacing);
    ATF_TP_ADD_TC(tp, err_truncated);
    ATF_TP_ADD_TC(tp, err_garbage_after_end);
    ATF_TP_ADD_TC(tp, err_overlong_line);
    ATF_TP_ADD_TC(tp, err_nul_and_non_ascii);
    ATF_TP_ADD_TC(tp, crlf_accepted);
    ATF_TP_ADD_TC(tp, errors_stick);
    ATF_TP_ADD_TC(tp, mutations_end_cleanly);
    ATF_TP_ADD_TC(tp, stream_200k_decisions);
    ATF_TP_ADD_TC(tp, show_packets);
    ATF_TP_ADD_TC(tp, show_other_records);
    ATF_TP_ADD_TC(tp, show_small_buffer);
    ATF_TP_ADD_TC(tp, show_whole_trace);
    ATF_TP_ADD_TC(tp, compare_messages);
    ATF_TP_ADD_TC(tp, names);
    return atf_no_error();
}
