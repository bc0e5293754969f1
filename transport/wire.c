/* The 44-byte little-endian packet header (5.10.6) and names for its fields. */
#include "transport/transport.h"

#include <string.h>

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_LEN])
{
    put_le(out + 0, h->src_cid, 8);
    put_le(out + 8, h->dst_cid, 8);
    put_le(out + 16, h->src_port, 4);
    put_le(out + 20, h->dst_port, 4);
    put_le(out + 24, h->len, 4);
    put_le(out + 28, h->type, 2);
    put_le(out + 30, h->op, 2);
    put_le(out + 32, h->flags, 4);
    put_le(out + 36, h->buf_alloc, 4);
    put_le(out + 40, h->fwd_cnt, 4);
}

void vsock_hdr_decode(const uint8_t in[VSOCK_HDR_LEN], struct vsock_hdr *h)
{
    h->src_cid = get_le(in + 0, 8);
    h->dst_cid = get_le(in + 8, 8);
    h->src_port = (uint32_t)get_le(in + 16, 4);
    h->dst_port = (uint32_t)get_le(in + 20, 4);
    h->len = (uint32_t)get_le(in + 24, 4);
    h->type = (uint16_t)get_le(in + 28, 2);
    h->op = (uint16_t)get_le(in + 30, 2);
    h->flags = (uint32_t)get_le(in + 32, 4);
    h->buf_alloc = (uint32_t)get_le(in + 36, 4);
    h->fwd_cnt = (uint32_t)get_le(in + 40, 4);
}

const char *vsock_op_name(uint16_t op)
{
    switch (op) {
    case VSOCK_OP_INVALID: return "INVALID";
    case VSOCK_OP_REQUEST: return "REQUEST";
    case VSOCK_OP_RESPONSE: return "RESPONSE";
    case VSOCK_OP_RST: return "RST";
    case VSOCK_OP_SHUTDOWN: return "SHUTDOWN";
    case VSOCK_OP_RW: return "RW";
    case VSOCK_OP_CREDIT_UPDATE: return "CREDIT_UPDATE";
    case VSOCK_OP_CREDIT_REQUEST: return "CREDIT_REQUEST";
    }
    return "OP?";
}

const char *vsock_type_name(uint16_t type)
{
    switch (type) {
    case VSOCK_TYPE_STREAM: return "STREAM";
    case VSOCK_TYPE_SEQPACKET: return "SEQPACKET";
    }
    return "TYPE?";
}

const char *vep_drop_name(enum vep_drop d)
{
    static const char *const names[VEP_DROP_COUNT] = {
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
    return (unsigned)d < VEP_DROP_COUNT && names[d] ? names[d] : "drop?";
}

const char *vsock_linux_name(enum vsock_linux v)
{
    switch (v) {
    case VSOCK_LINUX_6_1: return "6.1";
    case VSOCK_LINUX_6_12: return "6.12";
    case VSOCK_LINUX_COUNT: break;
    }
    return "?";
}

int vsock_linux_parse(const char *s, enum vsock_linux *out)
{
    static const struct {
        const char *name;
        enum vsock_linux v;
    } known[] = {
        {"6.1", VSOCK_LINUX_6_1},
        {"6.12", VSOCK_LINUX_6_12},
    };
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(s, known[i].name) == 0) {
            *out = known[i].v;
            return 0;
        }
    return -1;
}
