/* The referee's comparing and judging (conformance/referee.h): runs
 * compared connection by connection, then every case's verdicts and
 * transcripts judged against known-differences.txt, into Markdown and TSV. */
#include "conformance/referee.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- connections ---- */

struct conns {
    struct ref_conn *c;
    uint32_t n;
    uint32_t *of; /* per packet of the run: its connection */
};

static void conns_free(struct conns *cs)
{
    free(cs->c);
    free(cs->of);
    memset(cs, 0, sizeof(*cs));
}

static void endpoints(const struct ref_pkt *p, struct ref_conn *c)
{
    const struct vsock_hdr *h = &p->h;
    if (p->to_host) {
        c->gcid = h->src_cid, c->gport = h->src_port;
        c->hcid = h->dst_cid, c->hport = h->dst_port;
    } else {
        c->gcid = h->dst_cid, c->gport = h->dst_port;
        c->hcid = h->src_cid, c->hport = h->src_port;
    }
}

static bool same_endpoints(const struct ref_conn *a, const struct ref_conn *b)
{
    return a->gcid == b->gcid && a->gport == b->gport && a->hcid == b->hcid && a->hport == b->hport;
}

/* Groups the run's packets into connections, in order of first sight. */
static int conns_build(const struct ref_run *r, struct conns *out)
{
    memset(out, 0, sizeof(*out));
    out->c = calloc(r->n ? r->n : 1, sizeof(*out->c));
    out->of = calloc(r->n ? r->n : 1, sizeof(*out->of));
    if (out->c == NULL || out->of == NULL) {
        conns_free(out);
        return -1;
    }
    for (uint32_t i = 0; i < r->n; i++) {
        struct ref_conn c;
        memset(&c, 0, sizeof(c));
        endpoints(&r->p[i], &c);
        uint32_t j = out->n;
        while (j > 0 && !same_endpoints(&out->c[j - 1], &c))
            j--;
        if (j == 0) {
            c.service_host = r->p[i].to_host;
            c.service_port = c.service_host ? c.hport : c.gport;
            for (uint32_t k = 0; k < out->n; k++)
                if (out->c[k].service_host == c.service_host &&
                    out->c[k].service_port == c.service_port)
                    c.occurrence++;
            c.first = i;
            out->c[out->n++] = c;
            j = out->n;
        }
        out->of[i] = j - 1;
    }
    return 0;
}

/* ---- bound names ---- */

enum bind_kind { B_CID, B_GPORT, B_HPORT };
struct binding {
    enum bind_kind k;
    uint64_t a, b;
};
struct bindings {
    struct binding *e;
    uint32_t n, cap;
};

static const char *bind_what(enum bind_kind k)
{
    return k == B_CID ? "CID" : k == B_GPORT ? "guest port" : "host port";
}

/* Binds sim's value a to the target's b: 0 when consistent (or new), 1 on
 * a conflict (described in note), -1 out of memory. */
static int bind(struct bindings *t, enum bind_kind k, uint64_t a, uint64_t b, const char *tname,
                char *note, size_t len)
{
    for (uint32_t i = 0; i < t->n; i++) {
        const struct binding *e = &t->e[i];
        if (e->k != k || (e->a != a && e->b != b))
            continue;
        if (e->a == a && e->b == b)
            return 0;
        if (e->a == a)
            snprintf(note, len, "sim %s %" PRIu64 " was %s %" PRIu64 " before, here %" PRIu64,
                     bind_what(k), a, tname, e->b, b);
        else
            snprintf(note, len, "%s %s %" PRIu64 " was sim %" PRIu64 " before, here %" PRIu64,
                     tname, bind_what(k), b, e->a, a);
        return 1;
    }
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 16;
        struct binding *e = realloc(t->e, cap * sizeof(*e));
        if (e == NULL)
            return -1;
        t->e = e;
        t->cap = cap;
    }
    t->e[t->n++] = (struct binding){k, a, b};
    return 0;
}

/* ---- differences ---- */

struct dlist {
    struct ref_diff *d;
    uint32_t n, cap;
};

static int dl_add(struct dlist *l, const struct ref_diff *d)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 16;
        struct ref_diff *p = realloc(l->d, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        l->d = p;
        l->cap = cap;
    }
    l->d[l->n++] = *d;
    return 0;
}

static uint32_t fields_differ(const struct vsock_hdr *a, const struct vsock_hdr *b, uint32_t ignore)
{
    uint32_t f = 0;
    if (a->op != b->op)
        f |= REF_F_OP;
    if (a->type != b->type)
        f |= REF_F_TYPE;
    if (a->flags != b->flags)
        f |= REF_F_FLAGS;
    if (a->len != b->len)
        f |= REF_F_LEN;
    if (a->buf_alloc != b->buf_alloc)
        f |= REF_F_BUF_ALLOC;
    if (a->fwd_cnt != b->fwd_cnt)
        f |= REF_F_FWD_CNT;
    return f & ~ignore;
}

/* The next packet of connection c in direction to_host at or after *i,
 * leaving out ignored ops; false when there is none. */
static bool next_pkt(const struct ref_run *r, const struct conns *cs, uint32_t c, bool to_host,
                     const struct ref_ignore *ign, uint32_t *i)
{
    for (; *i < r->n; (*i)++) {
        const struct ref_pkt *p = &r->p[*i];
        if (cs->of[*i] != c || p->to_host != to_host)
            continue;
        if (ign != NULL && p->h.op < 32 && (ign->ops[to_host] & (1u << p->h.op)))
            continue;
        return true;
    }
    return false;
}

struct side {
    const struct ref_run *r;
    const struct conns *cs;
    uint32_t c;
};

/* The next packet of the side's connection and direction from *i on, into
 * *p (its position in *at); with rw_boundaries an RW and the RWs after it
 * up to one with EOM come as one. *i ends past what was taken. */
static bool take_pkt(const struct side *s, bool to_host, const struct ref_ignore *ign,
                     uint32_t *i, struct ref_pkt *p, uint32_t *at)
{
    if (!next_pkt(s->r, s->cs, s->c, to_host, ign, i))
        return false;
    *p = s->r->p[*i];
    *at = *i;
    (*i)++;
    bool merge = ign != NULL && ign->rw_boundaries[to_host];
    while (merge && p->h.op == VSOCK_OP_RW && !(p->h.flags & 1u)) {
        uint32_t j = *i;
        if (!next_pkt(s->r, s->cs, s->c, to_host, ign, &j) || s->r->p[j].h.op != VSOCK_OP_RW)
            break;
        uint32_t len = p->h.len + s->r->p[j].h.len;
        p->h = s->r->p[j].h;
        p->h.len = len;
        *i = j + 1;
    }
    return true;
}

static int compare_dir(const struct side *a, const struct side *b, bool to_host,
                       const struct ref_ignore *ign, struct dlist *out)
{
    uint32_t ia = 0, ib = 0, k = 0;
    uint32_t ignore = ign != NULL ? ign->fields[to_host] : 0;
    for (;;) {
        struct ref_pkt pa, pb;
        uint32_t at_a = 0, at_b = 0;
        bool ha = take_pkt(a, to_host, ign, &ia, &pa, &at_a);
        bool hb = take_pkt(b, to_host, ign, &ib, &pb, &at_b);
        if (!ha && !hb)
            return 0;
        k++;
        uint32_t f = ha && hb ? fields_differ(&pa.h, &pb.h, ignore) : 0;
        if (ha && hb && f == 0)
            continue;
        struct ref_diff d;
        memset(&d, 0, sizeof(d));
        d.kind = REF_D_PACKET;
        d.a = a->cs->c[a->c];
        d.b = b->cs->c[b->c];
        d.to_host = to_host;
        d.index = k;
        d.has_a = ha, d.has_b = hb;
        if (ha)
            d.pa = pa, d.ia = at_a + 1;
        if (hb)
            d.pb = pb, d.ib = at_b + 1;
        d.fields = f;
        d.order = ha ? at_a : at_b;
        return dl_add(out, &d);
    }
}

/* The target's value sim's a is bound to, if a is a bound name of kind k. */
static bool bound_to(const struct bindings *t, enum bind_kind k, uint64_t a, uint64_t *b)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->e[i].k == k && t->e[i].a == a) {
            *b = t->e[i].b;
            return true;
        }
    return false;
}

/* Connections pair by their service: the side and port their first packet
 * went to, and how many earlier connections had it. The port is literal
 * (a listener's port the case chose), unless an earlier pair bound it as a
 * name: a packet to a port the other side picked (an ephemeral port, say a
 * stray RESPONSE to a connecting socket) pairs through that name. */
static bool same_service(const struct bindings *bt, const struct ref_conn *a,
                         const struct ref_conn *b)
{
    if (a->service_host != b->service_host || a->occurrence != b->occurrence)
        return false;
    uint64_t mapped;
    if (bound_to(bt, a->service_host ? B_HPORT : B_GPORT, a->service_port, &mapped))
        return mapped == b->service_port;
    return a->service_port == b->service_port;
}

static int bind_pair(struct bindings *bt, const struct ref_conn *a, const struct ref_conn *b,
                     const char *tname, struct dlist *out)
{
    struct ref_diff d;
    memset(&d, 0, sizeof(d));
    int rc = bind(bt, B_CID, a->gcid, b->gcid, tname, d.note, sizeof(d.note));
    if (rc == 0)
        rc = bind(bt, B_CID, a->hcid, b->hcid, tname, d.note, sizeof(d.note));
    /* The service port is literal or already bound (pairing checked it);
     * the other endpoint's port is a name. */
    if (rc == 0 && a->service_host)
        rc = bind(bt, B_GPORT, a->gport, b->gport, tname, d.note, sizeof(d.note));
    else if (rc == 0)
        rc = bind(bt, B_HPORT, a->hport, b->hport, tname, d.note, sizeof(d.note));
    if (rc <= 0)
        return rc;
    d.kind = REF_D_BINDING;
    d.a = *a;
    d.b = *b;
    d.order = a->first;
    return dl_add(out, &d);
}

static int only_one(const struct ref_run *r, const struct ref_conn *c, bool sim, struct dlist *out)
{
    struct ref_diff d;
    memset(&d, 0, sizeof(d));
    d.kind = sim ? REF_D_ONLY_SIM : REF_D_ONLY_TARGET;
    if (sim)
        d.a = *c, d.has_a = true, d.pa = r->p[c->first], d.ia = c->first + 1;
    else
        d.b = *c, d.has_b = true, d.pb = r->p[c->first], d.ib = c->first + 1;
    d.order = c->first;
    return dl_add(out, &d);
}

static int diff_order(const void *x, const void *y)
{
    const struct ref_diff *a = x, *b = y;
    if (a->order != b->order)
        return a->order < b->order ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    return a->to_host == b->to_host ? 0 : a->to_host ? -1 : 1;
}

static int compare_conns(const struct ref_run *ra, const struct conns *ca, const struct ref_run *rb,
                         const struct conns *cb, const struct ref_ignore *ign, struct dlist *out)
{
    struct bindings bt = {0};
    int32_t *pair_b = malloc((cb->n ? cb->n : 1) * sizeof(*pair_b));
    int rc = pair_b != NULL ? 0 : -1;
    for (uint32_t j = 0; rc == 0 && j < cb->n; j++)
        pair_b[j] = -1;
    for (uint32_t i = 0; rc == 0 && i < ca->n; i++) {
        uint32_t j = 0;
        while (j < cb->n && (pair_b[j] >= 0 || !same_service(&bt, &ca->c[i], &cb->c[j])))
            j++;
        if (j == cb->n) {
            rc = only_one(ra, &ca->c[i], true, out);
            continue;
        }
        pair_b[j] = (int32_t)i;
        rc = bind_pair(&bt, &ca->c[i], &cb->c[j], "target", out);
        struct side a = {ra, ca, i}, b = {rb, cb, j};
        for (int dir = 1; rc == 0 && dir >= 0; dir--)
            rc = compare_dir(&a, &b, dir == 1, ign, out);
    }
    for (uint32_t j = 0; rc == 0 && j < cb->n; j++)
        if (pair_b[j] < 0)
            rc = only_one(rb, &cb->c[j], false, out);
    free(pair_b);
    free(bt.e);
    return rc;
}

int ref_compare(const struct ref_run *a, const struct ref_run *b, const struct ref_ignore *ign,
                struct ref_diff *out, unsigned max)
{
    struct conns ca, cb;
    struct dlist dl = {0};
    if (conns_build(a, &ca) < 0)
        return -1;
    if (conns_build(b, &cb) < 0) {
        conns_free(&ca);
        return -1;
    }
    int rc = compare_conns(a, &ca, b, &cb, ign, &dl);
    conns_free(&ca);
    conns_free(&cb);
    if (rc < 0) {
        free(dl.d);
        return -1;
    }
    if (dl.n > 1)
        qsort(dl.d, dl.n, sizeof(*dl.d), diff_order);
    for (uint32_t i = 0; i < dl.n && i < max; i++)
        out[i] = dl.d[i];
    free(dl.d);
    return dl.n > (uint32_t)INT32_MAX ? INT32_MAX : (int)dl.n;
}

void ref_conn_format(const struct ref_diff *d, const char *target, char *buf, size_t len)
{
    const struct ref_conn *c = d->kind == REF_D_ONLY_TARGET ? &d->b : &d->a;
    const char *svc = c->service_host ? "host" : "guest";
    const char *other = c->service_host ? "guest" : "host";
    char ea[64] = "", eb[64] = "";
    if (d->kind != REF_D_ONLY_TARGET)
        snprintf(ea, sizeof(ea), "sim: %s %" PRIu64 ":%" PRIu32, other,
                 c->service_host ? d->a.gcid : d->a.hcid, c->service_host ? d->a.gport : d->a.hport);
    if (d->kind != REF_D_ONLY_SIM)
        snprintf(eb, sizeof(eb), "%s: %s %" PRIu64 ":%" PRIu32, target, other,
                 c->service_host ? d->b.gcid : d->b.hcid, c->service_host ? d->b.gport : d->b.hport);
    snprintf(buf, len, "connection to %s port %" PRIu32 " #%u (%s%s%s)", svc, c->service_port,
             c->occurrence + 1, ea, ea[0] && eb[0] ? "; " : "", eb);
}

/* ---- judging ---- */

#define REF_SHOW 8u /* differences shown per case and seed */

struct seed_diff {
    uint64_t seed;
    bool seeded;
    struct ref_diff d[REF_SHOW];
    unsigned shown;
    int total;
};

struct pkt_result {
    enum { PR_NONE, PR_SAME, PR_DIFFERS, PR_INCOMPARABLE, PR_ERROR } st;
    char why[480];
    unsigned nseeds;
    struct seed_diff *sd; /* one per differing seed */
    unsigned nsd;
    struct ref_block *known;   /* explains every difference */
    struct ref_block *partial; /* names the case but leaves these differences */
};

static void pr_free(struct pkt_result *r)
{
    free(r->sd);
    memset(r, 0, sizeof(*r));
}

static const char *run_label(const struct ref_run *r, char *buf, size_t len)
{
    if (r->seeded)
        snprintf(buf, len, "seed %" PRIu64, r->seed);
    else
        snprintf(buf, len, "its run");
    return buf;
}

/* Why a run's transcript cannot be compared, or NULL. */
static const char *incomparable(const struct ref_run *r, char *buf, size_t len)
{
    char l[32];
    if (r->unavailable[0] != '\0')
        snprintf(buf, len, "%s: no transcript: %s", run_label(r, l, sizeof(l)), r->unavailable);
    else if (!r->ended)
        snprintf(buf, len, "%s: its transcript was cut off (begun at line %" PRIu32 ")",
                 run_label(r, l, sizeof(l)), r->line);
    else if (r->dropped != 0)
        snprintf(buf, len, "%s: %" PRIu64 " packets were not logged (CONF_PKTLOG_MAX)",
                 run_label(r, l, sizeof(l)), r->dropped);
    else
        return NULL;
    return buf;
}

static void compare_case(const struct ref_case *sc, const struct ref_case *tc, const char *tname,
                         const struct ref_ignore *ign, struct pkt_result *r)
{
    memset(r, 0, sizeof(*r));
    char why[400];
    if (tc->nruns != 1) {
        r->st = PR_INCOMPARABLE;
        snprintf(r->why, sizeof(r->why), "%s printed %u transcripts for the case, not one", tname,
                 tc->nruns);
        return;
    }
    if (incomparable(&tc->runs[0], why, sizeof(why)) != NULL) {
        r->st = PR_INCOMPARABLE;
        snprintf(r->why, sizeof(r->why), "%s, %s", tname, why);
        return;
    }
    if (sc->nruns == 0) {
        r->st = PR_INCOMPARABLE;
        snprintf(r->why, sizeof(r->why), "sim printed no transcript for the case");
        return;
    }
    r->sd = calloc(sc->nruns, sizeof(*r->sd));
    if (r->sd == NULL) {
        r->st = PR_ERROR;
        snprintf(r->why, sizeof(r->why), "out of memory");
        return;
    }
    r->st = PR_SAME;
    r->nseeds = sc->nruns;
    for (unsigned i = 0; i < sc->nruns; i++) {
        const struct ref_run *run = &sc->runs[i];
        if (incomparable(run, why, sizeof(why)) != NULL) {
            r->st = PR_INCOMPARABLE;
            snprintf(r->why, sizeof(r->why), "sim, %s", why);
            return;
        }
        struct seed_diff *s = &r->sd[r->nsd];
        s->total = ref_compare(run, &tc->runs[0], ign, s->d, REF_SHOW);
        if (s->total < 0) {
            r->st = PR_ERROR;
            snprintf(r->why, sizeof(r->why), "out of memory");
            return;
        }
        if (s->total == 0)
            continue;
        s->seed = run->seed;
        s->seeded = run->seeded;
        s->shown = (unsigned)s->total < REF_SHOW ? (unsigned)s->total : REF_SHOW;
        r->nsd++;
        r->st = PR_DIFFERS;
    }
}

static const char *verdict_of(const struct ref_report *rep, const char *name)
{
    if (rep == NULL)
        return "-";
    const struct ref_case *c = ref_report_find(rep, name);
    return c != NULL ? c->verdict : "absent";
}

static bool ran(const char *v)
{
    return strcmp(v, "-") != 0 && strcmp(v, "skipped") != 0 && strcmp(v, "absent") != 0;
}

/* The case declares it does not apply to the target, or needs a
 * capability the target does not offer (conformance/conf_run.c). */
static bool not_applicable(const char *reason)
{
    return (strstr(reason, " applies to ") != NULL && strstr(reason, ", not to target ") != NULL) ||
           (strncmp(reason, "needs ", 6) == 0 && strstr(reason, ", which target ") != NULL &&
            strstr(reason, " does not offer") != NULL);
}

/* Text for a Markdown table cell: no pipes, no newlines. */
static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
}

static void seeds_text(const struct pkt_result *r, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < r->nsd && used < len; i++) {
        int n = r->sd[i].seeded ? snprintf(buf + used, len - used, "%s%" PRIu64, i ? "," : "",
                                           r->sd[i].seed)
                                : snprintf(buf + used, len - used, "%s-", i ? "," : "");
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* "h>g packet 2 (fwd_cnt differs)" and the like. */
static void diff_what(const struct ref_diff *d, char *buf, size_t len)
{
    char f[64];
    switch (d->kind) {
    case REF_D_PACKET:
        ref_fields_format(d->fields, f, sizeof(f));
        snprintf(buf, len, "%s packet %" PRIu32 ": %s", d->to_host ? "g>h" : "h>g", d->index,
                 d->has_a && d->has_b ? f : d->has_a ? "the target has no such packet"
                                                     : "sim has no such packet");
        if (d->has_a && d->has_b && strlen(buf) + 8 < len)
            strcat(buf, " differ");
        break;
    case REF_D_ONLY_SIM: snprintf(buf, len, "only sim has this connection"); break;
    case REF_D_ONLY_TARGET: snprintf(buf, len, "only the target has this connection"); break;
    case REF_D_BINDING: snprintf(buf, len, "a bound name differs: %s", d->note); break;
    }
}

static void pkt_text(bool has, const struct ref_pkt *p, uint32_t pos, char *buf, size_t len)
{
    char line[256];
    if (!has) {
        snprintf(buf, len, "(none)");
        return;
    }
    ref_pkt_format(p, line, sizeof(line));
    snprintf(buf, len, "#%" PRIu32 " %s", pos, line);
}

static void conn_text(const struct ref_diff *d, const char *tname, char *buf, size_t len)
{
    ref_conn_format(d, tname, buf, len);
}

static void md_diff(FILE *md, const struct ref_diff *d, const char *tname, const char *indent)
{
    char conn[200], what[280], pa[300], pb[300];
    conn_text(d, tname, conn, sizeof(conn));
    diff_what(d, what, sizeof(what));
    pkt_text(d->has_a, &d->pa, d->ia, pa, sizeof(pa));
    pkt_text(d->has_b, &d->pb, d->ib, pb, sizeof(pb));
    fprintf(md, "%s- %s, %s\n", indent, conn, what);
    if (d->kind != REF_D_BINDING)
        fprintf(md, "%s  - sim: `%s`\n%s  - %s: `%s`\n", indent, pa, indent, tname, pb);
}

struct judge {
    const struct ref_inputs *in;
    char **names;
    size_t n;
    struct pkt_result *pr; /* per case: the judged target's packets */
    char **vkind;          /* per case: the verdict explanation ("", "known ...", ...) */
    const char *tname;
    struct ref_summary s;
};

static int collect_names(struct judge *j)
{
    size_t cap = 0;
    for (int t = 0; t < REF_NTARGETS; t++) {
        const struct ref_report *r = j->in->rep[t];
        for (size_t i = 0; r != NULL && i < r->n; i++) {
            size_t k = 0;
            while (k < j->n && strcmp(j->names[k], r->cases[i].name) != 0)
                k++;
            if (k < j->n)
                continue;
            if (j->n == cap) {
                cap = cap ? cap * 2 : 128;
                char **p = realloc(j->names, cap * sizeof(*p));
                if (p == NULL)
                    return -1;
                j->names = p;
            }
            j->names[j->n++] = r->cases[i].name;
        }
    }
    return 0;
}

/* Every run must have followed the kernel's profile: a sim run of the 6.1
 * model is no referee's opponent for 6.12. */
static int check_profiles(const struct ref_inputs *in, char *err, size_t errlen)
{
    const char *want = in->kernel == REF_K612 ? "6.12" : "6.1";
    for (int t = 0; t < REF_NTARGETS; t++) {
        const struct ref_report *r = in->rep[t];
        if (r == NULL || (t != REF_SIM && t != (int)in->judged))
            continue;
        for (size_t i = 0; i < r->n; i++)
            for (unsigned k = 0; r->cases[i].conformance && k < r->cases[i].nruns; k++) {
                const struct ref_run *run = &r->cases[i].runs[k];
                if (run->linux_ver[0] != '\0' && strcmp(run->linux_ver, want) != 0) {
                    snprintf(err, errlen,
                             "%s:%" PRIu32 ": %s ran with Linux profile %s, the referee is %s",
                             r->path, run->line, r->cases[i].name, run->linux_ver, want);
                    return -1;
                }
            }
    }
    return 0;
}

static void judge_verdict(struct judge *j, size_t i, FILE *note)
{
    const char *name = j->names[i];
    enum ref_target t = j->in->judged;
    const char *s = verdict_of(j->in->rep[REF_SIM], name);
    const char *v = verdict_of(j->in->rep[t], name);
    j->vkind[i] = NULL;
    if (strcmp(v, s) == 0 || strcmp(v, "-") == 0 || strcmp(v, "absent") == 0)
        return;
    const struct ref_case *tc = ref_report_find(j->in->rep[t], name);
    const char *reason = tc != NULL ? tc->reason : "";
    struct ref_block *b = ref_known_find(j->in->known, name, t, j->in->kernel, REF_KIND_DIFFERS);
    char buf[600];
    j->s.verdict_diffs++;
    if (b != NULL) {
        b->used++;
        j->s.verdict_known++;
        snprintf(buf, sizeof(buf), "known difference (%s:%u): %s", j->in->known->path, b->line,
                 b->spec);
    } else if (strcmp(v, "skipped") == 0 && not_applicable(reason)) {
        j->s.verdict_na++;
        snprintf(buf, sizeof(buf), "not applicable: %s", reason);
    } else {
        j->s.verdict_unexplained++;
        snprintf(buf, sizeof(buf), "UNEXPLAINED: sim %s, %s %s%s%s", s, j->tname, v,
                 reason[0] ? ": " : "", reason);
        if (note != NULL)
            fprintf(note, "referee: UNEXPLAINED verdict: %s: sim %s, %s %s%s%.300s\n", name, s,
                    j->tname, v, reason[0] ? ": " : "", reason);
    }
    j->vkind[i] = strdup(buf);
}

static void note_packets(FILE *note, const char *name, const struct pkt_result *r, const char *tname)
{
    char seeds[128];
    if (r->st == PR_INCOMPARABLE || r->st == PR_ERROR) {
        fprintf(note, "referee: UNEXPLAINED packets: %s: cannot compare: %s\n", name, r->why);
        return;
    }
    seeds_text(r, seeds, sizeof(seeds));
    const struct ref_diff *d = &r->sd[0].d[0];
    char conn[200], what[280], pa[300], pb[300];
    conn_text(d, tname, conn, sizeof(conn));
    diff_what(d, what, sizeof(what));
    pkt_text(d->has_a, &d->pa, d->ia, pa, sizeof(pa));
    pkt_text(d->has_b, &d->pb, d->ib, pb, sizeof(pb));
    char label[40] = "the run";
    if (r->sd[0].seeded)
        snprintf(label, sizeof(label), "seed %" PRIu64, r->sd[0].seed);
    fprintf(note,
            "referee: UNEXPLAINED packets: %s (sim seeds %s of %u differ; %s: %d difference%s, "
            "the first:) %s, %s\n",
            name, seeds, r->nseeds, label, r->sd[0].total, r->sd[0].total == 1 ? "" : "s", conn,
            what);
    char tlabel[16];
    snprintf(tlabel, sizeof(tlabel), "%s:", tname);
    if (d->kind != REF_D_BINDING)
        fprintf(note, "    %-7s %s\n    %-7s %s\n", "sim:", pa, tlabel, pb);
}

static void judge_packets(struct judge *j, size_t i, FILE *note)
{
    const char *name = j->names[i];
    enum ref_target t = j->in->judged;
    struct pkt_result *r = &j->pr[i];
    memset(r, 0, sizeof(*r));
    const char *s = verdict_of(j->in->rep[REF_SIM], name);
    const char *v = verdict_of(j->in->rep[t], name);
    if (!ran(s) || !ran(v))
        return;
    const struct ref_case *sc = ref_report_find(j->in->rep[REF_SIM], name);
    const struct ref_case *tc = ref_report_find(j->in->rep[t], name);
    if (!sc->conformance || !tc->conformance)
        return; /* a program's own test, not a conformance case */
    j->s.pkt_compared++;
    compare_case(sc, tc, j->tname, NULL, r);
    if (r->st == PR_SAME) {
        j->s.pkt_same++;
        return;
    }
    if (r->st == PR_DIFFERS) {
        /* Each block that names the case, in file order: the first that
         * explains everything does; else the first one's leftovers show. */
        struct ref_known *k = j->in->known;
        for (unsigned bi = 0; bi < k->n; bi++) {
            struct ref_block *b = &k->b[bi];
            if (!ref_block_applies(b, name, t, j->in->kernel, REF_KIND_PACKETS))
                continue;
            struct pkt_result again;
            compare_case(sc, tc, j->tname, &b->ignore, &again);
            if (again.st == PR_SAME) {
                if (r->partial != NULL) { /* show the differences, not a block's leftovers */
                    pr_free(r);
                    compare_case(sc, tc, j->tname, NULL, r);
                }
                r->known = b;
                b->used++;
                j->s.pkt_known++;
                pr_free(&again);
                return;
            }
            /* What the first block leaves unexplained is what to show. */
            if (again.st == PR_DIFFERS && r->partial == NULL) {
                pr_free(r);
                *r = again;
                r->partial = b;
            } else {
                pr_free(&again);
            }
        }
        j->s.pkt_unexplained++;
    } else {
        j->s.pkt_incomparable++;
        j->s.pkt_unexplained++;
    }
    if (note != NULL && (j->in->note_max == 0 || j->s.pkt_unexplained <= j->in->note_max))
        note_packets(note, name, r, j->tname);
}

static unsigned count_verdict(const struct judge *j, int t, const char *v)
{
    unsigned n = 0;
    for (size_t i = 0; i < j->n; i++)
        n += strcmp(verdict_of(j->in->rep[t], j->names[i]), v) == 0;
    return n;
}

static bool agree(const struct judge *j, size_t i)
{
    const char *first = NULL;
    for (int t = 0; t < REF_NTARGETS; t++) {
        const char *v = verdict_of(j->in->rep[t], j->names[i]);
        if (strcmp(v, "-") == 0 || strcmp(v, "skipped") == 0)
            continue;
        if (first == NULL)
            first = v;
        else if (strcmp(first, v) != 0)
            return false;
    }
    return true;
}

static void md_header(const struct judge *j, FILE *md)
{
    const struct ref_inputs *in = j->in;
    const char *k = in->kernel == REF_K612 ? "6.12" : "6.1";
    fprintf(md, "# Referee: sim and %s on Linux %s\n\n", j->tname, k);
    fprintf(md, "- kernel: %s\n", in->kernel_package != NULL ? in->kernel_package : "(not given)");
    fprintf(md, "- judged: the %s target (%s); sim ran the model's Linux %s profile\n", j->tname,
            in->judged == REF_KERNEL ? "our driver against Linux's vhost-vsock"
                                     : "Linux's guest driver against our device",
            k);
    for (int t = 0; t < REF_NTARGETS; t++)
        fprintf(md, "- %s: %s\n", ref_target_name(t),
                in->rep[t] != NULL ? in->rep[t]->path : "not run");
    fprintf(md, "\nThe other real target's column, if any, is its last run, for reference; only "
                "the judged target's differences count.\n\n");
}

static void md_verdicts(const struct judge *j, FILE *md)
{
    static const char *const vs[] = {"passed", "failed", "skipped", "broken", "expected_failure",
                                     "absent", "-"};
    fprintf(md, "## Verdicts\n\n| | sim | kernel | guest |\n|---|---|---|---|\n");
    for (size_t k = 0; k < sizeof(vs) / sizeof(vs[0]); k++) {
        unsigned c[REF_NTARGETS];
        for (int t = 0; t < REF_NTARGETS; t++)
            c[t] = count_verdict(j, t, vs[k]);
        if (c[0] || c[1] || c[2])
            fprintf(md, "| %s | %u | %u | %u |\n", vs[k], c[0], c[1], c[2]);
    }
    fprintf(md, "\n%u of %zu cases agree (a target that skipped a case, or was not run, takes no "
                "part).\n\n",
            j->s.agree, j->n);
    fprintf(md, "%u verdict differences on %s: %u known (known-differences.txt), %u not "
                "applicable to the target, %u unexplained.\n\n",
            j->s.verdict_diffs, j->tname, j->s.verdict_known, j->s.verdict_na,
            j->s.verdict_unexplained);
    if (j->s.verdict_diffs == 0)
        return;
    fprintf(md, "| case | sim / %s | explanation |\n|---|---|---|\n", j->tname);
    for (size_t i = 0; i < j->n; i++) {
        if (j->vkind[i] == NULL)
            continue;
        fprintf(md, "| %s | %s / %s | ", j->names[i], verdict_of(j->in->rep[REF_SIM], j->names[i]),
                verdict_of(j->in->rep[j->in->judged], j->names[i]));
        md_cell(md, j->vkind[i]);
        fprintf(md, " |\n");
    }
    fprintf(md, "\n");
}

static void md_case_packets(const struct judge *j, size_t i, FILE *md)
{
    const struct pkt_result *r = &j->pr[i];
    char seeds[128];
    if (r->st == PR_INCOMPARABLE || r->st == PR_ERROR) {
        fprintf(md, "### %s: cannot compare (UNEXPLAINED)\n\n- %s\n\n", j->names[i], r->why);
        return;
    }
    seeds_text(r, seeds, sizeof(seeds));
    if (r->known != NULL)
        fprintf(md, "### %s: known difference (%s:%u)\n\n- %s\n", j->names[i],
                j->in->known->path, r->known->line, r->known->spec);
    else if (r->partial != NULL)
        fprintf(md, "### %s: UNEXPLAINED\n\n- what is left once %s:%u (verdict: packets) "
                    "leaves out what it names:\n",
                j->names[i], j->in->known->path, r->partial->line);
    else
        fprintf(md, "### %s: UNEXPLAINED\n\n", j->names[i]);
    fprintf(md, "- sim seeds that differ: %s of %u\n", seeds, r->nseeds);
    for (unsigned k = 0; k < r->nsd; k++) {
        const struct seed_diff *sd = &r->sd[k];
        char label[40];
        if (sd->seeded)
            snprintf(label, sizeof(label), "seed %" PRIu64, sd->seed);
        else
            snprintf(label, sizeof(label), "the run");
        if (k == 0) {
            fprintf(md, "- %s: %d difference%s%s\n", label, sd->total, sd->total == 1 ? "" : "s",
                    (unsigned)sd->total > sd->shown ? " (the first shown)" : "");
            for (unsigned m = 0; m < sd->shown; m++)
                md_diff(md, &sd->d[m], j->tname, "  ");
        } else {
            fprintf(md, "- %s: %d difference%s, the first:\n", label, sd->total,
                    sd->total == 1 ? "" : "s");
            md_diff(md, &sd->d[0], j->tname, "  ");
        }
    }
    fprintf(md, "\n");
}

static void md_packets(const struct judge *j, FILE *md)
{
    fprintf(md, "## Packets: sim and %s\n\n", j->tname);
    fprintf(md,
            "Each case that ran on both (not skipped): every sim seed's transcript against the "
            "%s's, connection by connection (paired by the port their first packet went to; "
            "CIDs and the other ports are bound names), each direction in order, on op, type, "
            "flags, len, buf_alloc and fwd_cnt.\n\n",
            j->tname);
    fprintf(md, "%u compared: %u agree, %u known differences, %u unexplained (%u of them could "
                "not be compared).\n\n",
            j->s.pkt_compared, j->s.pkt_same, j->s.pkt_known, j->s.pkt_unexplained,
            j->s.pkt_incomparable);
    for (int pass = 0; pass < 2; pass++) /* the unexplained first */
        for (size_t i = 0; i < j->n; i++) {
            const struct pkt_result *r = &j->pr[i];
            if (r->st == PR_NONE || r->st == PR_SAME || (r->known != NULL) != (pass == 1))
                continue;
            md_case_packets(j, i, md);
        }
}

/* Blocks that explain differences (same and deviation ones only document). */
static bool block_explains(const struct ref_block *b)
{
    return b->kind == REF_KIND_DIFFERS || b->kind == REF_KIND_PACKETS;
}

static void md_blocks(const struct judge *j, FILE *md)
{
    const struct ref_known *k = j->in->known;
    unsigned unused = 0;
    for (unsigned i = 0; i < k->n; i++)
        unused += k->b[i].used == 0 && block_explains(&k->b[i]) &&
                  (k->b[i].targets & (1u << j->in->judged)) && (k->b[i].kernels & j->in->kernel);
    if (unused == 0)
        return;
    fprintf(md, "## Known differences that explained nothing here\n\n");
    fprintf(md, "Blocks for %s on this kernel that no difference of this run needed (a filtered "
                "run, or a difference that is gone):\n\n",
            j->tname);
    for (unsigned i = 0; i < k->n; i++) {
        const struct ref_block *b = &k->b[i];
        if (b->used == 0 && block_explains(b) && (b->targets & (1u << j->in->judged)) &&
            (b->kernels & j->in->kernel))
            fprintf(md, "- %s:%u (%s%s)\n", k->path, b->line, b->cases[0],
                    b->ncases > 1 ? ", ..." : "");
    }
    fprintf(md, "\n");
}

/* Skip reasons with their counts, the sim seed prefix taken out. */
static void md_skips(const struct judge *j, FILE *md)
{
    fprintf(md, "## Skips\n\n");
    for (int t = 0; t < REF_NTARGETS; t++) {
        const struct ref_report *r = j->in->rep[t];
        if (r == NULL)
            continue;
        fprintf(md, "- %s: %u skipped\n", ref_target_name(t), count_verdict(j, t, "skipped"));
        bool *done = calloc(r->n ? r->n : 1, sizeof(*done));
        if (done == NULL)
            return;
        for (size_t a = 0; a < r->n; a++) {
            if (done[a] || strcmp(r->cases[a].verdict, "skipped") != 0)
                continue;
            /* "X applies to ..., not to target T": the same reason for every X */
            const char *ra = strstr(r->cases[a].reason, " applies to ");
            unsigned n = 0;
            for (size_t b = a; b < r->n; b++) {
                if (strcmp(r->cases[b].verdict, "skipped") != 0)
                    continue;
                const char *rb = strstr(r->cases[b].reason, " applies to ");
                bool same = ra != NULL && rb != NULL ? strcmp(ra, rb) == 0
                                                     : strcmp(r->cases[a].reason, r->cases[b].reason) == 0;
                if (same)
                    done[b] = true, n++;
            }
            fprintf(md, "  - %u × ", n);
            if (ra != NULL)
                fprintf(md, "the case%s\n", ra);
            else
                fprintf(md, "%s\n", r->cases[a].reason);
        }
        free(done);
    }
    fprintf(md, "\n");
}

static void tsv_out(const struct judge *j, FILE *tsv)
{
    fprintf(tsv, "case\tsim\tkernel\tguest\tagree\tsim_reason\tkernel_reason\tguest_reason\t"
                 "%s_verdict_explanation\t%s_packets\tsim_seeds_differing\tfirst_diff\t"
                 "sim_first_diff_packet\t%s_first_diff_packet\n",
            j->tname, j->tname, j->tname);
    for (size_t i = 0; i < j->n; i++) {
        const char *name = j->names[i];
        fprintf(tsv, "%s", name);
        for (int t = 0; t < REF_NTARGETS; t++)
            fprintf(tsv, "\t%s", verdict_of(j->in->rep[t], name));
        fprintf(tsv, "\t%s", agree(j, i) ? "yes" : "no");
        for (int t = 0; t < REF_NTARGETS; t++) {
            const struct ref_case *c = j->in->rep[t] != NULL ? ref_report_find(j->in->rep[t], name) : NULL;
            fprintf(tsv, "\t%s", c != NULL ? c->reason : "");
        }
        fprintf(tsv, "\t%s", j->vkind[i] != NULL ? j->vkind[i] : "-");
        const struct pkt_result *r = &j->pr[i];
        char seeds[128] = "-", conn[512] = "-", pa[300] = "-", pb[300] = "-", what[280];
        const char *st = "-";
        switch (r->st) {
        case PR_NONE: break;
        case PR_SAME: st = "same"; break;
        case PR_INCOMPARABLE:
        case PR_ERROR:
            st = "incomparable";
            snprintf(conn, sizeof(conn), "%s", r->why);
            break;
        case PR_DIFFERS:
            st = r->known != NULL ? "known" : "UNEXPLAINED";
            seeds_text(r, seeds, sizeof(seeds));
            conn_text(&r->sd[0].d[0], j->tname, conn, sizeof(conn) - 200);
            diff_what(&r->sd[0].d[0], what, sizeof(what));
            strncat(conn, ", ", sizeof(conn) - strlen(conn) - 1);
            strncat(conn, what, sizeof(conn) - strlen(conn) - 1);
            pkt_text(r->sd[0].d[0].has_a, &r->sd[0].d[0].pa, r->sd[0].d[0].ia, pa, sizeof(pa));
            pkt_text(r->sd[0].d[0].has_b, &r->sd[0].d[0].pb, r->sd[0].d[0].ib, pb, sizeof(pb));
            break;
        }
        fprintf(tsv, "\t%s\t%s\t%s\t%s\t%s\n", st, seeds, conn, pa, pb);
    }
}

int ref_judge(const struct ref_inputs *in, FILE *md, FILE *tsv, FILE *note, struct ref_summary *s,
              char *err, size_t errlen)
{
    if (in->rep[REF_SIM] == NULL || in->rep[in->judged] == NULL ||
        (in->judged != REF_KERNEL && in->judged != REF_GUEST) ||
        (in->kernel != REF_K61 && in->kernel != REF_K612)) {
        snprintf(err, errlen, "the referee needs the sim report, the judged target's report "
                              "(kernel or guest) and a kernel (6.1 or 6.12)");
        return -1;
    }
    if (check_profiles(in, err, errlen) < 0)
        return -1;
    struct judge j;
    memset(&j, 0, sizeof(j));
    j.in = in;
    j.tname = ref_target_name(in->judged);
    int rc = collect_names(&j);
    if (rc == 0) {
        j.pr = calloc(j.n ? j.n : 1, sizeof(*j.pr));
        j.vkind = calloc(j.n ? j.n : 1, sizeof(*j.vkind));
        if (j.pr == NULL || j.vkind == NULL)
            rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < j.n; i++) {
        j.s.cases++;
        j.s.agree += agree(&j, i);
        judge_verdict(&j, i, note);
        judge_packets(&j, i, note);
        if (j.pr[i].st == PR_ERROR)
            rc = -1;
    }
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    if (rc == 0 && md != NULL) {
        md_header(&j, md);
        md_verdicts(&j, md);
        md_packets(&j, md);
        md_blocks(&j, md);
        md_skips(&j, md);
    }
    if (rc == 0 && tsv != NULL)
        tsv_out(&j, tsv);
    if (s != NULL)
        *s = j.s;
    for (size_t i = 0; i < j.n; i++) {
        if (j.pr != NULL)
            pr_free(&j.pr[i]);
        if (j.vkind != NULL)
            free(j.vkind[i]);
    }
    free(j.pr);
    free(j.vkind);
    free(j.names);
    if (rc < 0)
        return -1;
    return j.s.verdict_unexplained + j.s.pkt_unexplained > 0 ? 1 : 0;
}
