/*
 * The requirement matrix: the reader of requirements.txt, the cases of the
 * registry (conf_cases) and the scripts (through the script parser,
 * script.c), the cross-check, and the text, Markdown and TSV reports.
 */
#include "conformance/matrix.h"

#include "conformance/conf.h"
#include "conformance/script.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(MX_T_SIM == CONF_SIM && MX_T_KERNEL == CONF_KERNEL &&
                   MX_T_GUEST == CONF_GUEST_TARGET && MX_T_ALL == CONF_ALL,
               "the matrix's target bits are conf.h's");

#define MX_MAX_FILE (64u << 20) /* larger inputs are refused */
#define MX_MAX_ID 31

/* ---- small helpers ---------------------------------------------------------- */

static char *dup_n(struct matrix *m, const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) {
        m->oom = true;
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static char *dup_s(struct matrix *m, const char *s)
{
    return dup_n(m, s, strlen(s));
}

/* Makes room for element n of an array of *cap elements of size sz: returns
 * the (possibly moved) array, or NULL (arr untouched) when memory runs out. */
static void *grow(struct matrix *m, void *arr, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / sz) {
        m->oom = true;
        return NULL;
    }
    void *p = realloc(arr, ncap * sz);
    if (!p) {
        m->oom = true;
        return NULL;
    }
    *cap = ncap;
    return p;
}

__attribute__((format(printf, 5, 6)))
static void diag(struct matrix *m, enum mx_dkind k, const char *file, unsigned line,
                 const char *fmt, ...)
{
    va_list ap;
    char small[256];

    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *msg = malloc((size_t)n + 1);
    if (!msg) {
        m->oom = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        memcpy(msg, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    char *f = dup_s(m, file ? file : "");
    struct mx_diag *v = f ? grow(m, m->diags, &m->capdiags, m->ndiags, sizeof *v) : NULL;
    if (!v) {
        free(f);
        free(msg);
        return;
    }
    m->diags = v;
    m->diags[m->ndiags++] = (struct mx_diag){.kind = k, .file = f, .line = line, .msg = msg};
}

/* Reads a whole file; NULL (with a diagnostic) when it cannot. */
static char *slurp(struct matrix *m, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag(m, MX_D_IO, path, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        m->oom = true;
        fclose(f);
        return NULL;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= MX_MAX_FILE) {
                diag(m, MX_D_IO, path, 0, "larger than %u bytes", MX_MAX_FILE);
                free(buf);
                fclose(f);
                return NULL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                m->oom = true;
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        diag(m, MX_D_IO, path, 0, "read error");
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Trims blanks around [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n && is_blank(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_blank((*s)[*n - 1]))
        (*n)--;
}

static bool eq_n(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static bool eq_n_nocase(const char *s, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)s[i]) != tolower((unsigned char)lit[i]))
            return false;
    return true;
}

/* Copies at most cap-1 bytes of [s, s+n) for a message, marking a cut. */
static const char *clip(char *buf, size_t cap, const char *s, size_t n)
{
    size_t k = n < cap - 4 ? n : cap - 4;
    memcpy(buf, s, k);
    if (k < n)
        memcpy(buf + k, "...", 4);
    else
        buf[k] = '\0';
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return buf;
}

/* ---- names ------------------------------------------------------------------- */

static const char *const level_names[MX_NLEVELS] = {
    "MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY", "INFO",
};
static const char *const who_names[] = {"driver", "device", "both", "general"};

const char *mx_level_name(enum mx_level l)
{
    return (unsigned)l < MX_NLEVELS ? level_names[l] : "?";
}

const char *mx_who_name(enum mx_who w)
{
    return (unsigned)w < sizeof who_names / sizeof who_names[0] ? who_names[w] : "?";
}

bool mx_dkind_is_error(enum mx_dkind k)
{
    return k != MX_D_WEAK && k != MX_D_NOTE;
}

static bool normative(enum mx_level l)
{
    return l != MX_INFO;
}

static bool mandatory(enum mx_level l)
{
    return l == MX_MUST || l == MX_MUST_NOT;
}

/* ID: upper-case letters and digits in two or more dash-separated parts,
 * the first starting with a letter. */
static bool valid_id(const char *s, size_t n)
{
    if (n == 0 || n > MX_MAX_ID || !isupper((unsigned char)s[0]))
        return false;
    size_t parts = 1, partlen = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '-') {
            if (partlen == 0)
                return false;
            parts++;
            partlen = 0;
        } else if (isupper(c) || isdigit(c)) {
            partlen++;
        } else {
            return false;
        }
    }
    return parts >= 2 && partlen > 0;
}

/* ---- lifetime ------------------------------------------------------------------ */

void mx_init(struct matrix *m)
{
    memset(m, 0, sizeof *m);
}

static void free_user(struct mx_user *u)
{
    for (size_t j = 0; j < u->nrefs; j++)
        free(u->refs[j].id);
    free(u->refs);
    free(u->name);
    free(u->descr);
    free(u->file);
}

void mx_free(struct matrix *m)
{
    for (size_t i = 0; i < m->nreqs; i++) {
        struct mx_req *r = &m->reqs[i];
        free(r->id);
        free(r->section);
        free(r->title);
        free(r->text);
        free(r->na);
        free(r->file);
    }
    for (size_t i = 0; i < m->nusers; i++)
        free_user(&m->users[i]);
    for (size_t i = 0; i < m->ndiags; i++) {
        free(m->diags[i].file);
        free(m->diags[i].msg);
    }
    free(m->reqs);
    free(m->users);
    free(m->diags);
    mx_init(m);
}

const struct mx_req *mx_find(const struct matrix *m, const char *id)
{
    for (size_t i = 0; i < m->nreqs; i++)
        if (strcmp(m->reqs[i].id, id) == 0)
            return &m->reqs[i];
    return NULL;
}

static const struct mx_req *find_n(const struct matrix *m, const char *id, size_t n)
{
    for (size_t i = 0; i < m->nreqs; i++)
        if (eq_n(id, n, m->reqs[i].id))
            return &m->reqs[i];
    return NULL;
}

/* ---- requirements.txt ------------------------------------------------------------ */

static bool parse_level(const char *s, size_t n, enum mx_level *out)
{
    char buf[16];
    size_t k = 0;
    bool space = false;

    for (size_t i = 0; i < n; i++) {
        if (is_blank(s[i])) {
            space = true;
            continue;
        }
        if (space && k) {
            if (k + 1 >= sizeof buf)
                return false;
            buf[k++] = ' ';
        }
        space = false;
        if (k + 1 >= sizeof buf)
            return false;
        buf[k++] = s[i];
    }
    buf[k] = '\0';
    for (int l = 0; l < MX_NLEVELS; l++)
        if (strcmp(buf, level_names[l]) == 0) {
            *out = (enum mx_level)l;
            return true;
        }
    return false;
}

static bool parse_who(const char *s, size_t n, enum mx_who *out)
{
    for (size_t w = 0; w < sizeof who_names / sizeof who_names[0]; w++)
        if (eq_n(s, n, who_names[w])) {
            *out = (enum mx_who)w;
            return true;
        }
    return false;
}

/* "5.10.6.3.1 Title": *numlen = length of the number, title after blanks. */
static bool parse_section(const char *s, size_t n, size_t *numlen, const char **title,
                          size_t *titlelen)
{
    size_t i = 0;
    for (;;) {
        size_t d = 0;
        while (i < n && isdigit((unsigned char)s[i]) && d < 6) {
            i++;
            d++;
        }
        if (d == 0 || (i < n && isdigit((unsigned char)s[i])))
            return false;
        if (i < n && s[i] == '.') {
            i++;
            continue;
        }
        break;
    }
    *numlen = i;
    if (i == n || !is_blank(s[i]))
        return false;
    *title = s + i;
    *titlelen = n - i;
    trim(title, titlelen);
    return *titlelen > 0;
}

static bool push_req(struct matrix *m, const struct mx_req *r)
{
    struct mx_req *v = NULL;
    if (r->id && r->section && r->title && r->text && r->file)
        v = grow(m, m->reqs, &m->capreqs, m->nreqs, sizeof *v);
    if (!v) {
        free(r->id);
        free(r->section);
        free(r->title);
        free(r->text);
        free(r->na);
        free(r->file);
        return false;
    }
    m->reqs = v;
    m->reqs[m->nreqs++] = *r;
    return true;
}

/* A malformed line whose ID is readable: the ID is known (so cases naming it
 * do not fail too), nothing else of the line is used. */
static void add_bad_req(struct matrix *m, const char *file, unsigned line, const char *id,
                        size_t idn)
{
    if (!valid_id(id, idn) || find_n(m, id, idn))
        return;
    struct mx_req r = {
        .id = dup_n(m, id, idn),
        .level = MX_INFO,
        .section = dup_s(m, "0"),
        .title = dup_s(m, ""),
        .text = dup_s(m, ""),
        .file = dup_s(m, file),
        .line = line,
        .bad = true,
    };
    push_req(m, &r);
}

static void add_req_line(struct matrix *m, const char *file, unsigned line, const char *s,
                         size_t n)
{
    static const char *const field_names[] = {"ID", "LEVEL", "WHO", "SECTION", "TEXT", "n/a"};
    const char *f[6];
    size_t fl[6];
    size_t nf = 0;
    const char *start = s;
    char b1[48], b2[48];

    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '|') {
            if (nf < 6) {
                f[nf] = start;
                fl[nf] = (size_t)(s + i - start);
                trim(&f[nf], &fl[nf]);
            }
            nf++;
            start = s + i + 1;
        }
    }
    if (nf < 5 || nf > 6) {
        diag(m, MX_D_REQ_SYNTAX, file, line,
             "expected 5 fields 'ID | LEVEL | WHO | SECTION | TEXT' (and optionally "
             "'| n/a: REASON'), found %zu",
             nf);
        add_bad_req(m, file, line, f[0], fl[0]);
        return;
    }
    for (size_t i = 0; i < nf; i++)
        if (fl[i] == 0) {
            diag(m, MX_D_REQ_SYNTAX, file, line, "empty %s field", field_names[i]);
            add_bad_req(m, file, line, f[0], fl[0]);
            return;
        }
    if (!valid_id(f[0], fl[0])) {
        diag(m, MX_D_REQ_SYNTAX, file, line,
             "malformed ID '%s' (upper-case letters and digits in dash-separated parts, "
             "e.g. VS-04, at most %d characters)",
             clip(b1, sizeof b1, f[0], fl[0]), MX_MAX_ID);
        return;
    }
    const struct mx_req *prev = find_n(m, f[0], fl[0]);
    if (prev) {
        diag(m, MX_D_REQ_DUP, file, line, "duplicate requirement ID '%s' (first defined at %s:%u)",
             prev->id, prev->file, prev->line);
        return;
    }

    enum mx_level level = MX_INFO;
    enum mx_who who = MX_GENERAL;
    size_t numlen = 0, titlelen = 0;
    const char *title = NULL;
    bool ok = true;
    clip(b2, sizeof b2, f[0], fl[0]);
    if (!parse_level(f[1], fl[1], &level)) {
        diag(m, MX_D_REQ_SYNTAX, file, line,
             "%s: unknown level '%s' (MUST, MUST NOT, SHOULD, SHOULD NOT, MAY or INFO)", b2,
             clip(b1, sizeof b1, f[1], fl[1]));
        ok = false;
    }
    if (!parse_who(f[2], fl[2], &who)) {
        diag(m, MX_D_REQ_SYNTAX, file, line,
             "%s: unknown WHO '%s' (driver, device, both or general)", b2,
             clip(b1, sizeof b1, f[2], fl[2]));
        ok = false;
    }
    if (!parse_section(f[3], fl[3], &numlen, &title, &titlelen)) {
        diag(m, MX_D_REQ_SYNTAX, file, line,
             "%s: SECTION '%s' is not a section number and a title (e.g. "
             "'5.10.6.3.1 Buffer Space Management')",
             b2, clip(b1, sizeof b1, f[3], fl[3]));
        ok = false;
    }
    const char *na = NULL;
    size_t nalen = 0;
    if (nf == 6) {
        if (fl[5] < 4 || !eq_n_nocase(f[5], 4, "n/a:")) {
            diag(m, MX_D_REQ_SYNTAX, file, line, "%s: the sixth field must be 'n/a: REASON', not '%s'",
                 b2, clip(b1, sizeof b1, f[5], fl[5]));
            ok = false;
        } else {
            na = f[5] + 4;
            nalen = fl[5] - 4;
            trim(&na, &nalen);
            if (nalen == 0) {
                diag(m, MX_D_REQ_SYNTAX, file, line, "%s: 'n/a:' without a reason", b2);
                ok = false;
            }
        }
    }
    if (!ok) {
        add_bad_req(m, file, line, f[0], fl[0]);
        return;
    }
    struct mx_req r = {
        .id = dup_n(m, f[0], fl[0]),
        .level = level,
        .who = who,
        .section = dup_n(m, f[3], numlen),
        .title = dup_n(m, title, titlelen),
        .text = dup_n(m, f[4], fl[4]),
        .na = na ? dup_n(m, na, nalen) : NULL,
        .file = dup_s(m, file),
        .line = line,
    };
    if (na && !r.na) {
        r.na = NULL;
        free(r.id);
        r.id = NULL; /* push_req frees the rest */
    }
    push_req(m, &r);
}

/* Calls fn for each line (without its newline and a trailing CR). */
static void each_line(struct matrix *m, const char *path, const char *buf, size_t len,
                      void (*fn)(struct matrix *, const char *, unsigned, const char *, size_t))
{
    unsigned line = 0;
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && buf[e] != '\n')
            e++;
        line++;
        size_t n = e - i;
        if (n && buf[i + n - 1] == '\r')
            n--;
        if (memchr(buf + i, '\0', n))
            diag(m, MX_D_IO, path, line, "line contains a NUL byte");
        else
            fn(m, path, line, buf + i, n);
        i = e + 1;
    }
}

static void req_line(struct matrix *m, const char *path, unsigned line, const char *s, size_t n)
{
    trim(&s, &n);
    if (n == 0 || s[0] == '#')
        return;
    add_req_line(m, path, line, s, n);
}

int mx_read_requirements(struct matrix *m, const char *path)
{
    size_t len;
    char *buf = slurp(m, path, &len);
    if (!buf)
        return -1;
    each_line(m, path, buf, len, req_line);
    free(buf);
    return 0;
}

/* ---- users (cases and scripts) ---------------------------------------------------- */

/* Appends the IDs in [s, s+n), separated by blanks or commas, to u. */
static bool add_refs(struct matrix *m, struct mx_user *u, const char *s, size_t n,
                     unsigned line)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_blank(s[i]) || s[i] == ',' || s[i] == '\n'))
            i++;
        size_t b = i;
        while (i < n && !is_blank(s[i]) && s[i] != ',' && s[i] != '\n')
            i++;
        if (i == b)
            continue;
        char *id = dup_n(m, s + b, i - b);
        struct mx_ref *v = id ? grow(m, u->refs, &u->caprefs, u->nrefs, sizeof *v) : NULL;
        if (!v) {
            free(id);
            return false;
        }
        u->refs = v;
        u->refs[u->nrefs++] = (struct mx_ref){.id = id, .line = line};
    }
    return true;
}

static void add_user(struct matrix *m, struct mx_user *u)
{
    struct mx_user *v = grow(m, m->users, &m->capusers, m->nusers, sizeof *v);
    if (!v) {
        free_user(u);
        return;
    }
    m->users = v;
    m->users[m->nusers++] = *u;
}

/* ---- cases from the registry ------------------------------------------------------ */

/* The fields a case needs before it can stand in the matrix; false with an
 * error at the case's file and line. */
static bool case_well_formed(struct matrix *m, const struct conf_case *k)
{
    const char *file = k->file ? k->file : "(unknown file)";
    if (!k->name || !*k->name) {
        diag(m, MX_D_CASE, file, k->line, "a case without a name");
        return false;
    }
    if (!k->descr || !*k->descr) {
        diag(m, MX_D_CASE, file, k->line, "case '%s' has no description", k->name);
        return false;
    }
    if (k->targets == 0 || (k->targets & ~MX_T_ALL) != 0) {
        diag(m, MX_D_CASE, file, k->line,
             "case '%s': bad targets 0x%x (CONF_SIM, CONF_KERNEL, CONF_GUEST_TARGET, joined by |)",
             k->name, k->targets);
        return false;
    }
    for (size_t i = 0; i < m->nusers; i++) {
        const struct mx_user *u = &m->users[i];
        if (u->kind == MX_CASE && strcmp(u->name, k->name) == 0) {
            diag(m, MX_D_CASE, file, k->line, "case name '%s' also registered at %s:%u", k->name,
                 u->file, u->line);
            return false;
        }
    }
    return true;
}

void mx_add_cases(struct matrix *m, const struct conf_case *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct conf_case *k = v[i];
        if (!k || !case_well_formed(m, k))
            continue;
        const char *reqs = k->reqs ? k->reqs : "";
        struct mx_user u = {
            .kind = MX_CASE,
            .name = dup_s(m, k->name),
            .descr = dup_s(m, k->descr),
            .file = dup_s(m, k->file ? k->file : "(unknown file)"),
            .line = k->line,
            .targets = k->targets,
        };
        if (u.name && u.descr && u.file && add_refs(m, &u, reqs, strlen(reqs), k->line))
            add_user(m, &u);
        else
            free_user(&u);
    }
}

/* ---- packet scripts ----------------------------------------------------------------- */

/* script_load's message is "PATH:LINE: what" for a script that does not
 * parse, "PATH: what" for one that cannot be read: the line, or 0, and where
 * the message proper starts. */
static unsigned script_err_line(const char *err, const char *path, const char **msg)
{
    size_t pn = strlen(path);
    *msg = err;
    if (strncmp(err, path, pn) != 0 || err[pn] != ':')
        return 0;
    const char *p = err + pn + 1;
    char *end;
    unsigned long line = strtoul(p, &end, 10);
    if (end == p || *end != ':' || line == 0 || line > UINT32_MAX) {
        *msg = p + strspn(p, " ");
        return 0;
    }
    *msg = end + 1 + strspn(end + 1, " ");
    return (unsigned)line;
}

int mx_read_script(struct matrix *m, const char *path)
{
    char err[512];
    struct script *s = script_load(path, err, sizeof err);
    if (!s) {
        const char *msg;
        unsigned line = script_err_line(err, path, &msg);
        diag(m, line ? MX_D_SCRIPT_SYNTAX : MX_D_IO, path, line, "%s", msg);
        return line ? 0 : -1;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t bn = strlen(base);
    if (bn > 4 && strcmp(base + bn - 4, ".pkt") == 0)
        bn -= 4;
    const char *covers = script_covers(s);
    struct mx_user u = {
        .kind = MX_SCRIPT,
        .name = dup_n(m, base, bn),
        .descr = dup_s(m, script_descr(s)),
        .file = dup_s(m, path),
        .line = 1,
        .targets = script_targets(s) & MX_T_ALL,
    };
    /* The script names its IDs on '# covers:' lines anywhere in it; a
     * problem with one is reported for the whole file. */
    if (u.name && u.descr && u.file && add_refs(m, &u, covers, strlen(covers), 0))
        add_user(m, &u);
    else
        free_user(&u);
    script_free(s);
    return 0;
}

/* ---- the tree ------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(struct matrix *m, const char *root, const char *rel)
{
    if (strcmp(root, ".") == 0)
        return dup_s(m, rel);
    size_t a = strlen(root), b = strlen(rel);
    while (a > 1 && root[a - 1] == '/')
        a--;
    char *p = malloc(a + 1 + b + 1);
    if (!p) {
        m->oom = true;
        return NULL;
    }
    memcpy(p, root, a);
    p[a] = '/';
    memcpy(p + a + 1, rel, b + 1);
    return p;
}

/* Names in dir (relative path reldir under root) with the suffix, sorted, as
 * paths. *n = 0 and NULL when the directory is missing. */
static char **list_dir(struct matrix *m, const char *root, const char *reldir,
                       const char *suffix, size_t *n)
{
    *n = 0;
    char *dpath = join(m, root, reldir);
    if (!dpath)
        return NULL;
    DIR *d = opendir(dpath);
    if (!d) {
        if (errno != ENOENT)
            diag(m, MX_D_IO, dpath, 0, "cannot open directory: %s", strerror(errno));
        free(dpath);
        return NULL;
    }
    char **v = NULL;
    size_t cap = 0;
    struct dirent *e;
    size_t sl = strlen(suffix);
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < sl + 1 || strcmp(e->d_name + nl - sl, suffix) != 0)
            continue;
        char **nv = grow(m, v, &cap, *n, sizeof *v);
        if (!nv)
            break;
        v = nv;
        size_t dl = strlen(reldir);
        char *rel = malloc(dl + 1 + nl + 1);
        if (!rel) {
            m->oom = true;
            break;
        }
        memcpy(rel, reldir, dl);
        rel[dl] = '/';
        memcpy(rel + dl + 1, e->d_name, nl + 1);
        char *full = join(m, root, rel);
        free(rel);
        if (!full)
            break;
        v[(*n)++] = full;
    }
    closedir(d);
    free(dpath);
    if (*n)
        qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

int mx_read_tree(struct matrix *m, const char *root, const struct conf_case *const *cases,
                 size_t ncases)
{
    char *req = join(m, root, "conformance/requirements.txt");
    if (!req)
        return -1;
    int rc = mx_read_requirements(m, req);
    free(req);
    mx_add_cases(m, cases, ncases);
    size_t n;
    char **v = list_dir(m, root, "conformance/scripts", ".pkt", &n);
    for (size_t i = 0; i < n; i++) {
        if (mx_read_script(m, v[i]) < 0)
            rc = -1;
        free(v[i]);
    }
    free(v);
    return rc;
}

/* ---- the cross-check --------------------------------------------------------------- */

unsigned mx_coverage(const struct matrix *m, const struct mx_req *r, size_t *nusers)
{
    unsigned t = 0;
    size_t k = 0;
    for (size_t i = 0; i < m->nusers; i++) {
        const struct mx_user *u = &m->users[i];
        for (size_t j = 0; j < u->nrefs; j++)
            if (strcmp(u->refs[j].id, r->id) == 0) {
                t |= u->targets;
                k++;
                break;
            }
    }
    if (nusers)
        *nusers = k;
    return t;
}

static const char *kind_name(enum mx_kind k)
{
    return k == MX_CASE ? "case" : "script";
}

void mx_check(struct matrix *m)
{
    if (m->checked)
        return;
    m->checked = true;

    for (size_t i = 0; i < m->nusers; i++) {
        const struct mx_user *u = &m->users[i];
        if (u->nrefs == 0)
            diag(m, MX_D_NOTE, u->file, u->line, "%s '%s' names no requirement", kind_name(u->kind),
                 u->name);
        for (size_t j = 0; j < u->nrefs; j++) {
            const struct mx_ref *f = &u->refs[j];
            const struct mx_req *r = mx_find(m, f->id);
            if (!r) {
                diag(m, MX_D_UNKNOWN_ID, u->file, f->line,
                     "%s '%s' names unknown requirement '%s'", kind_name(u->kind), u->name, f->id);
                continue;
            }
            for (size_t k = 0; k < j; k++)
                if (strcmp(u->refs[k].id, f->id) == 0) {
                    diag(m, MX_D_NOTE, u->file, f->line, "%s '%s' names '%s' twice",
                         kind_name(u->kind), u->name, f->id);
                    break;
                }
            if (r->na)
                diag(m, MX_D_NOTE, u->file, f->line,
                     "%s '%s' names %s, which requirements.txt marks n/a (%s)", kind_name(u->kind),
                     u->name, r->id, r->na);
        }
    }
    for (size_t i = 0; i < m->nreqs; i++) {
        const struct mx_req *r = &m->reqs[i];
        if (r->bad || r->na || !normative(r->level))
            continue;
        size_t k;
        mx_coverage(m, r, &k);
        if (k)
            continue;
        diag(m, mandatory(r->level) ? MX_D_UNCOVERED : MX_D_WEAK, r->file, r->line,
             "%s (%s, %s, %s %s) is checked by no case or script", r->id,
             mx_level_name(r->level), mx_who_name(r->who), r->section, r->title);
    }
}

size_t mx_count(const struct matrix *m, enum mx_dkind k)
{
    size_t n = 0;
    for (size_t i = 0; i < m->ndiags; i++)
        n += m->diags[i].kind == k;
    return n;
}

size_t mx_errors(const struct matrix *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->ndiags; i++)
        n += mx_dkind_is_error(m->diags[i].kind);
    return n + (m->oom ? 1 : 0);
}

void mx_print_diags(const struct matrix *m, FILE *out, unsigned kinds)
{
    for (size_t i = 0; i < m->ndiags; i++) {
        const struct mx_diag *d = &m->diags[i];
        if (!(kinds & (1u << d->kind)))
            continue;
        if (d->line)
            fprintf(out, "%s:%u: %s: %s\n", d->file, d->line,
                    mx_dkind_is_error(d->kind) ? "error" : "warning", d->msg);
        else
            fprintf(out, "%s: %s: %s\n", d->file,
                    mx_dkind_is_error(d->kind) ? "error" : "warning", d->msg);
    }
    if (m->oom)
        fprintf(out, "error: out of memory: the matrix is incomplete\n");
}

/* ---- statistics ------------------------------------------------------------------------ */

struct counts {
    unsigned total, checked, na;
};

/* Compares dotted section numbers numerically. */
static int cmp_section(const char *a, const char *b)
{
    for (;;) {
        unsigned long x = strtoul(a, NULL, 10), y = strtoul(b, NULL, 10);
        if (x != y)
            return x < y ? -1 : 1;
        a = strchr(a, '.');
        b = strchr(b, '.');
        if (!a || !b)
            return (a != NULL) - (b != NULL);
        a++;
        b++;
    }
}

static int cmp_req_section(const void *pa, const void *pb)
{
    const struct mx_req *a = *(const struct mx_req *const *)pa;
    const struct mx_req *b = *(const struct mx_req *const *)pb;
    int c = cmp_section(a->section, b->section);
    if (c)
        return c;
    return a < b ? -1 : a > b; /* file order within a section */
}

/* The good requirements ordered by section; NULL when there are none. */
static const struct mx_req **by_section(const struct matrix *m, size_t *n)
{
    *n = 0;
    if (!m->nreqs)
        return NULL;
    const struct mx_req **v = malloc(m->nreqs * sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < m->nreqs; i++)
        if (!m->reqs[i].bad)
            v[(*n)++] = &m->reqs[i];
    qsort(v, *n, sizeof *v, cmp_req_section);
    return v;
}

static void level_counts(const struct matrix *m, struct counts c[MX_NLEVELS])
{
    memset(c, 0, MX_NLEVELS * sizeof *c);
    for (size_t i = 0; i < m->nreqs; i++) {
        const struct mx_req *r = &m->reqs[i];
        if (r->bad)
            continue;
        if (r->na) {
            c[r->level].na++;
            continue;
        }
        size_t k;
        mx_coverage(m, r, &k);
        c[r->level].total++;
        c[r->level].checked += k > 0;
    }
}

static unsigned pct10(unsigned a, unsigned b)
{
    return b ? (unsigned)((a * 1000ull + b / 2) / b) : 0;
}

static void targets_letters(unsigned t, char out[4])
{
    out[0] = (t & MX_T_SIM) ? 's' : '-';
    out[1] = (t & MX_T_KERNEL) ? 'k' : '-';
    out[2] = (t & MX_T_GUEST) ? 'g' : '-';
    out[3] = '\0';
}

static void targets_words(unsigned t, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s%s", (t & MX_T_SIM) ? "sim " : "", (t & MX_T_KERNEL) ? "kernel " : "",
             (t & MX_T_GUEST) ? "guest " : "", t ? "" : "none ");
    size_t n = strlen(out);
    if (n)
        out[n - 1] = '\0';
}

/* ---- text ------------------------------------------------------------------------------ */

static void print_users(const struct matrix *m, const struct mx_req *r, FILE *out,
                        const char *sep, bool md)
{
    bool first = true;
    char tw[32];
    for (size_t i = 0; i < m->nusers; i++) {
        const struct mx_user *u = &m->users[i];
        for (size_t j = 0; j < u->nrefs; j++)
            if (strcmp(u->refs[j].id, r->id) == 0) {
                targets_words(u->targets, tw, sizeof tw);
                if (md)
                    fprintf(out, "%s`%s%s` (%s)", first ? "" : sep,
                            u->kind == MX_SCRIPT ? "scripts/" : "", u->name, tw);
                else
                    fprintf(out, "%s%s%s [%s]", first ? "" : sep,
                            u->kind == MX_SCRIPT ? "script " : "", u->name, tw);
                first = false;
                break;
            }
    }
    if (first)
        fputs("-", out);
}

static size_t count_kind(const struct matrix *m, enum mx_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nusers; i++)
        n += m->users[i].kind == k;
    return n;
}

void mx_print_summary(const struct matrix *m, FILE *out)
{
    struct counts c[MX_NLEVELS];
    level_counts(m, c);

    size_t ns;
    const struct mx_req **v = by_section(m, &ns);
    fprintf(out, "Coverage by section (checked/total; n/a rows are not counted)\n");
    fprintf(out, "  %-11s %-49s %-11s %s\n", "SECTION", "TITLE", "NORMATIVE", "INFO");
    for (size_t i = 0; i < ns;) {
        size_t j = i;
        struct counts nc = {0}, ic = {0};
        for (; j < ns && strcmp(v[j]->section, v[i]->section) == 0; j++) {
            if (v[j]->na) {
                nc.na++;
                continue;
            }
            size_t k;
            mx_coverage(m, v[j], &k);
            struct counts *cc = normative(v[j]->level) ? &nc : &ic;
            cc->total++;
            cc->checked += k > 0;
        }
        char a[24], b[24];
        if (nc.total)
            snprintf(a, sizeof a, "%u/%u", nc.checked, nc.total);
        else
            snprintf(a, sizeof a, "%s", nc.na ? "n/a" : "-");
        if (ic.total)
            snprintf(b, sizeof b, "%u/%u", ic.checked, ic.total);
        else
            snprintf(b, sizeof b, "-");
        fprintf(out, "  %-11s %-49.49s %-11s %s\n", v[i]->section, v[i]->title, a, b);
        i = j;
    }
    free(v);

    fprintf(out, "Coverage by level\n");
    unsigned nt = 0, nch = 0, mt = 0, mch = 0, na = 0;
    for (int l = 0; l < MX_NLEVELS; l++) {
        char cnt[24];
        snprintf(cnt, sizeof cnt, "%u/%u", c[l].checked, c[l].total);
        fprintf(out, "  %-11s %7s", level_names[l], cnt);
        if (c[l].na)
            fprintf(out, "  (+%u n/a)", c[l].na);
        if (l == MX_INFO)
            fprintf(out, "  (descriptive, not counted below)");
        fputc('\n', out);
        na += c[l].na;
        if (l != MX_INFO) {
            nt += c[l].total;
            nch += c[l].checked;
        }
        if (mandatory((enum mx_level)l)) {
            mt += c[l].total;
            mch += c[l].checked;
        }
    }
    unsigned p = pct10(nch, nt), q = pct10(mch, mt);
    fprintf(out, "Overall: %u/%u normative requirements checked (%u.%u%%); MUST and MUST NOT: "
                 "%u/%u (%u.%u%%); %u n/a\n",
            nch, nt, p / 10, p % 10, mch, mt, q / 10, q % 10, na);
    fprintf(out, "Checked by %zu cases and %zu scripts\n", count_kind(m, MX_CASE),
            count_kind(m, MX_SCRIPT));
}

void mx_print_text(const struct matrix *m, FILE *out)
{
    fprintf(out, "Requirement matrix (targets: s = sim, k = kernel, g = guest)\n");
    fprintf(out, "%-7s %-10s %-7s %-11s %-3s %s\n", "ID", "LEVEL", "WHO", "SECTION", "SKG",
            "CHECKED BY");
    for (size_t i = 0; i < m->nreqs; i++) {
        const struct mx_req *r = &m->reqs[i];
        if (r->bad)
            continue;
        char tl[4];
        unsigned t = mx_coverage(m, r, NULL);
        targets_letters(t, tl);
        fprintf(out, "%-7s %-10s %-7s %-11s %-3s ", r->id, level_names[r->level],
                mx_who_name(r->who), r->section, r->na ? "n/a" : tl);
        print_users(m, r, out, ", ", false);
        if (r->na)
            fprintf(out, "  (n/a: %s)", r->na);
        fputc('\n', out);
    }
    fputc('\n', out);
    mx_print_summary(m, out);
}

/* ---- Markdown and TSV ------------------------------------------------------------------- */

static void md_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '<')
            fputs("&lt;", out);
        else if (*s == '>')
            fputs("&gt;", out);
        else if (*s == '*' || *s == '`' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else
            fputc(*s, out);
    }
}

int mx_write_md(const struct matrix *m, FILE *out)
{
    struct counts c[MX_NLEVELS];
    level_counts(m, c);

    fprintf(out, "# vsocksim requirement matrix\n\n");
    fprintf(out, "Generated by `make matrix` from `conformance/requirements.txt`, the `CONF_CASE` "
                 "declarations in `conformance/cases_*.c` and the headers of "
                 "`conformance/scripts/*.pkt`. Requirements marked n/a cannot arise on any "
                 "target of this suite.\n\n");
    fprintf(out, "## Coverage by level\n\n| Level | Checked | Total | n/a |\n|---|---:|---:|---:|\n");
    unsigned nt = 0, nch = 0;
    for (int l = 0; l < MX_NLEVELS; l++) {
        fprintf(out, "| %s | %u | %u | %u |\n", level_names[l], c[l].checked, c[l].total,
                c[l].na);
        if (l != MX_INFO) {
            nt += c[l].total;
            nch += c[l].checked;
        }
    }
    unsigned p = pct10(nch, nt);
    fprintf(out, "\nNormative requirements checked: %u of %u (%u.%u%%), by %zu cases and %zu "
                 "scripts.\n\n",
            nch, nt, p / 10, p % 10, count_kind(m, MX_CASE), count_kind(m, MX_SCRIPT));

    size_t ns;
    const struct mx_req **v = by_section(m, &ns);
    fprintf(out, "## Coverage by section\n\n| Section | Title | Normative | Info |\n"
                 "|---|---|---:|---:|\n");
    for (size_t i = 0; i < ns;) {
        size_t j = i;
        struct counts nc = {0}, ic = {0};
        for (; j < ns && strcmp(v[j]->section, v[i]->section) == 0; j++) {
            if (v[j]->na) {
                nc.na++;
                continue;
            }
            size_t k;
            mx_coverage(m, v[j], &k);
            struct counts *cc = normative(v[j]->level) ? &nc : &ic;
            cc->total++;
            cc->checked += k > 0;
        }
        fprintf(out, "| %s | ", v[i]->section);
        md_text(out, v[i]->title);
        if (nc.total)
            fprintf(out, " | %u/%u", nc.checked, nc.total);
        else
            fprintf(out, " | %s", nc.na ? "n/a" : "-");
        if (ic.total)
            fprintf(out, " | %u/%u |\n", ic.checked, ic.total);
        else
            fprintf(out, " | - |\n");
        i = j;
    }
    free(v);

    fprintf(out, "\n## Requirements\n\n| ID | Level | Who | Section | Requirement | Checked by |\n"
                 "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < m->nreqs; i++) {
        const struct mx_req *r = &m->reqs[i];
        if (r->bad)
            continue;
        fprintf(out, "| %s | %s | %s | %s ", r->id, level_names[r->level], mx_who_name(r->who),
                r->section);
        md_text(out, r->title);
        fputs(" | ", out);
        md_text(out, r->text);
        fputs(" | ", out);
        if (r->na) {
            fputs("n/a: ", out);
            md_text(out, r->na);
        } else {
            print_users(m, r, out, ", ", true);
        }
        fputs(" |\n", out);
    }
    return ferror(out) ? -1 : 0;
}

static void tsv_field(FILE *out, const char *s)
{
    for (; *s; s++)
        fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, out);
}

int mx_write_tsv(const struct matrix *m, FILE *out)
{
    fputs("id\tlevel\twho\tsection\ttitle\tchecked\tsim\tkernel\tguest\tchecked_by\tna\ttext\n",
          out);
    for (size_t i = 0; i < m->nreqs; i++) {
        const struct mx_req *r = &m->reqs[i];
        if (r->bad)
            continue;
        size_t k;
        unsigned t = mx_coverage(m, r, &k);
        fprintf(out, "%s\t%s\t%s\t%s\t", r->id, level_names[r->level], mx_who_name(r->who),
                r->section);
        tsv_field(out, r->title);
        fprintf(out, "\t%s\t%d\t%d\t%d\t", r->na ? "n/a" : k ? "yes" : "no",
                !!(t & MX_T_SIM), !!(t & MX_T_KERNEL), !!(t & MX_T_GUEST));
        bool first = true;
        for (size_t u = 0; u < m->nusers; u++)
            for (size_t j = 0; j < m->users[u].nrefs; j++)
                if (strcmp(m->users[u].refs[j].id, r->id) == 0) {
                    fprintf(out, "%s%s%s", first ? "" : ",",
                            m->users[u].kind == MX_SCRIPT ? "scripts/" : "", m->users[u].name);
                    first = false;
                    break;
                }
        fputc('\t', out);
        tsv_field(out, r->na ? r->na : "");
        fputc('\t', out);
        tsv_field(out, r->text);
        fputc('\n', out);
    }
    return ferror(out) ? -1 : 0;
}
