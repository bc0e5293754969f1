/*
 * The 44-byte packet header (virtio 1.2 5.10.6): encode/decode round trips,
 * the little-endian byte layout at exact offsets, and the names of ops,
 * types and drop reasons.
 */
#include <stdio.h>
#include <string.h>

#include "transport/transport_testlib.h"


/* Reads an n-byte little-endian value at off, independently of wire.c. */
static uint64_t le_at(const uint8_t *b, unsigned off, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)b[off + i] << (8 * i);
    return v;
}

static struct vsock_hdr distinct_hdr(void)
{
    struct vsock_hdr h;
    memset(&h, 0, sizeof h);
    h.src_cid = 0x0102030405060708ull;
    h.dst_cid = 0x1112131415161718ull;
    h.src_port = 0x21222324u;
    h.dst_port = 0x31323334u;
    h.len = 0x41424344u;
    h.type = 0x5152u;
    h.op = 0x6162u;
    h.flags = 0x71727374u;
    h.buf_alloc = 0x81828384u;
    h.fwd_cnt = 0x91929394u;
    return h;
}

static void hdr_eq(const struct vsock_hdr *a, const struct vsock_hdr *b, const char *what)
{
    TT_EQ(a->src_cid, b->src_cid, "%s src_cid", what);
    TT_EQ(a->dst_cid, b->dst_cid, "%s dst_cid", what);
    TT_EQ(a->src_port, b->src_port, "%s src_port", what);
    TT_EQ(a->dst_port, b->dst_port, "%s dst_port", what);
    TT_EQ(a->len, b->len, "%s len", what);
    TT_EQ(a->type, b->type, "%s type", what);
    TT_EQ(a->op, b->op, "%s op", what);
    TT_EQ(a->flags, b->flags, "%s flags", what);
    TT_EQ(a->buf_alloc, b->buf_alloc, "%s buf_alloc", what);
    TT_EQ(a->fwd_cnt, b->fwd_cnt, "%s fwd_cnt", what);
}

TT_TC(hdr_len_is_44, "the header is 44 bytes")
ATF_TC_BODY(hdr_len_is_44, tc)
{
    TT_EQ(44, VSOCK_HDR_LEN, "VSOCK_HDR_LEN");
}

TT_TC(hdr_layout_offsets, "every field at its offset, little-endian, no gaps")
ATF_TC_BODY(hdr_layout_offsets, tc)
{
    struct vsock_hdr h = distinct_hdr();
    uint8_t b[VSOCK_HDR_LEN + 8];
    memset(b, 0xee, sizeof b);
    vsock_hdr_encode(&h, b);
    TT_EQ(h.src_cid, le_at(b, 0, 8), "src_cid at 0");
    TT_EQ(h.dst_cid, le_at(b, 8, 8), "dst_cid at 8");
    TT_EQ(h.src_port, le_at(b, 16, 4), "src_port at 16");
    TT_EQ(h.dst_port, le_at(b, 20, 4), "dst_port at 20");
    TT_EQ(h.len, le_at(b, 24, 4), "len at 24");
    TT_EQ(h.type, le_at(b, 28, 2), "type at 28");
    TT_EQ(h.op, le_at(b, 30, 2), "op at 30");
    TT_EQ(h.flags, le_at(b, 32, 4), "flags at 32");
    TT_EQ(h.buf_alloc, le_at(b, 36, 4), "buf_alloc at 36");
    TT_EQ(h.fwd_cnt, le_at(b, 40, 4), "fwd_cnt at 40");
    for (unsigned i = VSOCK_HDR_LEN; i < sizeof b; i++)
        TT_EQ(0xee, b[i], "byte %u past the header untouched", i);
}

TT_TC(hdr_exact_bytes, "a typical REQUEST encodes to exactly these bytes")
ATF_TC_BODY(hdr_exact_bytes, tc)
{
    struct vsock_hdr h;
    memset(&h, 0, sizeof h);
    h.src_cid = 3;
    h.dst_cid = 2;
    h.src_port = 0x400;
    h.dst_port = 1234;
    h.type = VSOCK_TYPE_STREAM;
    h.op = VSOCK_OP_REQUEST;
    h.buf_alloc = 0x40000;
    static const uint8_t want[VSOCK_HDR_LEN] = {
        3, 0, 0, 0, 0, 0, 0, 0,    /* src_cid */
        2, 0, 0, 0, 0, 0, 0, 0,    /* dst_cid */
        0x00, 0x04, 0, 0,          /* src_port 1024 */
        0xd2, 0x04, 0, 0,          /* dst_port 1234 */
        0, 0, 0, 0,                /* len */
        1, 0,                      /* type STREAM */
        1, 0,                      /* op REQUEST */
        0, 0, 0, 0,                /* flags */
        0x00, 0x00, 0x04, 0x00,    /* buf_alloc 256 KiB */
        0, 0, 0, 0,                /* fwd_cnt */
    };
    uint8_t b[VSOCK_HDR_LEN];
    vsock_hdr_encode(&h, b);
    for (unsigned i = 0; i < VSOCK_HDR_LEN; i++)
        TT_EQ(want[i], b[i], "byte %u", i);
}

TT_TC(hdr_decode_bytes, "decoding reads little-endian fields from fixed offsets")
ATF_TC_BODY(hdr_decode_bytes, tc)
{
    uint8_t b[VSOCK_HDR_LEN];
    for (unsigned i = 0; i < VSOCK_HDR_LEN; i++)
        b[i] = (uint8_t)(i + 1);
    struct vsock_hdr h;
    memset(&h, 0xa5, sizeof h);
    vsock_hdr_decode(b, &h);
    TT_EQ(0x0807060504030201ull, h.src_cid, "src_cid");
    TT_EQ(0x100f0e0d0c0b0a09ull, h.dst_cid, "dst_cid");
    TT_EQ(0x14131211u, h.src_port, "src_port");
    TT_EQ(0x18171615u, h.dst_port, "dst_port");
    TT_EQ(0x1c1b1a19u, h.len, "len");
    TT_EQ(0x1e1du, h.type, "type");
    TT_EQ(0x201fu, h.op, "op");
    TT_EQ(0x24232221u, h.flags, "flags");
    TT_EQ(0x28272625u, h.buf_alloc, "buf_alloc");
    TT_EQ(0x2c2b2a29u, h.fwd_cnt, "fwd_cnt");
}

TT_TC(hdr_round_trip, "decode(encode(h)) == h and encode(decode(b)) == b, extremes included")
ATF_TC_BODY(hdr_round_trip, tc)
{
    struct vsock_hdr hs[4];
    hs[0] = distinct_hdr();
    memset(&hs[1], 0, sizeof hs[1]);
    memset(&hs[2], 0xff, sizeof hs[2]);
    hs[3] = distinct_hdr();
    hs[3].src_cid = VSOCK_CID_ANY;
    hs[3].dst_port = VSOCK_PORT_ANY;
    hs[3].flags = VSOCK_SEQ_EOM | VSOCK_SEQ_EOR;
    for (unsigned i = 0; i < 4; i++) {
        uint8_t b[VSOCK_HDR_LEN];
        struct vsock_hdr back;
        vsock_hdr_encode(&hs[i], b);
        memset(&back, 0x5a, sizeof back);
        vsock_hdr_decode(b, &back);
        hdr_eq(&hs[i], &back, tt_fmt("header %u", i));
    }
    /* every byte pattern survives decode then encode */
    uint8_t b[VSOCK_HDR_LEN], again[VSOCK_HDR_LEN];
    for (unsigned seed = 0; seed < 64; seed++) {
        for (unsigned i = 0; i < VSOCK_HDR_LEN; i++)
            b[i] = tt_pattern(seed, i);
        struct vsock_hdr h;
        vsock_hdr_decode(b, &h);
        vsock_hdr_encode(&h, again);
        TT_TRUE(memcmp(b, again, sizeof b) == 0, "bytes of pattern %u", seed);
    }
}

TT_TC(hdr_single_bits, "each bit of each field lands in exactly one bit of the encoding")
ATF_TC_BODY(hdr_single_bits, tc)
{
    /* field offsets and sizes, in bytes */
    static const unsigned off[10] = {0, 8, 16, 20, 24, 28, 30, 32, 36, 40};
    static const unsigned size[10] = {8, 8, 4, 4, 4, 2, 2, 4, 4, 4};
    for (unsigned f = 0; f < 10; f++) {
        for (unsigned bit = 0; bit < size[f] * 8; bit++) {
            struct vsock_hdr h;
            memset(&h, 0, sizeof h);
            uint64_t v = 1ull << bit;
            switch (f) {
            case 0: h.src_cid = v; break;
            case 1: h.dst_cid = v; break;
            case 2: h.src_port = (uint32_t)v; break;
            case 3: h.dst_port = (uint32_t)v; break;
            case 4: h.len = (uint32_t)v; break;
            case 5: h.type = (uint16_t)v; break;
            case 6: h.op = (uint16_t)v; break;
            case 7: h.flags = (uint32_t)v; break;
            case 8: h.buf_alloc = (uint32_t)v; break;
            default: h.fwd_cnt = (uint32_t)v; break;
            }
            uint8_t b[VSOCK_HDR_LEN];
            vsock_hdr_encode(&h, b);
            unsigned want_byte = off[f] + bit / 8;
            for (unsigned i = 0; i < VSOCK_HDR_LEN; i++)
                TT_EQ(i == want_byte ? 1u << (bit % 8) : 0, b[i], "field %u bit %u byte %u",
                      f, bit, i);
        }
    }
}

TT_TC(op_names, "op names, and OP? for anything else")
ATF_TC_BODY(op_names, tc)
{
    static const char *const want[8] = {"INVALID",  "REQUEST", "RESPONSE",      "RST",
                                        "SHUTDOWN", "RW",      "CREDIT_UPDATE", "CREDIT_REQUEST"};
    for (uint16_t op = 0; op < 8; op++)
        TT_TRUE(strcmp(want[op], vsock_op_name(op)) == 0, "op %u: %s", op, vsock_op_name(op));
    TT_TRUE(strcmp("OP?", vsock_op_name(8)) == 0, "op 8");
    TT_TRUE(strcmp("OP?", vsock_op_name(0xffff)) == 0, "op 0xffff");
    TT_EQ(1, VSOCK_OP_REQUEST, "REQUEST");
    TT_EQ(2, VSOCK_OP_RESPONSE, "RESPONSE");
    TT_EQ(3, VSOCK_OP_RST, "RST");
    TT_EQ(4, VSOCK_OP_SHUTDOWN, "SHUTDOWN");
    TT_EQ(5, VSOCK_OP_RW, "RW");
    TT_EQ(6, VSOCK_OP_CREDIT_UPDATE, "CREDIT_UPDATE");
    TT_EQ(7, VSOCK_OP_CREDIT_REQUEST, "CREDIT_REQUEST");
}

TT_TC(type_names, "type names, and TYPE? for anything else")
ATF_TC_BODY(type_names, tc)
{
    TT_TRUE(strcmp("STREAM", vsock_type_name(VSOCK_TYPE_STREAM)) == 0, "stream");
    TT_TRUE(strcmp("SEQPACKET", vsock_type_name(VSOCK_TYPE_SEQPACKET)) == 0, "seqpacket");
    TT_TRUE(strcmp("TYPE?", vsock_type_name(0)) == 0, "type 0");
    TT_TRUE(strcmp("TYPE?", vsock_type_name(3)) == 0, "type 3");
    TT_TRUE(strcmp("TYPE?", vsock_type_name(0xffff)) == 0, "type 0xffff");
    TT_EQ(1, VSOCK_TYPE_STREAM, "STREAM");
    TT_EQ(2, VSOCK_TYPE_SEQPACKET, "SEQPACKET");
}

TT_TC(wire_constants, "flag bits, feature bits, reserved CIDs and ports as the spec has them")
ATF_TC_BODY(wire_constants, tc)
{
    TT_EQ(1, VSOCK_SHUTDOWN_RCV, "SHUTDOWN_RCV");
    TT_EQ(2, VSOCK_SHUTDOWN_SEND, "SHUTDOWN_SEND");
    TT_EQ(1, VSOCK_SEQ_EOM, "SEQ_EOM");
    TT_EQ(2, VSOCK_SEQ_EOR, "SEQ_EOR");
    TT_EQ(0, VIRTIO_VSOCK_F_STREAM, "F_STREAM");
    TT_EQ(1, VIRTIO_VSOCK_F_SEQPACKET, "F_SEQPACKET");
    TT_EQ(2, VIRTIO_VSOCK_F_NO_IMPLIED_STREAM, "F_NO_IMPLIED_STREAM");
    TT_EQ(0, VSOCK_EVENT_TRANSPORT_RESET, "TRANSPORT_RESET");
    TT_EQ(2, VSOCK_CID_HOST, "host CID");
    TT_EQ(0xffffffffu, VSOCK_CID_ANY, "CID_ANY");
    TT_EQ(0xffffffffu, VSOCK_PORT_ANY, "PORT_ANY");
    TT_EQ(1023, VSOCK_LAST_RESERVED_PORT, "last reserved port");
}

TT_TC(drop_names, "every drop reason has its own name; out of range gives drop?")
ATF_TC_BODY(drop_names, tc)
{
    static const char *const want[VEP_DROP_COUNT] = {
        [VEP_DROP_SHORT] = "short",
        [VEP_DROP_LEN_MISMATCH] = "len-mismatch",
        [VEP_DROP_TOO_BIG] = "too-big",
        [VEP_DROP_DST_CID] = "dst-cid",
        [VEP_DROP_SRC_CID] = "src-cid",
        [VEP_DROP_BAD_OP] = "bad-op",
        [VEP_DROP_BAD_TYPE] = "bad-type",
        [VEP_DROP_NO_SOCKET] = "no-socket",
        [VEP_DROP_RST_NO_SOCKET] = "rst-no-socket",
        [VEP_DROP_OVER_CREDIT] = "over-credit",
        [VEP_DROP_BAD_CREDIT] = "bad-credit",
        [VEP_DROP_BACKLOG] = "backlog",
        [VEP_DROP_REPLY_LIMIT] = "reply-limit",
        [VEP_DROP_BAD_SOURCE] = "bad-source",
    };
    for (int d = 0; d < VEP_DROP_COUNT; d++) {
        TT_TRUE(want[d] != NULL, "test table misses reason %d", d);
        TT_TRUE(strcmp(want[d], vep_drop_name((enum vep_drop)d)) == 0, "reason %d: %s", d,
                vep_drop_name((enum vep_drop)d));
        for (int e = 0; e < d; e++)
            TT_TRUE(strcmp(vep_drop_name((enum vep_drop)d), vep_drop_name((enum vep_drop)e)),
                    "reasons %d and %d share a name", d, e);
    }
    TT_TRUE(strcmp("drop?", vep_drop_name(VEP_DROP_COUNT)) == 0, "COUNT");
    TT_TRUE(strcmp("drop?", vep_drop_name((enum vep_drop)-1)) == 0, "-1");
}

TT_TC(linux_profile_names, "the Linux profiles parse from their names and print back")
ATF_TC_BODY(linux_profile_names, tc)
{
    for (int v = 0; v < VSOCK_LINUX_COUNT; v++) {
        enum vsock_linux back = VSOCK_LINUX_COUNT;
        const char *name = vsock_linux_name((enum vsock_linux)v);
        TT_TRUE(vsock_linux_parse(name, &back) == 0 && back == (enum vsock_linux)v,
                "profile %d (%s) does not parse back", v, name);
    }
    TT_TRUE(strcmp(vsock_linux_name(VSOCK_LINUX_6_1), "6.1") == 0, "6.1");
    TT_TRUE(strcmp(vsock_linux_name(VSOCK_LINUX_6_12), "6.12") == 0, "6.12");
    TT_TRUE(strcmp(vsock_linux_name(VSOCK_LINUX_COUNT), "?") == 0, "COUNT");
    TT_TRUE(VSOCK_LINUX_DEFAULT == VSOCK_LINUX_6_1, "the default is Debian 12's 6.1");
    const char *bad[] = {"", "6", "6.2", "6.1.192", "6.12x", " 6.1", "linux"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum vsock_linux v = VSOCK_LINUX_6_12;
        TT_TRUE(vsock_linux_parse(bad[i], &v) < 0 && v == VSOCK_LINUX_6_12,
                "'%s' parsed, or changed the output", bad[i]);
    }
    TT_TRUE(vsock_linux_parse(NULL, NULL) < 0, "NULL");
}

TT_TC(deviation_table, "every deviation has a distinct name, a module and a reason; nothing "
                      "beyond the table")
ATF_TC_BODY(deviation_table, tc)
{
    for (unsigned d = 0; d < VSOCK_DEV_COUNT; d++) {
        const struct vsock_deviation_info *i = vsock_deviation(d);
        TT_TRUE(i != NULL && i->name != NULL && i->module != NULL && i->reason != NULL,
                "entry %u complete", d);
        TT_TRUE(strlen(i->reason) > 20, "%s has a reason", i->name);
        for (unsigned e = 0; e < d; e++)
            TT_TRUE(strcmp(i->name, vsock_deviation(e)->name) != 0, "%u and %u share a name", d, e);
        TT_TRUE(strcmp(i->name, "none") != 0 && strcmp(i->name, "all") != 0, "reserved name");
        TT_TRUE(strchr(i->name, ',') == NULL, "no comma in %s", i->name);
    }
    TT_TRUE(vsock_deviation(VSOCK_DEV_COUNT) == NULL, "beyond the table");
    TT_TRUE(vsock_deviation(1000) == NULL, "far beyond");
    TT_TRUE(strcmp(vsock_deviation(VSOCK_DEV_BAD_CREDIT)->name, "bad-credit") == 0, "bad-credit");
    TT_TRUE(strcmp(vsock_deviation(VSOCK_DEV_SEQPACKET_WHOLE)->name, "seqpacket-whole") == 0,
            "seqpacket-whole");
    TT_TRUE(strcmp(vsock_deviation(VSOCK_DEV_SNDBUF_BOUND)->name, "sndbuf-bound") == 0,
            "sndbuf-bound");
}

TT_TC(deviation_parse_format, "--deviate lists parse to a mask and print back in table order; "
                              "unknown and empty names are errors that name the known ones")
ATF_TC_BODY(deviation_parse_format, tc)
{
    uint64_t m = 99;
    char err[256], buf[128];
    TT_EQ(0, vsock_deviations_parse("none", &m, err, sizeof err), "none");
    TT_EQ(0, m, "none is 0");
    TT_EQ(0, vsock_deviations_parse("all", &m, err, sizeof err), "all");
    TT_EQ(VSOCK_DEV_ALL, m, "all bits");
    TT_EQ(0, vsock_deviations_parse("sndbuf-bound,bad-credit,bad-credit", &m, err, sizeof err),
          "a list, a repeat");
    TT_EQ(VSOCK_DEV_BIT(VSOCK_DEV_SNDBUF_BOUND) | VSOCK_DEV_BIT(VSOCK_DEV_BAD_CREDIT), m, "mask");
    vsock_deviations_format(m, buf, sizeof buf);
    TT_TRUE(strcmp(buf, "bad-credit,sndbuf-bound") == 0, "table order: %s", buf);
    vsock_deviations_format(0, buf, sizeof buf);
    TT_TRUE(strcmp(buf, "none") == 0, "none: %s", buf);
    vsock_deviations_format(VSOCK_DEV_ALL, buf, sizeof buf);
    uint64_t back = 0;
    TT_EQ(0, vsock_deviations_parse(buf, &back, err, sizeof err), "all printed parses: %s", buf);
    TT_EQ(VSOCK_DEV_ALL, back, "round trip");
    vsock_deviations_format(UINT64_C(1) << 40, buf, sizeof buf);
    TT_TRUE(strcmp(buf, "bit40") == 0, "unknown bit: %s", buf);
    char tiny[4];
    int n = vsock_deviations_format(VSOCK_DEV_ALL, tiny, sizeof tiny);
    TT_TRUE(n > 4 && strlen(tiny) == 3, "truncated, full length returned: %d '%s'", n, tiny);
    m = 7;
    TT_EQ(-1, vsock_deviations_parse("bad-credit,nope", &m, err, sizeof err), "unknown");
    TT_TRUE(strstr(err, "unknown deviation 'nope'") && strstr(err, "seqpacket-whole"),
            "names it and the known ones: %s", err);
    TT_EQ(7, m, "mask untouched on error");
    TT_EQ(-1, vsock_deviations_parse("bad-credit,", &m, err, sizeof err), "trailing comma");
    TT_TRUE(strstr(err, "empty name") != NULL, "%s", err);
    TT_EQ(-1, vsock_deviations_parse("", &m, err, sizeof err), "empty");
    TT_EQ(-1, vsock_deviations_parse(NULL, &m, err, sizeof err), "NULL");
    TT_EQ(-1, vsock_deviations_parse("Bad-Credit", &m, err, sizeof err), "names are exact");
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, hdr_len_is_44);
    ATF_TP_ADD_TC(tp, hdr_layout_offsets);
    ATF_TP_ADD_TC(tp, hdr_exact_bytes);
    ATF_TP_ADD_TC(tp, hdr_decode_bytes);
    ATF_TP_ADD_TC(tp, hdr_round_trip);
    ATF_TP_ADD_TC(tp, hdr_single_bits);
    ATF_TP_ADD_TC(tp, op_names);
    ATF_TP_ADD_TC(tp, type_names);
    ATF_TP_ADD_TC(tp, wire_constants);
    ATF_TP_ADD_TC(tp, drop_names);
    ATF_TP_ADD_TC(tp, linux_profile_names);
    ATF_TP_ADD_TC(tp, deviation_table);
    ATF_TP_ADD_TC(tp, deviation_parse_format);
    return atf_no_error();
}
