/*
 * The C conformance cases (conformance/cases_*.c) as one ATF test program:
 * one test case per entry of conformance/cases.def, run on the target named
 * by the config variable `target` (default sim) under the seeds named by
 * `seeds` (default 3: seeds 1, 2, 3). The program's own check,
 * registry_complete, fails when a case in the sources is missing from the
 * registry or names a requirement ID outside the scheme.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conf_atf.h"
#include "conformance/conf_case.h"
#include "conformance/conf_target.h"

#define CONF_CASE_REF(name) extern const struct conf_case conf_case_##name;
#include "conformance/cases.def"
#undef CONF_CASE_REF

static const struct conf_case *const all_cases[] = {
#define CONF_CASE_REF(name) &conf_case_##name,
#include "conformance/cases.def"
#undef CONF_CASE_REF
};
#define NCASES (sizeof(all_cases) / sizeof(all_cases[0]))

static const struct conf_case *find_case(const char *name)
{
    for (size_t i = 0; i < NCASES; i++)
        if (strcmp(all_cases[i]->name, name) == 0)
            return all_cases[i];
    return NULL;
}

static void case_head(atf_tc_t *tc)
{
    const struct conf_case *k = find_case(atf_tc_get_ident(tc));
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
    const struct conf_case *k = find_case(atf_tc_get_ident(tc));
    if (k == NULL)
        atf_tc_fail("no case named %s in the registry", atf_tc_get_ident(tc));
    struct conf_runnable r = {k->name, k->targets, k->caps, k->opts, case_body_run, k};
    conf_atf_run(tc, &r);
}

/* ---- the registry's own check ---- */

/* The IDs conformance/requirements.txt defines: the first field of each
 * line that is not blank or a comment. */
struct req_ids {
    char id[512][32];
    unsigned n;
};

static void load_req_ids(struct req_ids *r)
{
    const char *path = VSOCKSIM_SRCDIR "/conformance/requirements.txt";
    FILE *f = fopen(path, "r");
    ATF_REQUIRE_MSG(f != NULL, "cannot read %s", path);
    char line[1024];
    r->n = 0;
    while (fgets(line, sizeof(line), f) != NULL && r->n < 512) {
        const char *p = line + strspn(line, " \t");
        size_t n = strcspn(p, " \t|\n");
        if (*p == '#' || n == 0 || n >= sizeof(r->id[0]))
            continue;
        memcpy(r->id[r->n], p, n);
        r->id[r->n++][n] = '\0';
    }
    fclose(f);
    ATF_REQUIRE_MSG(r->n > 0, "%s defines no requirement", path);
}

static bool req_known(const struct req_ids *r, const char *id, size_t n)
{
    for (unsigned i = 0; i < r->n; i++)
        if (strlen(r->id[i]) == n && memcmp(r->id[i], id, n) == 0)
            return true;
    return false;
}

static void check_reqs(const struct req_ids *ids, const struct conf_case *k)
{
    const char *p = k->reqs;
    ATF_CHECK_MSG(p != NULL && *p != '\0', "%s names no requirement", k->name);
    while (p != NULL && *p != '\0') {
        size_t n = strcspn(p, " ");
        if (n > 0)
            ATF_CHECK_MSG(req_known(ids, p, n),
                          "%s: requirement ID '%.*s' is not in conformance/requirements.txt",
                          k->name, (int)n, p);
        p += n;
        p += strspn(p, " ");
    }
}

/* Every CONF_CASE( / CONF_CASE_OPTS( at the start of a line names a case. */
static void check_file(const char *path)
{
    FILE *f = fopen(path, "r");
    ATF_REQUIRE_MSG(f != NULL, "cannot read %s", path);
    char line[512];
    unsigned lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        const char *p = NULL;
        if (strncmp(line, "CONF_CASE(", 10) == 0)
            p = line + 10;
        else if (strncmp(line, "CONF_CASE_OPTS(", 15) == 0)
            p = line + 15;
        if (p == NULL)
            continue;
        size_t n = strcspn(p, ", ");
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        ATF_CHECK_MSG(find_case(name) != NULL,
                      "%s:%u: case %s is not in conformance/cases.def", path, lineno, name);
    }
    fclose(f);
}

ATF_TC(registry_complete);
ATF_TC_HEAD(registry_complete, tc)
{
    atf_tc_set_md_var(tc, "descr",
                      "every case in conformance/cases_*.c is registered once, with valid "
                      "requirement IDs and a target");
}
ATF_TC_BODY(registry_complete, tc)
{
    (void)tc;
    struct req_ids ids;
    load_req_ids(&ids);
    for (size_t i = 0; i < NCASES; i++) {
        for (size_t j = 0; j < i; j++)
            ATF_CHECK_MSG(strcmp(all_cases[i]->name, all_cases[j]->name) != 0,
                          "%s is registered twice", all_cases[i]->name);
        check_reqs(&ids, all_cases[i]);
        ATF_CHECK_MSG((all_cases[i]->targets & CONF_ALL) != 0, "%s applies to no target",
                      all_cases[i]->name);
    }
    const char *dir = VSOCKSIM_SRCDIR "/conformance";
    DIR *d = opendir(dir);
    ATF_REQUIRE_MSG(d != NULL, "cannot open %s", dir);
    struct dirent *e;
    unsigned files = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "cases_", 6) != 0 || n < 3 || strcmp(e->d_name + n - 2, ".c") != 0 ||
            strcmp(e->d_name, "cases_test.c") == 0)
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        check_file(path);
        files++;
    }
    closedir(d);
    ATF_CHECK_MSG(files > 0, "no conformance/cases_*.c found under %s", dir);
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
    const struct conf_case *k = all_cases[0];
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
    for (size_t i = 0; i < NCASES; i++) {
        atf_error_t err = conf_atf_add(tp, all_cases[i]->name, case_head, case_body);
        if (atf_is_error(err))
            return err;
    }
    ATF_TP_ADD_TC(tp, registry_complete);
    ATF_TP_ADD_TC(tp, sim_seeds_differ);
    ATF_TP_ADD_TC(tp, seeds_config);
    ATF_TP_ADD_TC(tp, linux_config);
    ATF_TP_ADD_TC(tp, targets_refuse_with_reason);
    return atf_no_error();
}
