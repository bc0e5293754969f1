/* A trace's packet records as a pcap file of LINKTYPE_VSOCK frames, through
 * libpcap (pcap_open_dead + pcap_dump_open). See traces/views.h. */
#include "traces/views.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<pcap/pcap.h>)
#define VIEWS_HAVE_PCAP 1
#include <pcap/pcap.h>
#endif
#endif

/* ---- frames -------------------------------------------------------------------- */

uint16_t vsockmon_op_of(uint16_t vsock_op)
{
    switch (vsock_op) {
    case VSOCK_OP_REQUEST:
    case VSOCK_OP_RESPONSE: return VSOCKMON_OP_CONNECT;
    case VSOCK_OP_RST:
    case VSOCK_OP_SHUTDOWN: return VSOCKMON_OP_DISCONNECT;
    case VSOCK_OP_CREDIT_UPDATE:
    case VSOCK_OP_CREDIT_REQUEST: return VSOCKMON_OP_CONTROL;
    case VSOCK_OP_RW: return VSOCKMON_OP_PAYLOAD;
    default: return VSOCKMON_OP_UNKNOWN;
    }
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    put_le16(p, (uint16_t)v);
    put_le16(p + 2, (uint16_t)(v >> 16));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

/* struct af_vsockmon_hdr: src_cid, dst_cid, src_port, dst_port, op,
 * transport, len (of the transport header that follows), 2 reserved. */
static void put_vsockmon_hdr(const struct vsock_hdr *h, uint8_t *out)
{
    put_le64(out, h->src_cid);
    put_le64(out + 8, h->dst_cid);
    put_le32(out + 16, h->src_port);
    put_le32(out + 20, h->dst_port);
    put_le16(out + 24, vsockmon_op_of(h->op));
    put_le16(out + 26, VSOCKMON_TRANSPORT_VIRTIO);
    put_le16(out + 28, VSOCK_HDR_LEN);
    put_le16(out + 30, 0);
}

size_t vsockmon_frame(const struct trace_packet *p, uint8_t *out, uint32_t *wire_len)
{
    const size_t head = VSOCKMON_HDR_LEN + VSOCK_HDR_LEN;
    put_vsockmon_hdr(&p->hdr, out);
    vsock_hdr_encode(&p->hdr, out + VSOCKMON_HDR_LEN);
    uint64_t payload = p->hdr.op == VSOCK_OP_RW ? p->hdr.len : 0;
    uint64_t wire = head + payload;
    *wire_len = wire > UINT32_MAX ? UINT32_MAX : (uint32_t)wire;
    size_t filler = payload > VIEWS_PCAP_MAX_PAYLOAD ? VIEWS_PCAP_MAX_PAYLOAD : (size_t)payload;
    memset(out + head, 0, filler);
    return head + filler;
}

/* ---- the file ------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

#ifdef VIEWS_HAVE_PCAP

bool views_have_pcap(void)
{
    return true;
}

struct pcap_out {
    pcap_t *pc;
    pcap_dumper_t *d;
    uint8_t *frame;
};

static void pcap_out_close(struct pcap_out *o)
{
    if (o->d != NULL)
        pcap_dump_close(o->d);
    if (o->pc != NULL)
        pcap_close(o->pc);
    free(o->frame);
}

static int pcap_out_open(struct pcap_out *o, const char *path, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->frame = malloc(VIEWS_PCAP_SNAPLEN);
    if (o->frame == NULL)
        return fail(err, errlen, "out of memory");
    o->pc = pcap_open_dead_with_tstamp_precision(VIEWS_LINKTYPE_VSOCK, (int)VIEWS_PCAP_SNAPLEN,
                                                 PCAP_TSTAMP_PRECISION_NANO);
    if (o->pc == NULL)
        return fail(err, errlen, "libpcap cannot make a LINKTYPE_VSOCK capture");
    o->d = pcap_dump_open(o->pc, path);
    if (o->d == NULL)
        return fail(err, errlen, "%s", pcap_geterr(o->pc));
    return 0;
}

/* Simulated time as the frame's timestamp: seconds and nanoseconds (the
 * capture's precision is nanoseconds, so tv_usec holds them). */
static void dump_packet(struct pcap_out *o, const struct trace_packet *p)
{
    struct pcap_pkthdr ph;
    memset(&ph, 0, sizeof(ph));
    ph.ts.tv_sec = (time_t)(p->t / 1000000000u);
    ph.ts.tv_usec = (suseconds_t)(p->t % 1000000000u);
    uint32_t wire;
    ph.caplen = (bpf_u_int32)vsockmon_frame(p, o->frame, &wire);
    ph.len = wire;
    pcap_dump((u_char *)o->d, &ph, o->frame);
}

static int copy_packets(FILE *in, struct pcap_out *o, struct views_pcap_stats *st, char *err,
                        size_t errlen)
{
    struct trace_header h;
    struct trace_error te;
    struct trace_reader *r = trace_reader_open(in, &h, &te);
    if (r == NULL)
        return fail(err, errlen, "%s", te.msg);
    struct trace_record rec;
    int n;
    while ((n = trace_reader_next(r, &rec, &te)) == 1) {
        st->records++;
        if (rec.type != TRACE_PACKET)
            continue;
        dump_packet(o, &rec.packet);
        st->packets++;
    }
    trace_reader_close(r);
    return n < 0 ? fail(err, errlen, "%s", te.msg) : 0;
}

int views_trace_to_pcap(FILE *in, const char *path, struct views_pcap_stats *st, char *err,
                        size_t errlen)
{
    struct views_pcap_stats dummy;
    if (st == NULL)
        st = &dummy;
    memset(st, 0, sizeof(*st));
    struct pcap_out o;
    int r = pcap_out_open(&o, path, err, errlen);
    if (r == 0)
        r = copy_packets(in, &o, st, err, errlen);
    if (r == 0 && pcap_dump_flush(o.d) != 0)
        r = fail(err, errlen, "%s: %s", path, strerror(errno));
    pcap_out_close(&o);
    return r;
}

#else /* no libpcap */

bool views_have_pcap(void)
{
    return false;
}

int views_trace_to_pcap(FILE *in, const char *path, struct views_pcap_stats *st, char *err,
                        size_t errlen)
{
    (void)in;
    (void)path;
    if (st != NULL)
        memset(st, 0, sizeof(*st));
    return fail(err, errlen, "this vsocksim was built without libpcap "
                             "(install libpcap-dev: ci/install-deps.sh views, then rebuild)");
}

#endif
