/*
 * The C conformance cases (conformance/cases_*.c) as one ATF test program:
 * one test case per case in the registry (every CONF_CASE this program
 * links, conf_cases), run on the target named by the config variable
 * `target` (default sim) under the seeds named by `seeds` (default 3: seeds
 * 1, 2, 3). The program's own check, registry_complete, reads the registry
 * as the requirement matrix does.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conf_atf.h"
#include "conformance/conf_case.h"
#include "conformance/conf_target.h"
#include "conformance/matrix.h"

static void case_head(atf_tc_t *tc)
{
    const struct conf_case *k = conf_case_find(atf_tc_get_ident(tc));
    if (k != NULL)
        conf_atf_head(tc, k->descr, k->reqs, k->targets);
}

static void case_body_run(struct conf *c, const void *arg)
{
    const struct conf_case *k = arg;
    k->body(c);
}

static void case_body(const atf_tc_t *tc)
{
    const struct conf_case *k = conf_case_find(atf_tc_get_ident(tc));
    if (k == NULL)
        atf_tc_fail("no case named %s in the registry", atf_tc_get_ident(tc));
    struct conf_runnable r = {k->name, k->targets, k->caps, k->opts, case_body_run, k};
    conf_atf_run(tc, &r);
}

/* The registry, in its order; the caller frees it. */
static const struct conf_case **registry(size_t *n)
{
    *n = conf_cases(NULL, 0);
    const struct conf_case **v = malloc((*n ? *n : 1) * sizeof(*v));
    if (v != NULL)
        conf_cases(v, *n);
    return v;
}

/* ---- the registry's own check ---- */

/* Whether some case of the registry is written in conformance/NAME. */
static bool file_has_case(const struct conf_case *const *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const char *f = v[i]->file != NULL ? strrchr(v[i]->file, '/') : NULL;
        if (strcmp(f != NULL ? f + 1 : (v[i]->file != NULL ? v[i]->file : ""), name) == 0)
            return true;
    }
    return false;
}

/* Every conformance/cases_*.c of the tree contributes a case: a case file
 * whose object this program did not link (an archive drops it, nothing
 * names it) shows here. */
static void check_every_file_linked(const struct conf_case *const *v, size_t n)
{
    const char *dir = VSOCKSIM_SRCDIR "/conformance";
    DIR *d = opendir(dir);
    ATF_REQUIRE_MSG(d != NULL, "cannot open %s", dir);
    struct dirent *e;
    unsigned files = 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "cases_", 6) != 0 || len < 3 ||
            strcmp(e->d_name + len - 2, ".c") != 0 || strcmp(e->d_name, "cases_test.c") == 0)
            continue;
        files++;
        ATF_CHECK_MSG(file_has_case(v, n, e->d_name),
                      "conformance/%s: no case of it is registered in this program (its "
                      "object is not linked: CASE_OBJS in the Makefile)",
                      e->d_name);
    }
    closedir(d);
    ATF_CHECK_MSG(files > 0, "no conformance/cases_*.c found under %s", dir);
}

/* And the other way: every case comes from a file of the tree (a case file
 * deleted after the build would still run). */
static void check_every_case_in_tree(const struct conf_case *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", VSOCKSIM_SRCDIR, v[i]->file);
        FILE *f = fopen(path, "r");
        ATF_CHECK_MSG(f != NULL, "case %s comes from %s, which is not in the tree (a stale build)",
                      v[i]->name, v[i]->file);
        if (f != NULL)
            fclose(f);
    }
}

ATF_TC(registry_complete);
ATF_TC_HEAD(registry_complete, tc)
{
    atf_tc_set_md_var(tc, "descr",
                      "every case in the registry has a unique name, a description, a target "
                      "and requirement IDs of conformance/requirements.txt (read by the "
                      "matrix's reader), and the case files linked are those of the tree");
}
ATF_TC_BODY(registry_complete, tc)
{
    (void)tc;
    size_t n;
    const struct conf_case **v = registry(&n);
    ATF_REQUIRE(v != NULL);
    ATF_REQUIRE_MSG(n > 0, "the registry is empty");
    struct matrix m;
    mx_init(&m);
    ATF_REQUIRE_EQ(mx_read_requirements(&m, VSOCKSIM_SRCDIR "/conformance/requirements.txt"), 0);
    ATF_REQUIRE_MSG(m.nreqs > 0, "requirements.txt defines no requirement");
    mx_add_cases(&m, v, n);
    mx_check(&m);
    /* Malformed or twice-registered cases, unknown IDs; the requirements'
     * own errors are matrix_test's. */
    unsigned bad = 1u << MX_D_CASE | 1u << MX_D_UNKNOWN_ID;
    mx_print_diags(&m, stderr, bad);
    ATF_CHECK_EQ_MSG(mx_count(&m, MX_D_CASE) + mx_count(&m, MX_D_UNKNOWN_ID), 0,
                     "the registry has errors (listed on stderr)");
    ATF_CHECK_EQ(m.nusers, n);
    for (size_t i = 0; i < m.nusers; i++)
        ATF_CHECK_MSG(m.users[i].nrefs > 0, "%s:%u: case %s names no requirement",
                      m.users[i].file, m.users[i].line, m.users[i].name);
    ATF_CHECK(!m.oom);
    mx_free(&m);
    check_every_file_linked(v, n);
    check_every_case_in_tree(v, n);
    free(v);
}

ATF_TC(registry_order);
ATF_TC_HEAD(registry_order, tc)
{
    atf_tc_set_md_var(tc, "descr",
                      "the registry lists each case once, ordered by file, line and name; too "
                      "small an array is left alone; conf_case_find finds each by name");
}
ATF_TC_BODY(registry_order, tc)
{
    (void)tc;
    size_t n = conf_cases(NULL, 0);
    ATF_REQUIRE(n > 1);
    const struct conf_case **v = calloc(n, sizeof(*v));
    ATF_REQUIRE(v != NULL);
    ATF_CHECK_EQ(conf_cases(v, n - 1), n);
    for (size_t i = 0; i < n; i++)
        ATF_CHECK_MSG(v[i] == NULL, "conf_cases wrote into an array too small");
    ATF_REQUIRE_EQ(conf_cases(v, n), n);
    for (size_t i = 0; i < n; i++) {
        const struct conf_case *k = v[i];
        ATF_REQUIRE(k != NULL && k->name != NULL && k->file != NULL);
        ATF_CHECK_MSG(strncmp(k->file, "conformance/cases_", 18) == 0 && k->line > 0,
                      "%s is at %s:%u", k->name, k->file, k->line);
        ATF_CHECK_MSG(conf_case_find(k->name) == k, "conf_case_find(%s)", k->name);
        if (i == 0)
            continue;
        const struct conf_case *p = v[i - 1];
        int c = strcmp(p->file, k->file);
        ATF_CHECK_MSG(c < 0 || (c == 0 && (p->line < k->line ||
                                           (p->line == k->line && strcmp(p->name, k->name) < 0))),
                      "%s (%s:%u) is listed before %s (%s:%u)", p->name, p->file, p->line,
                      k->name, k->file, k->line);
    }
    ATF_CHECK(conf_case_find("no_such_case") == NULL);
    ATF_CHECK(conf_case_find(NULL) == NULL);
    free(v);
}

/* ---- the sim target's seeds ---- */

/* When a connect and a 100 KB exchange finish under seed, in simulated ns. */
static uint64_t finish_time(uint64_t seed)
{
    struct conf_opts o = {.seed = seed};
    char why[512];
    struct conf *c = conf_open("sim", &o, why, sizeof(why));
    ATF_REQUIRE_MSG(c != NULL, "%s", why);
    int l = conf_socket(c, CONF_HOST, VSOCK_TYPE_STREAM);
    ATF_REQUIRE(conf_bind(c, CONF_HOST, l, 4000) == 0 && conf_listen(c, CONF_HOST, l, 1) == 0);
    int g = conf_socket(c, CONF_GUEST, VSOCK_TYPE_STREAM);
    ATF_REQUIRE(conf_connect(c, CONF_GUEST, g, VSOCK_CID_HOST, 4000) == -EINPROGRESS);
    ATF_REQUIRE(conf_wait_poll(c, CONF_HOST, l, VEP_POLLIN, CONF_MS(1000)) != 0);
    int h = conf_accept(c, CONF_HOST, l);
    ATF_REQUIRE(conf_wait_poll(c, CONF_GUEST, g, VEP_POLLOUT, CONF_MS(1000)) != 0);
    static const uint8_t data[100000];
    size_t sent = 0, got = 0;
    uint8_t buf[4096];
    while (got < sizeof(data)) {
        int64_t n = conf_send(c, CONF_GUEST, g, data + sent, sizeof(data) - sent, 0);
        sent += n > 0 ? (size_t)n : 0;
        conf_wait_poll(c, CONF_HOST, h, VEP_POLLIN, CONF_MS(100));
        n = conf_recv(c, CONF_HOST, h, buf, sizeof(buf), 0, NULL);
        got += n > 0 ? (size_t)n : 0;
    }
    uint64_t t = conf_now(c);
    ATF_REQUIRE_MSG(conf_close(c, why, sizeof(why)), "%s", why);
    return t;
}

ATF_TC(sim_seeds_differ);
ATF_TC_HEAD(sim_seeds_differ, tc)
{
    atf_tc_set_md_var(tc, "descr",
                      "the sim target's seeds give different interleavings (the same exchange "
                      "finishes at different simulated times), and one seed always the same");
}
ATF_TC_BODY(sim_seeds_differ, tc)
{
    (void)tc;
    uint64_t t1 = finish_time(1), t2 = finish_time(2), t3 = finish_time(3);
    ATF_CHECK_MSG(t1 != t2 || t2 != t3, "seeds 1-3 all finish at %llu ns",
                  (unsigned long long)t1);
    ATF_CHECK_EQ(finish_time(2), t2);
}

ATF_TC(seeds_config);
ATF_TC_HEAD(seeds_config, tc)
{
    atf_tc_set_md_var(tc, "descr", "the seeds config value: N, A-B, a,b,c, and bad values");
}
ATF_TC_BODY(seeds_config, tc)
{
    (void)tc;
    struct conf_seeds s;
    char err[128];
    ATF_REQUIRE(conf_seeds_parse(NULL, &s, err, sizeof(err)) == 0);
    ATF_CHECK(s.n == 3 && s.seed[0] == 1 && s.seed[2] == 3);
    ATF_REQUIRE(conf_seeds_parse("5", &s, err, sizeof(err)) == 0);
    ATF_CHECK(s.n == 5 && s.seed[4] == 5);
    ATF_REQUIRE(conf_seeds_parse("7-9", &s, err, sizeof(err)) == 0);
    ATF_CHECK(s.n == 3 && s.seed[0] == 7 && s.seed[2] == 9);
    ATF_REQUIRE(conf_seeds_parse("42,7", &s, err, sizeof(err)) == 0);
    ATF_CHECK(s.n == 2 && s.seed[0] == 42 && s.seed[1] == 7);
    static const char *const bad[] = {"0", "x", "3-", "5-2", "1-1000", "1,,2", "1,x", "-1",
                                      "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ATF_CHECK_MSG(conf_seeds_parse(bad[i], &s, err, sizeof(err)) < 0 &&
                          strncmp(err, "seeds:", 6) == 0,
                      "'%s' was accepted (or no message: '%s')", bad[i], err);
}

ATF_TC(linux_config);
ATF_TC_HEAD(linux_config, tc)
{
    atf_tc_set_md_var(tc, "descr",
                      "the linux config value picks the profile a case sees (default 6.1); a bad "
                      "one is refused with its name");
}
static void note_linux(struct conf *c, const void *arg)
{
    *(enum vsock_linux *)arg = conf_linux(c);
}
ATF_TC_BODY(linux_config, tc)
{
    (void)tc;
    char err[256];
    struct conf_runcfg rc;
    ATF_REQUIRE(conf_runcfg_parse("1", "", &rc, err, sizeof(err)) == 0);
    ATF_CHECK_EQ(rc.linux_ver, VSOCK_LINUX_6_1);
    ATF_REQUIRE(conf_runcfg_parse("2", "6.12", &rc, err, sizeof(err)) == 0);
    ATF_CHECK_EQ(rc.linux_ver, VSOCK_LINUX_6_12);
    ATF_CHECK_EQ(rc.seeds.n, 2);
    static const char *const bad[] = {"6.2", "6", "latest"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ATF_CHECK_MSG(conf_runcfg_parse("1", bad[i], &rc, err, sizeof(err)) < 0 &&
                          strstr(err, "linux:") != NULL && strstr(err, bad[i]) != NULL,
                      "'%s' was accepted (or no message: '%s')", bad[i], err);
    enum vsock_linux seen = VSOCK_LINUX_COUNT;
    struct conf_runnable r = {"linux_seen", CONF_SIM, 0, NULL, note_linux, &seen};
    ATF_REQUIRE(conf_runcfg_parse("1", "6.12", &rc, err, sizeof(err)) == 0);
    char msg[1024];
    ATF_REQUIRE_EQ(conf_run(&r, "sim", &rc, msg, sizeof(msg)), CONF_PASS);
    ATF_CHECK_EQ(seen, VSOCK_LINUX_6_12);
}

ATF_TC(targets_refuse_with_reason);
ATF_TC_HEAD(targets_refuse_with_reason, tc)
{
    atf_tc_set_md_var(tc, "descr",
                      "an unknown target fails with the known names; a target that cannot run "
                      "here makes a case skip with its reason, never pass");
}
ATF_TC_BODY(targets_refuse_with_reason, tc)
{
    (void)tc;
    char msg[1024];
    struct conf_runcfg s;
    ATF_REQUIRE(conf_runcfg_parse("1", NULL, &s, msg, sizeof(msg)) == 0);
    size_t ncases;
    const struct conf_case **cases = registry(&ncases);
    ATF_REQUIRE(cases != NULL && ncases > 0);
    const struct conf_case *k = cases[0];
    free(cases);
    ATF_CHECK_EQ(conf_run_case(k, "mars", &s, msg, sizeof(msg)), CONF_FAIL);
    ATF_CHECK_MSG(strstr(msg, "unknown target 'mars'") && strstr(msg, "sim"), "%s", msg);
    /* Whichever registered target cannot run here shows how it refuses. */
    size_t n;
    const struct conf_target_ops *const *all = conf_target_list(&n);
    for (size_t i = 0; i < n; i++) {
        char why[512] = "";
        bool known;
        if (conf_target_available(all[i]->name, &known, why, sizeof(why)))
            continue;
        ATF_CHECK_MSG(why[0] != '\0', "%s refuses without a reason", all[i]->name);
        ATF_CHECK(conf_open(all[i]->name, NULL, why, sizeof(why)) == NULL);
        if ((k->targets & all[i]->mask) == 0)
            continue;
        ATF_CHECK_EQ(conf_run_case(k, all[i]->name, &s, msg, sizeof(msg)), CONF_SKIP);
        ATF_CHECK_MSG(strstr(msg, "not available here") != NULL, "%s", msg);
    }
}

ATF_TP_ADD_TCS(tp)
{
    size_t n;
    const struct conf_case **v = registry(&n);
    if (v == NULL)
        return atf_no_memory_error();
    for (size_t i = 0; i < n; i++) {
        atf_error_t err = conf_atf_add(tp, v[i]->name, case_head, case_body);
        if (atf_is_error(err)) {
            free(v);
            return err;
        }
    }
    free(v);
    ATF_TP_ADD_TC(tp, registry_complete);
    ATF_TP_ADD_TC(tp, registry_order);
    ATF_TP_ADD_TC(tp, sim_seeds_differ);
    ATF_TP_ADD_TC(tp, seeds_config);
    ATF_TP_ADD_TC(tp, linux_config);
    ATF_TP_ADD_TC(tp, targets_refuse_with_reason);
    return atf_no_error();
}
