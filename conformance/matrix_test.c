/*
 * The requirement matrix (conformance/matrix.c): the real tree's
 * requirements.txt, scripts and the cases this program links (the registry,
 * as vsocksim-matrix), then the readers on crafted inputs.
 * every_must_is_covered fails, listing them on stderr, while some MUST or
 * MUST NOT of requirements.txt has no case or script.
 */
#include <atf-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conformance/conf.h"
#include "conformance/matrix.h"

#ifndef VSOCKSIM_SRCDIR
#define VSOCKSIM_SRCDIR "."
#endif

#define MX_TC(name, d)                                                                          \
    ATF_TC(name);                                                                               \
    ATF_TC_HEAD(name, tc)                                                                       \
    {                                                                                           \
        atf_tc_set_md_var(tc, "descr", d);                                                      \
    }

/* ---- helpers ------------------------------------------------------------------------------ */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ATF_REQUIRE_MSG(f != NULL, "cannot create %s", path);
    ATF_REQUIRE(fputs(text, f) >= 0);
    ATF_REQUIRE(fclose(f) == 0);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ATF_REQUIRE_MSG(f != NULL, "cannot create %s", path);
    ATF_REQUIRE(fwrite(p, 1, n, f) == n);
    ATF_REQUIRE(fclose(f) == 0);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    ATF_REQUIRE_MSG(f != NULL, "cannot open %s", path);
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    ATF_REQUIRE(b != NULL);
    for (;;) {
        if (n + 1 == cap) {
            cap *= 2;
            char *nb = realloc(b, cap);
            ATF_REQUIRE(nb != NULL);
            b = nb;
        }
        size_t got = fread(b + n, 1, cap - n - 1, f);
        if (got == 0)
            break;
        n += got;
    }
    b[n] = '\0';
    fclose(f);
    return b;
}

static void body_none(struct conf *c)
{
    (void)c;
}

/* A registry entry as CONF_CASE writes one, in conformance/cases_x.c. */
#define KASE(n, ids, t, d, l)                                                                   \
    {.name = (n), .reqs = (ids), .targets = (t), .caps = 0, .descr = (d), .body = body_none,     \
     .opts = NULL, .file = "conformance/cases_x.c", .line = (l)}

/* The real tree with the registry's cases, as vsocksim-matrix reads it. */
static void read_real_tree(struct matrix *m)
{
    size_t n = conf_cases(NULL, 0);
    const struct conf_case **v = malloc((n ? n : 1) * sizeof(*v));
    ATF_REQUIRE(v != NULL);
    ATF_REQUIRE_EQ(conf_cases(v, n), n);
    ATF_REQUIRE_MSG(n > 0, "no case is linked into this program");
    mx_read_tree(m, VSOCKSIM_SRCDIR, v, n);
    free(v);
}

/* The diagnostics of the given kinds on stderr (Kyua keeps it with the result). */
static void show(const struct matrix *m, unsigned kinds)
{
    mx_print_diags(m, stderr, kinds);
}

/* Is there a diagnostic of kind k at line (0: any line) whose message holds sub? */
static bool has_diag(const struct matrix *m, enum mx_dkind k, unsigned line, const char *sub)
{
    for (size_t i = 0; i < m->ndiags; i++) {
        const struct mx_diag *d = &m->diags[i];
        if (d->kind == k && (line == 0 || d->line == line) && (!sub || strstr(d->msg, sub)))
            return true;
    }
    return false;
}

#define ALL_KINDS ((1u << MX_D_NKINDS) - 1)

#define REQUIRE_DIAG(m, k, line, sub)                                                          \
    do {                                                                                        \
        if (!has_diag(m, k, line, sub)) {                                                      \
            show(m, ALL_KINDS);                                                                 \
            atf_tc_fail("no diagnostic of kind %d at line %u containing '%s'", (int)(k),       \
                        (unsigned)(line), (sub) ? (sub) : "");                                  \
        }                                                                                       \
    } while (0)

#define REQUIRE_COUNT(m, k, n)                                                                  \
    do {                                                                                        \
        size_t got_ = mx_count(m, k);                                                           \
        if (got_ != (size_t)(n)) {                                                              \
            show(m, ALL_KINDS);                                                                 \
            atf_tc_fail("%zu diagnostics of kind %d, expected %zu", got_, (int)(k),            \
                        (size_t)(n));                                                           \
        }                                                                                       \
    } while (0)

static const char REQS[] =
    "# a comment\n"
    "\n"
    "VS-04 | MUST | driver | 5.10.6.3.1 Buffer Space Management | RW only within credit\n"
    "VS-05 | MUST | driver | 5.10.6.3.1 Buffer Space Management | valid buf_alloc, fwd_cnt\n"
    "VS-12 | SHOULD | driver | 5.10.6.7.1 Device Events | refill the event queue quickly\n"
    "VS-S1 | INFO | both | 5.10.6.5 Stream Sockets | REQUEST, RESPONSE or RST\n"
    "SR-02 | MUST | driver | 2.7.2 Legacy | legacy only | n/a: no legacy target\n"
    "SR-07 | MUST | driver | 2.7.4.2 Message Framing | writable after readable\n";

/* ---- the real tree ---------------------------------------------------------------------- */

MX_TC(tree_requirements_well_formed,
      "conformance/requirements.txt parses without error or duplicate, and holds every "
      "ID family with the levels the cases rely on");
ATF_TC_BODY(tree_requirements_well_formed, tc)
{
    struct matrix m;
    mx_init(&m);
    ATF_REQUIRE(mx_read_requirements(&m, VSOCKSIM_SRCDIR "/conformance/requirements.txt") == 0);
    unsigned bad = 1u << MX_D_IO | 1u << MX_D_REQ_SYNTAX | 1u << MX_D_REQ_DUP;
    size_t n = mx_count(&m, MX_D_IO) + mx_count(&m, MX_D_REQ_SYNTAX) +
               mx_count(&m, MX_D_REQ_DUP);
    if (n) {
        show(&m, bad);
        atf_tc_fail("%zu errors in requirements.txt (listed on stderr)", n);
    }
    ATF_REQUIRE(!m.oom);

    /* The fixed families (cases already name them). */
    char id[16];
    for (int i = 1; i <= 15; i++) {
        snprintf(id, sizeof id, "VS-%02d", i);
        ATF_CHECK_MSG(mx_find(&m, id) != NULL, "%s is missing", id);
    }
    for (int i = 1; i <= 53; i++) {
        snprintf(id, sizeof id, "SR-%02d", i);
        ATF_CHECK_MSG(mx_find(&m, id) != NULL, "%s is missing", id);
    }
    for (int i = 1; i <= 5; i++) {
        snprintf(id, sizeof id, "VS-S%d", i);
        ATF_CHECK_MSG(mx_find(&m, id) != NULL, "%s is missing", id);
    }
    for (int i = 1; i <= 2; i++) {
        snprintf(id, sizeof id, "VS-Q%d", i);
        ATF_CHECK_MSG(mx_find(&m, id) != NULL, "%s is missing", id);
    }
    for (int i = 1; i <= 6; i++) {
        snprintf(id, sizeof id, "VS-N%d", i);
        ATF_CHECK_MSG(mx_find(&m, id) != NULL, "%s is missing", id);
    }

    /* Spot checks of levels and sides against the spec. */
    static const struct {
        const char *id;
        enum mx_level level;
        enum mx_who who;
        const char *section;
    } spot[] = {
        {"VS-01", MX_MAY, MX_DEVICE, "5.10.3"},
        {"VS-02", MX_MUST, MX_DRIVER, "5.10.6.1.1"},
        {"VS-03", MX_MUST, MX_DEVICE, "5.10.6.1.2"},
        {"VS-04", MX_MUST, MX_DRIVER, "5.10.6.3.1"},
        {"VS-10", MX_MUST_NOT, MX_DEVICE, "5.10.6.4.2"},
        {"VS-11", MX_MUST, MX_DEVICE, "5.10.6.4.2"},
        {"VS-12", MX_SHOULD, MX_DRIVER, "5.10.6.7.1"},
        {"VS-15", MX_MUST, MX_DRIVER, "5.10.6.7.1"},
        {"VS-S1", MX_INFO, MX_BOTH, "5.10.6.5"},
        {"VS-Q2", MX_INFO, MX_BOTH, "5.10.6.6.1"},
        {"VS-N1", MX_SHOULD, MX_DRIVER, "5.10.3.1"},
        {"VS-N4", MX_SHOULD, MX_DEVICE, "5.10.3.2"},
        {"VS-N6", MX_MAY, MX_DEVICE, "5.10.3.2"},
        {"SR-01", MX_MUST, MX_DRIVER, "2.7.1"},
        {"SR-08", MX_SHOULD_NOT, MX_DRIVER, "2.7.4.2"},
        {"SR-10", MX_SHOULD_NOT, MX_DEVICE, "2.7.5.1"},
        {"SR-12", MX_MUST_NOT, MX_DRIVER, "2.7.5.2"},
        {"SR-20", MX_MUST, MX_DEVICE, "2.7.5.3.2"},
        {"SR-27", MX_MUST, MX_DEVICE, "2.7.8.2"},
        {"SR-30", MX_MUST_NOT, MX_DRIVER, "2.7.8.3"},
        {"SR-36", MX_MUST, MX_DEVICE, "2.7.10.2"},
        {"SR-43", MX_MAY, MX_DRIVER, "2.7.14"},
    };
    for (size_t i = 0; i < sizeof spot / sizeof spot[0]; i++) {
        const struct mx_req *r = mx_find(&m, spot[i].id);
        if (!r)
            continue;
        ATF_CHECK_MSG(r->level == spot[i].level, "%s is %s", r->id, mx_level_name(r->level));
        ATF_CHECK_MSG(r->who == spot[i].who, "%s binds %s", r->id, mx_who_name(r->who));
        ATF_CHECK_MSG(strcmp(r->section, spot[i].section) == 0, "%s is in %s", r->id,
                      r->section);
    }
    mx_free(&m);
}

MX_TC(tree_cases_name_known_ids,
      "every registered case and every script in conformance/scripts is well formed and "
      "names only IDs of requirements.txt");
ATF_TC_BODY(tree_cases_name_known_ids, tc)
{
    struct matrix m;
    mx_init(&m);
    read_real_tree(&m);
    mx_check(&m);
    unsigned bad = 1u << MX_D_IO | 1u << MX_D_REQ_SYNTAX | 1u << MX_D_REQ_DUP |
                   1u << MX_D_CASE | 1u << MX_D_SCRIPT_SYNTAX | 1u << MX_D_UNKNOWN_ID;
    size_t n = 0;
    for (int k = 0; k < MX_D_NKINDS; k++)
        if (bad & (1u << k))
            n += mx_count(&m, (enum mx_dkind)k);
    if (n) {
        show(&m, bad);
        atf_tc_fail("%zu errors in the cases, scripts or requirements (listed on stderr)", n);
    }
    ATF_REQUIRE(!m.oom);
    mx_free(&m);
}

MX_TC(every_must_is_covered,
      "every MUST and MUST NOT of requirements.txt (except n/a) is named by a case or script");
ATF_TC_BODY(every_must_is_covered, tc)
{
    struct matrix m;
    mx_init(&m);
    read_real_tree(&m);
    mx_check(&m);
    size_t n = mx_count(&m, MX_D_UNCOVERED);
    if (n) {
        show(&m, 1u << MX_D_UNCOVERED);
        const char *first = "";
        for (size_t i = 0; i < m.ndiags; i++)
            if (m.diags[i].kind == MX_D_UNCOVERED) {
                first = m.diags[i].msg;
                break;
            }
        char msg[160];
        snprintf(msg, sizeof msg, "%s", first);
        mx_free(&m);
        atf_tc_fail("%zu MUST / MUST NOT requirements are checked by no case or script "
                    "(listed on stderr; first: %s)",
                    n, msg);
    }
    mx_free(&m);
}

/* ---- requirements.txt parser -------------------------------------------------------------- */

MX_TC(req_good_lines, "well-formed lines: fields, blanks, CRLF, levels, n/a, comments");
ATF_TC_BODY(req_good_lines, tc)
{
    write_file("r.txt",
               "# header\n"
               "   # indented comment\n"
               "\n"
               "VS-04 | MUST | driver | 5.10.6.3.1 Buffer Space Management | RW within credit\n"
               "  VS-10|MUST   NOT|device|5.10.6.4.2   Receive and Transmit|no reserved CID  \r\n"
               "SR-08 | SHOULD NOT | driver | 2.7.4.2 Message Framing | few descriptors\n"
               "SR-06 | MAY | device | 2.7.4.1 Message Framing | a chain limit\n"
               "VS-S1 | INFO | both | 5.10.6.5 Stream Sockets | REQUEST\n"
               "VS-I3 | INFO | general | 5.10.4 Device configuration layout | reserved CIDs\n"
               "SR-02 | MUST | driver | 2.7.2 Legacy | legacy | n/a: no legacy target\n"
               "SR-05 | MUST NOT | device | 2.7.4.1 Message Framing | any layout | N/A:  why \n"
               "VS-99 | SHOULD | both | 9 Single | last line without newline");
    struct matrix m;
    mx_init(&m);
    ATF_REQUIRE_EQ(0, mx_read_requirements(&m, "r.txt"));
    if (m.ndiags) {
        show(&m, ALL_KINDS);
        atf_tc_fail("%zu unexpected diagnostics", m.ndiags);
    }
    ATF_REQUIRE_EQ(9, m.nreqs);

    const struct mx_req *r = mx_find(&m, "VS-04");
    ATF_REQUIRE(r);
    ATF_CHECK_EQ(MX_MUST, r->level);
    ATF_CHECK_EQ(MX_DRIVER, r->who);
    ATF_CHECK_STREQ("5.10.6.3.1", r->section);
    ATF_CHECK_STREQ("Buffer Space Management", r->title);
    ATF_CHECK_STREQ("RW within credit", r->text);
    ATF_CHECK_EQ(4, r->line);
    ATF_CHECK(r->na == NULL);

    r = mx_find(&m, "VS-10");
    ATF_REQUIRE(r);
    ATF_CHECK_EQ(MX_MUST_NOT, r->level);
    ATF_CHECK_EQ(MX_DEVICE, r->who);
    ATF_CHECK_STREQ("Receive and Transmit", r->title);
    ATF_CHECK_STREQ("no reserved CID", r->text);
    ATF_CHECK_EQ(5, r->line);

    ATF_CHECK_EQ(MX_SHOULD_NOT, mx_find(&m, "SR-08")->level);
    ATF_CHECK_EQ(MX_MAY, mx_find(&m, "SR-06")->level);
    ATF_CHECK_EQ(MX_INFO, mx_find(&m, "VS-S1")->level);
    ATF_CHECK_EQ(MX_BOTH, mx_find(&m, "VS-S1")->who);
    ATF_CHECK_EQ(MX_GENERAL, mx_find(&m, "VS-I3")->who);
    ATF_CHECK_STREQ("no legacy target", mx_find(&m, "SR-02")->na);
    ATF_CHECK_STREQ("why", mx_find(&m, "SR-05")->na);
    ATF_CHECK_STREQ("9", mx_find(&m, "VS-99")->section);
    ATF_CHECK_EQ(12, mx_find(&m, "VS-99")->line);
    ATF_CHECK(mx_find(&m, "VS-05") == NULL);
    mx_free(&m);
}

MX_TC(req_bad_level, "an unknown level is a file:line error and the line is not used");
ATF_TC_BODY(req_bad_level, tc)
{
    write_file("r.txt",
               "VS-01 | MUST | driver | 1 T | ok\n"
               "VS-02 | must | driver | 1 T | lower case\n"
               "VS-03 | SHALL | driver | 1 T | not a virtio keyword here\n"
               "VS-04 | MUSTNOT | driver | 1 T | glued\n"
               "VS-05 | MUST NOT NEVER | driver | 1 T | extra word\n"
               "VS-06 | RECOMMENDED | driver | 1 T | rfc word\n");
    struct matrix m;
    mx_init(&m);
    ATF_REQUIRE_EQ(0, mx_read_requirements(&m, "r.txt"));
    REQUIRE_COUNT(&m, MX_D_REQ_SYNTAX, 5);
    for (unsigned l = 2; l <= 6; l++)
        REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, l, "unknown level");
    /* The IDs are known (no cascade of unknown-ID errors), but not listed. */
    ATF_REQUIRE(mx_find(&m, "VS-02") != NULL);
    ATF_CHECK(mx_find(&m, "VS-02")->bad);
    ATF_CHECK(!mx_find(&m, "VS-01")->bad);
    mx_check(&m);
    REQUIRE_COUNT(&m, MX_D_UNCOVERED, 1); /* VS-01 only */
    mx_free(&m);
}

MX_TC(req_missing_fields, "missing, empty, extra and malformed fields are file:line errors");
ATF_TC_BODY(req_missing_fields, tc)
{
    write_file("r.txt",
               "VS-01 | MUST | driver | 5.10 Title\n"                    /* 1: 4 fields */
               "VS-02 | MUST | driver | 5.10 Title | text | n/a: x | 7\n" /* 2: 7 fields */
               "VS-03 | MUST | | 5.10 Title | text\n"                     /* 3: empty WHO */
               "VS-04 | MUST | driver | 5.10 Title |  \n"                 /* 4: empty TEXT */
               "vs-05 | MUST | driver | 5.10 Title | text\n"              /* 5: bad ID */
               "VS-06 | MUST | host | 5.10 Title | text\n"                /* 6: bad WHO */
               "VS-07 | MUST | driver | Title only | text\n"              /* 7: no number */
               "VS-08 | MUST | driver | 5.10 | text\n"                    /* 8: no title */
               "VS-09 | MUST | driver | 5..10 T | text\n"                 /* 9: bad number */
               "VS-10 | MUST | driver | 5.10 T | text | because\n"        /* 10: not n/a: */
               "VS-11 | MUST | driver | 5.10 T | text | n/a:\n"           /* 11: no reason */
               "| MUST | driver | 5.10 T | text\n"                        /* 12: empty ID */
               "just some words\n"                                        /* 13: 1 field */
               "VS12 | MUST | driver | 5.10 T | text\n"                   /* 14: one part */
               "VS-0123456789012345678901234567890 | MUST | driver | 5 T | x\n" /* 15 */
               "VS-16 | MUST | driver | 5.10 T | fine\n");                /* 16: good */
    struct matrix m;
    mx_init(&m);
    ATF_REQUIRE_EQ(0, mx_read_requirements(&m, "r.txt"));
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 1, "found 4");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 2, "found 7");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 3, "empty WHO");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 4, "empty TEXT");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 5, "malformed ID");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 6, "unknown WHO");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 7, "SECTION");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 8, "SECTION");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 9, "SECTION");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 10, "n/a: REASON");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 11, "without a reason");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 12, "empty ID");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 13, "found 1");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 14, "malformed ID");
    REQUIRE_DIAG(&m, MX_D_REQ_SYNTAX, 15, "malformed ID");
    REQUIRE_COUNT(&m, MX_D_REQ_SYNTAX, 15);
    ATF_REQUIRE(mx_find(&m, "VS-16") != NULL);
    ATF_CHECK(!mx_find(&m, "VS-16")->bad);

    /* A case naming an ID of a malformed line is not reported again. */
    static const struct conf_case c1 = KASE("c1", "VS-06 VS-16", CONF_SIM, "d", 1);
    const struct conf_case *const v[] = {&c1};
    mx_add_cases(&m, v, 1);
    mx_check(&m);
    REQUIRE_COUNT(&m, MX_D_UNKNOWN_ID, 0);
    mx_free(&m);
}

MX_TC(req_duplicate_id, "a duplicate ID is an error naming both lines; the first one stays");
ATF_TC_BODY(req_duplicate_id, tc)
{
    write_file("r.txt",
               "VS-04 | MUST | driver | 5.10.6.3.1 T | first\n"
               "VS-05 | MUST | driver | 5.10.6.3.1 T | other\n"
               "VS-04 | SHOULD | device | 5.10.6.3.2 T | second\n");
    struct matrix m;
    mx_init(&m);
    ATF_REQUIRE_EQ(0, mx_read_requirements(&m, "r.txt"));
    REQUIRE_COUNT(&m, MX_D_REQ_DUP, 1);
    REQUIRE_DIAG(&m, MX_D_REQ_DUP, 3, "r.txt:1");
    ATF_CHECK_EQ(2, m.nreqs);
    ATF_CHECK_STREQ("first", mx_find(&m, "VS-04")->text);
    mx_free(&m);
}

/* ---- cases from the registry --------------------------------------------------------------- */

MX_TC(case_unknown_id, "a case naming an ID not in requirements.txt is an error at its line");
ATF_TC_BODY(case_unknown_id, tc)
{
    write_file("r.txt", REQS);
    static const struct conf_case good = KASE("good", "VS-04", CONF_ALL, "fine", 3);
    static const struct conf_case bad =
        KASE("bad", "VS-05 VS-77 SR-07,XX-1", CONF_SIM, "two bad", 6);
    const struct conf_case *const v[] = {&good, &bad};
    struct matrix m;
    mx_init(&m);
    ATF_REQUIRE_EQ(0, mx_read_requirements(&m, "r.txt"));
    mx_add_cases(&m, v, 2);
    ATF_REQUIRE_EQ(2, m.nusers);
    mx_check(&m);
    REQUIRE_COUNT(&m, MX_D_UNKNOWN_ID, 2);
    REQUIRE_DIAG(&m, MX_D_UNKNOWN_ID, 6, "'VS-77'");
    REQUIRE_DIAG(&m, MX_D_UNKNOWN_ID, 6, "'XX-1'");
    REQUIRE_DIAG(&m, MX_D_UNKNOWN_ID, 6, "case 'bad'");
    ATF_CHECK(strcmp(m.diags[0].file, "conformance/cases_x.c") == 0);
    ATF_CHECK(mx_errors(&m) == 2);
    mx_free(&m);
}

MX_TC(case_fields,
      "a registered case stands in the matrix with its name, description, file, line, "
      "targets and IDs (blanks or commas between them), in registry order");
ATF_TC_BODY(case_fields, tc)
{
    write_file("r.txt", REQS);
    static const struct conf_case spread =
        KASE("spread", " VS-04\tVS-05 ", CONF_SIM | CONF_KERNEL, "what, \"it\" (checks)", 6);
    static const struct conf_case guest_only =
        KASE("guest_only", "SR-07", CONF_GUEST_TARGET, "x", 17);
    static const struct conf_case none = KASE("all_of_them", "", CONF_ALL, "none named", 20);
    static const struct conf_case null_reqs = KASE("null_reqs", NULL, CONF_SIM, "d", 21);
    static const struct conf_case with_opts =
        KASE("with_opts", "VS-12,", CONF_RAW_TARGETS, "opts", 22);
    const struct conf_case *const v[] = {&spread, &guest_only, &none, &null_reqs, &with_opts};
    struct matrix m;
    mx_init(&m);
    ATF_REQUIRE_EQ(0, mx_read_requirements(&m, "r.txt"));
    mx_add_cases(&m, v, 5);
    if (m.ndiags) {
        show(&m, ALL_KINDS);
        atf_tc_fail("%zu unexpected diagnostics", m.ndiags);
    }
    ATF_REQUIRE_EQ(5, m.nusers);

    const struct mx_user *u = &m.users[0];
    ATF_CHECK_STREQ("spread", u->name);
    ATF_CHECK_EQ(MX_CASE, u->kind);
    ATF_CHECK_STREQ("conformance/cases_x.c", u->file);
    ATF_CHECK_EQ(6, u->line);
    ATF_CHECK_EQ(MX_T_SIM | MX_T_KERNEL, u->targets);
    ATF_CHECK_STREQ("what, \"it\" (checks)", u->descr);
    ATF_REQUIRE_EQ(2, u->nrefs);
    ATF_CHECK_STREQ("VS-04", u->refs[0].id);
    ATF_CHECK_STREQ("VS-05", u->refs[1].id);
    ATF_CHECK_EQ(6, u->refs[0].line);

    ATF_CHECK_STREQ("guest_only", m.users[1].name);
    ATF_CHECK_EQ(MX_T_GUEST, m.users[1].targets);
    ATF_CHECK_EQ(MX_T_ALL, m.users[2].targets);
    ATF_CHECK_EQ(0, m.users[2].nrefs);
    ATF_CHECK_EQ(0, m.users[3].nrefs);
    u = &m.users[4];
    ATF_CHECK_STREQ("with_opts", u->name);
    ATF_CHECK_EQ(MX_T_SIM | MX_T_KERNEL, u->targets);
    ATF_REQUIRE_EQ(1, u->nrefs);
    ATF_CHECK_STREQ("VS-12", u->refs[0].id);

    mx_check(&m);
    REQUIRE_COUNT(&m, MX_D_UNKNOWN_ID, 0);
    REQUIRE_DIAG(&m, MX_D_NOTE, 20, "case 'all_of_them' names no requirement");
    REQUIRE_DIAG(&m, MX_D_NOTE, 21, "case 'null_reqs' names no requirement");
    size_t n;
    ATF_CHECK_EQ(MX_T_SIM | MX_T_KERNEL, mx_coverage(&m, mx_find(&m, "VS-04"), &n));
    ATF_CHECK_EQ(1, n);
    ATF_CHECK_EQ(MX_T_GUEST, mx_coverage(&m, mx_find(&m, "SR-07"), &n));
    mx_free(&m);
}

MX_TC(case_malformed,
      "a registered case without name, description or a valid target, or a name registered "
      "twice, is an error at its file:line and stays out; the rest is still read");
ATF_TC_BODY(case_malformed, tc)
{
    write_file("r.txt", REQS);
    static const struct conf_case v0[] = {
        KASE(NULL, "VS-04", CONF_SIM, "d", 1),
        KASE("", "VS-04", CONF_SIM, "d", 2),
        KASE("nodescr", "VS-04", CONF_SIM, NULL, 3),
        KASE("emptydescr", "VS-04", CONF_SIM, "", 4),
        KASE("notarget", "VS-04", 0, "d", 5),
        KASE("badtarget", "VS-04", CONF_SIM | 8u, "d", 6),
        KASE("ok", "VS-05", CONF_KERNEL, "d", 7),
        KASE("ok", "VS-04", CONF_SIM, "again", 8),
        {.name = "nofile", .reqs = "VS-12", .targets = CONF_SIM, .descr = "d", .line = 9},
    };
    const struct conf_case *v[sizeof v0 / sizeof v0[0] + 1];
    for (size_t i = 0; i < sizeof v0 / sizeof v0[0]; i++)
        v[i] = &v0[i];
    v[sizeof v0 / sizeof v0[0]] = NULL; /* a hole is skipped */
    struct matrix m;
    mx_init(&m);
    ATF_REQUIRE_EQ(0, mx_read_requirements(&m, "r.txt"));
    mx_add_cases(&m, v, sizeof v / sizeof v[0]);
    REQUIRE_DIAG(&m, MX_D_CASE, 1, "without a name");
    REQUIRE_DIAG(&m, MX_D_CASE, 2, "without a name");
    REQUIRE_DIAG(&m, MX_D_CASE, 3, "'nodescr' has no description");
    REQUIRE_DIAG(&m, MX_D_CASE, 4, "'emptydescr' has no description");
    REQUIRE_DIAG(&m, MX_D_CASE, 5, "'notarget': bad targets 0x0");
    REQUIRE_DIAG(&m, MX_D_CASE, 6, "'badtarget': bad targets 0x9");
    REQUIRE_DIAG(&m, MX_D_CASE, 8, "'ok' also registered at conformance/cases_x.c:7");
    REQUIRE_COUNT(&m, MX_D_CASE, 7);
    ATF_CHECK_EQ(7, mx_errors(&m));
    ATF_REQUIRE_EQ(2, m.nusers);
    ATF_CHECK_STREQ("ok", m.users[0].name);
    ATF_CHECK_STREQ("VS-05", m.users[0].refs[0].id); /* the first one stays */
    ATF_CHECK_STREQ("nofile", m.users[1].name);
    ATF_CHECK_STREQ("(unknown file)", m.users[1].file);
    mx_free(&m);
}

/* ---- scripts ------------------------------------------------------------------------------- */

MX_TC(script_covers,
      "a script through the script parser: its covers and targets lines (targets default to "
      "all), and a script that does not parse is an error at its line");
ATF_TC_BODY(script_covers, tc)
{
    write_file("r.txt", REQS);
    write_file("one.pkt",
               "# credit window, guest side\n"
               "# covers: VS-04 SR-07\n"
               "#covers:VS-05,VS-12\n"
               "#  targets:  sim   kernel\n"
               "host listen 5000\n"
               "# covers: VS-88\n");
    write_file("two.pkt", "# covers: VS-04\nhost listen 5000\n");
    write_file("three.pkt",
               "# covers: VS-04\n"
               "# targets: sim qemu\n" /* 2: unknown target */
               "host listen 5000\n");
    write_file("five.pkt",
               "# covers: VS-04\n"
               "# targets: sim\n"
               "# targets: kernel\n" /* 3: a second targets line */
               "host listen 5000\n");
    write_file("six.pkt",
               "# covers: VS-04\n"
               "host listen 5000\n"
               "> REQUEST $guest:1024\n"); /* 3: the rest of the script counts too */
    write_file("seven.pkt", "# covers: VS-04\n");
    write_file("four.pkt", "host listen 5000\n");
    struct matrix m;
    mx_init(&m);
    ATF_REQUIRE_EQ(0, mx_read_requirements(&m, "r.txt"));
    ATF_REQUIRE_EQ(0, mx_read_script(&m, "one.pkt"));
    ATF_REQUIRE_EQ(0, mx_read_script(&m, "two.pkt"));
    ATF_REQUIRE_EQ(0, mx_read_script(&m, "three.pkt"));
    ATF_REQUIRE_EQ(0, mx_read_script(&m, "five.pkt"));
    ATF_REQUIRE_EQ(0, mx_read_script(&m, "six.pkt"));
    ATF_REQUIRE_EQ(0, mx_read_script(&m, "seven.pkt"));
    ATF_REQUIRE_EQ(0, mx_read_script(&m, "four.pkt"));
    REQUIRE_DIAG(&m, MX_D_SCRIPT_SYNTAX, 2, "unknown target 'qemu'");
    REQUIRE_DIAG(&m, MX_D_SCRIPT_SYNTAX, 3, "second '# targets:'");
    REQUIRE_DIAG(&m, MX_D_SCRIPT_SYNTAX, 3, "expected '> OP SRC -> DST");
    REQUIRE_DIAG(&m, MX_D_SCRIPT_SYNTAX, 1, "no commands");
    REQUIRE_COUNT(&m, MX_D_SCRIPT_SYNTAX, 4);
    for (size_t i = 0; i < m.ndiags; i++) /* the message proper, the path once */
        ATF_CHECK_MSG(strstr(m.diags[i].msg, ".pkt") == NULL, "%s", m.diags[i].msg);
    ATF_REQUIRE_EQ(3, m.nusers); /* the scripts that do not parse are not used */

    const struct mx_user *u = &m.users[0];
    ATF_CHECK_STREQ("one", u->name);
    ATF_CHECK_EQ(MX_SCRIPT, u->kind);
    ATF_CHECK_STREQ("credit window, guest side", u->descr);
    ATF_CHECK_EQ(MX_T_SIM | MX_T_KERNEL, u->targets);
    ATF_REQUIRE_EQ(5, u->nrefs);
    ATF_CHECK_STREQ("VS-04", u->refs[0].id);
    ATF_CHECK_STREQ("SR-07", u->refs[1].id);
    ATF_CHECK_STREQ("VS-05", u->refs[2].id);
    ATF_CHECK_STREQ("VS-12", u->refs[3].id);
    ATF_CHECK_STREQ("VS-88", u->refs[4].id);
    ATF_CHECK_STREQ("two", m.users[1].name);
    ATF_CHECK_EQ(MX_T_ALL, m.users[1].targets);

    mx_check(&m);
    REQUIRE_COUNT(&m, MX_D_UNKNOWN_ID, 1);
    REQUIRE_DIAG(&m, MX_D_UNKNOWN_ID, 0, "script 'one' names unknown requirement 'VS-88'");
    REQUIRE_DIAG(&m, MX_D_NOTE, 1, "script 'four' names no requirement");
    size_t n;
    ATF_CHECK_EQ(MX_T_ALL, mx_coverage(&m, mx_find(&m, "VS-04"), &n));
    ATF_CHECK_EQ(2, n);
    mx_free(&m);
}

/* ---- the whole: tree, check, reports ----------------------------------------------------------- */

MX_TC(tree_check_and_reports,
      "a crafted tree: uncovered MUST is an error, SHOULD a warning, n/a and INFO demand "
      "nothing; cases before scripts; the text, Markdown and TSV reports");
ATF_TC_BODY(tree_check_and_reports, tc)
{
    ATF_REQUIRE(mkdir("t", 0755) == 0);
    ATF_REQUIRE(mkdir("t/conformance", 0755) == 0);
    ATF_REQUIRE(mkdir("t/conformance/scripts", 0755) == 0);
    write_file("t/conformance/requirements.txt", REQS);
    write_file("t/conformance/scripts/rw.pkt",
               "# covers: VS-04\n# targets: guest\nhost listen 5000\n");
    write_file("t/conformance/scripts/notes.txt", "# covers: VS-77\nhost listen 5000\n");
    static const struct conf_case credit =
        KASE("credit", "VS-04 VS-S1", CONF_SIM | CONF_KERNEL, "a | b", 1);
    static const struct conf_case real = KASE("real_only", "VS-12", CONF_KERNEL | CONF_GUEST_TARGET, "d", 4);
    const struct conf_case *const cases[] = {&real, &credit};

    struct matrix m;
    mx_init(&m);
    ATF_REQUIRE_EQ(0, mx_read_tree(&m, "t", cases, 2));
    if (m.ndiags) {
        show(&m, ALL_KINDS);
        atf_tc_fail("%zu unexpected diagnostics", m.ndiags);
    }
    ATF_REQUIRE_EQ(3, m.nusers);
    ATF_CHECK_STREQ("real_only", m.users[0].name); /* the registry's order */
    ATF_CHECK_STREQ("credit", m.users[1].name);
    ATF_CHECK_STREQ("rw", m.users[2].name);
    ATF_CHECK_STREQ("t/conformance/scripts/rw.pkt", m.users[2].file);
    mx_check(&m);
    REQUIRE_COUNT(&m, MX_D_UNKNOWN_ID, 0);
    /* VS-05 and SR-07 (MUST) are uncovered; SR-02 is n/a. */
    REQUIRE_COUNT(&m, MX_D_UNCOVERED, 2);
    REQUIRE_DIAG(&m, MX_D_UNCOVERED, 4, "VS-05 (MUST, driver, 5.10.6.3.1");
    REQUIRE_DIAG(&m, MX_D_UNCOVERED, 8, "SR-07");
    REQUIRE_COUNT(&m, MX_D_WEAK, 0);
    ATF_CHECK_EQ(2, mx_errors(&m));
    ATF_CHECK(strstr(m.diags[0].file, "t/conformance/requirements.txt") != NULL);
    ATF_CHECK_EQ(MX_T_ALL, mx_coverage(&m, mx_find(&m, "VS-04"), NULL));

    FILE *f = fopen("out.txt", "w");
    ATF_REQUIRE(f);
    mx_print_text(&m, f);
    mx_print_diags(&m, f, ALL_KINDS);
    fclose(f);
    char *txt = read_all("out.txt");
    ATF_CHECK(strstr(txt, "VS-04   MUST") != NULL);
    ATF_CHECK(strstr(txt, "credit [sim kernel], script rw [guest]") != NULL);
    ATF_CHECK(strstr(txt, "  MUST            1/3  (+1 n/a)\n") != NULL);
    ATF_CHECK(strstr(txt, "(+1 n/a)") != NULL);
    ATF_CHECK(strstr(txt, "Overall: 2/4 normative") != NULL);
    ATF_CHECK(strstr(txt, "VS-12   SHOULD     driver  5.10.6.7.1  -kg real_only [kernel guest]") !=
              NULL);
    ATF_CHECK(strstr(txt, "Checked by 2 cases and 1 scripts") != NULL);
    ATF_CHECK(strstr(txt, "t/conformance/requirements.txt:4: error: VS-05") != NULL);
    free(txt);

    f = fopen("out.md", "w");
    ATF_REQUIRE(f);
    ATF_CHECK_EQ(0, mx_write_md(&m, f));
    fclose(f);
    char *md = read_all("out.md");
    ATF_CHECK(strstr(md, "# vsocksim requirement matrix") != NULL);
    ATF_CHECK(strstr(md, "| VS-04 | MUST | driver | 5.10.6.3.1 Buffer Space Management | "
                         "RW only within credit | `credit` (sim kernel), `scripts/rw` (guest) |") !=
              NULL);
    ATF_CHECK(strstr(md, "| SR-02 | MUST | driver | 2.7.2 Legacy | legacy only | n/a: no legacy "
                         "target |") != NULL);
    ATF_CHECK(strstr(md, "| MUST | 1 | 3 | 1 |") != NULL);
    free(md);

    f = fopen("out.tsv", "w");
    ATF_REQUIRE(f);
    ATF_CHECK_EQ(0, mx_write_tsv(&m, f));
    fclose(f);
    char *tsv = read_all("out.tsv");
    ATF_CHECK(strncmp(tsv, "id\tlevel\twho\tsection\ttitle\tchecked\t", 35) == 0);
    ATF_CHECK(strstr(tsv, "VS-04\tMUST\tdriver\t5.10.6.3.1\tBuffer Space Management\tyes\t1\t1\t1\t"
                          "credit,scripts/rw\t\tRW only within credit\n") != NULL);
    ATF_CHECK(strstr(tsv, "VS-05\tMUST\tdriver\t5.10.6.3.1\tBuffer Space Management\tno\t0\t0\t0\t"
                          "\t\t") != NULL);
    ATF_CHECK(strstr(tsv, "SR-02\tMUST\tdriver\t2.7.2\tLegacy\tn/a\t") != NULL);
    free(tsv);

    /* mx_check runs once. */
    size_t nd = m.ndiags;
    mx_check(&m);
    ATF_CHECK_EQ(nd, m.ndiags);
    mx_free(&m);
}

MX_TC(missing_inputs, "missing files and directories are errors naming the path");
ATF_TC_BODY(missing_inputs, tc)
{
    struct matrix m;
    mx_init(&m);
    ATF_CHECK_EQ(-1, mx_read_requirements(&m, "nope.txt"));
    ATF_CHECK_EQ(-1, mx_read_script(&m, "nope.pkt"));
    ATF_CHECK_EQ(-1, mx_read_tree(&m, "no-such-dir", NULL, 0));
    REQUIRE_COUNT(&m, MX_D_IO, 3);
    for (size_t i = 0; i < m.ndiags; i++)
        ATF_CHECK_MSG(strstr(m.diags[i].msg, "cannot open") != NULL &&
                          strstr(m.diags[i].msg, "nope") == NULL,
                      "%s: %s", m.diags[i].file, m.diags[i].msg);
    ATF_CHECK_STREQ("nope.pkt", m.diags[1].file);
    ATF_CHECK_STREQ("no-such-dir/conformance/requirements.txt", m.diags[2].file);
    /* A scripts directory that is not a directory. */
    ATF_REQUIRE(mkdir("t", 0755) == 0 && mkdir("t/conformance", 0755) == 0);
    write_file("t/conformance/requirements.txt", REQS);
    write_file("t/conformance/scripts", "not a directory\n");
    ATF_CHECK_EQ(0, mx_read_tree(&m, "t", NULL, 0));
    REQUIRE_DIAG(&m, MX_D_IO, 0, "cannot open directory");
    mx_check(&m);
    ATF_CHECK(mx_errors(&m) >= 4);
    FILE *f = fopen("out.txt", "w");
    ATF_REQUIRE(f);
    mx_print_text(&m, f); /* an empty matrix prints */
    ATF_CHECK_EQ(0, mx_write_md(&m, f));
    ATF_CHECK_EQ(0, mx_write_tsv(&m, f));
    fclose(f);
    mx_free(&m);
}

MX_TC(garbage_inputs, "random bytes, NULs and truncated text in every reader: no crash");
ATF_TC_BODY(garbage_inputs, tc)
{
    static const char *const seeds[] = {
        "VS-01 | MUST | driver | 5.10 T | text\n",
        "# covers: VS-01\n# targets: sim\nhost listen 5000\n",
        "# covers: VS-01\n> REQUEST $guest:1024 -> $host:5000 \"a\\x41\"\n< RST * -> * timeout=1ms\n",
        "[6.1] host send 5000 bytes=2049 ret=ENOMEM\n# targets: kernel, guest\n",
    };
    uint64_t x = 0x9e3779b97f4a7c15ull; /* a local xorshift: no global state */
    char buf[512];
    for (int round = 0; round < 300; round++) {
        const char *s = seeds[round % 4];
        size_t n = strlen(s);
        if (n > sizeof buf)
            n = sizeof buf;
        memcpy(buf, s, n);
        size_t len = n;
        for (int k = 0; k < 1 + round % 7; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t at = (size_t)(x % (len + 1));
            unsigned op = (unsigned)(x >> 32) % 4;
            char c = (char)(x >> 40);
            if (op == 0 && at < len) {
                buf[at] = c;
            } else if (op == 1 && len < sizeof buf) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = c;
                len++;
            } else if (op == 2 && at < len) {
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            } else {
                len = at; /* truncate */
            }
        }
        write_bytes("g.txt", buf, len);
        struct matrix m;
        mx_init(&m);
        mx_read_requirements(&m, "g.txt");
        mx_read_script(&m, "g.txt");
        mx_check(&m);
        FILE *f = fopen("/dev/null", "w");
        ATF_REQUIRE(f);
        mx_print_text(&m, f);
        mx_print_diags(&m, f, ALL_KINDS);
        mx_write_md(&m, f);
        mx_write_tsv(&m, f);
        fclose(f);
        for (size_t i = 0; i < m.ndiags; i++)
            ATF_REQUIRE(m.diags[i].line <= len + 1);
        mx_free(&m);
    }
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, tree_requirements_well_formed);
    ATF_TP_ADD_TC(tp, tree_cases_name_known_ids);
    ATF_TP_ADD_TC(tp, every_must_is_covered);
    ATF_TP_ADD_TC(tp, req_good_lines);
    ATF_TP_ADD_TC(tp, req_bad_level);
    ATF_TP_ADD_TC(tp, req_missing_fields);
    ATF_TP_ADD_TC(tp, req_duplicate_id);
    ATF_TP_ADD_TC(tp, case_unknown_id);
    ATF_TP_ADD_TC(tp, case_fields);
    ATF_TP_ADD_TC(tp, case_malformed);
    ATF_TP_ADD_TC(tp, script_covers);
    ATF_TP_ADD_TC(tp, tree_check_and_reports);
    ATF_TP_ADD_TC(tp, missing_inputs);
    ATF_TP_ADD_TC(tp, garbage_inputs);
    return atf_no_error();
}
