/* Records for people: the timeline of `vsocksim show`, and replay's account
 * of the first difference between the trace and the re-run. */
#include "traces/trace_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

/* An snprintf that appends: len keeps counting past a full buffer, so the
 * caller learns the size the whole line needs. */
struct out {
    char *buf;
    size_t size;
    size_t len;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
    char *dst = o->len < o->size ? o->buf + o->len : NULL;
    size_t room = o->len < o->size ? o->size - o->len : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

/* Milliseconds with three decimals; integers only, so every machine prints
 * the same text for the same trace. */
static void put_time(struct out *o, uint64_t ns)
{
    put(o, "t=%" PRIu64 ".%03" PRIu64 "ms", ns / 1000000u, ns % 1000000u / 1000u);
}

/* Flag bits by name where the op gives them one; the rest in hex. */
static void put_flags(struct out *o, const struct vsock_hdr *h)
{
    static const char *const shutdown_bits[2] = {"RCV", "SEND"};
    static const char *const seq_bits[2] = {"EOM", "EOR"};
    const char *const *names = NULL;
    if (h->op == VSOCK_OP_SHUTDOWN)
        names = shutdown_bits;
    else if (h->op == VSOCK_OP_RW && h->type == VSOCK_TYPE_SEQPACKET)
        names = seq_bits;
    uint32_t rest = h->flags;
    const char *sep = "";
    put(o, " flags=");
    for (unsigned bit = 0; names != NULL && bit < 2; bit++) {
        if (rest & (1u << bit)) {
            put(o, "%s%s", sep, names[bit]);
            rest &= ~(1u << bit);
            sep = "|";
        }
    }
    if (rest != 0)
        put(o, "%s0x%" PRIx32, sep, rest);
}

static void put_endpoint(struct out *o, bool guest, uint64_t cid, uint32_t port)
{
    put(o, "%s %" PRIu64 ":%" PRIu32, guest ? "guest" : "host", cid, port);
}

static void show_packet(struct out *o, const struct trace_packet *p)
{
    const struct vsock_hdr *h = &p->hdr;
    bool g2h = p->dir == TRACE_G2H;
    const char *op = trace_op_known(h->op);
    const char *type = trace_type_known(h->type);
    put_time(o, p->t);
    put(o, " ");
    put_endpoint(o, g2h, h->src_cid, h->src_port);
    put(o, " -> ");
    put_endpoint(o, !g2h, h->dst_cid, h->dst_port);
    if (op != NULL)
        put(o, " %s", op);
    else
        put(o, " op=%u", (unsigned)h->op);
    if (type != NULL)
        put(o, " %s", type);
    else
        put(o, " type=%u", (unsigned)h->type);
    put(o, " len=%" PRIu32, h->len);
    if (h->flags != 0)
        put_flags(o, h);
    put(o, " buf_alloc=%" PRIu32 " fwd_cnt=%" PRIu32, h->buf_alloc, h->fwd_cnt);
}

size_t trace_record_show(const struct trace_record *r, bool verbose, char *buf, size_t size)
{
    struct out o = {buf, size, 0};
    if (size > 0)
        buf[0] = '\0';
    switch (r->type) {
    case TRACE_DECISION:
        if (verbose)
            put(&o, "decision %s %" PRIu64 "/%" PRIu64, r->decision.kind, r->decision.value,
                r->decision.n);
        break;
    case TRACE_PACKET:
        show_packet(&o, &r->packet);
        break;
    case TRACE_FAULT:
        put_time(&o, r->fault.t);
        put(&o, " FAULT %s%s%s", r->fault.name, r->fault.detail[0] ? " " : "", r->fault.detail);
        break;
    case TRACE_NOTE:
        put_time(&o, r->note.t);
        put(&o, " NOTE%s%s", r->note.text[0] ? " " : "", r->note.text);
        break;
    case TRACE_END:
        put_time(&o, r->end.t);
        put(&o, " END %s steps=%" PRIu64 " digest=%016" PRIx64, trace_status_name(r->end.status),
            r->end.steps, r->end.digest);
        break;
    }
    return o.len;
}

static void show_header(FILE *out, const struct trace_header *h)
{
    fprintf(out, "vsocksim trace v%u: program %s, seed %" PRIu64 ", scenario %s\n", h->version,
            h->program, h->seed, h->scenario);
    for (unsigned i = 0; i < h->noptions; i++)
        fprintf(out, "%s%s=%s%s", i == 0 ? "options: " : " ", h->options[i].key,
                h->options[i].value, i + 1 == h->noptions ? "\n" : "");
}

int trace_show(FILE *in, FILE *out, bool verbose, struct trace_error *err)
{
    struct trace_header h;
    struct trace_reader *r = trace_reader_open(in, &h, err);
    if (r == NULL)
        return -1;
    show_header(out, &h);
    struct trace_record rec;
    char line[TRACE_LINE_MAX + 128];
    int got;
    while ((got = trace_reader_next(r, &rec, err)) > 0)
        if (trace_record_show(&rec, verbose, line, sizeof line) > 0)
            fprintf(out, "%s\n", line);
    trace_reader_close(r);
    if (got == 0 && (fflush(out) != 0 || ferror(out))) {
        if (err != NULL) {
            err->line = 0;
            snprintf(err->msg, sizeof err->msg, "write error");
        }
        return -1;
    }
    return got;
}

/* ---- comparison --------------------------------------------------------------- */

/* Each returns true (and describes it) when a and b differ. */
static bool differ_u64(struct out *o, const char *what, uint64_t a, uint64_t b)
{
    if (a == b)
        return false;
    put(o, "%s: expected %" PRIu64 ", got %" PRIu64, what, a, b);
    return true;
}

static bool differ_hex(struct out *o, const char *what, int digits, uint64_t a, uint64_t b)
{
    if (a == b)
        return false;
    put(o, "%s: expected %0*" PRIx64 ", got %0*" PRIx64, what, digits, a, digits, b);
    return true;
}

static bool differ_str(struct out *o, const char *what, const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return false;
    put(o, "%s: expected '%.100s', got '%.100s'", what, a, b);
    return true;
}

/* op and type by name where they have one. */
static bool differ_code(struct out *o, const char *what, const char *(*known)(uint16_t),
                        uint16_t a, uint16_t b)
{
    if (a == b)
        return false;
    char an[8], bn[8];
    snprintf(an, sizeof an, "%u", (unsigned)a);
    snprintf(bn, sizeof bn, "%u", (unsigned)b);
    put(o, "%s: expected %s, got %s", what, known(a) ? known(a) : an, known(b) ? known(b) : bn);
    return true;
}

static bool diff_decision(struct out *o, const struct trace_decision *a,
                          const struct trace_decision *b)
{
    return differ_str(o, "decision kind", a->kind, b->kind) ||
           differ_u64(o, "decision n", a->n, b->n) ||
           differ_u64(o, "decision value", a->value, b->value);
}

static bool diff_packet(struct out *o, const struct trace_packet *a, const struct trace_packet *b)
{
    const struct vsock_hdr *x = &a->hdr, *y = &b->hdr;
    if (differ_u64(o, "packet t", a->t, b->t))
        return true;
    if (a->dir != b->dir) {
        put(o, "packet direction: expected %s, got %s", trace_dir_name(a->dir),
            trace_dir_name(b->dir));
        return true;
    }
    return differ_code(o, "packet op", trace_op_known, x->op, y->op) ||
           differ_code(o, "packet type", trace_type_known, x->type, y->type) ||
           differ_u64(o, "packet src_cid", x->src_cid, y->src_cid) ||
           differ_u64(o, "packet src_port", x->src_port, y->src_port) ||
           differ_u64(o, "packet dst_cid", x->dst_cid, y->dst_cid) ||
           differ_u64(o, "packet dst_port", x->dst_port, y->dst_port) ||
           differ_u64(o, "packet len", x->len, y->len) ||
           differ_u64(o, "packet flags", x->flags, y->flags) ||
           differ_u64(o, "packet buf_alloc", x->buf_alloc, y->buf_alloc) ||
           differ_u64(o, "packet fwd_cnt", x->fwd_cnt, y->fwd_cnt) ||
           differ_hex(o, "packet sum", 8, a->sum, b->sum);
}

static bool diff_end(struct out *o, const struct trace_end *a, const struct trace_end *b)
{
    if (a->status != b->status) {
        put(o, "end status: expected %s, got %s", trace_status_name(a->status),
            trace_status_name(b->status));
        return true;
    }
    return differ_u64(o, "end steps", a->steps, b->steps) ||
           differ_u64(o, "end t", a->t, b->t) ||
           differ_hex(o, "end digest", 16, a->digest, b->digest);
}

bool trace_record_diff(const struct trace_record *a, const struct trace_record *b, char *buf,
                       size_t size)
{
    struct out o = {buf, buf != NULL ? size : 0, 0};
    if (o.size > 0)
        buf[0] = '\0';
    if (a->type != b->type) {
        put(&o, "record: expected %s, got %s", trace_rec_type_name(a->type),
            trace_rec_type_name(b->type));
        return true;
    }
    switch (a->type) {
    case TRACE_DECISION: return diff_decision(&o, &a->decision, &b->decision);
    case TRACE_PACKET: return diff_packet(&o, &a->packet, &b->packet);
    case TRACE_FAULT:
        return differ_u64(&o, "fault t", a->fault.t, b->fault.t) ||
               differ_str(&o, "fault name", a->fault.name, b->fault.name) ||
               differ_str(&o, "fault detail", a->fault.detail, b->fault.detail);
    case TRACE_NOTE:
        return differ_u64(&o, "note t", a->note.t, b->note.t) ||
               differ_str(&o, "note text", a->note.text, b->note.text);
    case TRACE_END: return diff_end(&o, &a->end, &b->end);
    }
    return false;
}

bool trace_record_equal(const struct trace_record *a, const struct trace_record *b)
{
    return !trace_record_diff(a, b, NULL, 0);
}
