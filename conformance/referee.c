/* The referee's reading: kyua reports with their transcripts, packets, and
 * known-differences.txt (conformance/referee.h). Comparing and judging are
 * in referee_judge.c. */
#include "conformance/referee.h"
#include "conformance/conf_case.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *ref_target_name(enum ref_target t)
{
    static const char *const names[REF_NTARGETS] = {"sim", "kernel", "guest"};
    return (unsigned)t < REF_NTARGETS ? names[t] : "?";
}

unsigned ref_kernel_parse(const char *s)
{
    if (strcmp(s, "6.1") == 0)
        return REF_K61;
    if (strcmp(s, "6.12") == 0)
        return REF_K612;
    return 0;
}

/* ---- small helpers ---- */

static int fail_at(char *err, size_t errlen, const char *path, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail_at(char *err, size_t errlen, const char *path, uint32_t line, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "%s:%" PRIu32 ": ", path, line);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Grows *arr (of *cap elements of size sz) to hold at least need; false
 * when memory or the size runs out. */
static bool grow(void **arr, uint32_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? (size_t)*cap * 2 : 16;
    while (n < need)
        n *= 2;
    if (n > UINT32_MAX || n > SIZE_MAX / sz)
        return false;
    void *p = realloc(*arr, n * sz);
    if (p == NULL)
        return false;
    *arr = p;
    *cap = (uint32_t)n;
    return true;
}

/* A line reader over a buffer that may hold NULs (they end the line's text
 * there, which a parser then rejects or ignores). */
struct lines {
    const char *p, *end;
    uint32_t no;
    char *buf;
    size_t cap;
};

/* The next line, without its newline (and \r), into l->buf; false at the
 * end or when memory runs out (l->buf NULL then). */
static bool next_line(struct lines *l)
{
    if (l->p >= l->end)
        return false;
    const char *nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
    const char *e = nl != NULL ? nl : l->end;
    size_t n = (size_t)(e - l->p);
    if (n > 0 && e[-1] == '\r')
        n--;
    if (n + 1 > l->cap) {
        char *b = realloc(l->buf, n + 1);
        if (b == NULL) {
            free(l->buf);
            l->buf = NULL;
            return false;
        }
        l->buf = b;
        l->cap = n + 1;
    }
    memcpy(l->buf, l->p, n);
    l->buf[n] = '\0';
    l->p = nl != NULL ? nl + 1 : l->end;
    l->no++;
    return true;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* A decimal (or 0x hexadecimal when hex) number filling all of s. */
static bool parse_num(const char *s, bool hex, uint64_t max, uint64_t *out)
{
    int base = 10;
    if (hex) {
        if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
            return false;
        s += 2;
        base = 16;
    }
    if (!isxdigit((unsigned char)*s) || (base == 10 && !isdigit((unsigned char)*s)))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, base);
    if (errno != 0 || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

/* ---- packets ---- */

static int op_by_name(const char *s)
{
    for (int op = VSOCK_OP_REQUEST; op <= VSOCK_OP_CREDIT_REQUEST; op++)
        if (strcmp(s, vsock_op_name((uint16_t)op)) == 0)
            return op;
    return -1;
}

/* "op7" or an op name. */
static bool parse_op(const char *s, uint16_t *out)
{
    int op = op_by_name(s);
    uint64_t v;
    if (op > 0)
        *out = (uint16_t)op;
    else if (starts(s, "op") && parse_num(s + 2, false, UINT16_MAX, &v))
        *out = (uint16_t)v;
    else
        return false;
    return true;
}

static bool parse_endpoint(char *s, uint64_t *cid, uint32_t *port)
{
    char *colon = strchr(s, ':');
    uint64_t p;
    if (colon == NULL)
        return false;
    *colon = '\0';
    if (!parse_num(s, false, UINT64_MAX, cid) || !parse_num(colon + 1, false, UINT32_MAX, &p))
        return false;
    *port = (uint32_t)p;
    return true;
}

/* "name=value" with that name: the value, or NULL. */
static const char *field_value(char *tok, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(tok, name, n) != 0 || tok[n] != '=')
        return NULL;
    return tok + n + 1;
}

int ref_pkt_parse(const char *s, struct ref_pkt *out, char *err, size_t errlen)
{
    char line[256];
    if (strlen(s) >= sizeof(line)) {
        snprintf(err, errlen, "packet line longer than %zu characters", sizeof(line) - 1);
        return -1;
    }
    strcpy(line, s);
    char *tok[11];
    unsigned n = 0;
    for (char *save = NULL, *t = strtok_r(line, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
        if (n == 11) {
            snprintf(err, errlen, "packet line has more than 10 fields");
            return -1;
        }
        tok[n++] = t;
    }
    if (n != 10) {
        snprintf(err, errlen,
                 "packet line has %u fields, not 10 (DIR OP SRC -> DST type= len= flags= "
                 "buf_alloc= fwd_cnt=)",
                 n);
        return -1;
    }
    memset(out, 0, sizeof(*out));
    struct vsock_hdr *h = &out->h;
    if (strcmp(tok[0], "g>h") == 0)
        out->to_host = true;
    else if (strcmp(tok[0], "h>g") != 0) {
        snprintf(err, errlen, "direction '%s' is neither g>h nor h>g", tok[0]);
        return -1;
    }
    if (!parse_op(tok[1], &h->op)) {
        snprintf(err, errlen, "'%s' is no op", tok[1]);
        return -1;
    }
    if (strcmp(tok[3], "->") != 0 || !parse_endpoint(tok[2], &h->src_cid, &h->src_port) ||
        !parse_endpoint(tok[4], &h->dst_cid, &h->dst_port)) {
        snprintf(err, errlen, "addresses are not CID:PORT -> CID:PORT");
        return -1;
    }
    static const char *const names[] = {"type", "len", "flags", "buf_alloc", "fwd_cnt"};
    for (unsigned i = 0; i < 5; i++) {
        const char *v = field_value(tok[5 + i], names[i]);
        uint64_t x = 0;
        bool ok = v != NULL;
        if (ok && i == 0) {
            if (strcmp(v, "STREAM") == 0)
                x = VSOCK_TYPE_STREAM;
            else if (strcmp(v, "SEQPACKET") == 0)
                x = VSOCK_TYPE_SEQPACKET;
            else
                ok = parse_num(v, false, UINT16_MAX, &x);
        } else if (ok) {
            ok = parse_num(v, i == 2, UINT32_MAX, &x);
        }
        if (!ok) {
            snprintf(err, errlen, "field %u is '%s', not %s=%s", 6 + i, tok[5 + i], names[i],
                     i == 0 ? "STREAM|SEQPACKET|N" : i == 2 ? "0xHEX" : "N");
            return -1;
        }
        switch (i) {
        case 0: h->type = (uint16_t)x; break;
        case 1: h->len = (uint32_t)x; break;
        case 2: h->flags = (uint32_t)x; break;
        case 3: h->buf_alloc = (uint32_t)x; break;
        default: h->fwd_cnt = (uint32_t)x; break;
        }
    }
    return 0;
}

void ref_pkt_format(const struct ref_pkt *p, char *buf, size_t len)
{
    char hdr[224];
    conf_hdr_format(&p->h, hdr, sizeof(hdr));
    snprintf(buf, len, "%s %s", p->to_host ? "g>h" : "h>g", hdr);
}

/* ---- reports ---- */

static void case_free(struct ref_case *c)
{
    for (unsigned i = 0; i < c->nruns; i++)
        free(c->runs[i].p);
    free(c->runs);
    free(c->name);
    free(c->verdict);
    free(c->reason);
}

void ref_report_free(struct ref_report *r)
{
    for (size_t i = 0; i < r->n; i++)
        case_free(&r->cases[i]);
    free(r->cases);
    memset(r, 0, sizeof(*r));
}

const struct ref_case *ref_report_find(const struct ref_report *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->cases[i].name, name) == 0)
            return &r->cases[i];
    return NULL;
}

/* What the report parser is in the middle of. */
struct rparse {
    struct ref_report *r;
    const char *path;
    struct ref_case *cur; /* the case section we are in, or NULL */
    bool in_result;       /* continuation lines of its Result */
    enum { SEC_HEAD, SEC_STDOUT, SEC_STDERR } sec;
    uint32_t case_line;
    char *err;
    size_t errlen;
};

static struct ref_run *open_run(struct ref_case *c)
{
    if (c->nruns == 0 || c->runs[c->nruns - 1].ended)
        return NULL;
    return &c->runs[c->nruns - 1];
}

static int begin_case(struct rparse *ps, const char *name, uint32_t line)
{
    struct ref_report *r = ps->r;
    if (ref_report_find(r, name) != NULL)
        return fail_at(ps->err, ps->errlen, ps->path, line, "case %s is reported twice", name);
    uint32_t cap = (uint32_t)r->cap;
    void *arr = r->cases;
    if (!grow(&arr, &cap, r->n + 1, sizeof(*r->cases)))
        return fail_at(ps->err, ps->errlen, ps->path, line, "out of memory");
    r->cases = arr;
    r->cap = cap;
    struct ref_case *c = &r->cases[r->n];
    memset(c, 0, sizeof(*c));
    c->name = strdup(name);
    if (c->name == NULL)
        return fail_at(ps->err, ps->errlen, ps->path, line, "out of memory");
    r->n++;
    ps->cur = c;
    ps->sec = SEC_HEAD;
    ps->in_result = false;
    ps->case_line = line;
    return 0;
}

static int end_case(struct rparse *ps)
{
    if (ps->cur != NULL && ps->cur->verdict == NULL)
        return fail_at(ps->err, ps->errlen, ps->path, ps->case_line, "case %s has no Result line",
                       ps->cur->name);
    ps->cur = NULL;
    return 0;
}

static int set_result(struct rparse *ps, char *text, uint32_t line)
{
    struct ref_case *c = ps->cur;
    if (c->verdict != NULL)
        return fail_at(ps->err, ps->errlen, ps->path, line, "case %s has two Result lines", c->name);
    text = trim(text);
    char *colon = strstr(text, ": ");
    if (colon != NULL)
        *colon = '\0';
    if (*text == '\0' || strchr(text, ' ') != NULL)
        return fail_at(ps->err, ps->errlen, ps->path, line, "Result '%s' names no verdict", text);
    c->verdict = strdup(text);
    c->reason = strdup(colon != NULL ? colon + 2 : "");
    if (c->verdict == NULL || c->reason == NULL)
        return fail_at(ps->err, ps->errlen, ps->path, line, "out of memory");
    for (char *p = c->reason; *p; p++)
        if (*p == '\t')
            *p = ' ';
    ps->in_result = true;
    return 0;
}

static int add_reason_line(struct rparse *ps, const char *text, uint32_t line)
{
    struct ref_case *c = ps->cur;
    size_t n = strlen(c->reason), m = strlen(text);
    char *p = realloc(c->reason, n + m + 2);
    if (p == NULL)
        return fail_at(ps->err, ps->errlen, ps->path, line, "out of memory");
    p[n] = ' ';
    memcpy(p + n + 1, text, m + 1);
    c->reason = p;
    return 0;
}

static int run_begin(struct rparse *ps, char *args, uint32_t line)
{
    struct ref_case *c = ps->cur;
    struct ref_run *open = open_run(c);
    if (open != NULL)
        return fail_at(ps->err, ps->errlen, ps->path, line,
                       "transcript begins again while the one from line %" PRIu32 " is open",
                       open->line);
    struct ref_run run;
    memset(&run, 0, sizeof(run));
    run.line = line;
    const char *target = NULL;
    for (char *save = NULL, *t = strtok_r(args, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
        const char *v;
        uint64_t seed;
        if ((v = field_value(t, "target")) != NULL)
            target = v;
        else if ((v = field_value(t, "seed")) != NULL && parse_num(v, false, UINT64_MAX, &seed))
            run.seeded = true, run.seed = seed;
        else if ((v = field_value(t, "linux")) != NULL && strlen(v) < sizeof(run.linux_ver))
            strcpy(run.linux_ver, v);
        else
            return fail_at(ps->err, ps->errlen, ps->path, line,
                           "transcript begin: '%s' is not target=T, seed=N or linux=V", t);
    }
    if (target == NULL || (strcmp(target, "sim") && strcmp(target, "kernel") && strcmp(target, "guest")))
        return fail_at(ps->err, ps->errlen, ps->path, line,
                       "transcript begin names no target (sim, kernel or guest)");
    snprintf(run.target, sizeof(run.target), "%s", target);
    if (!c->conformance)
        ; /* a program's own test: it may open any target */
    else if (ps->r->target[0] == '\0')
        snprintf(ps->r->target, sizeof(ps->r->target), "%s", target);
    else if (strcmp(ps->r->target, target) != 0)
        return fail_at(ps->err, ps->errlen, ps->path, line,
                       "a transcript of target %s in a report of target %s", target, ps->r->target);
    void *arr = c->runs;
    if (!grow(&arr, &c->capruns, c->nruns + 1, sizeof(*c->runs)))
        return fail_at(ps->err, ps->errlen, ps->path, line, "out of memory");
    c->runs = arr;
    c->runs[c->nruns++] = run;
    return 0;
}

static int run_end(struct rparse *ps, struct ref_run *run, char *args, uint32_t line)
{
    uint64_t n, dropped;
    char *t2 = strchr(args, ' ');
    const char *vn = field_value(args, "packets");
    if (t2 != NULL)
        *t2++ = '\0';
    const char *vd = t2 != NULL ? field_value(t2, "dropped") : NULL;
    if (vn == NULL || vd == NULL || !parse_num(vn, false, UINT32_MAX, &n) ||
        !parse_num(vd, false, UINT64_MAX, &dropped))
        return fail_at(ps->err, ps->errlen, ps->path, line,
                       "transcript end is not 'end packets=N dropped=M'");
    if (n != run->n)
        return fail_at(ps->err, ps->errlen, ps->path, line,
                       "transcript end counts %" PRIu64 " packets, the block from line %" PRIu32
                       " holds %" PRIu32,
                       n, run->line, run->n);
    run->dropped = dropped;
    run->ended = true;
    return 0;
}

static int transcript_line(struct rparse *ps, char *s, uint32_t line)
{
    if (starts(s, "begin "))
        return run_begin(ps, s + 6, line);
    struct ref_run *run = open_run(ps->cur);
    if (run == NULL)
        return fail_at(ps->err, ps->errlen, ps->path, line,
                       "transcript line outside a begin/end block: %.60s", s);
    if (starts(s, "end "))
        return run_end(ps, run, s + 4, line);
    if (starts(s, "unavailable: ")) {
        snprintf(run->unavailable, sizeof(run->unavailable), "%s", s + 13);
        return 0;
    }
    struct ref_pkt p;
    char why[160];
    if (ref_pkt_parse(s, &p, why, sizeof(why)) < 0)
        return fail_at(ps->err, ps->errlen, ps->path, line, "%s", why);
    p.line = line;
    void *arr = run->p;
    if (!grow(&arr, &run->cap, (size_t)run->n + 1, sizeof(*run->p)))
        return fail_at(ps->err, ps->errlen, ps->path, line, "out of memory");
    run->p = arr;
    run->p[run->n++] = p;
    return 0;
}

static int report_line(struct rparse *ps, char *s, uint32_t line)
{
    if (starts(s, "===> ")) {
        if (end_case(ps) < 0)
            return -1;
        const char *title = s + 5;
        /* Kyua's own sections (Execution context, Passed tests, Summary,
         * ...) have no colon; a case is program:case. */
        if (strchr(title, ':') != NULL)
            return begin_case(ps, title, line);
        return 0;
    }
    if (ps->cur == NULL)
        return 0;
    if (ps->sec == SEC_HEAD) {
        if (starts(s, "Result:"))
            return set_result(ps, s + 7, line);
        if (starts(s, "    custom.targets = "))
            ps->cur->conformance = true;
        if (starts(s, "Start time:") || *s == '\0' || starts(s, "Metadata:"))
            ps->in_result = false;
        else if (ps->in_result)
            return add_reason_line(ps, trim(s), line);
        if (strcmp(s, "Standard output:") == 0)
            ps->sec = SEC_STDOUT;
        else if (strcmp(s, "Standard error:") == 0)
            ps->sec = SEC_STDERR;
        return 0;
    }
    if (strcmp(s, "Standard error:") == 0) {
        ps->sec = SEC_STDERR;
        return 0;
    }
    if (ps->sec == SEC_STDOUT && starts(s, "vsocksim-pkt "))
        return transcript_line(ps, s + 13, line);
    return 0;
}

int ref_report_parse(const char *text, size_t len, const char *path, struct ref_report *out,
                     char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->path, sizeof(out->path), "%s", path);
    struct rparse ps = {.r = out, .path = path, .err = err, .errlen = errlen};
    struct lines l = {.p = text, .end = text + len};
    int rc = 0;
    while (rc == 0 && next_line(&l))
        rc = report_line(&ps, l.buf, l.no);
    if (rc == 0 && l.p < l.end)
        rc = fail_at(err, errlen, path, l.no + 1, "out of memory");
    if (rc == 0)
        rc = end_case(&ps);
    free(l.buf);
    if (rc < 0)
        ref_report_free(out);
    return rc;
}

/* ---- known differences ---- */

enum kkey {
    K_CASE,
    K_TARGETS,
    K_KERNEL,
    K_LINUX,
    K_OURS,
    K_SPEC,
    K_VERDICT,
    K_IGNORE,
    K_DEVIATION,
    K_N
};
static const char *const kkey_names[K_N] = {"case", "targets", "kernel", "linux",    "ours",
                                           "spec", "verdict", "ignore", "deviation"};

struct kraw {
    char *v[K_N];
    uint32_t line[K_N];
    uint32_t first;
    int last; /* the key a continuation line continues, or -1 */
};

static void kraw_clear(struct kraw *k)
{
    for (int i = 0; i < K_N; i++)
        free(k->v[i]);
    memset(k, 0, sizeof(*k));
    k->last = -1;
}

static void block_free(struct ref_block *b)
{
    for (unsigned i = 0; i < b->ncases; i++)
        free(b->cases[i]);
    free(b->cases);
    free(b->spec);
    free(b->deviation);
}

void ref_known_free(struct ref_known *k)
{
    for (unsigned i = 0; i < k->n; i++)
        block_free(&k->b[i]);
    free(k->b);
    memset(k, 0, sizeof(*k));
}

struct kctx {
    struct ref_block *b;
    char *err;
    size_t errlen;
    const char *path;
    uint32_t line;
};

/* Calls item() on each comma-separated, trimmed item of v; -1 (with the
 * message) on an empty item or when item() fails. */
static int each_item(char *v, int (*item)(struct kctx *k, char *it), struct kctx *k)
{
    char *p = v;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        char *it = trim(p);
        if (*it == '\0')
            return fail_at(k->err, k->errlen, k->path, k->line, "an empty item in a list");
        if (item(k, it) < 0)
            return -1;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

static int add_case(struct kctx *k, char *it)
{
    for (const char *p = it; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_:/.-", *p))
            return fail_at(k->err, k->errlen, k->path, k->line, "case name '%s' has a '%c'", it, *p);
    char **c = realloc(k->b->cases, (k->b->ncases + 1) * sizeof(*c));
    if (c == NULL)
        return fail_at(k->err, k->errlen, k->path, k->line, "out of memory");
    k->b->cases = c;
    if ((c[k->b->ncases] = strdup(it)) == NULL)
        return fail_at(k->err, k->errlen, k->path, k->line, "out of memory");
    k->b->ncases++;
    return 0;
}

static int add_target(struct kctx *k, char *it)
{
    if (strcmp(it, "kernel") == 0)
        k->b->targets |= 1u << REF_KERNEL;
    else if (strcmp(it, "guest") == 0)
        k->b->targets |= 1u << REF_GUEST;
    else
        return fail_at(k->err, k->errlen, k->path, k->line,
                       "targets: '%s' is neither kernel nor guest", it);
    return 0;
}

static int add_kernel(struct kctx *k, char *it)
{
    unsigned v = strcmp(it, "both") == 0 ? (REF_K61 | REF_K612) : ref_kernel_parse(it);
    if (v == 0)
        return fail_at(k->err, k->errlen, k->path, k->line,
                       "kernel: '%s' is not 6.1, 6.12 or both (what Linux does goes under "
                       "'linux:')",
                       it);
    k->b->kernels |= v;
    return 0;
}

static uint32_t field_by_name(const char *s)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } f[] = {{"type", REF_F_TYPE},           {"flags", REF_F_FLAGS},     {"len", REF_F_LEN},
             {"buf_alloc", REF_F_BUF_ALLOC}, {"fwd_cnt", REF_F_FWD_CNT}, {"op", REF_F_OP}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (strcmp(s, f[i].name) == 0)
            return f[i].bit;
    return 0;
}

static int add_ignore(struct kctx *k, char *it)
{
    bool dirs[2] = {true, true}; /* [0] h>g, [1] g>h */
    if (starts(it, "g>h:") || starts(it, "h>g:")) {
        dirs[it[0] == 'h'] = false;
        it = trim(it + 4);
    }
    if (strcmp(it, "rw_boundaries") == 0) {
        for (int d = 0; d < 2; d++)
            k->b->ignore.rw_boundaries[d] |= dirs[d];
        return 0;
    }
    uint32_t f = field_by_name(it);
    int op = op_by_name(it);
    if (f == REF_F_OP)
        return fail_at(k->err, k->errlen, k->path, k->line,
                       "ignore: op cannot be left out; name the ops whose packets may differ");
    if (f == 0 && op < 0)
        return fail_at(k->err, k->errlen, k->path, k->line,
                       "ignore: '%s' is no field (type, flags, len, buf_alloc, fwd_cnt), no "
                       "op (REQUEST ... CREDIT_REQUEST) and not rw_boundaries",
                       it);
    for (int d = 0; d < 2; d++) {
        if (!dirs[d])
            continue;
        if (f != 0)
            k->b->ignore.fields[d] |= f;
        else
            k->b->ignore.ops[d] |= 1u << op;
    }
    return 0;
}

static int block_finish(struct ref_known *out, struct kraw *raw, const char *path, char *err,
                        size_t errlen)
{
    static const int required[] = {K_CASE, K_LINUX, K_OURS, K_SPEC, K_TARGETS, K_KERNEL, K_VERDICT};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (raw->v[required[i]] == NULL)
            return fail_at(err, errlen, path, raw->first, "the block has no '%s:' line",
                           kkey_names[required[i]]);
    struct ref_block b;
    memset(&b, 0, sizeof(b));
    b.line = raw->first;
    struct kctx k = {.b = &b, .err = err, .errlen = errlen, .path = path};
    const char *verdict = trim(raw->v[K_VERDICT]);
    int rc = 0;
    if (strcmp(verdict, "same") == 0)
        b.kind = REF_KIND_SAME;
    else if (strcmp(verdict, "differs") == 0)
        b.kind = REF_KIND_DIFFERS;
    else if (strcmp(verdict, "packets") == 0)
        b.kind = REF_KIND_PACKETS;
    else if (strcmp(verdict, "deviation") == 0)
        b.kind = REF_KIND_DEVIATION;
    else
        rc = fail_at(err, errlen, path, raw->line[K_VERDICT],
                     "verdict: '%s' is not same, differs, packets or deviation", verdict);
    if (rc == 0 && (b.kind == REF_KIND_DEVIATION) != (raw->v[K_DEVIATION] != NULL))
        rc = fail_at(err, errlen, path, raw->first,
                     "a 'deviation: NAME' line goes with 'verdict: deviation', and only there");
    if (rc == 0 && raw->v[K_DEVIATION] != NULL &&
        (b.deviation = strdup(trim(raw->v[K_DEVIATION]))) == NULL)
        rc = fail_at(err, errlen, path, raw->first, "out of memory");
    if (rc == 0 && b.kind == REF_KIND_PACKETS && raw->v[K_IGNORE] == NULL)
        rc = fail_at(err, errlen, path, raw->first,
                     "a 'verdict: packets' block needs an 'ignore:' line (what may differ)");
    if (rc == 0 && b.kind != REF_KIND_PACKETS && raw->v[K_IGNORE] != NULL)
        rc = fail_at(err, errlen, path, raw->line[K_IGNORE],
                     "'ignore:' belongs to 'verdict: packets' blocks only");
    if (rc == 0) {
        k.line = raw->line[K_CASE];
        rc = each_item(raw->v[K_CASE], add_case, &k);
    }
    if (rc == 0) {
        k.line = raw->line[K_TARGETS];
        rc = each_item(raw->v[K_TARGETS], add_target, &k);
    }
    if (rc == 0) {
        k.line = raw->line[K_KERNEL];
        rc = each_item(raw->v[K_KERNEL], add_kernel, &k);
    }
    if (rc == 0 && raw->v[K_IGNORE] != NULL) {
        k.line = raw->line[K_IGNORE];
        rc = each_item(raw->v[K_IGNORE], add_ignore, &k);
    }
    if (rc == 0 && (b.spec = strdup(trim(raw->v[K_SPEC]))) == NULL)
        rc = fail_at(err, errlen, path, raw->first, "out of memory");
    if (rc == 0 && (b.ncases == 0 || b.targets == 0 || b.kernels == 0))
        rc = fail_at(err, errlen, path, raw->first, "the block names no case, target or kernel");
    if (rc == 0) {
        struct ref_block *nb = realloc(out->b, (out->n + 1) * sizeof(*nb));
        if (nb == NULL)
            rc = fail_at(err, errlen, path, raw->first, "out of memory");
        else {
            out->b = nb;
            out->b[out->n++] = b;
            return 0;
        }
    }
    block_free(&b);
    return -1;
}

static int known_line(struct ref_known *out, struct kraw *raw, char *s, uint32_t line,
                      const char *path, char *err, size_t errlen)
{
    if (s[0] == '#')
        return 0;
    if (*trim(s) == '\0') {
        int rc = raw->first != 0 ? block_finish(out, raw, path, err, errlen) : 0;
        kraw_clear(raw);
        return rc;
    }
    if (s[0] == ' ' || s[0] == '\t') {
        if (raw->last < 0)
            return fail_at(err, errlen, path, line, "an indented line continues no 'key: value'");
        char **v = &raw->v[raw->last];
        size_t n = strlen(*v), m = strlen(trim(s));
        char *p = realloc(*v, n + m + 2);
        if (p == NULL)
            return fail_at(err, errlen, path, line, "out of memory");
        p[n] = ' ';
        memcpy(p + n + 1, trim(s), m + 1);
        *v = p;
        return 0;
    }
    char *colon = strchr(s, ':');
    int key = -1;
    if (colon != NULL) {
        *colon = '\0';
        for (int i = 0; i < K_N; i++)
            if (strcmp(s, kkey_names[i]) == 0)
                key = i;
    }
    if (key < 0)
        return fail_at(err, errlen, path, line,
                       "'%s' is not 'key: value' with a key of case, targets, kernel, linux, "
                       "ours, spec, verdict, ignore, deviation",
                       s);
    if (raw->v[key] != NULL)
        return fail_at(err, errlen, path, line, "a second '%s:' in the block from line %" PRIu32,
                       kkey_names[key], raw->first);
    if ((raw->v[key] = strdup(trim(colon + 1))) == NULL)
        return fail_at(err, errlen, path, line, "out of memory");
    raw->line[key] = line;
    raw->last = key;
    if (raw->first == 0)
        raw->first = line;
    return 0;
}

int ref_known_parse(const char *text, size_t len, const char *path, struct ref_known *out,
                    char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->path, sizeof(out->path), "%s", path);
    struct kraw raw;
    memset(&raw, 0, sizeof(raw));
    raw.last = -1;
    struct lines l = {.p = text, .end = text + len};
    int rc = 0;
    while (rc == 0 && next_line(&l))
        rc = known_line(out, &raw, l.buf, l.no, path, err, errlen);
    if (rc == 0 && l.p < l.end)
        rc = fail_at(err, errlen, path, l.no + 1, "out of memory");
    if (rc == 0 && raw.first != 0)
        rc = block_finish(out, &raw, path, err, errlen);
    kraw_clear(&raw);
    free(l.buf);
    if (rc < 0)
        ref_known_free(out);
    return rc;
}

static bool block_names(const struct ref_block *b, const char *name)
{
    const char *colon = strrchr(name, ':');
    const char *shortname = colon != NULL ? colon + 1 : name;
    for (unsigned i = 0; i < b->ncases; i++)
        if (strcmp(b->cases[i], name) == 0 || strcmp(b->cases[i], shortname) == 0)
            return true;
    return false;
}

bool ref_block_applies(const struct ref_block *b, const char *case_name, enum ref_target t,
                       unsigned kernel, enum ref_kind kind)
{
    return b->kind == kind && (b->targets & (1u << t)) && (b->kernels & kernel) &&
           block_names(b, case_name);
}

struct ref_block *ref_known_find(struct ref_known *k, const char *case_name, enum ref_target t,
                                 unsigned kernel, enum ref_kind kind)
{
    for (unsigned i = 0; i < k->n; i++)
        if (ref_block_applies(&k->b[i], case_name, t, kernel, kind))
            return &k->b[i];
    return NULL;
}

void ref_fields_format(uint32_t fields, char *buf, size_t len)
{
    static const char *const names[] = {"op", "type", "flags", "len", "buf_alloc", "fwd_cnt"};
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < 6; i++) {
        if (!(fields & (1u << i)))
            continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", names[i]);
        if (n < 0 || (size_t)n >= len - used)
            return;
        used += (size_t)n;
    }
}
