/* The trace writer. It refuses anything the reader would reject, so that a
 * trace written by the simulator always replays. */
#include "traces/trace_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct trace_writer {
    FILE *f;
    int err;    /* sticky: the first error */
    bool ended; /* `end` written: nothing may follow */
};

__attribute__((format(printf, 2, 3))) static int emit(struct trace_writer *w,
                                                      const char *fmt, ...)
{
    if (w->err != 0)
        return w->err;
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(w->f, fmt, ap);
    va_end(ap);
    if (n < 0)
        w->err = -EIO;
    return w->err;
}

static int refuse(struct trace_writer *w)
{
    if (w->err == 0)
        w->err = -EINVAL;
    return w->err;
}

/* Records may only come between `begin` and `end`. */
static bool record_allowed(const struct trace_writer *w)
{
    return w->err == 0 && !w->ended;
}

static bool header_valid(const struct trace_header *h)
{
    if (!trace_is_token(h->program, TRACE_FIELD_MAX) ||
        !trace_is_token(h->scenario, TRACE_FIELD_MAX) || h->noptions > TRACE_MAX_OPTIONS)
        return false;
    for (unsigned i = 0; i < h->noptions; i++) {
        const struct trace_option *o = &h->options[i];
        if (!trace_is_key(o->key, TRACE_FIELD_MAX) || !trace_is_token(o->value, TRACE_FIELD_MAX))
            return false;
        for (unsigned j = 0; j < i; j++)
            if (strcmp(h->options[j].key, o->key) == 0)
                return false;
    }
    return true;
}

struct trace_writer *trace_writer_open(FILE *f, const struct trace_header *h)
{
    struct trace_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->f = f;
    if (!header_valid(h)) {
        refuse(w);
        return w;
    }
    emit(w, "vsocksim-trace %u\nprogram %s\nseed %" PRIu64 "\nscenario %s\n",
         TRACE_FORMAT_VERSION, h->program, h->seed, h->scenario);
    for (unsigned i = 0; i < h->noptions; i++)
        emit(w, "option %s %s\n", h->options[i].key, h->options[i].value);
    emit(w, "begin\n");
    return w;
}

int trace_write_decision(struct trace_writer *w, const char *kind, uint64_t n, uint64_t value)
{
    if (!record_allowed(w) || !trace_is_name(kind, TRACE_NAME_MAX) || n == 0 || value >= n)
        return refuse(w);
    return emit(w, "D %s %" PRIu64 " %" PRIu64 "\n", kind, n, value);
}

/* The name, or the number in buf when transport/ has no name for it. */
static const char *op_word(uint16_t op, char buf[8])
{
    const char *name = trace_op_known(op);
    if (name != NULL)
        return name;
    snprintf(buf, 8, "%u", (unsigned)op);
    return buf;
}

static const char *type_word(uint16_t type, char buf[8])
{
    const char *name = trace_type_known(type);
    if (name != NULL)
        return name;
    snprintf(buf, 8, "%u", (unsigned)type);
    return buf;
}

int trace_write_packet(struct trace_writer *w, const struct trace_packet *p)
{
    if (!record_allowed(w) || (p->dir != TRACE_G2H && p->dir != TRACE_H2G))
        return refuse(w);
    const struct vsock_hdr *h = &p->hdr;
    char opbuf[8], typebuf[8];
    return emit(w,
                "P %" PRIu64 " %s %s %s %" PRIu64 ":%" PRIu32 " %" PRIu64 ":%" PRIu32
                " len=%" PRIu32 " flags=%" PRIu32 " buf_alloc=%" PRIu32 " fwd_cnt=%" PRIu32
                " sum=%08" PRIx32 "\n",
                p->t, trace_dir_name(p->dir), op_word(h->op, opbuf), type_word(h->type, typebuf),
                h->src_cid, h->src_port, h->dst_cid, h->dst_port, h->len, h->flags, h->buf_alloc,
                h->fwd_cnt, p->sum);
}

int trace_write_fault(struct trace_writer *w, uint64_t t, const char *name, const char *detail)
{
    bool has_detail = detail != NULL && detail[0] != '\0';
    if (!record_allowed(w) || !trace_is_name(name, TRACE_NAME_MAX) ||
        (has_detail && !trace_is_token(detail, TRACE_DETAIL_MAX)))
        return refuse(w);
    return emit(w, "F %" PRIu64 " %s%s%s\n", t, name, has_detail ? " " : "",
                has_detail ? detail : "");
}

/* Control characters (a multi-line message) read best as spaces; other
 * bytes cannot be shown faithfully in ASCII at all. */
static char note_char(unsigned char c)
{
    if (c < ' ' || c == 0x7f)
        return ' ';
    return c < 0x7f ? (char)c : '?';
}

int trace_write_note(struct trace_writer *w, uint64_t t, const char *text)
{
    if (!record_allowed(w))
        return refuse(w);
    char clean[TRACE_NOTE_MAX + 1];
    size_t n = 0;
    for (; text != NULL && text[n] != '\0' && n < TRACE_NOTE_MAX; n++)
        clean[n] = note_char((unsigned char)text[n]);
    clean[n] = '\0';
    return emit(w, "N %" PRIu64 "%s%s\n", t, n > 0 ? " " : "", clean);
}

int trace_write_end(struct trace_writer *w, enum trace_status status, uint64_t steps, uint64_t t,
                    uint64_t digest)
{
    if (!record_allowed(w) || (unsigned)status > TRACE_ERROR)
        return refuse(w);
    w->ended = true;
    return emit(w, "end %s steps=%" PRIu64 " t=%" PRIu64 " digest=%016" PRIx64 "\n",
                trace_status_name(status), steps, t, digest);
}

int trace_write_record(struct trace_writer *w, const struct trace_record *r)
{
    switch (r->type) {
    case TRACE_DECISION:
        return trace_write_decision(w, r->decision.kind, r->decision.n, r->decision.value);
    case TRACE_PACKET:
        return trace_write_packet(w, &r->packet);
    case TRACE_FAULT:
        return trace_write_fault(w, r->fault.t, r->fault.name, r->fault.detail);
    case TRACE_NOTE:
        return trace_write_note(w, r->note.t, r->note.text);
    case TRACE_END:
        return trace_write_end(w, r->end.status, r->end.steps, r->end.t, r->end.digest);
    }
    return refuse(w);
}

int trace_writer_error(const struct trace_writer *w)
{
    return w->err;
}

int trace_writer_close(struct trace_writer *w)
{
    if (w == NULL)
        return -EINVAL;
    /* Buffered write errors only show at the flush. */
    if ((fflush(w->f) != 0 || ferror(w->f)) && w->err == 0)
        w->err = -EIO;
    int err = w->err;
    free(w);
    return err;
}
