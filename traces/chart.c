/* A trace as a message sequence chart (SVG): lanes for the guest app, the
 * driver, the device and the host app; one arrow per packet crossing the
 * ring; kicks and interrupts where the trace shows them (a notification's
 * latency decision, and the kick-delay / irq-delay decision before it);
 * faults marked on the lanes they hit; every scheduler decision counted by
 * kind on the row that follows it. Rows are laid out in pages, each a <g>
 * with its own lane headings. See traces/views.h. */
#include "traces/views.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- the rows ------------------------------------------------------------------- */

enum row_kind { ROW_PACKET, ROW_NOTIFY, ROW_FAULT, ROW_NOTE, ROW_END };
enum notify_kind { NOTIFY_UNKNOWN, NOTIFY_KICK, NOTIFY_IRQ };
/* Decision kinds, by who decides. */
enum dec_cat { DEC_SCHED, DEC_APP, DEC_NOTIFY, DEC_FAULT, DEC_NCAT };

#define ROW_TEXT 120

struct row {
    enum row_kind kind;
    uint64_t t;
    bool timed;                 /* t is the record's own time */
    struct trace_packet pkt;    /* ROW_PACKET */
    uint32_t count;             /* ROW_PACKET: packets folded into this arrow */
    uint64_t bytes;             /* ROW_PACKET: their payload */
    enum notify_kind notify;    /* ROW_NOTIFY */
    uint64_t latency;           /* ROW_NOTIFY: ns */
    bool late;                  /* ROW_NOTIFY: delayed by a fault */
    uint32_t dec[DEC_NCAT];     /* decisions since the previous row */
    char text[ROW_TEXT + 1];    /* fault name and detail, note, end summary */
    char dec_text[ROW_TEXT + 1];/* the decisions, for the side column */
};

struct chart {
    struct row *rows;
    size_t n, cap;
    uint64_t now;               /* time of the last timed record */
    uint32_t dec[DEC_NCAT];     /* decisions waiting for the next row */
    char dec_text[ROW_TEXT + 1];
    enum notify_kind next_notify; /* from a kick-delay / irq-delay decision */
    bool limited;               /* max_rows reached */
    struct views_chart_opts opts;
    struct views_chart_stats *st;
};

static enum dec_cat dec_category(const char *kind)
{
    static const char *const app[] = {"client-side", "client-end", "send-size", "read-or-write",
                                      "msg-size",    "msg-eor",    "msg-trunc", "msg-trunc-flag",
                                      "msg-buf"};
    static const char *const notify[] = {"kick-delay", "irq-delay", "latency-ns", "late-ns"};
    if (strcmp(kind, "actor") == 0)
        return DEC_SCHED;
    for (size_t i = 0; i < sizeof(app) / sizeof(app[0]); i++)
        if (strcmp(kind, app[i]) == 0)
            return DEC_APP;
    for (size_t i = 0; i < sizeof(notify) / sizeof(notify[0]); i++)
        if (strcmp(kind, notify[i]) == 0)
            return DEC_NOTIFY;
    return DEC_FAULT;
}

static struct row *new_row(struct chart *c, enum row_kind kind)
{
    if (c->opts.max_rows != 0 && c->n >= c->opts.max_rows) {
        c->limited = true;
        return NULL;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        struct row *r = realloc(c->rows, cap * sizeof(*r));
        if (r == NULL)
            return NULL;
        c->rows = r;
        c->cap = cap;
    }
    struct row *r = &c->rows[c->n++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->t = c->now;
    memcpy(r->dec, c->dec, sizeof(r->dec));
    memcpy(r->dec_text, c->dec_text, sizeof(r->dec_text));
    memset(c->dec, 0, sizeof(c->dec));
    c->dec_text[0] = '\0';
    return r;
}

/* "actor 2/5" appended to the side column text, as far as it fits. */
static void note_decision(struct chart *c, const struct trace_decision *d)
{
    size_t len = strlen(c->dec_text);
    if (len < ROW_TEXT)
        snprintf(c->dec_text + len, ROW_TEXT + 1 - len, "%s%s=%" PRIu64, len ? " " : "", d->kind,
                 d->value);
}

static bool same_run(const struct row *r, const struct trace_packet *p)
{
    const struct vsock_hdr *a = &r->pkt.hdr, *b = &p->hdr;
    return r->kind == ROW_PACKET && r->pkt.dir == p->dir && a->op == VSOCK_OP_RW &&
           b->op == VSOCK_OP_RW && a->src_cid == b->src_cid && a->dst_cid == b->dst_cid &&
           a->src_port == b->src_port && a->dst_port == b->dst_port;
}

static int add_packet(struct chart *c, const struct trace_packet *p)
{
    c->st->packets++;
    c->now = p->t;
    struct row *last = c->n ? &c->rows[c->n - 1] : NULL;
    if (c->opts.fold && last != NULL && same_run(last, p)) {
        last->count++;
        last->bytes += p->hdr.len;
        for (int k = 0; k < DEC_NCAT; k++)
            last->dec[k] += c->dec[k];
        memset(c->dec, 0, sizeof(c->dec));
        c->dec_text[0] = '\0';
        return 0;
    }
    struct row *r = new_row(c, ROW_PACKET);
    if (r == NULL)
        return c->limited ? 0 : -1;
    r->timed = true;
    r->pkt = *p;
    r->count = 1;
    r->bytes = p->hdr.len;
    c->st->arrows++;
    return 0;
}

/* A notification was raised: its latency decision (or a delayed one's). */
static int add_notify(struct chart *c, const struct trace_decision *d)
{
    struct row *r = new_row(c, ROW_NOTIFY);
    if (r == NULL)
        return c->limited ? 0 : -1;
    r->notify = c->next_notify;
    r->latency = d->value;
    r->late = strcmp(d->kind, "late-ns") == 0;
    c->next_notify = NOTIFY_UNKNOWN;
    c->st->notifications++;
    return 0;
}

static int add_decision(struct chart *c, const struct trace_decision *d)
{
    c->st->decisions++;
    if (strcmp(d->kind, "kick-delay") == 0)
        c->next_notify = NOTIFY_KICK;
    else if (strcmp(d->kind, "irq-delay") == 0)
        c->next_notify = NOTIFY_IRQ;
    if (strcmp(d->kind, "latency-ns") == 0 || strcmp(d->kind, "late-ns") == 0)
        return add_notify(c, d);
    c->dec[dec_category(d->kind)]++;
    note_decision(c, d);
    return 0;
}

/* Appends as much of s to the string in dst (size bytes) as fits; texts
 * are cut on purpose (the full record is in the trace). */
static void append(char *dst, size_t size, const char *s)
{
    size_t len = strlen(dst);
    while (*s && len + 1 < size)
        dst[len++] = *s++;
    dst[len] = '\0';
}

static int add_text_row(struct chart *c, enum row_kind kind, uint64_t t, const char *a,
                        const char *b)
{
    c->now = t;
    struct row *r = new_row(c, kind);
    if (r == NULL)
        return c->limited ? 0 : -1;
    r->timed = true;
    append(r->text, sizeof(r->text), a);
    if (b[0]) {
        append(r->text, sizeof(r->text), " ");
        append(r->text, sizeof(r->text), b);
    }
    return 0;
}

static int add_end(struct chart *c, const struct trace_end *e)
{
    char text[ROW_TEXT];
    snprintf(text, sizeof(text), "end %s, %" PRIu64 " steps, digest %016" PRIx64,
             trace_status_name(e->status), e->steps, e->digest);
    return add_text_row(c, ROW_END, e->t, text, "");
}

static int add_record(struct chart *c, const struct trace_record *rec)
{
    switch (rec->type) {
    case TRACE_DECISION: return add_decision(c, &rec->decision);
    case TRACE_PACKET: return add_packet(c, &rec->packet);
    case TRACE_FAULT:
        c->st->faults++;
        return add_text_row(c, ROW_FAULT, rec->fault.t, rec->fault.name, rec->fault.detail);
    case TRACE_NOTE: return add_text_row(c, ROW_NOTE, rec->note.t, rec->note.text, "");
    case TRACE_END: return add_end(c, &rec->end);
    }
    return 0;
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int read_rows(FILE *in, struct chart *c, struct trace_header *h, char *err, size_t errlen)
{
    struct trace_error te;
    struct trace_reader *r = trace_reader_open(in, h, &te);
    if (r == NULL)
        return fail(err, errlen, "%s", te.msg);
    struct trace_record rec;
    int n;
    while ((n = trace_reader_next(r, &rec, &te)) == 1)
        if (add_record(c, &rec) < 0) {
            trace_reader_close(r);
            return fail(err, errlen, "out of memory");
        }
    trace_reader_close(r);
    if (n < 0)
        return fail(err, errlen, "%s", te.msg);
    if (c->limited) {
        c->opts.max_rows = 0;
        char text[80];
        snprintf(text, sizeof(text), "chart cut after %zu rows (--max-rows)", c->n);
        return add_text_row(c, ROW_NOTE, c->now, text, "") < 0 ? fail(err, errlen, "out of memory")
                                                                : 0;
    }
    return 0;
}

/* ---- drawing ---------------------------------------------------------------------- */

#define W 1280
#define ROW_H 24
#define HEAD_H 64
#define PAGE_GAP 28
#define TOP 56
#define X_TIME 92
#define X_GLYPH 104
#define X_SIDE 930
#define SIDE_CHARS 62 /* decisions shown per row; the rest in the tooltip */

static const int lane_x[4] = {240, 450, 680, 880};
static const char *const lane_name[4] = {"guest app", "driver", "device", "host app"};
enum { LANE_GAPP, LANE_DRV, LANE_DEV, LANE_HAPP };

/* Writes s with XML's five special characters escaped. */
static void put_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default: fputc(*s, out);
        }
    }
}

/* Simulated time in microseconds with one decimal, from integers only. */
static void time_label(uint64_t t, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIu64 ".%" PRIu64 " us", t / 1000u, t % 1000u / 100u);
}

/* One colour per connection (guest port, host port), the same both ways. */
static const char *conn_colour(const struct trace_packet *p)
{
    static const char *const palette[8] = {"#1f77b4", "#2ca02c", "#9467bd", "#8c564b",
                                           "#17becf", "#bcbd22", "#e377c2", "#7f7f7f"};
    const struct vsock_hdr *h = &p->hdr;
    uint32_t gport = p->dir == TRACE_G2H ? h->src_port : h->dst_port;
    uint32_t hport = p->dir == TRACE_G2H ? h->dst_port : h->src_port;
    return palette[(gport * 2654435761u ^ hport * 40503u) >> 29];
}

static const char *pkt_style(uint16_t op)
{
    switch (op) {
    case VSOCK_OP_REQUEST:
    case VSOCK_OP_RESPONSE: return "stroke-width=\"2.5\"";
    case VSOCK_OP_RST: return "stroke-width=\"2\" stroke-dasharray=\"3,3\"";
    case VSOCK_OP_SHUTDOWN: return "stroke-width=\"2\" stroke-dasharray=\"8,3\"";
    case VSOCK_OP_CREDIT_UPDATE:
    case VSOCK_OP_CREDIT_REQUEST: return "stroke-width=\"1\" stroke-dasharray=\"2,2\"";
    default: return "stroke-width=\"1.5\"";
    }
}

/* A horizontal arrow from x0 to x1 at y with its head at x1. */
static void arrow(FILE *out, int x0, int x1, int y, const char *colour, const char *style)
{
    int d = x1 > x0 ? -8 : 8;
    fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" %s/>", x0, y,
            x1 + d / 2, y, colour, style);
    fprintf(out, "<polygon points=\"%d,%d %d,%d %d,%d\" fill=\"%s\"/>", x1, y, x1 + d, y - 4,
            x1 + d, y + 4, colour);
}

static void packet_label(const struct row *r, char *buf, size_t len)
{
    const struct vsock_hdr *h = &r->pkt.hdr;
    char what[48];
    if (r->count > 1)
        snprintf(what, sizeof(what), "RW x%" PRIu32 " %" PRIu64 "B", r->count, r->bytes);
    else if (h->op == VSOCK_OP_RW)
        snprintf(what, sizeof(what), "RW %" PRIu32 "B", h->len);
    else if (h->op == VSOCK_OP_CREDIT_UPDATE || h->op == VSOCK_OP_CREDIT_REQUEST)
        snprintf(what, sizeof(what), "%s fwd=%" PRIu32, vsock_op_name(h->op), h->fwd_cnt);
    else if (h->op == VSOCK_OP_SHUTDOWN)
        snprintf(what, sizeof(what), "SHUTDOWN %s%s", h->flags & VSOCK_SHUTDOWN_RCV ? "R" : "",
                 h->flags & VSOCK_SHUTDOWN_SEND ? "S" : "");
    else
        snprintf(what, sizeof(what), "%s", vsock_op_name(h->op));
    snprintf(buf, len, "%s %" PRIu32 "&#8594;%" PRIu32, what, h->src_port, h->dst_port);
}

static void draw_packet(FILE *out, const struct row *r, int y)
{
    const struct trace_packet *p = &r->pkt;
    bool g2h = p->dir == TRACE_G2H;
    const char *colour = conn_colour(p);
    char label[96], full[TRACE_LINE_MAX];
    packet_label(r, label, sizeof(label));
    struct trace_record rec = {.type = TRACE_PACKET, .packet = *p};
    trace_record_show(&rec, false, full, sizeof(full));
    fprintf(out, "<g class=\"pkt %s\"><title>", vsock_op_name(p->hdr.op));
    put_text(out, full);
    if (r->count > 1)
        fprintf(out, " (the first of %" PRIu32 " RW packets, %" PRIu64 " bytes)", r->count,
                r->bytes);
    fputs("</title>", out);
    /* The sockets' ends of the crossing: from the sending app's lane, to the
     * receiving app's lane. */
    fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"stub\" stroke=\"%s\"/>",
            lane_x[LANE_GAPP], y, lane_x[LANE_DRV], y, colour);
    fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"stub\" stroke=\"%s\"/>",
            lane_x[LANE_DEV], y, lane_x[LANE_HAPP], y, colour);
    fprintf(out, "<circle cx=\"%d\" cy=\"%d\" r=\"2.5\" fill=\"%s\"/>",
            g2h ? lane_x[LANE_GAPP] : lane_x[LANE_HAPP], y, colour);
    arrow(out, g2h ? lane_x[LANE_DRV] : lane_x[LANE_DEV], g2h ? lane_x[LANE_DEV] : lane_x[LANE_DRV],
          y, colour, pkt_style(p->hdr.op));
    fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"lbl\" fill=\"%s\">%s</text></g>\n",
            (lane_x[LANE_DRV] + lane_x[LANE_DEV]) / 2, y - 4,
            p->hdr.op == VSOCK_OP_RST ? "#d62728" : "#222", label);
}

static void draw_notify(FILE *out, const struct row *r, int y)
{
    static const char *const names[3] = {"kick or irq", "kick", "irq"};
    char lat[48];
    if (r->latency >= 10000)
        snprintf(lat, sizeof(lat), "%" PRIu64 ".%" PRIu64 " us", r->latency / 1000u,
                 r->latency % 1000u / 100u);
    else
        snprintf(lat, sizeof(lat), "%" PRIu64 " ns", r->latency);
    fprintf(out, "<g class=\"notify %s\"><title>%s raised, delivered after %s%s</title>",
            r->notify == NOTIFY_KICK ? "kick" : r->notify == NOTIFY_IRQ ? "irq" : "unknown",
            names[r->notify], lat, r->late ? " (delayed by a fault)" : "");
    int x0 = lane_x[LANE_DRV] + 20, x1 = lane_x[LANE_DEV] - 20;
    const char *colour = r->late ? "#d62728" : "#ff7f0e";
    if (r->notify == NOTIFY_UNKNOWN)
        fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                     "stroke-dasharray=\"1,3\"/>", x0, y, x1, y, colour);
    else
        arrow(out, r->notify == NOTIFY_KICK ? x0 : x1, r->notify == NOTIFY_KICK ? x1 : x0, y,
              colour, "stroke-width=\"1\" stroke-dasharray=\"5,3\"");
    fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"lbl small\" fill=\"%s\">%s +%s</text></g>\n",
            (x0 + x1) / 2, y - 3, colour, names[r->notify], lat);
}

/* The lanes a fault acts on (bit per lane). */
static unsigned fault_lanes(const char *text)
{
    if (strncmp(text, "guest-stall", 11) == 0)
        return 1u << LANE_GAPP;
    if (strncmp(text, "host-stall", 10) == 0)
        return 1u << LANE_HAPP;
    if (strncmp(text, "peer-reset", 10) == 0)
        return strstr(text, "guest") ? 1u << LANE_GAPP : 1u << LANE_HAPP;
    if (strncmp(text, "rx-starve", 9) == 0 || strncmp(text, "spurious-irq", 12) == 0)
        return 1u << LANE_DRV;
    if (strncmp(text, "tiny-rings", 10) == 0)
        return 1u << LANE_DRV | 1u << LANE_DEV;
    return 1u << LANE_DEV;
}

static void draw_fault(FILE *out, const struct row *r, int y)
{
    fprintf(out, "<g class=\"fault\"><title>fault: ");
    put_text(out, r->text);
    fprintf(out, "</title><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fde0e0\"/>",
            lane_x[0] - 40, y - ROW_H / 2 - 2, lane_x[3] - lane_x[0] + 80, ROW_H - 4);
    unsigned lanes = fault_lanes(r->text);
    for (int l = 0; l < 4; l++)
        if (lanes & (1u << l))
            fprintf(out, "<path d=\"M%d %d l10 10 m0 -10 l-10 10\" stroke=\"#d62728\" "
                         "stroke-width=\"2.5\"/>", lane_x[l] - 5, y - 9);
    int lx = lanes & (1u << LANE_HAPP) ? lane_x[LANE_HAPP] - 12 : lane_x[0] - 30;
    fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"%s\">FAULT ", lx, y + 4,
            lanes & (1u << LANE_HAPP) ? "fault-r" : "fault-l");
    put_text(out, r->text);
    fputs("</text></g>\n", out);
}

static void draw_text_row(FILE *out, const struct row *r, int y)
{
    bool end = r->kind == ROW_END;
    fprintf(out, "<g class=\"%s\">", end ? "end" : "note");
    if (end)
        fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#222\" "
                     "stroke-width=\"2\"/>", lane_x[0] - 40, y - 10, lane_x[3] + 40, y - 10);
    fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"%s\">", lane_x[0] - 30, y + 4,
            end ? "endtext" : "notetext");
    put_text(out, r->text);
    fputs("</text></g>\n", out);
}

/* One decision glyph: scheduler circle, application square, fault-draw
 * triangle (notifications have rows of their own). */
static void draw_glyph(FILE *out, int cat, int x, int y)
{
    if (cat == DEC_SCHED)
        fprintf(out, "<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"#555\"/>", x + 4, y);
    else if (cat == DEC_APP)
        fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"8\" height=\"8\" fill=\"#2ca02c\"/>", x,
                y - 4);
    else
        fprintf(out, "<polygon points=\"%d,%d %d,%d %d,%d\" fill=\"none\" stroke=\"#c66\"/>",
                x + 4, y - 5, x, y + 4, x + 8, y + 4);
}

/* The decisions made since the previous row: glyphs with counts left of the
 * lanes, and the decisions themselves in the side column. */
static void draw_decisions(FILE *out, const struct row *r, int y)
{
    int x = X_GLYPH;
    for (int k = 0; k < DEC_NCAT; k++) {
        if (r->dec[k] == 0 || k == DEC_NOTIFY)
            continue;
        fprintf(out, "<g class=\"dec\">");
        draw_glyph(out, k, x, y);
        fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"small\">%" PRIu32 "</text></g>", x + 10,
                y + 4, r->dec[k]);
        x += 30;
    }
    if (r->dec_text[0]) {
        char shown[SIDE_CHARS + 4];
        snprintf(shown, sizeof(shown), "%.*s%s", SIDE_CHARS, r->dec_text,
                 strlen(r->dec_text) > SIDE_CHARS ? "..." : "");
        fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"side\"><title>", X_SIDE, y + 4);
        put_text(out, r->dec_text);
        fputs("</title>", out);
        put_text(out, shown);
        fputs("</text>", out);
    }
}

static void draw_row(FILE *out, const struct row *r, int y)
{
    if (r->timed) {
        char t[40];
        time_label(r->t, t, sizeof(t));
        fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"time\">%s</text>", X_TIME, y + 4, t);
    }
    draw_decisions(out, r, y);
    switch (r->kind) {
    case ROW_PACKET: draw_packet(out, r, y); break;
    case ROW_NOTIFY: draw_notify(out, r, y); break;
    case ROW_FAULT: draw_fault(out, r, y); break;
    case ROW_NOTE:
    case ROW_END: draw_text_row(out, r, y); break;
    }
}

static void draw_page_head(FILE *out, size_t page, size_t first, size_t last, int height)
{
    fprintf(out, "<text x=\"8\" y=\"18\" class=\"pagetitle\">page %zu: rows %zu to %zu</text>\n",
            page, first + 1, last);
    for (int l = 0; l < 4; l++) {
        fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"lane\"/>", lane_x[l],
                HEAD_H - 20, lane_x[l], height);
        fprintf(out, "<rect x=\"%d\" y=\"26\" width=\"120\" height=\"24\" rx=\"4\" "
                     "class=\"head\"/><text x=\"%d\" y=\"43\" class=\"headtext\">%s</text>\n",
                lane_x[l] - 60, lane_x[l], lane_name[l]);
    }
    fprintf(out, "<text x=\"%d\" y=\"43\" class=\"time\">sim time</text>", X_TIME);
    fprintf(out, "<text x=\"%d\" y=\"43\" class=\"side\">decisions before the row</text>\n",
            X_SIDE);
}

static int page_height(size_t rows)
{
    return HEAD_H + (int)rows * ROW_H + 8;
}

static void draw_style(FILE *out)
{
    fputs("<style>\n"
          "text { font-family: 'DejaVu Sans', Verdana, sans-serif; font-size: 11px; }\n"
          ".lbl { text-anchor: middle; } .small { font-size: 9px; }\n"
          ".time { text-anchor: end; fill: #444; font-size: 10px; }\n"
          ".side { fill: #666; font-size: 9px; }\n"
          ".lane { stroke: #bbb; stroke-width: 1; }\n"
          ".stub { stroke-width: 1; stroke-dasharray: 1,3; opacity: 0.6; }\n"
          ".head { fill: #e8eef7; stroke: #7a8fb0; }\n"
          ".headtext { text-anchor: middle; font-weight: bold; }\n"
          ".pagetitle { font-size: 12px; font-weight: bold; fill: #333; }\n"
          ".fault-l { fill: #b00; font-weight: bold; }\n"
          ".fault-r { fill: #b00; font-weight: bold; text-anchor: end; }\n"
          ".notetext { fill: #555; font-style: italic; }\n"
          ".endtext { font-weight: bold; }\n"
          "</style>\n",
          out);
}

static void draw_title(FILE *out, const struct trace_header *h, const struct chart *c)
{
    fprintf(out, "<text x=\"8\" y=\"22\" class=\"pagetitle\" style=\"font-size:15px\">vsocksim "
                 "trace: scenario ");
    put_text(out, h->scenario);
    fprintf(out, ", seed %" PRIu64 ", program ", h->seed);
    put_text(out, h->program);
    fprintf(out, "</text><text x=\"8\" y=\"42\" class=\"side\">%" PRIu64 " packets (%" PRIu64
                 " arrows), %" PRIu64 " notifications, %" PRIu64 " faults, %" PRIu64
                 " decisions, %zu rows. Arrows cross the ring between driver and device; colour "
                 "= connection; hover for the full record.</text>\n"
                 "<text x=\"640\" y=\"22\" class=\"side\">left of the lanes, decisions since "
                 "the previous row: circle = scheduler, square = application, triangle = fault "
                 "draw;</text><text x=\"640\" y=\"34\" class=\"side\">orange dashed = kick "
                 "(driver to device) or interrupt (device to driver) and its latency, red = "
                 "delayed by a fault.</text>\n",
            c->st->packets, c->st->arrows, c->st->notifications, c->st->faults, c->st->decisions,
            c->n);
}

static int draw(FILE *out, const struct trace_header *h, struct chart *c)
{
    size_t per = c->opts.page_rows;
    size_t pages = c->n == 0 ? 1 : (c->n + per - 1) / per;
    int total = TOP;
    for (size_t p = 0; p < pages; p++)
        total += page_height(p + 1 < pages ? per : c->n - p * per) + PAGE_GAP;
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\">\n", W, total, W, total);
    draw_style(out);
    fprintf(out, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, total);
    draw_title(out, h, c);
    int y0 = TOP;
    for (size_t p = 0; p < pages; p++) {
        size_t first = p * per, last = first + per < c->n ? first + per : c->n;
        int height = page_height(last - first);
        fprintf(out, "<g class=\"page\" id=\"page-%zu\" transform=\"translate(0,%d)\">\n", p + 1,
                y0);
        draw_page_head(out, p + 1, first, last, height);
        for (size_t i = first; i < last; i++)
            draw_row(out, &c->rows[i], HEAD_H + (int)(i - first) * ROW_H + ROW_H / 2);
        fputs("</g>\n", out);
        y0 += height + PAGE_GAP;
    }
    fputs("</svg>\n", out);
    c->st->pages = pages;
    c->st->rows = c->n;
    return ferror(out) ? -1 : 0;
}

int views_trace_to_chart(FILE *in, FILE *out, const struct views_chart_opts *o,
                         struct views_chart_stats *st, char *err, size_t errlen)
{
    struct views_chart_stats dummy;
    if (st == NULL)
        st = &dummy;
    memset(st, 0, sizeof(*st));
    struct chart c;
    memset(&c, 0, sizeof(c));
    if (o != NULL)
        c.opts = *o;
    if (c.opts.page_rows == 0)
        c.opts.page_rows = VIEWS_CHART_PAGE_ROWS;
    c.st = st;
    struct trace_header h;
    int r = read_rows(in, &c, &h, err, errlen);
    if (r == 0 && draw(out, &h, &c) < 0)
        r = fail(err, errlen, "writing the chart failed");
    free(c.rows);
    return r;
}
