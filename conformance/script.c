/* The packet-script parser. Every malformed line is an error naming
 * file:line and what is wrong; nothing in a script can crash it (lines,
 * tokens, variables and payloads are bounded, numbers range-checked). */
#include "conformance/script_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 4096u
#define MAX_TOKS 32u
#define MAX_SCRIPT_BYTES (4u << 20)

struct tok {
    const char *s;
    size_t n;
    bool quoted;
};

struct toks {
    struct tok t[MAX_TOKS];
    unsigned n;
    char buf[LINE_MAX_BYTES + 1]; /* decoded quoted strings */
};

struct pctx {
    struct script *sc;
    unsigned line;
    char *err;
    size_t errlen;
    bool failed;
    bool have_targets;
    unsigned mask; /* the profiles the line being parsed runs under */
};

__attribute__((format(printf, 2, 3))) static bool perr(struct pctx *p, const char *fmt, ...)
{
    if (p->failed)
        return false;
    p->failed = true;
    int n = snprintf(p->err, p->errlen, "%s:%u: ", p->sc->name, p->line);
    if (n < 0 || (size_t)n >= p->errlen)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

static bool tok_is(const struct tok *t, const char *s)
{
    return !t->quoted && strlen(s) == t->n && memcmp(t->s, s, t->n) == 0;
}

/* ---- the pool ---- */

static bool pool_add(struct pctx *p, const void *data, size_t len, struct sbytes *out)
{
    struct script *sc = p->sc;
    if (len > MAX_SCRIPT_BYTES || sc->pool_len > MAX_SCRIPT_BYTES - len)
        return perr(p, "the script holds more than %u bytes of payload", MAX_SCRIPT_BYTES);
    if (sc->pool_len + len > sc->pool_cap) {
        size_t cap = sc->pool_cap ? sc->pool_cap : 256;
        while (cap < sc->pool_len + len)
            cap *= 2;
        uint8_t *np = realloc(sc->pool, cap);
        if (np == NULL)
            return perr(p, "out of memory");
        sc->pool = np;
        sc->pool_cap = cap;
    }
    if (len > 0)
        memcpy(sc->pool + sc->pool_len, data, len);
    out->set = true;
    out->off = (uint32_t)sc->pool_len;
    out->len = (uint32_t)len;
    sc->pool_len += len;
    return true;
}

/* ---- tokens ---- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* One escape after a backslash at *i: appends the byte, advances *i. */
static bool unescape(struct pctx *p, const char *s, size_t n, size_t *i, char *out)
{
    if (*i >= n)
        return perr(p, "a backslash ends the line");
    char ch = s[(*i)++];
    switch (ch) {
    case 'n': *out = '\n'; return true;
    case 't': *out = '\t'; return true;
    case 'r': *out = '\r'; return true;
    case '0': *out = '\0'; return true;
    case '\\': case '"': *out = ch; return true;
    case 'x': {
        int hi = *i < n ? hexval(s[*i]) : -1, lo = *i + 1 < n ? hexval(s[*i + 1]) : -1;
        if (hi < 0 || lo < 0)
            return perr(p, "\\x needs two hex digits");
        *out = (char)(hi * 16 + lo);
        *i += 2;
        return true;
    }
    default:
        return perr(p, "unknown escape \\%c", ch);
    }
}

/* A quoted string starting at s[*i] == '"'; decoded into t->buf. */
static bool quoted(struct pctx *p, const char *s, size_t n, size_t *i, struct toks *t,
                   size_t *used)
{
    char *out = t->buf + *used;
    size_t k = 0;
    (*i)++;
    for (;;) {
        if (*i >= n)
            return perr(p, "unterminated string");
        char ch = s[(*i)++];
        if (ch == '"')
            break;
        if (ch == '\\' && !unescape(p, s, n, i, &ch))
            return false;
        out[k++] = ch;
    }
    t->t[t->n++] = (struct tok){out, k, true};
    *used += k;
    return true;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Splits a line into words and quoted strings; a # outside quotes ends it. */
static bool tokenize(struct pctx *p, const char *s, size_t n, struct toks *t)
{
    size_t i = 0, used = 0;
    t->n = 0;
    while (i < n) {
        if (is_blank(s[i])) {
            i++;
            continue;
        }
        if (s[i] == '#')
            break;
        if (t->n == MAX_TOKS)
            return perr(p, "more than %u words on a line", MAX_TOKS);
        if (s[i] == '"') {
            if (!quoted(p, s, n, &i, t, &used))
                return false;
            continue;
        }
        size_t start = i;
        while (i < n && !is_blank(s[i]) && s[i] != '"' && s[i] != '#')
            i++;
        t->t[t->n++] = (struct tok){s + start, i - start, false};
    }
    return true;
}

/* ---- values ---- */

static bool parse_u64(const struct tok *t, uint64_t *out)
{
    if (t->quoted || t->n == 0 || t->n > 20)
        return false;
    char buf[24];
    memcpy(buf, t->s, t->n);
    buf[t->n] = '\0';
    if (buf[0] < '0' || buf[0] > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 0);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool num_max(struct pctx *p, const struct tok *t, uint64_t max, const char *what,
                    uint64_t *out)
{
    if (!parse_u64(t, out))
        return perr(p, "%s: '%.*s' is not a number", what, (int)t->n, t->s);
    if (*out > max)
        return perr(p, "%s: %.*s is larger than %llu", what, (int)t->n, t->s,
                    (unsigned long long)max);
    return true;
}

static int var_index(struct script *sc, const char *s, size_t n, bool create)
{
    for (unsigned i = 0; i < sc->nvars; i++)
        if (strlen(sc->vars[i]) == n && memcmp(sc->vars[i], s, n) == 0)
            return (int)i;
    if (!create || sc->nvars == SCRIPT_MAX_VARS)
        return -1;
    memcpy(sc->vars[sc->nvars], s, n);
    sc->vars[sc->nvars][n] = '\0';
    sc->var_mask[sc->nvars] = 0;
    return (int)sc->nvars++;
}

/* $name: binding in a < line (expect), or use of a bound one. */
static bool parse_var(struct pctx *p, const struct tok *t, bool expect, struct sval *v)
{
    const char *s = t->s + 1;
    size_t n = t->n - 1;
    if (n == 0 || n >= SCRIPT_VAR_LEN)
        return perr(p, "bad variable name '%.*s'", (int)t->n, t->s);
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
              (i > 0 && ch >= '0' && ch <= '9')))
            return perr(p, "bad variable name '%.*s'", (int)t->n, t->s);
    }
    int idx = var_index(p->sc, s, n, expect);
    if (idx < 0)
        return expect ? perr(p, "more than %u variables", SCRIPT_MAX_VARS)
                      : perr(p, "$%.*s is not bound by an earlier < line", (int)n, s);
    unsigned *bound = &p->sc->var_mask[idx];
    if (expect)
        *bound |= p->mask; /* bound (or matched) under these profiles */
    else if ((p->mask & ~*bound) != 0)
        return perr(p, "$%.*s is not bound by an earlier < line for every profile this line "
                    "runs under", (int)n, s);
    v->kind = SV_VAR;
    v->var = (unsigned)idx;
    return true;
}

struct name_val {
    const char *name;
    uint64_t val;
};

static const struct name_val op_names[] = {
    {"REQUEST", VSOCK_OP_REQUEST}, {"RESPONSE", VSOCK_OP_RESPONSE},
    {"RST", VSOCK_OP_RST},         {"SHUTDOWN", VSOCK_OP_SHUTDOWN},
    {"RW", VSOCK_OP_RW},           {"CREDIT_UPDATE", VSOCK_OP_CREDIT_UPDATE},
    {"CREDIT_REQUEST", VSOCK_OP_CREDIT_REQUEST}, {"INVALID", VSOCK_OP_INVALID},
};
static const struct name_val type_names[] = {
    {"STREAM", VSOCK_TYPE_STREAM}, {"SEQPACKET", VSOCK_TYPE_SEQPACKET}};
static const struct name_val flag_names[] = {
    {"RCV", VSOCK_SHUTDOWN_RCV}, {"SEND", VSOCK_SHUTDOWN_SEND},
    {"EOM", VSOCK_SEQ_EOM},      {"EOR", VSOCK_SEQ_EOR}};

static bool lookup(const struct name_val *tab, size_t n, const char *s, size_t len, uint64_t *out)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(tab[i].name) == len && memcmp(tab[i].name, s, len) == 0) {
            *out = tab[i].val;
            return true;
        }
    return false;
}

/* FLAG|FLAG|... */
static bool parse_flags(struct pctx *p, const struct tok *t, uint64_t *out)
{
    *out = 0;
    size_t i = 0;
    while (i < t->n) {
        size_t j = i;
        while (j < t->n && t->s[j] != '|')
            j++;
        uint64_t v;
        if (!lookup(flag_names, 4, t->s + i, j - i, &v))
            return perr(p, "flags: unknown name '%.*s' (RCV, SEND, EOM, EOR or a number)",
                        (int)(j - i), t->s + i);
        *out |= v;
        i = j + 1;
    }
    return true;
}

enum field { F_OP, F_CID, F_PORT, F_TYPE, F_LEN, F_FLAGS, F_U32 };

/* A value for one field: *, $var, a number, or a name where the field has
 * names. */
static bool parse_value(struct pctx *p, const struct tok *t, enum field f, bool expect,
                        const char *what, struct sval *v)
{
    memset(v, 0, sizeof(*v));
    if (t->quoted || t->n == 0)
        return perr(p, "%s: a value is missing", what);
    if (tok_is(t, "*")) {
        if (!expect)
            return perr(p, "%s: * matches anything, so it only fits a < line", what);
        v->kind = SV_ANY;
        return true;
    }
    if (f == F_CID && tok_is(t, "$guest")) {
        v->kind = SV_GUEST;
        return true;
    }
    if (f == F_CID && tok_is(t, "$host")) {
        v->kind = SV_HOST;
        return true;
    }
    if (t->s[0] == '$')
        return parse_var(p, t, expect, v);
    v->kind = SV_NUM;
    if (t->s[0] >= '0' && t->s[0] <= '9') {
        uint64_t max = f == F_CID ? UINT64_MAX : f == F_OP || f == F_TYPE ? 0xffff : 0xffffffffu;
        return num_max(p, t, max, what, &v->num);
    }
    if (f == F_OP && lookup(op_names, sizeof(op_names) / sizeof(op_names[0]), t->s, t->n, &v->num))
        return true;
    if (f == F_TYPE && lookup(type_names, 2, t->s, t->n, &v->num))
        return true;
    if (f == F_FLAGS)
        return parse_flags(p, t, &v->num);
    return perr(p, "%s: '%.*s' is not a valid value", what, (int)t->n, t->s);
}

/* CID:PORT */
static bool parse_addr(struct pctx *p, const struct tok *t, bool expect, struct sval *cid,
                       struct sval *port)
{
    if (expect && tok_is(t, "*")) {
        cid->kind = SV_ANY;
        port->kind = SV_ANY;
        return true;
    }
    const char *colon = t->quoted ? NULL : memchr(t->s, ':', t->n);
    if (colon == NULL)
        return perr(p, "'%.*s' is not an address (CID:PORT, e.g. $guest:1024)", (int)t->n, t->s);
    struct tok c = {t->s, (size_t)(colon - t->s), false};
    struct tok pt = {colon + 1, t->n - c.n - 1, false};
    return parse_value(p, &c, F_CID, expect, "CID", cid) &&
           parse_value(p, &pt, F_PORT, expect, "port", port);
}

static bool parse_duration(struct pctx *p, const struct tok *t, uint64_t *ns)
{
    static const struct name_val units[] = {
        {"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}};
    size_t i = 0;
    while (i < t->n && t->s[i] >= '0' && t->s[i] <= '9')
        i++;
    uint64_t mult;
    struct tok num = {t->s, i, false};
    uint64_t v;
    if (t->quoted || i == 0 || !lookup(units, 4, t->s + i, t->n - i, &mult) ||
        !parse_u64(&num, &v))
        return perr(p, "'%.*s' is not a duration (e.g. 50ms, 2s)", (int)t->n, t->s);
    if (v > 3600ull * 1000000000ull / mult)
        return perr(p, "duration '%.*s' is longer than an hour", (int)t->n, t->s);
    *ns = v * mult;
    return true;
}

/* "text" or bytes=N */
static bool payload_tok(struct pctx *p, const struct tok *t, struct sbytes *out, bool *matched)
{
    *matched = false;
    if (t->quoted) {
        *matched = true;
        if (out->set)
            return perr(p, "a second payload");
        return pool_add(p, t->s, t->n, out);
    }
    if (t->n > 6 && memcmp(t->s, "bytes=", 6) == 0) {
        *matched = true;
        if (out->set)
            return perr(p, "a second payload");
        struct tok v = {t->s + 6, t->n - 6, false};
        uint64_t n;
        if (!num_max(p, &v, 1u << 20, "bytes", &n))
            return false;
        uint8_t *tmp = malloc(n ? n : 1);
        if (tmp == NULL)
            return perr(p, "out of memory");
        for (uint64_t i = 0; i < n; i++)
            tmp[i] = script_pattern(i);
        bool ok = pool_add(p, tmp, n, out);
        free(tmp);
        return ok;
    }
    return true;
}

/* ---- commands ---- */

static struct scmd *new_cmd(struct pctx *p, enum cmd_kind kind, const char *text, size_t n)
{
    struct script *sc = p->sc;
    if (sc->ncmds == sc->capcmds) {
        unsigned cap = sc->capcmds ? sc->capcmds * 2 : 16;
        struct scmd *nc = realloc(sc->cmds, cap * sizeof(*nc));
        if (nc == NULL) {
            perr(p, "out of memory");
            return NULL;
        }
        sc->cmds = nc;
        sc->capcmds = cap;
    }
    struct scmd *c = &sc->cmds[sc->ncmds];
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->line = p->line;
    c->linux_mask = p->mask;
    if (!pool_add(p, text, n, &c->text))
        return NULL;
    sc->ncmds++;
    return c;
}

/* key=value of a packet line. */
static bool pkt_field(struct pctx *p, const struct tok *t, bool expect, struct scmd *c,
                      bool *seen_len)
{
    static const struct {
        const char *key;
        enum field f;
        size_t off;
    } keys[] = {
        {"type", F_TYPE, offsetof(struct spkt, type)},
        {"len", F_LEN, offsetof(struct spkt, len)},
        {"flags", F_FLAGS, offsetof(struct spkt, flags)},
        {"buf_alloc", F_U32, offsetof(struct spkt, buf_alloc)},
        {"fwd_cnt", F_U32, offsetof(struct spkt, fwd_cnt)},
    };
    const char *eq = t->quoted ? NULL : memchr(t->s, '=', t->n);
    if (eq == NULL)
        return perr(p, "'%.*s' is not field=value or a payload", (int)t->n, t->s);
    size_t kn = (size_t)(eq - t->s);
    struct tok v = {eq + 1, t->n - kn - 1, false};
    if (expect && kn == 7 && memcmp(t->s, "timeout", 7) == 0)
        return parse_duration(p, &v, &c->ns);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strlen(keys[i].key) != kn || memcmp(keys[i].key, t->s, kn) != 0)
            continue;
        if (keys[i].f == F_LEN)
            *seen_len = true;
        struct sval *dst = (struct sval *)(void *)((char *)&c->pkt + keys[i].off);
        return parse_value(p, &v, keys[i].f, expect, keys[i].key, dst);
    }
    return perr(p, "unknown field '%.*s' (type, len, flags, buf_alloc, fwd_cnt%s)", (int)kn,
                t->s, expect ? ", timeout" : "");
}

static void send_defaults(struct spkt *k)
{
    k->type = (struct sval){SV_NUM, VSOCK_TYPE_STREAM, 0};
    k->flags = (struct sval){SV_NUM, 0, 0};
    k->buf_alloc = (struct sval){SV_NUM, SCRIPT_DEFAULT_BUF_ALLOC, 0};
    k->fwd_cnt = (struct sval){SV_NUM, 0, 0};
}

/* > or < OP SRC -> DST fields... */
static bool parse_packet(struct pctx *p, const struct toks *t, struct scmd *c, bool expect)
{
    if (t->n < 5 || !tok_is(&t->t[3], "->"))
        return perr(p, "expected '%s OP SRC -> DST [field=value ...] [payload]'",
                    expect ? "<" : ">");
    if (!parse_value(p, &t->t[1], F_OP, expect, "op", &c->pkt.op) ||
        !parse_addr(p, &t->t[2], expect, &c->pkt.src_cid, &c->pkt.src_port) ||
        !parse_addr(p, &t->t[4], expect, &c->pkt.dst_cid, &c->pkt.dst_port))
        return false;
    bool seen_len = false;
    for (unsigned i = 5; i < t->n; i++) {
        bool payload;
        if (!payload_tok(p, &t->t[i], &c->pkt.payload, &payload))
            return false;
        if (!payload && !pkt_field(p, &t->t[i], expect, c, &seen_len))
            return false;
    }
    p->sc->caps |= CONF_CAP_RAW;
    if (expect)
        return true;
    uint32_t plen = c->pkt.payload.set ? c->pkt.payload.len : 0;
    if ((!seen_len || (c->pkt.len.kind == SV_NUM && c->pkt.len.num == plen)) &&
        plen > p->sc->max_send)
        p->sc->max_send = plen;
    if (!seen_len)
        c->pkt.len = (struct sval){SV_NUM, plen, 0};
    else if (c->pkt.len.kind == SV_NUM && c->pkt.len.num != plen)
        p->sc->caps |= CONF_CAP_RAW_RING; /* only a hand-made chain can disagree */
    else if (c->pkt.len.kind != SV_NUM)
        return perr(p, "len of a > line must be a number");
    return true;
}

static bool parse_send(struct pctx *p, const struct toks *t, const char *line, size_t n)
{
    struct scmd *c = new_cmd(p, CMD_SEND, line, n);
    if (c == NULL)
        return false;
    send_defaults(&c->pkt);
    return parse_packet(p, t, c, false);
}

static bool parse_expect(struct pctx *p, const struct toks *t, const char *line, size_t n)
{
    if (t->n >= 2 && tok_is(&t->t[1], "none")) {
        struct scmd *c = new_cmd(p, CMD_NONE, line, n);
        if (c == NULL)
            return false;
        p->sc->caps |= CONF_CAP_RAW;
        if (t->n != 3)
            return perr(p, "expected '< none DURATION'");
        return parse_duration(p, &t->t[2], &c->ns);
    }
    struct scmd *c = new_cmd(p, CMD_EXPECT, line, n);
    if (c == NULL)
        return false;
    c->ns = SCRIPT_EXPECT_TIMEOUT_NS;
    return parse_packet(p, t, c, true);
}

/* ---- host commands ---- */

struct host_opt {
    bool type, backlog, buf, from, eor, ret, payload, eof;
};

static bool parse_type_name(struct pctx *p, const struct tok *v, int *type)
{
    uint64_t x;
    if (!lookup(type_names, 2, v->s, v->n, &x))
        return perr(p, "type: '%.*s' is not STREAM or SEQPACKET", (int)v->n, v->s);
    *type = (int)x;
    return true;
}

/* ret=N or ret=ERRNAME (stored as -errno). */
static bool parse_ret(struct pctx *p, const struct tok *v, int64_t *ret)
{
    static const struct name_val errs[] = {
        {"EAGAIN", EAGAIN},       {"EPIPE", EPIPE},           {"ENOTCONN", ENOTCONN},
        {"ECONNRESET", ECONNRESET}, {"EMSGSIZE", EMSGSIZE},   {"ENOMEM", ENOMEM},
        {"ETIMEDOUT", ETIMEDOUT}, {"EINVAL", EINVAL},         {"EPROTO", EPROTO},
        {"ESOCKTNOSUPPORT", ESOCKTNOSUPPORT}, {"EOPNOTSUPP", EOPNOTSUPP},
        {"ENOBUFS", ENOBUFS},     {"EALREADY", EALREADY},     {"EISCONN", EISCONN},
        {"EDESTADDRREQ", EDESTADDRREQ},
    };
    uint64_t x;
    if (lookup(errs, sizeof(errs) / sizeof(errs[0]), v->s, v->n, &x)) {
        *ret = -(int64_t)x;
        return true;
    }
    if (!num_max(p, v, 1u << 30, "ret", &x))
        return false;
    *ret = (int64_t)x;
    return true;
}

static bool host_option(struct pctx *p, const struct tok *t, const struct host_opt *ok,
                        struct scmd *c)
{
    bool payload;
    if (ok->payload) {
        if (!payload_tok(p, t, &c->payload, &payload))
            return false;
        if (payload)
            return true;
    }
    if (ok->eor && tok_is(t, "eor"))
        return (c->eor = true);
    if (ok->eof && tok_is(t, "eof"))
        return (c->eof = true);
    const char *eq = t->quoted ? NULL : memchr(t->s, '=', t->n);
    size_t kn = eq ? (size_t)(eq - t->s) : 0;
    struct tok v = {eq ? eq + 1 : NULL, eq ? t->n - kn - 1 : 0, false};
    uint64_t x;
    if (eq != NULL && ok->type && kn == 4 && memcmp(t->s, "type", 4) == 0)
        return parse_type_name(p, &v, &c->type);
    if (eq != NULL && ok->backlog && kn == 7 && memcmp(t->s, "backlog", 7) == 0) {
        if (!num_max(p, &v, 4096, "backlog", &x))
            return false;
        c->backlog = (int)x;
        return true;
    }
    if (eq != NULL && ((ok->buf && kn == 3 && memcmp(t->s, "buf", 3) == 0) ||
                       (ok->from && kn == 4 && memcmp(t->s, "from", 4) == 0))) {
        c->has_num = true;
        return num_max(p, &v, 0xffffffffu, kn == 3 ? "buf" : "from", &x) &&
               ((c->num = (uint32_t)x), true);
    }
    if (eq != NULL && ok->ret && kn == 3 && memcmp(t->s, "ret", 3) == 0) {
        c->has_ret = true;
        return parse_ret(p, &v, &c->ret);
    }
    return perr(p, "unexpected '%.*s'", (int)t->n, t->s);
}

static const struct {
    const char *name;
    enum host_verb verb;
    struct host_opt opts;
} host_verbs[] = {
    {"listen", HV_LISTEN, {.type = true, .backlog = true, .buf = true}},
    {"connect", HV_CONNECT, {.type = true, .from = true}},
    {"connected", HV_CONNECTED, {0}},
    {"accept", HV_ACCEPT, {0}},
    {"send", HV_SEND, {.payload = true, .eor = true, .ret = true}},
    {"recv", HV_RECV, {.payload = true, .eor = true, .ret = true, .eof = true}},
    {"shutdown", HV_SHUTDOWN, {0}},
    {"close", HV_CLOSE, {0}},
    {"error", HV_ERROR, {0}},
    {"bufsize", HV_BUFSIZE, {0}},
    {"bufmax", HV_BUFMAX, {0}},
    {"bufmin", HV_BUFMIN, {0}},
};

/* The one positional argument of shutdown, error, bufsize, bufmax and bufmin. */
static bool host_positional(struct pctx *p, const struct tok *t, struct scmd *c)
{
    uint64_t x;
    if (c->verb == HV_SHUTDOWN) {
        static const struct name_val hows[] = {
            {"rd", VEP_SHUT_RD}, {"wr", VEP_SHUT_WR}, {"rdwr", VEP_SHUT_RDWR}};
        if (!lookup(hows, 3, t->s, t->n, &x))
            return perr(p, "shutdown: '%.*s' is not rd, wr or rdwr", (int)t->n, t->s);
        c->how = (int)x;
        return true;
    }
    if (c->verb == HV_ERROR) {
        int64_t r;
        if (tok_is(t, "0") || tok_is(t, "none"))
            return (c->err = 0, true);
        if (!parse_ret(p, t, &r))
            return false;
        if (r >= 0)
            return perr(p, "error: '%.*s' is not an errno name", (int)t->n, t->s);
        c->err = (int)-r;
        return true;
    }
    if (c->verb == HV_BUFMAX || c->verb == HV_BUFMIN)
        return num_max(p, t, UINT64_MAX, c->verb == HV_BUFMAX ? "bufmax" : "bufmin", &c->bound);
    c->has_num = true;
    return num_max(p, t, 0xffffffffu, "bufsize", &x) && ((c->num = (uint32_t)x), true);
}

static bool parse_host(struct pctx *p, const struct toks *t, const char *line, size_t n)
{
    if (t->n < 3)
        return perr(p, "expected 'host VERB PORT ...'");
    size_t v;
    for (v = 0; v < sizeof(host_verbs) / sizeof(host_verbs[0]); v++)
        if (tok_is(&t->t[1], host_verbs[v].name))
            break;
    if (v == sizeof(host_verbs) / sizeof(host_verbs[0]))
        return perr(p, "unknown host command '%.*s' (listen, connect, connected, accept, send, "
                    "recv, shutdown, close, error, bufsize, bufmax, bufmin)", (int)t->t[1].n,
                    t->t[1].s);
    struct scmd *c = new_cmd(p, CMD_HOST, line, n);
    if (c == NULL)
        return false;
    c->verb = host_verbs[v].verb;
    c->type = VSOCK_TYPE_STREAM;
    c->backlog = 16;
    uint64_t port;
    if (!num_max(p, &t->t[2], 0xffffffffu, "port", &port))
        return false;
    c->port = (uint32_t)port;
    unsigned i = 3;
    bool positional = c->verb == HV_SHUTDOWN || c->verb == HV_ERROR || c->verb == HV_BUFSIZE ||
                      c->verb == HV_BUFMAX || c->verb == HV_BUFMIN;
    if (positional) {
        if (t->n != 4)
            return perr(p, "host %s takes PORT and one argument", host_verbs[v].name);
        return host_positional(p, &t->t[3], c);
    }
    for (; i < t->n; i++)
        if (!host_option(p, &t->t[i], &host_verbs[v].opts, c))
            return false;
    if (c->verb == HV_SEND && !c->payload.set)
        return perr(p, "host send needs a payload (\"text\" or bytes=N)");
    if (c->verb == HV_RECV && !c->payload.set && !c->eof && !c->has_ret)
        return perr(p, "host recv needs a payload, eof or ret=");
    if (c->verb == HV_RECV && c->eof && (c->payload.set || c->has_ret))
        return perr(p, "host recv eof takes nothing else");
    return true;
}

/* ---- header comments ---- */

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_blank(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_blank((*s)[*n - 1]))
        (*n)--;
}

static bool parse_targets(struct pctx *p, const char *s, size_t n)
{
    static const struct name_val names[] = {
        {"sim", CONF_SIM}, {"kernel", CONF_KERNEL}, {"guest", CONF_GUEST_TARGET}};
    if (p->have_targets)
        return perr(p, "a second '# targets:' line");
    p->have_targets = true;
    p->sc->targets = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_blank(s[i]) || s[i] == ','))
            i++;
        size_t j = i;
        while (j < n && !is_blank(s[j]) && s[j] != ',')
            j++;
        uint64_t m;
        if (j > i && !lookup(names, 3, s + i, j - i, &m))
            return perr(p, "targets: unknown target '%.*s' (sim, kernel, guest)", (int)(j - i),
                        s + i);
        if (j > i)
            p->sc->targets |= (unsigned)m;
        i = j;
    }
    if (p->sc->targets == 0)
        return perr(p, "'# targets:' names no target");
    return true;
}

static bool header_comment(struct pctx *p, const char *s, size_t n)
{
    s++; /* the # */
    n--;
    trim(&s, &n);
    if (n >= 7 && memcmp(s, "covers:", 7) == 0) {
        s += 7;
        n -= 7;
        trim(&s, &n);
        size_t used = strlen(p->sc->covers);
        if (used + n + 2 > sizeof(p->sc->covers))
            return perr(p, "'# covers:' lists too much");
        snprintf(p->sc->covers + used, sizeof(p->sc->covers) - used, "%s%.*s", used ? " " : "",
                 (int)n, s);
        return true;
    }
    if (n >= 8 && memcmp(s, "targets:", 8) == 0)
        return parse_targets(p, s + 8, n - 8);
    if (p->sc->descr[0] == '\0' && p->sc->ncmds == 0 && n > 0)
        snprintf(p->sc->descr, sizeof(p->sc->descr), "%.*s", (int)n, s);
    return true;
}

/* ---- lines ---- */

/* [6.1], [6.12] or [6.1,6.12] before a command: the profiles it runs
 * under (conf_linux); the token is taken off the line. */
static bool parse_condition(struct pctx *p, struct toks *t)
{
    const struct tok *w = &t->t[0];
    if (w->n < 2 || w->s[w->n - 1] != ']')
        return perr(p, "'%.*s' is not a profile condition: write [6.1], [6.12] or [6.1,6.12] "
                    "before the command", (int)w->n, w->s);
    p->mask = 0;
    size_t i = 1, end = w->n - 1;
    while (end > 1) {
        size_t j = i;
        while (j < end && w->s[j] != ',')
            j++;
        char name[16];
        enum vsock_linux v;
        if (j - i == 0 || j - i >= sizeof(name))
            return perr(p, "'%.*s': an empty or overlong profile name (6.1, 6.12)", (int)w->n,
                        w->s);
        memcpy(name, w->s + i, j - i);
        name[j - i] = '\0';
        if (vsock_linux_parse(name, &v) < 0)
            return perr(p, "unknown Linux profile '%s' in %.*s (6.1, 6.12)", name, (int)w->n,
                        w->s);
        p->mask |= 1u << v;
        if (j == end)
            break;
        i = j + 1;
    }
    if (p->mask == 0)
        return perr(p, "%.*s names no profile (6.1, 6.12)", (int)w->n, w->s);
    if (t->n == 1)
        return perr(p, "a profile condition needs a command after it");
    memmove(&t->t[0], &t->t[1], (t->n - 1) * sizeof(t->t[0]));
    t->n--;
    return true;
}

static bool parse_line(struct pctx *p, const char *s, size_t n, struct toks *t)
{
    const char *ts = s;
    size_t tn = n;
    trim(&ts, &tn);
    if (tn == 0)
        return true;
    if (ts[0] == '#')
        return header_comment(p, ts, tn);
    if (!tokenize(p, ts, tn, t))
        return false;
    if (t->n == 0)
        return true;
    p->mask = SCRIPT_ALL_LINUX;
    if (!t->t[0].quoted && t->t[0].s[0] == '[' && !parse_condition(p, t))
        return false;
    const struct tok *w = &t->t[0];
    if (tok_is(w, ">"))
        return parse_send(p, t, ts, tn);
    if (tok_is(w, "<"))
        return parse_expect(p, t, ts, tn);
    if (tok_is(w, "host"))
        return parse_host(p, t, ts, tn);
    if (tok_is(w, "wait")) {
        struct scmd *c = new_cmd(p, CMD_WAIT, ts, tn);
        if (c == NULL)
            return false;
        if (t->n != 2)
            return perr(p, "expected 'wait DURATION'");
        return parse_duration(p, &t->t[1], &c->ns);
    }
    if (tok_is(w, "reset")) {
        if (t->n != 1)
            return perr(p, "reset takes no arguments");
        p->sc->caps |= CONF_CAP_RESET;
        return new_cmd(p, CMD_RESET, ts, tn) != NULL;
    }
    if (tok_is(w, "queue-error")) {
        if (t->n != 2 || !(tok_is(&t->t[1], "rx") || tok_is(&t->t[1], "tx")))
            return perr(p, "expected 'queue-error rx' or 'queue-error tx'");
        struct scmd *c = new_cmd(p, CMD_QERR, ts, tn);
        if (c == NULL)
            return false;
        c->queue = tok_is(&t->t[1], "tx") ? 1u : 0u;
        return true;
    }
    return perr(p, "unknown command '%.*s' (>, <, host, wait, reset, queue-error)", (int)w->n,
                w->s);
}

struct script *script_parse(const char *text, size_t len, const char *name, char *err,
                            size_t errlen)
{
    struct script *sc = calloc(1, sizeof(*sc));
    struct toks *t = malloc(sizeof(*t));
    if (sc == NULL || t == NULL || (sc->name = strdup(name ? name : "(script)")) == NULL) {
        snprintf(err, errlen, "%s: out of memory", name ? name : "(script)");
        free(t);
        script_free(sc);
        return NULL;
    }
    sc->targets = CONF_ALL;
    struct pctx p = {.sc = sc, .err = err, .errlen = errlen};
    size_t i = 0;
    while (i < len && !p.failed) {
        p.line++;
        const char *nl = memchr(text + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
        if (n > LINE_MAX_BYTES)
            perr(&p, "line longer than %u bytes", LINE_MAX_BYTES);
        else if (memchr(text + i, '\0', n) != NULL)
            perr(&p, "a NUL byte in the line");
        else
            parse_line(&p, text + i, n, t);
        i += n + (nl ? 1 : 0);
    }
    if (!p.failed && sc->ncmds == 0) {
        p.line = p.line ? p.line : 1;
        perr(&p, "the script has no commands");
    }
    free(t);
    if (p.failed) {
        script_free(sc);
        return NULL;
    }
    return sc;
}

struct script *script_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_SCRIPT_BYTES + 1);
    size_t n = buf != NULL ? fread(buf, 1, MAX_SCRIPT_BYTES + 1, f) : 0;
    bool bad = buf == NULL || ferror(f);
    fclose(f);
    struct script *sc = NULL;
    if (bad)
        snprintf(err, errlen, "%s: cannot read", path);
    else if (n > MAX_SCRIPT_BYTES)
        snprintf(err, errlen, "%s: larger than %u bytes", path, MAX_SCRIPT_BYTES);
    else
        sc = script_parse(buf, n, path, err, errlen);
    free(buf);
    return sc;
}

void script_free(struct script *s)
{
    if (s == NULL)
        return;
    free(s->name);
    free(s->cmds);
    free(s->pool);
    free(s);
}

const char *script_name(const struct script *s) { return s->name; }
const char *script_descr(const struct script *s) { return s->descr; }
const char *script_covers(const struct script *s) { return s->covers; }
unsigned script_targets(const struct script *s) { return s->targets; }
unsigned script_caps(const struct script *s)
{
    return s->caps | (s->max_send > SCRIPT_DEFAULT_TX_MAX ? CONF_CAP_CONFIG : 0u);
}
unsigned script_lines(const struct script *s) { return s->ncmds; }

void script_opts(const struct script *s, struct conf_opts *o)
{
    memset(o, 0, sizeof(*o));
    if (s->max_send > SCRIPT_DEFAULT_TX_MAX)
        o->tx_max_payload = s->max_send;
}
