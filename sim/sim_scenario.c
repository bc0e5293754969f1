/* Built-in scenarios and the scenario file format. */
#include "sim/sim.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define G(k, cl, n, conc, b, msgs, p) \
    {.kind = (k), .client = (cl), .count = (n), .concurrent = (conc), .bytes = (b), .messages = (msgs), .port = (p)}

static const struct scenario builtin[] = {
    {.name = "echo",
     .description = "4 stream connections, each echoing 64 KiB",
     .ngroups = 1,
     .group = {G(FLOW_ECHO, CLIENT_ANY, 4, 4, 65536, 0, 5000)}},
    {.name = "bulk",
     .description = "1 MiB each way over two stream connections",
     .ngroups = 2,
     .group = {G(FLOW_BULK, CLIENT_GUEST, 1, 1, 1u << 20, 0, 5100),
               G(FLOW_BULK, CLIENT_HOST, 1, 1, 1u << 20, 0, 5200)}},
    {.name = "churn",
     .description = "200 short connections, 8 at a time, reusing 16 ports",
     .ngroups = 1,
     .group = {G(FLOW_ECHO, CLIENT_ANY, 200, 8, 512, 0, 5300)}},
    {.name = "seqpacket",
     .description = "4 seqpacket connections, 64 messages of up to 16 KiB each",
     .ngroups = 1,
     .group = {G(FLOW_SEQPACKET, CLIENT_ANY, 4, 4, 16384, 64, 5400)}},
    {.name = "mixed",
     .description = "echo, bulk, seqpacket and churn at once, with delayed notifications",
     .faults = "kick-delay=0.05,irq-delay=0.05,spurious-kick=0.001,spurious-irq=0.001",
     .ngroups = 4,
     .group = {G(FLOW_ECHO, CLIENT_ANY, 4, 4, 32768, 0, 5500),
               G(FLOW_BULK, CLIENT_ANY, 2, 2, 262144, 0, 5600),
               G(FLOW_SEQPACKET, CLIENT_ANY, 2, 2, 8192, 32, 5700),
               G(FLOW_ECHO, CLIENT_ANY, 50, 4, 256, 0, 5800)}},
    {.name = "reset-storm",
     .description = "connections under transport resets, device restarts, VM pauses and peer resets",
     .faults = "transport-reset=0.0005,device-restart=0.0002,device-pause=0.0005,peer-reset=0.002,"
               "kick-delay=0.05",
     .ngroups = 2,
     .group = {G(FLOW_ECHO, CLIENT_ANY, 24, 6, 16384, 0, 5900),
               G(FLOW_SEQPACKET, CLIENT_ANY, 6, 2, 4096, 16, 6000)}},
};

#define NBUILTIN (sizeof(builtin) / sizeof(builtin[0]))

const struct scenario *sim_scenario_list(size_t *count)
{
    *count = NBUILTIN;
    return builtin;
}

const struct scenario *sim_scenario_builtin(const char *name)
{
    for (size_t i = 0; i < NBUILTIN; i++)
        if (strcmp(builtin[i].name, name) == 0)
            return &builtin[i];
    return NULL;
}

const char *sim_flow_kind_name(enum flow_kind k)
{
    switch (k) {
    case FLOW_ECHO: return "echo";
    case FLOW_BULK: return "bulk";
    case FLOW_SEQPACKET: return "seqpacket";
    }
    return "flow?";
}

/* ---- the file format ----
 *   # comment
 *   scenario NAME
 *   description TEXT...
 *   faults SPEC
 *   flow KIND [count=N] [concurrent=N] [bytes=N] [messages=N] [client=guest|host|any] [port=N]
 *            [sender=blocking|nonblocking]          (seqpacket only)
 */

struct parse {
    const char *file;
    unsigned line;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct parse *p, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s:%u: %s", p->file, p->line, msg);
    return -1;
}

static int parse_u32(struct parse *p, const char *key, const char *v, uint32_t lo, uint32_t hi,
                     uint32_t *out)
{
    if (*v == '\0' || !isdigit((unsigned char)*v))
        return fail(p, "%s: '%s' is not a number", key, v);
    errno = 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end != '\0' || errno != 0)
        return fail(p, "%s: '%s' is not a number", key, v);
    if (x < lo || x > hi)
        return fail(p, "%s=%s is out of range (%" PRIu32 "..%" PRIu32 ")", key, v, lo, hi);
    *out = (uint32_t)x;
    return 0;
}

static int parse_kind(struct parse *p, const char *w, enum flow_kind *k)
{
    if (strcmp(w, "echo") == 0)
        *k = FLOW_ECHO;
    else if (strcmp(w, "bulk") == 0)
        *k = FLOW_BULK;
    else if (strcmp(w, "seqpacket") == 0)
        *k = FLOW_SEQPACKET;
    else
        return fail(p, "unknown flow kind '%s' (echo, bulk or seqpacket)", w);
    return 0;
}

static int parse_client(struct parse *p, const char *v, enum flow_client *c)
{
    if (strcmp(v, "guest") == 0)
        *c = CLIENT_GUEST;
    else if (strcmp(v, "host") == 0)
        *c = CLIENT_HOST;
    else if (strcmp(v, "any") == 0)
        *c = CLIENT_ANY;
    else
        return fail(p, "client: '%s' is not guest, host or any", v);
    return 0;
}

static int parse_sender(struct parse *p, const char *v, struct flow_group *g)
{
    if (strcmp(v, "blocking") == 0)
        g->nonblocking = false;
    else if (strcmp(v, "nonblocking") == 0)
        g->nonblocking = true;
    else
        return fail(p, "sender: '%s' is not blocking or nonblocking", v);
    return 0;
}

static int flow_option(struct parse *p, struct flow_group *g, char *opt)
{
    char *eq = strchr(opt, '=');
    if (eq == NULL)
        return fail(p, "flow option '%s' needs a value (key=value)", opt);
    *eq = '\0';
    const char *k = opt, *v = eq + 1;
    if (strcmp(k, "count") == 0)
        return parse_u32(p, k, v, 1, 100000, &g->count);
    if (strcmp(k, "concurrent") == 0)
        return parse_u32(p, k, v, 1, 1024, &g->concurrent);
    if (strcmp(k, "bytes") == 0)
        return parse_u32(p, k, v, 1, 64u << 20, &g->bytes);
    if (strcmp(k, "messages") == 0)
        return parse_u32(p, k, v, 1, 100000, &g->messages);
    if (strcmp(k, "port") == 0)
        return parse_u32(p, k, v, 1024, 0xffff0000u, &g->port);
    if (strcmp(k, "client") == 0)
        return parse_client(p, v, &g->client);
    if (strcmp(k, "sender") == 0)
        return parse_sender(p, v, g);
    return fail(p, "unknown flow option '%s' (count, concurrent, bytes, messages, client, port, "
                   "sender)", k);
}

static int parse_flow(struct parse *p, struct scenario *s, char *rest)
{
    if (s->ngroups == SCENARIO_MAX_GROUPS)
        return fail(p, "too many flow lines (at most %d)", SCENARIO_MAX_GROUPS);
    struct flow_group g = {.client = CLIENT_ANY, .count = 1, .concurrent = 1, .bytes = 4096,
                           .messages = 16, .port = 7000 + 100 * s->ngroups};
    char *save = NULL;
    char *w = strtok_r(rest, " \t", &save);
    if (w == NULL)
        return fail(p, "flow needs a kind (echo, bulk or seqpacket)");
    if (parse_kind(p, w, &g.kind) < 0)
        return -1;
    while ((w = strtok_r(NULL, " \t", &save)) != NULL)
        if (flow_option(p, &g, w) < 0)
            return -1;
    if (g.concurrent > g.count)
        g.concurrent = g.count;
    if (g.kind == FLOW_SEQPACKET && g.bytes > 65536 * 4)
        return fail(p, "seqpacket bytes (largest message) must be at most 262144");
    if (g.kind != FLOW_SEQPACKET && g.nonblocking)
        return fail(p, "sender= is for seqpacket flows (stream senders always take what "
                       "credit allows)");
    s->group[s->ngroups++] = g;
    return 0;
}

static int copy_rest(struct parse *p, char *dst, size_t cap, const char *what, const char *rest)
{
    if (strlen(rest) >= cap)
        return fail(p, "%s longer than %zu characters", what, cap - 1);
    for (const char *c = rest; *c; c++)
        if (!isprint((unsigned char)*c))
            return fail(p, "%s contains a non-printable character", what);
    strcpy(dst, rest);
    return 0;
}

static int parse_line(struct parse *p, struct scenario *s, char *line, bool *named)
{
    char *c = line + strspn(line, " \t");
    if (*c == '#' || *c == '\0')
        return 0;
    char *rest = c + strcspn(c, " \t");
    if (*rest != '\0')
        *rest++ = '\0';
    rest += strspn(rest, " \t");
    if (strcmp(c, "scenario") == 0) {
        if (*rest == '\0' || strcspn(rest, " \t") != strlen(rest))
            return fail(p, "scenario needs one name");
        *named = true;
        return copy_rest(p, s->name, sizeof(s->name), "scenario name", rest);
    }
    if (strcmp(c, "description") == 0)
        return copy_rest(p, s->description, sizeof(s->description), "description", rest);
    if (strcmp(c, "faults") == 0) {
        struct sim_faults f;
        char ferr[160];
        if (sim_faults_parse(rest, &f, ferr, sizeof(ferr)) < 0)
            return fail(p, "%s", ferr);
        return copy_rest(p, s->faults, sizeof(s->faults), "faults", rest);
    }
    if (strcmp(c, "flow") == 0)
        return parse_flow(p, s, rest);
    return fail(p, "unknown keyword '%s' (scenario, description, faults, flow)", c);
}

/* One line without its newline: 1, 0 at end of file, -1 on a NUL byte or a
 * line too long (p->err filled). */
static int read_line(struct parse *p, FILE *f, char *buf, size_t cap)
{
    size_t n = 0;
    int c;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (c == '\0')
            return fail(p, "NUL byte in line");
        if (n + 1 == cap)
            return fail(p, "line longer than %zu characters", cap - 1);
        buf[n++] = (char)c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return c == EOF && n == 0 ? 0 : 1;
}

int sim_scenario_parse(FILE *f, const char *filename, struct scenario *out, char *err,
                       size_t errlen)
{
    struct parse p = {.file = filename, .line = 0, .err = err, .errlen = errlen};
    struct scenario s;
    memset(&s, 0, sizeof(s));
    bool named = false;
    char line[512];
    int r;
    while (p.line++, (r = read_line(&p, f, line, sizeof(line))) == 1)
        if (parse_line(&p, &s, line, &named) < 0)
            return -1;
    if (r < 0)
        return -1;
    if (ferror(f))
        return fail(&p, "read error");
    if (!named)
        return fail(&p, "no 'scenario NAME' line");
    if (s.ngroups == 0)
        return fail(&p, "no 'flow' line: a scenario needs at least one flow");
    *out = s;
    return 0;
}
