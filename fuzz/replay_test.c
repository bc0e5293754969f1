/* The fuzz corpora under make test: every seed (traces/fuzz/NAME/) and every
 * regression input (traces/fuzz/regressions/NAME/, listed in its INDEX) goes
 * through its harness in-process and must not fail; a sim harness input
 * recorded as a trace replays exactly through the vsocksim replay path; and
 * shrink keeps a violation while making its trace smaller. */
#include "cli/cli.h"
#include "fuzz/fuzz.h"
#include "traces/trace.h"

#include <atf-c.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef VSOCKSIM_SRCDIR
#error "VSOCKSIM_SRCDIR must name the source tree (the Makefile sets it)"
#endif

#define REGRESSIONS "traces/fuzz/regressions"
#define MAX_FILES 512

static void enter_tree(void)
{
    ATF_REQUIRE_EQ_MSG(0, chdir(VSOCKSIM_SRCDIR), "cannot enter %s", VSOCKSIM_SRCDIR);
}

static uint8_t *read_all(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ATF_REQUIRE_MSG(f != NULL, "cannot open %s", path);
    uint8_t *buf = malloc(max + 1);
    ATF_REQUIRE(buf != NULL);
    *len = fread(buf, 1, max + 1, f);
    fclose(f);
    return buf;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Regular files of dir, sorted; how many. */
static unsigned list_dir(const char *dir, char (*names)[256], unsigned max)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    unsigned n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < max) {
        if (de->d_name[0] == '.')
            continue;
        if (strlen(dir) + strlen(de->d_name) + 2 > 256)
            continue;
        strcpy(names[n], dir);
        strcat(names[n], "/");
        strcat(names[n++], de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), by_name);
    return n;
}

static unsigned replay_dir(const struct fuzz_harness *h, const char *dir)
{
    static char names[MAX_FILES][256];
    unsigned n = list_dir(dir, names, MAX_FILES);
    for (unsigned i = 0; i < n; i++) {
        size_t len;
        uint8_t *data = read_all(names[i], h->max_len, &len);
        struct fuzz_report rep;
        h->one(data, len, &rep);
        ATF_CHECK_MSG(rep.outcome != FUZZ_FINDING, "%s: %s", names[i], rep.why);
        free(data);
    }
    return n;
}

ATF_TC_WITHOUT_HEAD(seeds_pass);
ATF_TC_BODY(seeds_pass, tc)
{
    enter_tree();
    size_t nh;
    const struct fuzz_harness *hs = fuzz_harness_list(&nh);
    for (size_t i = 0; i < nh; i++) {
        char dir[128];
        snprintf(dir, sizeof(dir), "traces/fuzz/%s", hs[i].name);
        ATF_CHECK_MSG(replay_dir(&hs[i], dir) > 0, "%s has no seed inputs", dir);
    }
}

ATF_TC_WITHOUT_HEAD(regressions_pass);
ATF_TC_BODY(regressions_pass, tc)
{
    enter_tree();
    size_t nh;
    const struct fuzz_harness *hs = fuzz_harness_list(&nh);
    for (size_t i = 0; i < nh; i++) {
        char dir[128];
        snprintf(dir, sizeof(dir), REGRESSIONS "/%s", hs[i].name);
        (void)replay_dir(&hs[i], dir);
    }
}

static bool indexed(const char *entry)
{
    FILE *f = fopen(REGRESSIONS "/INDEX", "r");
    ATF_REQUIRE_MSG(f != NULL, "cannot open " REGRESSIONS "/INDEX");
    char line[2048], word[256];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = line[0] != '#' && sscanf(line, "%255s", word) == 1 && strcmp(word, entry) == 0;
    fclose(f);
    return found;
}

ATF_TC_WITHOUT_HEAD(regressions_are_indexed);
ATF_TC_BODY(regressions_are_indexed, tc)
{
    enter_tree();
    static char names[MAX_FILES][256];
    size_t nh;
    const struct fuzz_harness *hs = fuzz_harness_list(&nh);
    for (size_t i = 0; i < nh; i++) {
        char dir[128];
        snprintf(dir, sizeof(dir), REGRESSIONS "/%s", hs[i].name);
        unsigned n = list_dir(dir, names, MAX_FILES);
        for (unsigned k = 0; k < n; k++)
            ATF_CHECK_MSG(indexed(names[k] + strlen(REGRESSIONS "/")),
                          "%s is not listed in " REGRESSIONS "/INDEX", names[k]);
    }
}

ATF_TC_WITHOUT_HEAD(sim_scenario_files_match);
ATF_TC_BODY(sim_scenario_files_match, tc)
{
    enter_tree();
    for (unsigned i = 0; i < FUZZ_SIM_SCENARIOS; i++) {
        char path[128];
        fuzz_sim_scenario_path(i, path, sizeof(path));
        size_t len;
        uint8_t *data = read_all(path, 4096, &len);
        const char *text = fuzz_sim_scenario_text(i);
        ATF_CHECK_MSG(len == strlen(text) && memcmp(data, text, len) == 0,
                      "%s differs from fuzz/fuzz_sim.c's text: rewrite it from there", path);
        free(data);
    }
}

/* Records a harness input as sim_prog --trace does, then replays it. */
static void record_and_replay(const uint8_t *data, size_t len, const char *path)
{
    struct fuzz_sim_setup su;
    struct trace_header h;
    ATF_REQUIRE_EQ(0, fuzz_sim_setup(data, len, &su));
    ATF_REQUIRE_EQ(0, fuzz_sim_trace_header(&su, &h));
    FILE *f = fopen(path, "w");
    ATF_REQUIRE(f != NULL);
    su.cfg.record = trace_writer_open(f, &h);
    struct sim_result first, again;
    sim_run(&su.cfg, &first);
    ATF_REQUIRE_EQ(0, trace_writer_close(su.cfg.record));
    fclose(f);

    f = fopen(path, "r");
    struct trace_reader *r = trace_reader_open(f, &h, NULL);
    ATF_REQUIRE(r != NULL);
    struct run_opts o;
    ATF_REQUIRE_EQ(0, opts_from_header(&h, &o, path));
    struct sim_cfg cfg;
    sim_cfg_from_opts(&o, &cfg);
    cfg.replay = r;
    sim_run(&cfg, &again);
    trace_reader_close(r);
    fclose(f);
    ATF_CHECK_MSG(again.status == first.status && again.stats.digest == first.stats.digest,
                  "%s: replay ended %s (%s), the harness run %s", path,
                  sim_status_name(again.status), again.message, sim_status_name(first.status));
}

ATF_TC_WITHOUT_HEAD(sim_traces_replay);
ATF_TC_BODY(sim_traces_replay, tc)
{
    enter_tree();
    static char names[MAX_FILES][256];
    unsigned n = list_dir("traces/fuzz/sim", names, MAX_FILES);
    char out[300];
    snprintf(out, sizeof(out), "%s/fuzz-replay-test.trace", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    for (unsigned i = 0; i < n; i++) {
        size_t len;
        uint8_t *data = read_all(names[i], FUZZ_SIM_MAX_LEN, &len);
        record_and_replay(data, len, out);
        free(data);
    }
    unlink(out);
}

/* Byte 0's FUZZ_SIM_LINUX_6_12 picks the profile: every scenario, with
 * full rings and without, runs clean under both, and a recorded run says
 * which it followed (its trace header's 'linux' option). */
ATF_TC_WITHOUT_HEAD(sim_profile_bit);
ATF_TC_BODY(sim_profile_bit, tc)
{
    enter_tree();
    uint8_t data[FUZZ_SIM_HDR + 400];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 37u + 11u);
    for (unsigned sc = 0; sc < FUZZ_SIM_SCENARIOS; sc++) {
        for (unsigned bits = 0; bits < 4; bits++) {
            bool v612 = bits & 1u, full = bits & 2u;
            data[0] = (uint8_t)(sc | (v612 ? FUZZ_SIM_LINUX_6_12 : 0) |
                                (full ? FUZZ_SIM_FULL_RINGS : 0));
            struct fuzz_sim_setup su;
            ATF_REQUIRE_EQ(0, fuzz_sim_setup(data, sizeof(data), &su));
            ATF_CHECK_EQ(su.scenario, sc);
            ATF_CHECK_EQ(su.cfg.linux_ver, v612 ? VSOCK_LINUX_6_12 : VSOCK_LINUX_6_1);
            struct trace_header h;
            ATF_REQUIRE_EQ(0, fuzz_sim_trace_header(&su, &h));
            const char *lv = trace_header_option(&h, "linux");
            ATF_CHECK_MSG(lv != NULL && strcmp(lv, v612 ? "6.12" : "6.1") == 0,
                          "scenario %u: the header names profile %s", sc, lv ? lv : "(none)");
            struct fuzz_report rep;
            fuzz_sim_one(data, sizeof(data), &rep);
            ATF_CHECK_MSG(rep.outcome != FUZZ_FINDING, "scenario %u, bits %u: %s", sc, bits,
                          rep.why);
        }
    }
}

ATF_TC_WITHOUT_HEAD(shrink_keeps_the_violation);
ATF_TC_BODY(shrink_keeps_the_violation, tc)
{
    enter_tree();
    char out[300];
    snprintf(out, sizeof(out), "%s/fuzz-shrink-test.trace", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    struct shrink_stats st;
    ATF_REQUIRE_EQ(EXIT_RUN_OK,
                   shrink_trace("traces/corpus/linux-reply-pause-deadlock.trace", out, 500, &st));
    ATF_CHECK(st.same);
    ATF_CHECK_STREQ(SIM_KNOWN_LINUX_DEADLOCK, st.invariant);
    ATF_CHECK(st.after_decisions <= st.before_decisions);
    ATF_CHECK(st.after_bytes < st.before_bytes);
    struct report_opts ro = {.trace = out};
    FILE *md = tmpfile();
    ATF_REQUIRE(md != NULL);
    ATF_CHECK_EQ(EXIT_RUN_OK, report_write(&ro, md));
    rewind(md);
    char line[512];
    bool title = fgets(line, sizeof(line), md) != NULL &&
                 strstr(line, "violation of '" SIM_KNOWN_LINUX_DEADLOCK "'") != NULL;
    ATF_CHECK_MSG(title, "report title: %s", line);
    fclose(md);
    unlink(out);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, seeds_pass);
    ATF_TP_ADD_TC(tp, regressions_pass);
    ATF_TP_ADD_TC(tp, regressions_are_indexed);
    ATF_TP_ADD_TC(tp, sim_scenario_files_match);
    ATF_TP_ADD_TC(tp, sim_traces_replay);
    ATF_TP_ADD_TC(tp, sim_profile_bit);
    ATF_TP_ADD_TC(tp, shrink_keeps_the_violation);
    return atf_no_error();
}
