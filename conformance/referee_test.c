/*
 * The referee (conformance/referee.h): transcripts and reports read or
 * refused with their line, runs compared connection by connection with bound
 * names, planted differences found and named, known differences applied by
 * kernel version, and the repository's known-differences.txt well formed.
 */
#include <atf-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/referee.h"
#include "transport/transport.h"

/* ---- building kyua-like reports ---- */

#define CASE(name, result)                                                                         \
    "===> " name "\nResult:     " result "\nStart time: 2026-12-07T14:41:14Z\nEnd time:   "       \
    "2026-12-07T14:41:15Z\nDuration:   0.1s\n\nMetadata:\n    custom.targets = sim kernel\n\n"     \
    "Standard output:\n"
#define STDERR "Standard error:\nsome noise\n"
#define BEGIN(args) "vsocksim-pkt begin " args "\n"
#define P(line) "vsocksim-pkt " line "\n"
#define END(n) "vsocksim-pkt end packets=" #n " dropped=0\n"
#define HEAD "===> Execution context\nCurrent directory: /tmp\n"
#define TAIL "===> Passed tests\nx  ->  passed\n===> Summary\nTest cases: 1 total\n"

#define F0 " type=STREAM len=0 flags=0x0 buf_alloc=262144 fwd_cnt=0"

/* One connection from guest port GP (CID GC) to host listener 5000 and an
 * RST to nobody at host port 5999; the two interleaved as given. */
#define SIM_RUN(seed)                                                                              \
    BEGIN("target=sim seed=" #seed " linux=6.1")                                                  \
    P("g>h REQUEST 3:1000 -> 2:5000" F0)                                                           \
    P("h>g RESPONSE 2:5000 -> 3:1000" F0)                                                          \
    P("g>h RW 3:1000 -> 2:5000 type=STREAM len=5 flags=0x0 buf_alloc=262144 fwd_cnt=0")          \
    P("g>h REQUEST 3:1001 -> 2:5999" F0)                                                           \
    P("h>g RST 2:5999 -> 3:1001 type=STREAM len=0 flags=0x0 buf_alloc=0 fwd_cnt=0")              \
    P("h>g CREDIT_UPDATE 2:5000 -> 3:1000 type=STREAM len=0 flags=0x0 buf_alloc=262144 fwd_cnt=5") \
    END(6)

/* The same exchange as the kernel saw it: other CIDs and ephemeral ports,
 * the two connections interleaved differently, and a connection's two
 * directions in another order. */
#define KERNEL_RUN_SAME                                                                            \
    BEGIN("target=kernel linux=6.1")                                                               \
    P("g>h REQUEST 129:77 -> 2:5999" F0)                                                           \
    P("g>h REQUEST 129:76 -> 2:5000" F0)                                                           \
    P("g>h RW 129:76 -> 2:5000 type=STREAM len=5 flags=0x0 buf_alloc=262144 fwd_cnt=0")          \
    P("h>g RESPONSE 2:5000 -> 129:76" F0)                                                          \
    P("h>g RST 2:5999 -> 129:77 type=STREAM len=0 flags=0x0 buf_alloc=0 fwd_cnt=0")              \
    P("h>g CREDIT_UPDATE 2:5000 -> 129:76 type=STREAM len=0 flags=0x0 buf_alloc=262144 fwd_cnt=5") \
    END(6)

/* The same with an extra CREDIT_UPDATE at fwd_cnt 4 before the one at 5. */
#define KERNEL_RUN_EXTRA_CREDIT                                                                    \
    BEGIN("target=kernel linux=6.12")                                                              \
    P("g>h REQUEST 129:76 -> 2:5000" F0)                                                           \
    P("h>g RESPONSE 2:5000 -> 129:76" F0)                                                          \
    P("g>h RW 129:76 -> 2:5000 type=STREAM len=5 flags=0x0 buf_alloc=262144 fwd_cnt=0")          \
    P("h>g CREDIT_UPDATE 2:5000 -> 129:76 type=STREAM len=0 flags=0x0 buf_alloc=262144 fwd_cnt=4") \
    P("g>h REQUEST 129:77 -> 2:5999" F0)                                                           \
    P("h>g RST 2:5999 -> 129:77 type=STREAM len=0 flags=0x0 buf_alloc=0 fwd_cnt=0")              \
    P("h>g CREDIT_UPDATE 2:5000 -> 129:76 type=STREAM len=0 flags=0x0 buf_alloc=262144 fwd_cnt=5") \
    END(7)

static void parse_ok(const char *text, struct ref_report *r)
{
    char err[512] = "";
    int rc = ref_report_parse(text, strlen(text), "r.txt", r, err, sizeof(err));
    ATF_REQUIRE_MSG(rc == 0, "parse failed: %s", err);
}

/* The report must be refused, with a message naming the line and saying
 * what. */
static void parse_bad(const char *text, const char *line, const char *what)
{
    struct ref_report r;
    char err[512] = "";
    ATF_CHECK_EQ(ref_report_parse(text, strlen(text), "r.txt", &r, err, sizeof(err)), -1);
    ATF_CHECK_MSG(strstr(err, line) != NULL && strstr(err, what) != NULL,
                  "error '%s' should name %s and say '%s'", err, line, what);
}

static const struct ref_run *only_run(const struct ref_report *r, const char *name)
{
    const struct ref_case *c = ref_report_find(r, name);
    ATF_REQUIRE_MSG(c != NULL, "no case %s", name);
    ATF_REQUIRE_EQ(c->nruns, 1);
    return &c->runs[0];
}

/* ---- packets ---- */

ATF_TC_WITHOUT_HEAD(pkt_round_trip);
ATF_TC_BODY(pkt_round_trip, tc)
{
    const struct vsock_hdr hs[] = {
        {.src_cid = 3, .dst_cid = 2, .src_port = 1024, .dst_port = 5000, .len = 0, .type = 1, .op = 1,
         .flags = 0, .buf_alloc = 262144, .fwd_cnt = 0},
        {.src_cid = UINT64_MAX, .dst_cid = 0, .src_port = UINT32_MAX, .dst_port = 0, .len = 65536,
         .type = 2, .op = 5, .flags = 3, .buf_alloc = 1, .fwd_cnt = UINT32_MAX},
        {.src_cid = 2, .dst_cid = 3, .src_port = 7, .dst_port = 8, .len = 1, .type = 9, .op = 42,
         .flags = 0xdeadbeef, .buf_alloc = 0, .fwd_cnt = 5},
    };
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        struct ref_pkt p = {.h = hs[i], .to_host = i % 2 == 0}, q;
        char line[256], err[160] = "";
        ref_pkt_format(&p, line, sizeof(line));
        ATF_REQUIRE_MSG(ref_pkt_parse(line, &q, err, sizeof(err)) == 0, "'%s': %s", line, err);
        ATF_CHECK_EQ(q.to_host, p.to_host);
        /* Field by field: the struct has padding, which no parser writes. */
        ATF_CHECK_MSG(q.h.src_cid == p.h.src_cid && q.h.dst_cid == p.h.dst_cid &&
                          q.h.src_port == p.h.src_port && q.h.dst_port == p.h.dst_port &&
                          q.h.len == p.h.len && q.h.type == p.h.type && q.h.op == p.h.op &&
                          q.h.flags == p.h.flags && q.h.buf_alloc == p.h.buf_alloc &&
                          q.h.fwd_cnt == p.h.fwd_cnt,
                      "'%s' came back different", line);
    }
}

ATF_TC_WITHOUT_HEAD(pkt_malformed);
ATF_TC_BODY(pkt_malformed, tc)
{
    static const struct {
        const char *line, *what;
    } bad[] = {
        {"x>y REQUEST 3:1 -> 2:5" F0, "direction"},
        {"g>h HELLO 3:1 -> 2:5" F0, "no op"},
        {"g>h REQUEST 3-1 -> 2:5" F0, "CID:PORT"},
        {"g>h REQUEST 3:1 => 2:5" F0, "CID:PORT"},
        {"g>h REQUEST 3:99999999999 -> 2:5" F0, "CID:PORT"},
        {"g>h REQUEST 3:1 -> 2:5 type=DGRAM len=0 flags=0x0 buf_alloc=0 fwd_cnt=0", "type="},
        {"g>h REQUEST 3:1 -> 2:5 type=STREAM len=-1 flags=0x0 buf_alloc=0 fwd_cnt=0", "len="},
        {"g>h REQUEST 3:1 -> 2:5 type=STREAM len=0 flags=3 buf_alloc=0 fwd_cnt=0", "flags="},
        {"g>h REQUEST 3:1 -> 2:5 type=STREAM len=0 flags=0x0 fwd_cnt=0 buf_alloc=0", "buf_alloc="},
        {"g>h REQUEST 3:1 -> 2:5 type=STREAM len=0 flags=0x0 buf_alloc=0", "not 10"},
        {"g>h REQUEST 3:1 -> 2:5" F0 " extra=1", "11 fields, not 10"},
        {"g>h REQUEST 3:1 -> 2:5" F0 " a b c", "more than 10"},
        {"", "not 10"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ref_pkt p;
        char err[160] = "";
        ATF_CHECK_EQ_MSG(ref_pkt_parse(bad[i].line, &p, err, sizeof(err)), -1, "'%s' was taken",
                         bad[i].line);
        ATF_CHECK_MSG(strstr(err, bad[i].what) != NULL, "'%s': error '%s' lacks '%s'", bad[i].line,
                      err, bad[i].what);
    }
}

/* ---- reports ---- */

ATF_TC_WITHOUT_HEAD(report_read);
ATF_TC_BODY(report_read, tc)
{
    const char *text = "Kernel: linux-image-x 1.0\n" HEAD CASE("p:a", "passed") SIM_RUN(1) SIM_RUN(2)
        STDERR CASE("p:b", "failed: seed 2: f.c:3: no\n  (target sim: broke)") BEGIN("target=sim seed=2")
            END(0) CASE("p:c", "skipped: c applies to sim, not to target kernel") TAIL;
    struct ref_report r;
    parse_ok(text, &r);
    ATF_REQUIRE_EQ(r.n, 3);
    ATF_CHECK_STREQ(r.target, "sim");
    const struct ref_case *a = ref_report_find(&r, "p:a");
    ATF_REQUIRE(a != NULL);
    ATF_CHECK_STREQ(a->verdict, "passed");
    ATF_CHECK_STREQ(a->reason, "");
    ATF_REQUIRE_EQ(a->nruns, 2);
    ATF_CHECK(a->runs[1].seeded && a->runs[1].seed == 2 && a->runs[1].ended);
    ATF_CHECK_STREQ(a->runs[0].linux_ver, "6.1");
    ATF_REQUIRE_EQ(a->runs[0].n, 6);
    ATF_CHECK(a->runs[0].p[4].h.op == VSOCK_OP_RST && !a->runs[0].p[4].to_host &&
              a->runs[0].p[4].h.src_port == 5999);
    const struct ref_case *b = ref_report_find(&r, "p:b");
    ATF_CHECK_STREQ(b->verdict, "failed");
    ATF_CHECK_STREQ(b->reason, "seed 2: f.c:3: no (target sim: broke)");
    ATF_CHECK_EQ(b->runs[0].n, 0);
    ATF_CHECK_STREQ(ref_report_find(&r, "p:c")->verdict, "skipped");
    ref_report_free(&r);
}

ATF_TC_WITHOUT_HEAD(report_malformed);
ATF_TC_BODY(report_malformed, tc)
{
    parse_bad(HEAD CASE("p:a", "passed") P("g>h REQUEST 3:1 -> 2:5" F0), "r.txt:13:",
              "outside a begin/end block");
    parse_bad(HEAD CASE("p:a", "passed") BEGIN("target=sim") BEGIN("target=sim"), "r.txt:14:",
              "while the one from line 13 is open");
    parse_bad(HEAD CASE("p:a", "passed") BEGIN("target=sim") END(1), "r.txt:14:",
              "counts 1 packets");
    parse_bad(HEAD CASE("p:a", "passed") BEGIN("target=sim") P("g>h REQUEST 3:1 -> 2:5"),
              "r.txt:14:", "not 10");
    parse_bad(HEAD CASE("p:a", "passed") BEGIN("target=sim seed=x"), "r.txt:13:", "seed=x");
    parse_bad(HEAD CASE("p:a", "passed") BEGIN("seed=1"), "r.txt:13:", "names no target");
    parse_bad(HEAD CASE("p:a", "passed") P("end packets=0 dropped=0"), "r.txt:13:",
              "outside a begin/end block");
    parse_bad(HEAD CASE("p:a", "passed") BEGIN("target=sim") "vsocksim-pkt end packets=0\n",
              "r.txt:14:", "end packets=N dropped=M");
    parse_bad(HEAD CASE("p:a", "passed") BEGIN("target=sim") END(0) CASE("p:b", "passed")
                  BEGIN("target=kernel"),
              "r.txt:25:", "target kernel in a report of target sim");
    parse_bad(HEAD CASE("p:a", "passed") CASE("p:a", "passed"), "r.txt:13:", "reported twice");
    parse_bad(HEAD "===> p:a\nStart time: x\n" TAIL, "r.txt:3:", "no Result");
    parse_bad(HEAD "===> p:a\nResult:     \n", "r.txt:4:", "names no verdict");
    /* A case whose output stops inside a block died while printing: it is
     * kept, without its end. */
    struct ref_report r;
    parse_ok(HEAD CASE("p:a", "broken: premature exit") BEGIN("target=sim seed=1")
                 P("g>h REQUEST 3:1 -> 2:5" F0) TAIL,
             &r);
    ATF_CHECK(!only_run(&r, "p:a")->ended);
    ref_report_free(&r);
}

/* ---- comparing ---- */

static int compare_texts(const char *a, const char *b, const struct ref_ignore *ign,
                         struct ref_diff *d, unsigned max)
{
    struct ref_report ra, rb;
    parse_ok(a, &ra);
    parse_ok(b, &rb);
    int n = ref_compare(only_run(&ra, "p:a"), only_run(&rb, "p:a"), ign, d, max);
    ref_report_free(&ra);
    ref_report_free(&rb);
    return n;
}

ATF_TC_WITHOUT_HEAD(compare_bound_names_and_interleaving);
ATF_TC_BODY(compare_bound_names_and_interleaving, tc)
{
    struct ref_diff d[4];
    ATF_CHECK_EQ(compare_texts(CASE("p:a", "passed") SIM_RUN(1), CASE("p:a", "passed") KERNEL_RUN_SAME,
                               NULL, d, 4),
                 0);
}

ATF_TC_WITHOUT_HEAD(compare_planted_field);
ATF_TC_BODY(compare_planted_field, tc)
{
    /* The kernel's RW carries another fwd_cnt and its RST another flags. */
    const char *k = CASE("p:a", "passed") BEGIN("target=kernel")
        P("g>h REQUEST 129:76 -> 2:5000" F0) P("h>g RESPONSE 2:5000 -> 129:76" F0)
        P("g>h RW 129:76 -> 2:5000 type=STREAM len=5 flags=0x0 buf_alloc=262144 fwd_cnt=9")
        P("g>h REQUEST 129:77 -> 2:5999" F0)
        P("h>g RST 2:5999 -> 129:77 type=STREAM len=0 flags=0x1 buf_alloc=0 fwd_cnt=0")
        P("h>g CREDIT_UPDATE 2:5000 -> 129:76 type=STREAM len=0 flags=0x0 buf_alloc=262144 fwd_cnt=5")
        END(6);
    struct ref_diff d[4];
    ATF_REQUIRE_EQ(compare_texts(CASE("p:a", "passed") SIM_RUN(1), k, NULL, d, 4), 2);
    ATF_CHECK_EQ(d[0].kind, REF_D_PACKET);
    ATF_CHECK(d[0].to_host);
    ATF_CHECK_EQ(d[0].index, 2);
    ATF_CHECK_EQ(d[0].fields, REF_F_FWD_CNT);
    ATF_CHECK(d[0].has_a && d[0].has_b && d[0].pa.h.fwd_cnt == 0 && d[0].pb.h.fwd_cnt == 9);
    ATF_CHECK_EQ(d[0].ia, 3);
    ATF_CHECK_EQ(d[0].a.service_port, 5000);
    ATF_CHECK(d[0].a.gcid == 3 && d[0].b.gcid == 129 && d[0].b.gport == 76);
    char conn[200];
    ref_conn_format(&d[0], "kernel", conn, sizeof(conn));
    ATF_CHECK_STREQ(conn, "connection to host port 5000 #1 (sim: guest 3:1000; kernel: guest 129:76)");
    ATF_CHECK_EQ(d[1].kind, REF_D_PACKET);
    ATF_CHECK(!d[1].to_host);
    ATF_CHECK_EQ(d[1].fields, REF_F_FLAGS);
    ATF_CHECK_EQ(d[1].a.service_port, 5999);
    /* Left out, the fields no longer differ; another direction's does. */
    struct ref_ignore ign = {.fields = {[0] = REF_F_FLAGS, [1] = REF_F_FWD_CNT}};
    ATF_CHECK_EQ(compare_texts(CASE("p:a", "passed") SIM_RUN(1), k, &ign, d, 4), 0);
    struct ref_ignore wrong = {.fields = {[1] = REF_F_FLAGS | REF_F_FWD_CNT}};
    ATF_CHECK_EQ(compare_texts(CASE("p:a", "passed") SIM_RUN(1), k, &wrong, d, 4), 1);
}

ATF_TC_WITHOUT_HEAD(compare_extra_and_missing);
ATF_TC_BODY(compare_extra_and_missing, tc)
{
    struct ref_diff d[4];
    ATF_REQUIRE_EQ(compare_texts(CASE("p:a", "passed") SIM_RUN(1),
                                 CASE("p:a", "passed") KERNEL_RUN_EXTRA_CREDIT, NULL, d, 4),
                   1);
    ATF_CHECK_EQ(d[0].kind, REF_D_PACKET);
    ATF_CHECK(!d[0].to_host);
    ATF_CHECK_EQ(d[0].index, 2);
    ATF_CHECK_EQ(d[0].fields, REF_F_FWD_CNT);
    ATF_CHECK(d[0].pa.h.fwd_cnt == 5 && d[0].pb.h.fwd_cnt == 4);
    /* Without the CREDIT_UPDATEs of h>g they agree; without g>h's, not. */
    struct ref_ignore ign = {.ops = {[0] = 1u << VSOCK_OP_CREDIT_UPDATE}};
    ATF_CHECK_EQ(compare_texts(CASE("p:a", "passed") SIM_RUN(1),
                               CASE("p:a", "passed") KERNEL_RUN_EXTRA_CREDIT, &ign, d, 4),
                 0);
    struct ref_ignore g2h = {.ops = {[1] = 1u << VSOCK_OP_CREDIT_UPDATE}};
    ATF_CHECK_EQ(compare_texts(CASE("p:a", "passed") SIM_RUN(1),
                               CASE("p:a", "passed") KERNEL_RUN_EXTRA_CREDIT, &g2h, d, 4),
                 1);
    /* The target lacks sim's last packet of a direction. */
    const char *k = CASE("p:a", "passed") BEGIN("target=kernel")
        P("g>h REQUEST 129:76 -> 2:5000" F0) P("h>g RESPONSE 2:5000 -> 129:76" F0)
        P("g>h RW 129:76 -> 2:5000 type=STREAM len=5 flags=0x0 buf_alloc=262144 fwd_cnt=0")
        P("g>h REQUEST 129:77 -> 2:5999" F0)
        P("h>g RST 2:5999 -> 129:77 type=STREAM len=0 flags=0x0 buf_alloc=0 fwd_cnt=0") END(5);
    ATF_REQUIRE_EQ(compare_texts(CASE("p:a", "passed") SIM_RUN(1), k, NULL, d, 4), 1);
    ATF_CHECK(d[0].has_a && !d[0].has_b && d[0].pa.h.op == VSOCK_OP_CREDIT_UPDATE);
}

ATF_TC_WITHOUT_HEAD(compare_rw_boundaries);
ATF_TC_BODY(compare_rw_boundaries, tc)
{
    /* 9000 bytes as 4052 + 4052 + 896 on sim, 5000 + 88 + 3912 on the
     * kernel; then a seqpacket message of 3 fragments against one of 2,
     * and a second message that must stay apart. */
#define RW(dir, a, b, len, fl, fwd)                                                                \
    P(dir " RW " a " -> " b " type=STREAM len=" #len " flags=" #fl " buf_alloc=262144 fwd_cnt=" #fwd)
    const char *s = CASE("p:a", "passed") BEGIN("target=sim seed=1")
        RW("h>g", "2:5000", "3:1000", 4052, 0x0, 0) RW("h>g", "2:5000", "3:1000", 4052, 0x0, 0)
            P("g>h CREDIT_UPDATE 3:1000 -> 2:5000 type=STREAM len=0 flags=0x0 buf_alloc=262144 fwd_cnt=8104")
                RW("h>g", "2:5000", "3:1000", 896, 0x0, 7) RW("h>g", "2:5000", "3:1000", 10, 0x1, 7)
                    RW("h>g", "2:5000", "3:1000", 20, 0x1, 7) END(6);
    const char *k = CASE("p:a", "passed") BEGIN("target=kernel")
        RW("h>g", "2:5000", "129:1000", 5000, 0x0, 0) RW("h>g", "2:5000", "129:1000", 88, 0x0, 0)
            P("g>h CREDIT_UPDATE 129:1000 -> 2:5000 type=STREAM len=0 flags=0x0 buf_alloc=262144 fwd_cnt=5088")
                RW("h>g", "2:5000", "129:1000", 3912, 0x0, 7) RW("h>g", "2:5000", "129:1000", 10, 0x1, 7)
                    RW("h>g", "2:5000", "129:1000", 20, 0x1, 7) END(6);
    struct ref_diff d[4];
    ATF_CHECK_EQ(compare_texts(s, k, NULL, d, 4), 2);
    struct ref_ignore ign = {.rw_boundaries = {true, false}, .ops = {[1] = 1u << VSOCK_OP_CREDIT_UPDATE}};
    /* 9000 + 10 (EOM) is one "message", then 20: the same on both. */
    ATF_CHECK_EQ(compare_texts(s, k, &ign, d, 4), 0);
    /* The boundary at EOM holds: 9010 and 20 are not 9030. */
    const char *k2 = CASE("p:a", "passed") BEGIN("target=kernel")
        RW("h>g", "2:5000", "129:1000", 9010, 0x0, 7) RW("h>g", "2:5000", "129:1000", 20, 0x1, 7) END(2);
    ATF_REQUIRE_EQ(compare_texts(s, k2, &ign, d, 4), 1);
    ATF_CHECK_EQ(d[0].fields, REF_F_LEN);
    ATF_CHECK(d[0].pa.h.len == 9010 && d[0].pb.h.len == 9030);
#undef RW
}

ATF_TC_WITHOUT_HEAD(compare_literal_ports_and_bindings);
ATF_TC_BODY(compare_literal_ports_and_bindings, tc)
{
    struct ref_diff d[4];
    /* A listener port is literal: 5001 is not sim's 5000. */
    const char *k = CASE("p:a", "passed") BEGIN("target=kernel")
        P("g>h REQUEST 129:76 -> 2:5001" F0) END(1);
    const char *s = CASE("p:a", "passed") BEGIN("target=sim seed=1")
        P("g>h REQUEST 3:1000 -> 2:5000" F0) END(1);
    ATF_REQUIRE_EQ(compare_texts(s, k, NULL, d, 4), 2);
    ATF_CHECK_EQ(d[0].kind, REF_D_ONLY_SIM);
    ATF_CHECK_EQ(d[1].kind, REF_D_ONLY_TARGET);
    ATF_CHECK_EQ(d[1].pb.h.dst_port, 5001);
    /* A name bound at first sight keeps its meaning: sim's guest connects
     * twice from one CID, the kernel's from two. */
    s = CASE("p:a", "passed") BEGIN("target=sim seed=1") P("g>h REQUEST 3:1000 -> 2:5000" F0)
        P("g>h REQUEST 3:1001 -> 2:5000" F0) END(2);
    k = CASE("p:a", "passed") BEGIN("target=kernel") P("g>h REQUEST 129:76 -> 2:5000" F0)
        P("g>h REQUEST 130:77 -> 2:5000" F0) END(2);
    ATF_REQUIRE_EQ(compare_texts(s, k, NULL, d, 4), 1);
    ATF_CHECK_EQ(d[0].kind, REF_D_BINDING);
    ATF_CHECK_MSG(strstr(d[0].note, "sim CID 3 was target 129 before, here 130") != NULL, "%s",
                  d[0].note);
    /* Sim reconnects from its bound port, the kernel from a new one. */
    s = CASE("p:a", "passed") BEGIN("target=sim seed=1") P("g>h REQUEST 3:1000 -> 2:5000" F0)
        P("g>h REQUEST 3:1000 -> 2:5001" F0) END(2);
    k = CASE("p:a", "passed") BEGIN("target=kernel") P("g>h REQUEST 129:76 -> 2:5000" F0)
        P("g>h REQUEST 129:80 -> 2:5001" F0) END(2);
    ATF_REQUIRE_EQ(compare_texts(s, k, NULL, d, 4), 1);
    ATF_CHECK_MSG(strstr(d[0].note, "guest port 1000 was target 76 before, here 80") != NULL,
                  "%s", d[0].note);
    /* A packet to a port the other side picked pairs through that port's
     * name: the host connects from an ephemeral port, and a stray RESPONSE
     * from another guest port goes there (connect_source_check.pkt). */
    s = CASE("p:a", "passed") BEGIN("target=sim seed=1") P("h>g REQUEST 2:4000 -> 3:6000" F0)
        P("g>h RESPONSE 3:6001 -> 2:4000" F0) P("h>g RST 2:4000 -> 3:6001" F0) END(3);
    k = CASE("p:a", "passed") BEGIN("target=kernel") P("h>g REQUEST 2:77777 -> 129:6000" F0)
        P("g>h RESPONSE 129:6001 -> 2:77777" F0) P("h>g RST 2:77777 -> 129:6001" F0) END(3);
    ATF_CHECK_EQ(compare_texts(s, k, NULL, d, 4), 0);
    /* ... but not through another name: the stray one went elsewhere. */
    k = CASE("p:a", "passed") BEGIN("target=kernel") P("h>g REQUEST 2:77777 -> 129:6000" F0)
        P("g>h RESPONSE 129:6001 -> 2:77778" F0) P("h>g RST 2:77778 -> 129:6001" F0) END(3);
    ATF_REQUIRE_EQ(compare_texts(s, k, NULL, d, 4), 2);
    ATF_CHECK_EQ(d[0].kind, REF_D_ONLY_SIM);
    ATF_CHECK_EQ(d[1].kind, REF_D_ONLY_TARGET);
}

/* ---- known differences ---- */

#define BLOCK_HEAD "case: p:a\ntargets: kernel\nlinux: x\nours: y\nspec: z\n"

static void known_bad(const char *text, const char *line, const char *what)
{
    struct ref_known k;
    char err[512] = "";
    ATF_CHECK_EQ(ref_known_parse(text, strlen(text), "k.txt", &k, err, sizeof(err)), -1);
    ATF_CHECK_MSG(strstr(err, line) != NULL && strstr(err, what) != NULL,
                  "error '%s' should name %s and say '%s'", err, line, what);
}

ATF_TC_WITHOUT_HEAD(known_read);
ATF_TC_BODY(known_read, tc)
{
    const char *text = "# comment\n\n" BLOCK_HEAD "kernel: 6.12\nverdict: packets\n"
                       "ignore: h>g:CREDIT_UPDATE, fwd_cnt,\n  g>h:len, h>g:rw_boundaries\n\n"
                       "case: b, p:c\ntargets: kernel, guest\nkernel: both\nlinux: what\n  Linux does\n"
                       "ours: y\nspec: z\nverdict: differs\n";
    struct ref_known k;
    char err[512] = "";
    ATF_REQUIRE_MSG(ref_known_parse(text, strlen(text), "k.txt", &k, err, sizeof(err)) == 0, "%s", err);
    ATF_REQUIRE_EQ(k.n, 2);
    ATF_CHECK_EQ(k.b[0].line, 3);
    ATF_CHECK_EQ(k.b[0].kind, REF_KIND_PACKETS);
    ATF_CHECK_EQ(k.b[0].kernels, REF_K612);
    ATF_CHECK_EQ(k.b[0].ignore.ops[0], 1u << VSOCK_OP_CREDIT_UPDATE);
    ATF_CHECK_EQ(k.b[0].ignore.ops[1], 0);
    ATF_CHECK_EQ(k.b[0].ignore.fields[0], REF_F_FWD_CNT);
    ATF_CHECK_EQ(k.b[0].ignore.fields[1], REF_F_FWD_CNT | REF_F_LEN);
    ATF_CHECK(k.b[0].ignore.rw_boundaries[0] && !k.b[0].ignore.rw_boundaries[1]);
    ATF_CHECK_EQ(k.b[1].targets, (1u << REF_KERNEL) | (1u << REF_GUEST));
    ATF_CHECK_EQ(k.b[1].kernels, REF_K61 | REF_K612);
    ATF_CHECK(ref_known_find(&k, "p:a", REF_KERNEL, REF_K612, REF_KIND_PACKETS) == &k.b[0]);
    ATF_CHECK(ref_known_find(&k, "p:a", REF_KERNEL, REF_K61, REF_KIND_PACKETS) == NULL);
    ATF_CHECK(ref_known_find(&k, "p:a", REF_GUEST, REF_K612, REF_KIND_PACKETS) == NULL);
    ATF_CHECK(ref_known_find(&k, "q:b", REF_GUEST, REF_K61, REF_KIND_DIFFERS) == &k.b[1]);
    ATF_CHECK(ref_known_find(&k, "q:c", REF_GUEST, REF_K61, REF_KIND_DIFFERS) == NULL);
    ref_known_free(&k);
}

ATF_TC_WITHOUT_HEAD(known_malformed);
ATF_TC_BODY(known_malformed, tc)
{
    known_bad(BLOCK_HEAD "verdict: differs\n", "k.txt:1:", "no 'kernel:' line");
    known_bad(BLOCK_HEAD "kernel: the kernel drops it\nverdict: differs\n", "k.txt:6:",
              "is not 6.1, 6.12 or both");
    known_bad(BLOCK_HEAD "kernel: 6.1\nverdict: maybe\n", "k.txt:7:", "not same, differs, packets or deviation");
    known_bad(BLOCK_HEAD "kernel: 6.1\nverdict: packets\n", "k.txt:1:", "needs an 'ignore:'");
    known_bad(BLOCK_HEAD "kernel: 6.1\nverdict: differs\nignore: len\n", "k.txt:8:",
              "'verdict: packets' blocks only");
    known_bad(BLOCK_HEAD "kernel: 6.1\nverdict: packets\nignore: op\n", "k.txt:8:",
              "op cannot be left out");
    known_bad(BLOCK_HEAD "kernel: 6.1\nverdict: packets\nignore: buf\n", "k.txt:8:", "'buf' is no field");
    known_bad(BLOCK_HEAD "kernel: 6.1\nverdict: packets\nignore: x>y:len\n", "k.txt:8:", "'x>y:len' is no field");
    known_bad(BLOCK_HEAD "kernel: 6.1\nverdict: packets\nignore: len,,fwd_cnt\n", "k.txt:8:",
              "empty item");
    known_bad(BLOCK_HEAD "kernel: 6.1\nverdict: differs\nwhy: because\n", "k.txt:8:",
              "'why' is not 'key: value'");
    known_bad(BLOCK_HEAD "kernel: 6.1\nkernel: 6.12\nverdict: differs\n", "k.txt:7:", "a second 'kernel:'");
    known_bad("  indented first\n", "k.txt:1:", "continues no");
    known_bad(BLOCK_HEAD "kernel: 6.1\nverdict: deviation\n", "k.txt:1:",
              "'deviation: NAME' line goes with 'verdict: deviation'");
    known_bad(BLOCK_HEAD "kernel: 6.1\nverdict: differs\ndeviation: bad-credit\n", "k.txt:1:",
              "'deviation: NAME' line goes with 'verdict: deviation'");
    known_bad("case: a b\ntargets: kernel\nkernel: 6.1\nlinux: x\nours: y\nspec: z\nverdict: differs\n",
              "k.txt:1:", "has a ' '");
    known_bad("case: a\ntargets: host\nkernel: 6.1\nlinux: x\nours: y\nspec: z\nverdict: differs\n",
              "k.txt:2:", "neither kernel nor guest");
}

ATF_TC_WITHOUT_HEAD(known_file_of_the_tree); /* well formed; each deviation documented once */
ATF_TC_BODY(known_file_of_the_tree, tc)
{
    const char *path = VSOCKSIM_SRCDIR "/conformance/known-differences.txt";
    FILE *f = fopen(path, "rb");
    ATF_REQUIRE_MSG(f != NULL, "cannot open %s", path);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    ATF_REQUIRE(n < sizeof(buf));
    struct ref_known k;
    char err[512] = "";
    ATF_REQUIRE_MSG(ref_known_parse(buf, n, path, &k, err, sizeof(err)) == 0, "%s", err);
    ATF_CHECK(k.n > 0);
    /* Every named deviation is documented once, with the kernel's evidence,
     * and no block names one the table does not have. */
    unsigned seen[VSOCK_DEV_COUNT] = {0};
    for (unsigned i = 0; i < k.n; i++) {
        const struct ref_block *b = &k.b[i];
        if (b->kind != REF_KIND_DEVIATION)
            continue;
        uint64_t m = 0;
        char derr[256];
        ATF_CHECK_MSG(vsock_deviations_parse(b->deviation, &m, derr, sizeof(derr)) == 0 &&
                          m != 0 && (m & (m - 1)) == 0,
                      "%s:%u: '%s' is not one deviation of the table", path, b->line,
                      b->deviation);
        for (unsigned d = 0; d < VSOCK_DEV_COUNT; d++)
            seen[d] += (m & VSOCK_DEV_BIT(d)) != 0;
    }
    for (unsigned d = 0; d < VSOCK_DEV_COUNT; d++)
        ATF_CHECK_MSG(seen[d] == 1, "deviation %s is documented %u times, not once",
                      vsock_deviation(d)->name, seen[d]);
    ref_known_free(&k);
}

/* ---- the judgement ---- */

struct judged {
    int rc;
    char *md, *tsv, *note;
    struct ref_summary s;
    char err[512];
};

static void judge_texts(const char *sim, const char *kernel, const char *known, unsigned kernel_ver,
                        struct judged *out)
{
    struct ref_report rs, rk;
    struct ref_known k;
    char err[512] = "";
    parse_ok(sim, &rs);
    parse_ok(kernel, &rk);
    ATF_REQUIRE_MSG(ref_known_parse(known, strlen(known), "k.txt", &k, err, sizeof(err)) == 0, "%s", err);
    struct ref_inputs in = {.rep = {[REF_SIM] = &rs, [REF_KERNEL] = &rk},
                            .known = &k,
                            .judged = REF_KERNEL,
                            .kernel = kernel_ver,
                            .kernel_package = "linux-image-test 1.0"};
    size_t a, b, c;
    memset(out, 0, sizeof(*out));
    FILE *md = open_memstream(&out->md, &a), *tsv = open_memstream(&out->tsv, &b),
         *note = open_memstream(&out->note, &c);
    ATF_REQUIRE(md != NULL && tsv != NULL && note != NULL);
    out->rc = ref_judge(&in, md, tsv, note, &out->s, out->err, sizeof(out->err));
    fclose(md);
    fclose(tsv);
    fclose(note);
    ref_report_free(&rs);
    ref_report_free(&rk);
    ref_known_free(&k);
}

static void judged_free(struct judged *j)
{
    free(j->md);
    free(j->tsv);
    free(j->note);
}

#define SIM3 HEAD CASE("p:a", "passed") SIM_RUN(1) SIM_RUN(2) SIM_RUN(3) TAIL
#define SIM3_612 HEAD CASE("p:a", "passed") BEGIN("target=sim seed=1 linux=6.12") END(0) TAIL

ATF_TC_WITHOUT_HEAD(judge_agreement);
ATF_TC_BODY(judge_agreement, tc)
{
    struct judged j;
    /* p:own is a program's own test (no custom.targets): it opened sim
     * with another profile inside the kernel's run, and is no conformance
     * case to compare. */
    const char *own = "===> p:own\nResult:     passed\nStart time: x\n\nMetadata:\n    "
                      "description = own\n\nStandard output:\n" BEGIN("target=sim seed=1 linux=6.12")
                          P("g>h REQUEST 3:1 -> 2:5" F0) END(1);
    char sim[8192], kernel[4096];
    snprintf(sim, sizeof(sim), "%s%s%s", HEAD CASE("p:a", "passed") SIM_RUN(1) SIM_RUN(2), own, TAIL);
    snprintf(kernel, sizeof(kernel), "%s%s%s", HEAD CASE("p:a", "passed") KERNEL_RUN_SAME, own, TAIL);
    judge_texts(sim, kernel, "", REF_K61, &j);
    ATF_CHECK_EQ_MSG(j.rc, 0, "%s%s", j.err, j.note);
    ATF_CHECK_EQ(j.s.cases, 2);
    ATF_CHECK_EQ(j.s.pkt_compared, 1);
    ATF_CHECK_EQ(j.s.pkt_same, 1);
    ATF_CHECK_STREQ(j.note, "");
    ATF_CHECK(strstr(j.md, "linux-image-test 1.0") != NULL);
    ATF_CHECK(strstr(j.tsv, "\nconformance") == NULL && strstr(j.tsv, "\np:a\tpassed\tpassed\t-\tyes\t") != NULL);
    judged_free(&j);
}

ATF_TC_WITHOUT_HEAD(judge_planted_difference);
ATF_TC_BODY(judge_planted_difference, tc)
{
    /* Seed 2 of sim sent the CREDIT_UPDATE with fwd_cnt 4: a real
     * difference, in one seed only. */
    const char *sim = HEAD CASE("p:a", "passed") SIM_RUN(1)
        BEGIN("target=sim seed=2 linux=6.1") P("g>h REQUEST 3:1000 -> 2:5000" F0)
            P("h>g RESPONSE 2:5000 -> 3:1000" F0)
                P("g>h RW 3:1000 -> 2:5000 type=STREAM len=5 flags=0x0 buf_alloc=262144 fwd_cnt=0")
                    P("g>h REQUEST 3:1001 -> 2:5999" F0)
                        P("h>g RST 2:5999 -> 3:1001 type=STREAM len=0 flags=0x0 buf_alloc=0 fwd_cnt=0")
                            P("h>g CREDIT_UPDATE 2:5000 -> 3:1000 type=STREAM len=0 flags=0x0 "
                              "buf_alloc=262144 fwd_cnt=4") END(6) SIM_RUN(3) TAIL;
    const char *kernel = HEAD CASE("p:a", "passed") KERNEL_RUN_SAME TAIL;
    struct judged j;
    judge_texts(sim, kernel, "", REF_K61, &j);
    ATF_CHECK_EQ(j.rc, 1);
    ATF_CHECK_EQ(j.s.pkt_unexplained, 1);
    ATF_CHECK_MSG(strstr(j.md, "### p:a: UNEXPLAINED") != NULL, "%s", j.md);
    ATF_CHECK_MSG(strstr(j.md, "sim seeds that differ: 2 of 3") != NULL, "%s", j.md);
    ATF_CHECK_MSG(strstr(j.md, "h>g packet 2: fwd_cnt differ") != NULL, "%s", j.md);
    ATF_CHECK_MSG(strstr(j.md, "sim: `#6 h>g CREDIT_UPDATE 2:5000 -> 3:1000 type=STREAM len=0 "
                               "flags=0x0 buf_alloc=262144 fwd_cnt=4`") != NULL,
                  "%s", j.md);
    ATF_CHECK_MSG(strstr(j.md, "kernel: `#6 h>g CREDIT_UPDATE 2:5000 -> 129:76") != NULL, "%s", j.md);
    ATF_CHECK_MSG(strstr(j.note, "UNEXPLAINED packets: p:a (sim seeds 2 of 3") != NULL, "%s", j.note);
    ATF_CHECK(strstr(j.tsv, "\tUNEXPLAINED\t2\t") != NULL);
    judged_free(&j);

    /* Explained only on the kernel version the block names. */
    const char *known = BLOCK_HEAD "kernel: 6.12\nverdict: packets\nignore: h>g:fwd_cnt\n";
    judge_texts(sim, kernel, known, REF_K61, &j);
    ATF_CHECK_EQ(j.rc, 1);
    judged_free(&j);
    const char *known61 = BLOCK_HEAD "kernel: 6.1\nverdict: packets\nignore: h>g:fwd_cnt\n";
    judge_texts(sim, kernel, known61, REF_K61, &j);
    ATF_CHECK_EQ_MSG(j.rc, 0, "%s", j.note);
    ATF_CHECK_EQ(j.s.pkt_known, 1);
    ATF_CHECK(strstr(j.md, "### p:a: known difference (k.txt:1)") != NULL);
    judged_free(&j);
    /* A block that leaves out something else explains nothing, and the
     * report shows what is left once it has. */
    const char *other = BLOCK_HEAD "kernel: 6.1\nverdict: packets\nignore: buf_alloc\n";
    judge_texts(sim, kernel, other, REF_K61, &j);
    ATF_CHECK_EQ(j.rc, 1);
    ATF_CHECK_MSG(strstr(j.md, "what is left once k.txt:1 (verdict: packets)") != NULL, "%s", j.md);
    judged_free(&j);
    /* Of two blocks naming the case, the one that explains it does. */
    char two[1024];
    snprintf(two, sizeof(two), "%s\n%s", other, known61);
    judge_texts(sim, kernel, two, REF_K61, &j);
    ATF_CHECK_EQ_MSG(j.rc, 0, "%s", j.note);
    ATF_CHECK(strstr(j.md, "### p:a: known difference (k.txt:10)") != NULL);
    judged_free(&j);
}

ATF_TC_WITHOUT_HEAD(judge_verdicts);
ATF_TC_BODY(judge_verdicts, tc)
{
    const char *sim = HEAD CASE("p:a", "passed") SIM_RUN(1) CASE("p:b", "passed")
        BEGIN("target=sim seed=1") END(0) CASE("p:c", "passed") BEGIN("target=sim seed=1") END(0) TAIL;
    const char *kernel = HEAD CASE("p:a", "failed: f.c:1: nope") KERNEL_RUN_SAME
        CASE("p:b", "skipped: b applies to sim, not to target kernel")
            CASE("p:c", "skipped: needs RAW, which target kernel does not offer") TAIL;
    struct judged j;
    judge_texts(sim, kernel, "", REF_K61, &j);
    ATF_CHECK_EQ(j.rc, 1);
    ATF_CHECK_EQ(j.s.verdict_diffs, 3);
    ATF_CHECK_EQ(j.s.verdict_na, 2);
    ATF_CHECK_EQ(j.s.verdict_unexplained, 1);
    ATF_CHECK_MSG(strstr(j.note, "UNEXPLAINED verdict: p:a: sim passed, kernel failed: f.c:1: nope") != NULL,
                  "%s", j.note);
    /* The packets of a failed case are still compared (they agree here). */
    ATF_CHECK_EQ(j.s.pkt_compared, 1);
    judged_free(&j);
    const char *known = "case: a\ntargets: kernel\nkernel: both\nlinux: x\nours: y\nspec: z\n"
                        "verdict: differs\n";
    judge_texts(sim, kernel, known, REF_K61, &j);
    ATF_CHECK_EQ_MSG(j.rc, 0, "%s", j.note);
    ATF_CHECK_EQ(j.s.verdict_known, 1);
    judged_free(&j);
}

ATF_TC_WITHOUT_HEAD(judge_incomparable);
ATF_TC_BODY(judge_incomparable, tc)
{
    const char *kernel = HEAD CASE("p:a", "passed") BEGIN("target=kernel")
        P("vsocksim-pkt unavailable: the control channel broke") END(0) TAIL;
    /* (the line above is no packet: the report is malformed) */
    struct ref_report r;
    char err[512] = "";
    ATF_CHECK_EQ(ref_report_parse(kernel, strlen(kernel), "r.txt", &r, err, sizeof(err)), -1);
    kernel = HEAD CASE("p:a", "passed") BEGIN("target=kernel") "vsocksim-pkt unavailable: the control "
        "channel broke\n" END(0) TAIL;
    struct judged j;
    judge_texts(SIM3, kernel, "", REF_K61, &j);
    ATF_CHECK_EQ(j.rc, 1);
    ATF_CHECK_EQ(j.s.pkt_incomparable, 1);
    ATF_CHECK_MSG(strstr(j.md, "cannot compare (UNEXPLAINED)") != NULL &&
                      strstr(j.md, "the control channel broke") != NULL,
                  "%s", j.md);
    judged_free(&j);
    kernel = HEAD CASE("p:a", "passed") BEGIN("target=kernel") "vsocksim-pkt end packets=0 dropped=3\n" TAIL;
    judge_texts(SIM3, kernel, "", REF_K61, &j);
    ATF_CHECK_EQ(j.s.pkt_incomparable, 1);
    ATF_CHECK(strstr(j.md, "3 packets were not logged") != NULL);
    judged_free(&j);
}

ATF_TC_WITHOUT_HEAD(judge_profile_mismatch);
ATF_TC_BODY(judge_profile_mismatch, tc)
{
    struct judged j;
    judge_texts(SIM3, HEAD CASE("p:a", "passed") KERNEL_RUN_SAME TAIL, "", REF_K612, &j);
    ATF_CHECK_EQ(j.rc, -1);
    ATF_CHECK_MSG(strstr(j.err, "ran with Linux profile 6.1, the referee is 6.12") != NULL, "%s", j.err);
    judged_free(&j);
    judge_texts(SIM3_612, HEAD CASE("p:a", "passed") KERNEL_RUN_EXTRA_CREDIT TAIL, "", REF_K612, &j);
    ATF_CHECK_EQ_MSG(j.rc, 1, "%s", j.err);
    judged_free(&j);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, pkt_round_trip);
    ATF_TP_ADD_TC(tp, pkt_malformed);
    ATF_TP_ADD_TC(tp, report_read);
    ATF_TP_ADD_TC(tp, report_malformed);
    ATF_TP_ADD_TC(tp, compare_bound_names_and_interleaving);
    ATF_TP_ADD_TC(tp, compare_planted_field);
    ATF_TP_ADD_TC(tp, compare_extra_and_missing);
    ATF_TP_ADD_TC(tp, compare_rw_boundaries);
    ATF_TP_ADD_TC(tp, compare_literal_ports_and_bindings);
    ATF_TP_ADD_TC(tp, known_read);
    ATF_TP_ADD_TC(tp, known_malformed);
    ATF_TP_ADD_TC(tp, known_file_of_the_tree);
    ATF_TP_ADD_TC(tp, judge_agreement);
    ATF_TP_ADD_TC(tp, judge_planted_difference);
    ATF_TP_ADD_TC(tp, judge_verdicts);
    ATF_TP_ADD_TC(tp, judge_incomparable);
    ATF_TP_ADD_TC(tp, judge_profile_mismatch);
    return atf_no_error();
}
