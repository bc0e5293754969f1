/*
 * The trace views: vsockmon frames byte by byte; a recorded run written as
 * pcap and decoded by tshark, every field of every packet checked against
 * the trace; the chart as well-formed XML (a small checker here, and xmllint
 * when it is installed) with one arrow per packet, one mark per fault and
 * the pages it promises; folding; malformed input.
 *
 * tshark (and libpcap, for writing) may be missing: those cases skip with
 * the reason, unless the config variable views_required is set (make
 * check-views sets it, after installing them).
 */
#include <atf-c.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/sim.h"
#include "traces/trace.h"
#include "traces/views.h"

/* ---- helpers ---------------------------------------------------------------------- */

static const char scenario_text[] =
    "scenario views\n"
    "faults kick-delay=0.2,irq-delay=0.2,host-stall=0.02,spurious-irq=0.01\n"
    "flow echo count=2 concurrent=2 bytes=6000 client=guest port=6000\n"
    "flow bulk count=1 bytes=9000 client=host port=6100\n"
    "flow seqpacket count=1 messages=4 bytes=3000 client=guest port=6200\n";

/* A recorded run of the scenario above, rewound for reading. */
static FILE *record_trace(void)
{
    struct sim_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    char err[256];
    FILE *sf = fmemopen((void *)scenario_text, sizeof(scenario_text) - 1, "r");
    ATF_REQUIRE(sf != NULL);
    ATF_REQUIRE_MSG(sim_scenario_parse(sf, "views", &cfg.scenario, err, sizeof(err)) == 0, "%s",
                    err);
    fclose(sf);
    ATF_REQUIRE(sim_faults_parse(cfg.scenario.faults, &cfg.faults, err, sizeof(err)) == 0);
    cfg.seed = 3;
    cfg.fault_window_ns = 100000000;
    cfg.check_every_step = true;
    struct trace_header h;
    memset(&h, 0, sizeof(h));
    snprintf(h.program, sizeof(h.program), "views-test");
    snprintf(h.scenario, sizeof(h.scenario), "views");
    h.seed = cfg.seed;
    FILE *f = tmpfile();
    ATF_REQUIRE(f != NULL);
    cfg.record = trace_writer_open(f, &h);
    ATF_REQUIRE(cfg.record != NULL);
    struct sim_result res;
    ATF_REQUIRE_EQ_MSG(SIM_OK, sim_run(&cfg, &res), "%s: %s", res.invariant, res.message);
    ATF_REQUIRE_EQ(0, trace_writer_close(cfg.record));
    rewind(f);
    return f;
}

/* Every record of a trace, in order; *n gets how many. */
static struct trace_record *read_records(FILE *f, size_t *n)
{
    struct trace_header h;
    struct trace_error err;
    struct trace_reader *r = trace_reader_open(f, &h, &err);
    ATF_REQUIRE_MSG(r != NULL, "%s", err.msg);
    size_t cap = 1024;
    struct trace_record *recs = malloc(cap * sizeof(*recs));
    ATF_REQUIRE(recs != NULL);
    *n = 0;
    int got;
    while ((got = trace_reader_next(r, &recs[*n], &err)) == 1)
        if (++*n == cap) {
            cap *= 2;
            recs = realloc(recs, cap * sizeof(*recs));
            ATF_REQUIRE(recs != NULL);
        }
    ATF_REQUIRE_MSG(got == 0, "%s", err.msg);
    trace_reader_close(r);
    rewind(f);
    return recs;
}

static size_t count_type(const struct trace_record *recs, size_t n, enum trace_rec_type t)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += recs[i].type == t;
    return k;
}

static bool views_required(const atf_tc_t *tc)
{
    return atf_tc_has_config_var(tc, "views_required") &&
           strcmp(atf_tc_get_config_var(tc, "views_required"), "0") != 0;
}

/* Skips (or fails, when the tools are required) for a missing tool. */
static void need(const atf_tc_t *tc, bool have, const char *why)
{
    if (have)
        return;
    if (views_required(tc))
        atf_tc_fail("%s, and views_required is set", why);
    atf_tc_skip("%s", why);
}

static bool have_program(const char *name)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

static char *slurp(FILE *f, size_t *len)
{
    rewind(f);
    size_t cap = 1 << 16;
    char *s = malloc(cap);
    ATF_REQUIRE(s != NULL);
    *len = 0;
    size_t got;
    while ((got = fread(s + *len, 1, cap - *len - 1, f)) > 0)
        if ((*len += got) == cap - 1) {
            cap *= 2;
            s = realloc(s, cap);
            ATF_REQUIRE(s != NULL);
        }
    s[*len] = '\0';
    return s;
}

static size_t count_substr(const char *s, const char *needle)
{
    size_t k = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        k++;
    return k;
}

/* ---- a small XML well-formedness checker ------------------------------------------ */

struct xml {
    const char *p;
    const char *stack[64];
    size_t depth;
    char why[160];
};

static bool xml_fail(struct xml *x, const char *why)
{
    snprintf(x->why, sizeof(x->why), "%s at offset near '%.20s'", why, x->p);
    return false;
}

static bool xml_entity(struct xml *x)
{
    static const char *const ents[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"};
    for (size_t i = 0; i < 5; i++)
        if (strncmp(x->p, ents[i], strlen(ents[i])) == 0) {
            x->p += strlen(ents[i]);
            return true;
        }
    if (strncmp(x->p, "&#", 2) == 0) {
        const char *q = x->p + 2;
        while (*q >= '0' && *q <= '9')
            q++;
        if (q > x->p + 2 && *q == ';') {
            x->p = q + 1;
            return true;
        }
    }
    return xml_fail(x, "bad entity");
}

static size_t xml_name(const char *p)
{
    size_t n = 0;
    while (p[n] && (p[n] == '-' || p[n] == ':' || p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') ||
                    (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9')))
        n++;
    return n;
}

static bool xml_attrs(struct xml *x)
{
    for (;;) {
        while (*x->p == ' ' || *x->p == '\n')
            x->p++;
        if (*x->p == '>' || *x->p == '/' || *x->p == '?')
            return true;
        size_t n = xml_name(x->p);
        if (n == 0 || x->p[n] != '=' || x->p[n + 1] != '"')
            return xml_fail(x, "bad attribute");
        x->p += n + 2;
        while (*x->p != '"') {
            if (*x->p == '\0' || *x->p == '<')
                return xml_fail(x, "unterminated attribute");
            if (*x->p == '&' ? !xml_entity(x) : (x->p++, false))
                return false;
        }
        x->p++;
    }
}

static bool xml_tag(struct xml *x)
{
    bool closing = x->p[1] == '/', decl = x->p[1] == '?';
    x->p += closing || decl ? 2 : 1;
    size_t n = xml_name(x->p);
    if (n == 0)
        return xml_fail(x, "bad tag name");
    const char *name = x->p;
    x->p += n;
    if (closing) {
        if (x->depth == 0 || strncmp(x->stack[x->depth - 1], name, n) != 0 ||
            xml_name(x->stack[x->depth - 1]) != n || *x->p != '>')
            return xml_fail(x, "mismatched closing tag");
        x->depth--;
        x->p++;
        return true;
    }
    if (!xml_attrs(x))
        return false;
    if (decl)
        return strncmp(x->p, "?>", 2) == 0 ? (x->p += 2, true) : xml_fail(x, "bad declaration");
    if (*x->p == '/')
        return x->p[1] == '>' ? (x->p += 2, true) : xml_fail(x, "bad empty tag");
    if (x->depth == 64)
        return xml_fail(x, "too deep");
    x->stack[x->depth++] = name;
    x->p++;
    return true;
}

static bool xml_well_formed(const char *doc, char *why, size_t len)
{
    struct xml x = {.p = doc};
    bool ok = true, root_seen = false;
    while (ok && *x.p) {
        if (*x.p == '<') {
            bool opens = x.p[1] != '/' && x.p[1] != '?';
            if (opens && x.depth == 0 && root_seen)
                ok = xml_fail(&x, "second root element");
            root_seen = root_seen || opens;
            ok = ok && xml_tag(&x);
        } else if (*x.p == '&') {
            ok = xml_entity(&x);
        } else {
            x.p++;
        }
    }
    if (ok && (x.depth != 0 || !root_seen))
        ok = xml_fail(&x, "unclosed element");
    snprintf(why, len, "%s", x.why);
    return ok;
}

/* ---- frames ---------------------------------------------------------------------------- */

static uint64_t le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

ATF_TC_WITHOUT_HEAD(frame_layout);
ATF_TC_BODY(frame_layout, tc)
{
    (void)tc;
    static uint8_t frame[VIEWS_PCAP_SNAPLEN];
    struct trace_packet p = {.t = 1, .dir = TRACE_G2H,
                             .hdr = {.src_cid = 3, .dst_cid = 2, .src_port = 1234,
                                     .dst_port = 5000, .len = 5, .type = VSOCK_TYPE_STREAM,
                                     .op = VSOCK_OP_RW, .flags = 0, .buf_alloc = 4096,
                                     .fwd_cnt = 7}};
    memset(frame, 0xaa, sizeof(frame));
    uint32_t wire;
    ATF_CHECK_EQ(32u + 44u + 5u, vsockmon_frame(&p, frame, &wire));
    ATF_CHECK_EQ(32u + 44u + 5u, wire);
    ATF_CHECK_EQ(3u, le(frame, 8));
    ATF_CHECK_EQ(2u, le(frame + 8, 8));
    ATF_CHECK_EQ(1234u, le(frame + 16, 4));
    ATF_CHECK_EQ(5000u, le(frame + 20, 4));
    ATF_CHECK_EQ(VSOCKMON_OP_PAYLOAD, le(frame + 24, 2));
    ATF_CHECK_EQ(VSOCKMON_TRANSPORT_VIRTIO, le(frame + 26, 2));
    ATF_CHECK_EQ(44u, le(frame + 28, 2));
    ATF_CHECK_EQ(0u, le(frame + 30, 2));
    uint8_t hdr[VSOCK_HDR_LEN];
    vsock_hdr_encode(&p.hdr, hdr);
    ATF_CHECK(memcmp(frame + 32, hdr, sizeof(hdr)) == 0);
    for (int i = 0; i < 5; i++)
        ATF_CHECK_EQ(0, frame[76 + i]);
    ATF_CHECK_EQ(0xaa, frame[81]);

    p.hdr.len = UINT32_MAX; /* a header that lies: the filler stops, the wire length saturates */
    ATF_CHECK_EQ(VIEWS_PCAP_SNAPLEN, vsockmon_frame(&p, frame, &wire));
    ATF_CHECK_EQ(UINT32_MAX, wire);
    p.hdr.op = VSOCK_OP_REQUEST; /* no payload for other ops, whatever len says */
    ATF_CHECK_EQ(76u, vsockmon_frame(&p, frame, &wire));
    ATF_CHECK_EQ(76u, wire);

    static const uint16_t want[8] = {0, 1, 1, 2, 2, 4, 3, 3};
    for (uint16_t op = 0; op < 8; op++)
        ATF_CHECK_EQ_MSG(want[op], vsockmon_op_of(op), "op %u", op);
    ATF_CHECK_EQ(VSOCKMON_OP_UNKNOWN, vsockmon_op_of(99));
}

/* ---- pcap through tshark ------------------------------------------------------------------ */

#define TSHARK_FIELDS                                                                        \
    "-e vsock.src_cid -e vsock.dst_cid -e vsock.src_port -e vsock.dst_port -e vsock.op "     \
    "-e vsock.trans -e vsock.trans_len -e vsock.virtio.src_cid -e vsock.virtio.dst_cid "     \
    "-e vsock.virtio.src_prot -e vsock.virtio.dst_prot -e vsock.virtio.len "                 \
    "-e vsock.virtio.type -e vsock.virtio.op -e vsock.virtio.flags "                         \
    "-e vsock.virtio.buf_alloc -e vsock.virtio.fwd_cnt -e frame.len -e frame.cap_len "       \
    "-e frame.time_epoch"
#define NFIELDS 20

/* Splits a tshark line at commas into NFIELDS numbers (the time as ns). */
static bool parse_fields(char *line, uint64_t *v)
{
    char *p = line;
    for (int i = 0; i < NFIELDS; i++) {
        char *end;
        errno = 0;
        v[i] = strtoull(p, &end, 0);
        if (end == p || errno != 0)
            return false;
        if (i == NFIELDS - 1) {
            if (*end != '.' || strlen(end + 1) < 9)
                return false;
            v[i] = v[i] * 1000000000u + strtoull(end + 1, NULL, 10);
            return true;
        }
        if (*end != ',')
            return false;
        p = end + 1;
    }
    return true;
}

static void expect_packet(size_t k, const uint64_t *v, const struct trace_packet *p)
{
    const struct vsock_hdr *h = &p->hdr;
    uint64_t payload = h->op == VSOCK_OP_RW ? h->len : 0;
    const uint64_t want[NFIELDS] = {
        h->src_cid, h->dst_cid,  h->src_port, h->dst_port, vsockmon_op_of(h->op), 2, 44,
        h->src_cid, h->dst_cid,  h->src_port, h->dst_port, h->len, h->type, h->op, h->flags,
        h->buf_alloc, h->fwd_cnt, 76 + payload, 76 + payload, p->t};
    static const char *const names[NFIELDS] = {
        "vsock.src_cid", "vsock.dst_cid", "vsock.src_port", "vsock.dst_port", "vsock.op",
        "vsock.trans", "vsock.trans_len", "virtio.src_cid", "virtio.dst_cid", "virtio.src_port",
        "virtio.dst_port", "virtio.len", "virtio.type", "virtio.op", "virtio.flags",
        "virtio.buf_alloc", "virtio.fwd_cnt", "frame.len", "frame.cap_len", "time (ns)"};
    for (int i = 0; i < NFIELDS; i++)
        ATF_CHECK_EQ_MSG(want[i], v[i], "packet %zu: %s: trace says %" PRIu64 ", tshark %" PRIu64,
                         k + 1, names[i], want[i], v[i]);
}

ATF_TC_WITHOUT_HEAD(pcap_tshark);
ATF_TC_BODY(pcap_tshark, tc)
{
    need(tc, views_have_pcap(), "built without libpcap (libpcap-dev)");
    need(tc, have_program("tshark"), "tshark is not installed (ci/install-deps.sh views)");
    FILE *tf = record_trace();
    size_t n;
    struct trace_record *recs = read_records(tf, &n);
    char err[320];
    struct views_pcap_stats st;
    ATF_REQUIRE_MSG(views_trace_to_pcap(tf, "run.pcap", &st, err, sizeof(err)) == 0, "%s", err);
    fclose(tf);
    size_t packets = count_type(recs, n, TRACE_PACKET);
    ATF_REQUIRE(packets > 50);
    ATF_CHECK_EQ(packets, st.packets);
    ATF_CHECK_EQ(n, st.records);

    FILE *ts = popen("tshark -r run.pcap -T fields -E separator=, " TSHARK_FIELDS " 2>/dev/null",
                     "r");
    ATF_REQUIRE(ts != NULL);
    char line[1024];
    size_t k = 0, i = 0;
    while (fgets(line, sizeof(line), ts) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        uint64_t v[NFIELDS];
        ATF_REQUIRE_MSG(parse_fields(line, v), "tshark line %zu not understood: %s", k + 1, line);
        while (i < n && recs[i].type != TRACE_PACKET)
            i++;
        ATF_REQUIRE_MSG(i < n, "tshark shows more packets than the trace holds");
        expect_packet(k++, v, &recs[i++].packet);
    }
    ATF_CHECK_EQ_MSG(0, pclose(ts), "tshark failed");
    ATF_CHECK_EQ_MSG(packets, k, "tshark decoded %zu of %zu packets", k, packets);
    free(recs);
}

static FILE *string_file(const char *s)
{
    FILE *f = tmpfile();
    ATF_REQUIRE(f != NULL);
    fputs(s, f);
    rewind(f);
    return f;
}

#define BAD_TRACE "vsocksim-trace 1\nprogram x\nseed 1\nscenario s\nbegin\nP 10 g2h RW\n"

ATF_TC_WITHOUT_HEAD(pcap_errors);
ATF_TC_BODY(pcap_errors, tc)
{
    need(tc, views_have_pcap(), "built without libpcap (libpcap-dev)");
    char err[320];
    FILE *f = string_file(BAD_TRACE);
    ATF_CHECK_EQ(-1, views_trace_to_pcap(f, "bad.pcap", NULL, err, sizeof(err)));
    ATF_CHECK_MSG(strstr(err, "line 6") != NULL, "%s", err);
    fclose(f);
    f = string_file("not a trace\n");
    ATF_CHECK_EQ(-1, views_trace_to_pcap(f, "bad.pcap", NULL, err, sizeof(err)));
    ATF_CHECK_MSG(strstr(err, "line 1") != NULL, "%s", err);
    fclose(f);
    f = string_file(BAD_TRACE);
    ATF_CHECK_EQ(-1, views_trace_to_pcap(f, "no/such/dir/x.pcap", NULL, err, sizeof(err)));
    ATF_CHECK_MSG(strstr(err, "no/such/dir/x.pcap") != NULL, "%s", err);
    fclose(f);
}

/* ---- chart ---------------------------------------------------------------------------------- */

static char *chart_of(FILE *tf, const struct views_chart_opts *o, struct views_chart_stats *st)
{
    FILE *out = tmpfile();
    ATF_REQUIRE(out != NULL);
    char err[320];
    ATF_REQUIRE_MSG(views_trace_to_chart(tf, out, o, st, err, sizeof(err)) == 0, "%s", err);
    rewind(tf);
    size_t len;
    char *svg = slurp(out, &len);
    fclose(out);
    char why[160];
    ATF_REQUIRE_MSG(xml_well_formed(svg, why, sizeof(why)), "chart is not well-formed: %s", why);
    return svg;
}

static void xmllint_check(const char *svg)
{
    if (!have_program("xmllint"))
        return;
    FILE *f = fopen("chart.svg", "w");
    ATF_REQUIRE(f != NULL);
    fputs(svg, f);
    ATF_REQUIRE(fclose(f) == 0);
    ATF_CHECK_EQ_MSG(0, system("xmllint --noout chart.svg"), "xmllint refuses the chart");
}

ATF_TC_WITHOUT_HEAD(chart_arrows);
ATF_TC_BODY(chart_arrows, tc)
{
    (void)tc;
    FILE *tf = record_trace();
    size_t n;
    struct trace_record *recs = read_records(tf, &n);
    size_t packets = count_type(recs, n, TRACE_PACKET);
    size_t faults = count_type(recs, n, TRACE_FAULT);
    struct views_chart_opts o = {.page_rows = 25};
    struct views_chart_stats st;
    char *svg = chart_of(tf, &o, &st);
    xmllint_check(svg);
    ATF_CHECK(packets > 50 && faults > 0);
    ATF_CHECK_EQ(packets, st.packets);
    ATF_CHECK_EQ(packets, st.arrows);
    ATF_CHECK_EQ(packets, count_substr(svg, "<g class=\"pkt "));
    ATF_CHECK_EQ(faults, count_substr(svg, "<g class=\"fault\">"));
    ATF_CHECK_EQ(st.notifications, count_substr(svg, "<g class=\"notify "));
    ATF_CHECK(st.notifications > 0);
    ATF_CHECK_EQ((st.rows + 24) / 25, st.pages);
    ATF_CHECK_EQ(st.pages, count_substr(svg, "<g class=\"page\""));
    ATF_CHECK_EQ(1, count_substr(svg, "<g class=\"end\">"));
    for (size_t p = 1; p <= st.pages; p++) {
        char id[32];
        snprintf(id, sizeof(id), "id=\"page-%zu\"", p);
        ATF_CHECK_MSG(strstr(svg, id) != NULL, "no %s", id);
    }
    free(svg);
    fclose(tf);
    free(recs);
}

ATF_TC_WITHOUT_HEAD(chart_fold);
ATF_TC_BODY(chart_fold, tc)
{
    (void)tc;
    FILE *tf = record_trace();
    struct views_chart_opts o = {.fold = true};
    struct views_chart_stats st;
    char *svg = chart_of(tf, &o, &st);
    ATF_CHECK(st.arrows < st.packets);
    ATF_CHECK_EQ(st.arrows, count_substr(svg, "<g class=\"pkt "));
    ATF_CHECK(count_substr(svg, "RW x") > 0);
    free(svg);

    o = (struct views_chart_opts){.max_rows = 10};
    svg = chart_of(tf, &o, &st);
    ATF_CHECK_EQ(11u, st.rows); /* and the note that says the chart was cut */
    ATF_CHECK(strstr(svg, "chart cut after 10 rows") != NULL);
    free(svg);
    fclose(tf);
}

ATF_TC_WITHOUT_HEAD(chart_errors_and_escapes);
ATF_TC_BODY(chart_errors_and_escapes, tc)
{
    (void)tc;
    char err[320];
    FILE *f = string_file(BAD_TRACE);
    FILE *out = tmpfile();
    ATF_CHECK_EQ(-1, views_trace_to_chart(f, out, NULL, NULL, err, sizeof(err)));
    ATF_CHECK_MSG(strstr(err, "line 6") != NULL, "%s", err);
    fclose(f);
    fclose(out);

    f = string_file("vsocksim-trace 1\nprogram a<b\nseed 1\nscenario s&t\nbegin\n"
                    "N 5 x < y & \"z\" 'w' >\n"
                    "F 6 host-stall a&b\n"
                    "end ok steps=1 t=7 digest=0000000000000000\n");
    struct views_chart_stats st;
    char *svg = chart_of(f, NULL, &st);
    ATF_CHECK(strstr(svg, "x &lt; y &amp; &quot;z&quot; &apos;w&apos; &gt;") != NULL);
    ATF_CHECK(strstr(svg, "s&amp;t") != NULL);
    ATF_CHECK_EQ(0u, st.packets);
    ATF_CHECK_EQ(1u, st.pages);
    free(svg);
    fclose(f);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, frame_layout);
    ATF_TP_ADD_TC(tp, pcap_tshark);
    ATF_TP_ADD_TC(tp, pcap_errors);
    ATF_TP_ADD_TC(tp, chart_arrows);
    ATF_TP_ADD_TC(tp, chart_fold);
    ATF_TP_ADD_TC(tp, chart_errors_and_escapes);
    return atf_no_error();
}
