/*
 * The trace reader: one line at a time into a fixed buffer, so a trace of
 * any size (or a file that is not a trace at all) is read in constant memory
 * and never read past the first line that is too long. Each malformed input
 * has its own message, because a trace is often a bug report someone edited.
 */
#include "traces/trace_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum reader_state { RS_BODY, RS_AFTER_END, RS_DONE, RS_FAILED };

struct trace_reader {
    FILE *f;
    enum reader_state state;
    unsigned long line;         /* the line in buf */
    unsigned long record_line;  /* the line of the record last returned */
    bool unterminated;          /* buf's line met the end of file, not a newline */
    struct trace_error err;     /* sticky once state is RS_FAILED */
    char buf[TRACE_LINE_MAX + 2];
};

/* Quoted input in messages is cut, so that the message stays one short line. */
#define Q "'%.48s'"

__attribute__((format(printf, 3, 4))) static int fail(struct trace_reader *r,
                                                      struct trace_error *err,
                                                      const char *fmt, ...)
{
    int n = snprintf(r->err.msg, sizeof r->err.msg, "line %lu: ", r->line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err.msg + n, sizeof r->err.msg - (size_t)n, fmt, ap);
    va_end(ap);
    r->err.line = r->line;
    r->state = RS_FAILED;
    if (err != NULL)
        *err = r->err;
    return -1;
}

/* ---- lines -------------------------------------------------------------------- */

/* Why a line is not printable ASCII, or NULL when it is. */
static const char *bad_byte(const char *s, size_t n, char *why, size_t whylen)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0)
            snprintf(why, whylen, "NUL byte at column %zu", i + 1);
        else if (c >= 0x80)
            snprintf(why, whylen, "non-ASCII byte 0x%02x at column %zu", c, i + 1);
        else if (c < ' ' || c == 0x7f)
            snprintf(why, whylen, "control character 0x%02x at column %zu%s", c, i + 1,
                     c == '\r' ? " (a CR is only accepted right before the newline)" : "");
        else
            continue;
        return why;
    }
    return NULL;
}

/*
 * Reads the next line into r->buf without its "\n" or "\r\n". 1: a line;
 * 0: end of file before any byte; -1: an error. Stops reading at the first
 * byte past the limit, so an endless line costs nothing.
 */
static int read_line(struct trace_reader *r, struct trace_error *err)
{
    size_t n = 0;
    int c;
    r->line++;
    /* One byte of slack: a maximal line may still end in "\r\n". */
    while ((c = getc(r->f)) != EOF && c != '\n') {
        if (n == TRACE_LINE_MAX + 1)
            return fail(r, err, "line longer than %u bytes", TRACE_LINE_MAX);
        r->buf[n++] = (char)c;
    }
    if (ferror(r->f))
        return fail(r, err, "read error");
    if (c == EOF && n == 0)
        return 0;
    if (c == '\n' && n > 0 && r->buf[n - 1] == '\r')
        n--;
    if (n > TRACE_LINE_MAX)
        return fail(r, err, "line longer than %u bytes", TRACE_LINE_MAX);
    r->unterminated = c == EOF;
    char why[128];
    if (bad_byte(r->buf, n, why, sizeof why) != NULL)
        return fail(r, err, "%s", why);
    r->buf[n] = '\0';
    return 1;
}

/* ---- fields ------------------------------------------------------------------- */

#define MAX_FIELDS 16

/* Splits s in place at single spaces. -1 when a field is empty (a double,
 * leading or trailing space) or there are more than max fields. */
static int split(char *s, char **field, int max)
{
    int n = 0;
    for (char *p = s;; p++) {
        if (n == max)
            return -1;
        field[n++] = p;
        p = strchr(p, ' ');
        if (p == NULL)
            break;
        *p = '\0';
    }
    for (int i = 0; i < n; i++)
        if (field[i][0] == '\0')
            return -1;
    return n;
}

enum num_result { NUM_OK, NUM_BAD, NUM_RANGE };

/* Decimal digits only: no sign, no spaces, no hex; the value at most max. */
static enum num_result parse_num(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    bool range = false;
    if (*s == '\0')
        return NUM_BAD;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return NUM_BAD;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            range = true;
        else
            v = v * 10 + d;
    }
    *out = v;
    return range ? NUM_RANGE : NUM_OK;
}

/* Exactly `digits` hex digits. */
static bool parse_hex(const char *s, unsigned digits, uint64_t *out)
{
    uint64_t v = 0;
    unsigned n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        if (n == digits)
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return n == digits;
}

/* A number field; what names it in messages ("seed", "packet record: len"). */
static int num_field(struct trace_reader *r, struct trace_error *err, const char *what,
                     const char *s, uint64_t max, uint64_t *out)
{
    switch (parse_num(s, max, out)) {
    case NUM_OK: return 0;
    case NUM_BAD: return fail(r, err, "%s: not a number: " Q, what, s);
    case NUM_RANGE: return fail(r, err, "%s: %.48s out of range (max %" PRIu64 ")", what, s, max);
    }
    return -1;
}

/* A "key=<u64>" field. */
static int kv_field(struct trace_reader *r, struct trace_error *err, const char *rec,
                    const char *key, const char *s, uint64_t max, uint64_t *out)
{
    size_t klen = strlen(key);
    if (strncmp(s, key, klen) != 0 || s[klen] != '=')
        return fail(r, err, "%s record: expected '%s=', got " Q, rec, key, s);
    char what[64];
    snprintf(what, sizeof what, "%s record: %s", rec, key);
    return num_field(r, err, what, s + klen + 1, max, out);
}

static int hex_kv_field(struct trace_reader *r, struct trace_error *err, const char *rec,
                        const char *key, const char *s, unsigned digits, uint64_t *out)
{
    size_t klen = strlen(key);
    if (strncmp(s, key, klen) != 0 || s[klen] != '=')
        return fail(r, err, "%s record: expected '%s=', got " Q, rec, key, s);
    if (!parse_hex(s + klen + 1, digits, out))
        return fail(r, err, "%s record: %s: expected %u hex digits, got " Q, rec, key, digits,
                    s + klen + 1);
    return 0;
}

/* ---- records ------------------------------------------------------------------ */

static int parse_decision(struct trace_reader *r, char **f, int n, struct trace_record *rec,
                          struct trace_error *err)
{
    struct trace_decision *d = &rec->decision;
    if (n != 4)
        return fail(r, err, "decision record: expected 'D <kind> <n> <value>', got %d fields", n);
    if (!trace_is_name(f[1], TRACE_NAME_MAX))
        return fail(r, err, "decision record: bad kind " Q " (1 to %u of [a-z-])", f[1],
                    TRACE_NAME_MAX);
    strcpy(d->kind, f[1]);
    if (num_field(r, err, "decision record: n", f[2], UINT64_MAX, &d->n) < 0 ||
        num_field(r, err, "decision record: value", f[3], UINT64_MAX, &d->value) < 0)
        return -1;
    if (d->n == 0)
        return fail(r, err, "decision n must be at least 1, got 0");
    if (d->value >= d->n)
        return fail(r, err, "decision value %" PRIu64 " not below n=%" PRIu64, d->value, d->n);
    rec->type = TRACE_DECISION;
    return 0;
}

/* A name of transport/, or a decimal number for values without one. */
static int code_field(struct trace_reader *r, struct trace_error *err, const char *what,
                      const char *s, const char *(*known)(uint16_t), uint16_t *out)
{
    uint64_t v;
    if (s[0] >= '0' && s[0] <= '9') {
        if (num_field(r, err, what, s, UINT16_MAX, &v) < 0)
            return -1;
        *out = (uint16_t)v;
        return 0;
    }
    /* The names are on small values; the search stops at the first match. */
    for (unsigned i = 0; i <= UINT8_MAX; i++) {
        const char *name = known((uint16_t)i);
        if (name != NULL && strcmp(name, s) == 0) {
            *out = (uint16_t)i;
            return 0;
        }
    }
    return fail(r, err, "%s: unknown name " Q, what, s);
}

/* "<cid>:<port>"; side is "src" or "dst". */
static int addr_field(struct trace_reader *r, struct trace_error *err, const char *side,
                      char *s, uint64_t *cid, uint32_t *port)
{
    char *colon = strchr(s, ':');
    uint64_t c, p;
    if (colon == NULL)
        return fail(r, err, "packet record: bad %s address " Q " (expected <cid>:<port>)", side, s);
    *colon = '\0';
    enum num_result cr = parse_num(s, UINT64_MAX, &c);
    enum num_result pr = parse_num(colon + 1, UINT32_MAX, &p);
    *colon = ':';
    if (cr == NUM_BAD || pr == NUM_BAD)
        return fail(r, err, "packet record: bad %s address " Q, side, s);
    if (cr == NUM_RANGE)
        return fail(r, err, "packet record: %s cid in " Q " out of range (max %" PRIu64 ")", side,
                    s, UINT64_MAX);
    if (pr == NUM_RANGE)
        return fail(r, err, "packet record: %s port %.48s out of range (max %" PRIu32 ")", side,
                    colon + 1, UINT32_MAX);
    *cid = c;
    *port = (uint32_t)p;
    return 0;
}

static int parse_dir(struct trace_reader *r, struct trace_error *err, const char *s,
                     enum trace_dir *out)
{
    if (strcmp(s, "g2h") == 0)
        *out = TRACE_G2H;
    else if (strcmp(s, "h2g") == 0)
        *out = TRACE_H2G;
    else
        return fail(r, err, "packet record: bad direction " Q " (expected g2h or h2g)", s);
    return 0;
}

/* The four u32 fields after the addresses, in their order in the line. */
static int packet_counters(struct trace_reader *r, char **f, struct vsock_hdr *h,
                           struct trace_error *err)
{
    static const char *const keys[4] = {"len", "flags", "buf_alloc", "fwd_cnt"};
    uint32_t *dst[4] = {&h->len, &h->flags, &h->buf_alloc, &h->fwd_cnt};
    for (int i = 0; i < 4; i++) {
        uint64_t v;
        if (kv_field(r, err, "packet", keys[i], f[i], UINT32_MAX, &v) < 0)
            return -1;
        *dst[i] = (uint32_t)v;
    }
    return 0;
}

static int parse_packet(struct trace_reader *r, char **f, int n, struct trace_record *rec,
                        struct trace_error *err)
{
    struct trace_packet *p = &rec->packet;
    uint64_t sum;
    if (n != 12)
        return fail(r, err,
                    "packet record: expected 12 fields ('P <t> <dir> <op> <type> <src> <dst> "
                    "len= flags= buf_alloc= fwd_cnt= sum='), got %d",
                    n);
    if (num_field(r, err, "packet record: t", f[1], UINT64_MAX, &p->t) < 0 ||
        parse_dir(r, err, f[2], &p->dir) < 0 ||
        code_field(r, err, "packet record: op", f[3], trace_op_known, &p->hdr.op) < 0 ||
        code_field(r, err, "packet record: type", f[4], trace_type_known, &p->hdr.type) < 0 ||
        addr_field(r, err, "src", f[5], &p->hdr.src_cid, &p->hdr.src_port) < 0 ||
        addr_field(r, err, "dst", f[6], &p->hdr.dst_cid, &p->hdr.dst_port) < 0 ||
        packet_counters(r, f + 7, &p->hdr, err) < 0 ||
        hex_kv_field(r, err, "packet", "sum", f[11], 8, &sum) < 0)
        return -1;
    p->sum = (uint32_t)sum;
    rec->type = TRACE_PACKET;
    return 0;
}

static int parse_fault(struct trace_reader *r, char **f, int n, struct trace_record *rec,
                       struct trace_error *err)
{
    struct trace_fault *fl = &rec->fault;
    if (n != 3 && n != 4)
        return fail(r, err, "fault record: expected 'F <t> <name> [detail]', got %d fields", n);
    if (num_field(r, err, "fault record: t", f[1], UINT64_MAX, &fl->t) < 0)
        return -1;
    if (!trace_is_name(f[2], TRACE_NAME_MAX))
        return fail(r, err, "fault record: bad name " Q " (1 to %u of [a-z-])", f[2],
                    TRACE_NAME_MAX);
    if (n == 4 && strlen(f[3]) > TRACE_DETAIL_MAX)
        return fail(r, err, "fault record: detail longer than %u characters", TRACE_DETAIL_MAX);
    strcpy(fl->name, f[2]);
    strcpy(fl->detail, n == 4 ? f[3] : "");
    rec->type = TRACE_FAULT;
    return 0;
}

/* The text is the rest of the line after one space, spaces and all. */
static int parse_note(struct trace_reader *r, char *rest, struct trace_record *rec,
                      struct trace_error *err)
{
    struct trace_note *nt = &rec->note;
    char *text = strchr(rest, ' ');
    if (text != NULL)
        *text++ = '\0';
    if (num_field(r, err, "note record: t", rest, UINT64_MAX, &nt->t) < 0)
        return -1;
    if (text != NULL && strlen(text) > TRACE_NOTE_MAX)
        return fail(r, err, "note record: text longer than %u characters", TRACE_NOTE_MAX);
    strcpy(nt->text, text != NULL ? text : "");
    rec->type = TRACE_NOTE;
    return 0;
}

static int parse_end(struct trace_reader *r, char **f, int n, struct trace_record *rec,
                     struct trace_error *err)
{
    struct trace_end *e = &rec->end;
    if (n != 5)
        return fail(r, err,
                    "end record: expected 'end <status> steps= t= digest=', got %d fields", n);
    if (!trace_status_parse(f[1], &e->status))
        return fail(r, err,
                    "end record: bad status " Q " (expected ok, violation, divergence or error)",
                    f[1]);
    if (kv_field(r, err, "end", "steps", f[2], UINT64_MAX, &e->steps) < 0 ||
        kv_field(r, err, "end", "t", f[3], UINT64_MAX, &e->t) < 0 ||
        hex_kv_field(r, err, "end", "digest", f[4], 16, &e->digest) < 0)
        return -1;
    rec->type = TRACE_END;
    return 0;
}

static int parse_record(struct trace_reader *r, struct trace_record *rec, struct trace_error *err)
{
    char *s = r->buf;
    if (s[0] == '\0')
        return fail(r, err, "empty line (blank lines are only allowed after 'end')");
    if (s[0] == 'N' && (s[1] == ' ' || s[1] == '\0'))
        return s[1] == '\0' ? fail(r, err, "note record: missing t")
                            : parse_note(r, s + 2, rec, err);
    char *f[MAX_FIELDS];
    int n = split(s, f, MAX_FIELDS);
    if (n < 0)
        return fail(r, err, "empty field or too many fields (fields are separated by one space)");
    if (strcmp(f[0], "D") == 0)
        return parse_decision(r, f, n, rec, err);
    if (strcmp(f[0], "P") == 0)
        return parse_packet(r, f, n, rec, err);
    if (strcmp(f[0], "F") == 0)
        return parse_fault(r, f, n, rec, err);
    if (strcmp(f[0], "end") == 0)
        return parse_end(r, f, n, rec, err);
    return fail(r, err, "unknown record " Q " (expected D, P, F, N or end)", f[0]);
}

/* ---- header ------------------------------------------------------------------- */

#define MAGIC "vsocksim-trace "

static int expect_line(struct trace_reader *r, struct trace_error *err, const char *what)
{
    int got = read_line(r, err);
    if (got == 0)
        return fail(r, err, "unexpected end of file in the header (expected '%s')", what);
    return got < 0 ? -1 : 0;
}

static int read_magic(struct trace_reader *r, struct trace_header *h, struct trace_error *err)
{
    static const char not_trace[] = "not a vsocksim trace (expected 'vsocksim-trace %u')";
    int got = read_line(r, err);
    uint64_t v;
    if (got == 0)
        return fail(r, err, "empty file: not a vsocksim trace");
    /* Whatever is wrong with the first line (binary data, a huge line), the
     * useful news is that this is some other kind of file. */
    if (got < 0 && ferror(r->f))
        return -1;
    if (got < 0 || strncmp(r->buf, MAGIC, strlen(MAGIC)) != 0)
        return fail(r, err, not_trace, TRACE_FORMAT_VERSION);
    const char *ver = r->buf + strlen(MAGIC);
    if (parse_num(ver, UINT32_MAX, &v) != NUM_OK)
        return fail(r, err, "bad trace format version " Q, ver);
    if (v != TRACE_FORMAT_VERSION)
        return fail(r, err, "trace format version %" PRIu64 " not supported (this program reads "
                            "version %u)",
                    v, TRACE_FORMAT_VERSION);
    h->version = (unsigned)v;
    return 0;
}

/* "<keyword> <value>" where value is the rest of the line; NULL on error. */
static char *keyword_line(struct trace_reader *r, struct trace_error *err, const char *keyword,
                          const char *usage)
{
    if (expect_line(r, err, usage) < 0)
        return NULL;
    size_t k = strlen(keyword);
    if (strncmp(r->buf, keyword, k) != 0 || (r->buf[k] != ' ' && r->buf[k] != '\0')) {
        fail(r, err, "missing '%s' line (expected '%s', got " Q ")", keyword, usage, r->buf);
        return NULL;
    }
    if (r->buf[k] == '\0') {
        fail(r, err, "%s: missing value (expected '%s')", keyword, usage);
        return NULL;
    }
    return r->buf + k + 1;
}

static int token_line(struct trace_reader *r, struct trace_error *err, const char *keyword,
                      const char *usage, char *out)
{
    const char *v = keyword_line(r, err, keyword, usage);
    if (v == NULL)
        return -1;
    if (!trace_is_token(v, TRACE_FIELD_MAX))
        return fail(r, err, "%s: bad value " Q " (1 to %u characters, no spaces)", keyword, v,
                    TRACE_FIELD_MAX);
    strcpy(out, v);
    return 0;
}

static int parse_option(struct trace_reader *r, struct trace_header *h, struct trace_error *err)
{
    char *f[3];
    int n = split(r->buf, f, 3);
    if (n != 3)
        return fail(r, err, "option: expected 'option <key> <value>'");
    if (!trace_is_key(f[1], TRACE_FIELD_MAX))
        return fail(r, err, "option: bad key " Q " (1 to %u of [a-z0-9-])", f[1], TRACE_FIELD_MAX);
    if (!trace_is_token(f[2], TRACE_FIELD_MAX))
        return fail(r, err, "option %s: bad value " Q " (1 to %u characters, no spaces)", f[1],
                    f[2], TRACE_FIELD_MAX);
    if (trace_header_option(h, f[1]) != NULL)
        return fail(r, err, "option %s given twice", f[1]);
    if (h->noptions == TRACE_MAX_OPTIONS)
        return fail(r, err, "too many options (at most %u)", TRACE_MAX_OPTIONS);
    return trace_header_add_option(h, f[1], f[2]) == 0 ? 0 : fail(r, err, "option: bad");
}

static int read_options(struct trace_reader *r, struct trace_header *h, struct trace_error *err)
{
    for (;;) {
        if (expect_line(r, err, "begin") < 0)
            return -1;
        if (strcmp(r->buf, "begin") == 0)
            return 0;
        if (strncmp(r->buf, "option ", 7) != 0)
            return fail(r, err, "expected 'option <key> <value>' or 'begin', got " Q, r->buf);
        if (parse_option(r, h, err) < 0)
            return -1;
    }
}

static int read_header(struct trace_reader *r, struct trace_header *h, struct trace_error *err)
{
    memset(h, 0, sizeof *h);
    if (read_magic(r, h, err) < 0 ||
        token_line(r, err, "program", "program <version>", h->program) < 0)
        return -1;
    const char *seed = keyword_line(r, err, "seed", "seed <u64>");
    if (seed == NULL || num_field(r, err, "seed", seed, UINT64_MAX, &h->seed) < 0)
        return -1;
    if (token_line(r, err, "scenario", "scenario <name>", h->scenario) < 0)
        return -1;
    return read_options(r, h, err);
}

/* ---- the reader --------------------------------------------------------------- */

struct trace_reader *trace_reader_open(FILE *f, struct trace_header *out, struct trace_error *err)
{
    struct trace_reader *r = calloc(1, sizeof *r);
    if (r == NULL) {
        if (err != NULL) {
            err->line = 0;
            snprintf(err->msg, sizeof err->msg, "out of memory");
        }
        return NULL;
    }
    r->f = f;
    if (read_header(r, out, err) < 0) {
        free(r);
        return NULL;
    }
    r->state = RS_BODY;
    return r;
}

/* A line cut by the end of the file is most likely a truncated trace; the
 * error says so, whatever the cut left. */
static void hint_truncated(struct trace_reader *r, struct trace_error *err)
{
    size_t n = strlen(r->err.msg);
    snprintf(r->err.msg + n, sizeof r->err.msg - n,
             " (the last line has no newline: the trace may be truncated)");
    if (err != NULL)
        *err = r->err;
}

/* After `end` only blank lines may follow. */
static int read_tail(struct trace_reader *r, struct trace_error *err)
{
    int got;
    while ((got = read_line(r, err)) > 0)
        if (r->buf[0] != '\0')
            return fail(r, err, "content after 'end': " Q, r->buf);
    if (got < 0)
        return -1;
    r->state = RS_DONE;
    return 0;
}

int trace_reader_next(struct trace_reader *r, struct trace_record *rec, struct trace_error *err)
{
    switch (r->state) {
    case RS_FAILED:
        if (err != NULL)
            *err = r->err;
        return -1;
    case RS_DONE: return 0;
    case RS_AFTER_END: return read_tail(r, err);
    case RS_BODY: break;
    }
    int got = read_line(r, err);
    if (got < 0)
        return -1;
    if (got == 0)
        return fail(r, err, "unexpected end of file: the trace is truncated (no 'end' record)");
    memset(rec, 0, sizeof *rec);
    if (parse_record(r, rec, err) < 0) {
        if (r->unterminated)
            hint_truncated(r, err);
        return -1;
    }
    r->record_line = r->line;
    if (rec->type == TRACE_END)
        r->state = RS_AFTER_END;
    return 1;
}

unsigned long trace_reader_line(const struct trace_reader *r)
{
    return r->record_line;
}

void trace_reader_close(struct trace_reader *r)
{
    free(r);
}
