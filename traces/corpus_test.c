/* The regression corpus (traces/corpus/INDEX): each trace's bug stays fixed
 * (or stays found), and its run reproduces record for record. A trace whose
 * decisions came from a fuzzer's input (expect "input-ok") has no seed that
 * makes it again: only its strict replay is checked, and must end ok. */
#include "cli/cli.h"
#include "traces/trace.h"

#include <atf-c.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef VSOCKSIM_SRCDIR
#error "VSOCKSIM_SRCDIR must name the source tree (the Makefile sets it)"
#endif

#define CORPUS "traces/corpus"
#define MAX_ENTRIES 256

struct entry {
    char file[128];
    enum sim_status expect;
    bool from_input; /* decisions from a fuzzer's input, not from the seed */
};

static unsigned load_index(struct entry *e, unsigned max)
{
    ATF_REQUIRE_EQ_MSG(0, chdir(VSOCKSIM_SRCDIR), "cannot enter %s", VSOCKSIM_SRCDIR);
    FILE *f = fopen(CORPUS "/INDEX", "r");
    ATF_REQUIRE_MSG(f != NULL, "cannot open %s/INDEX", CORPUS);
    char line[2048];
    unsigned n = 0, lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char file[128], expect[32];
        ATF_REQUIRE_EQ_MSG(2, sscanf(line, "%127s %31s", file, expect),
                           "INDEX:%u: expected 'file expect description'", lineno);
        bool input_ok = strcmp(expect, "input-ok") == 0;
        ATF_REQUIRE_MSG(strcmp(expect, "ok") == 0 || strcmp(expect, "violation") == 0 || input_ok,
                        "INDEX:%u: expect must be ok, violation or input-ok, not '%s'", lineno,
                        expect);
        ATF_REQUIRE_MSG(n < max, "INDEX: more than %u entries", max);
        snprintf(e[n].file, sizeof(e[n].file), "%s", file);
        e[n].expect = strcmp(expect, "violation") == 0 ? SIM_VIOLATION : SIM_OK;
        e[n].from_input = input_ok;
        n++;
    }
    fclose(f);
    return n;
}

static void open_trace(const char *file, FILE **f, struct trace_reader **r, struct run_opts *o)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", CORPUS, file);
    *f = fopen(path, "r");
    ATF_REQUIRE_MSG(*f != NULL, "cannot open %s", path);
    struct trace_header h;
    struct trace_error err;
    *r = trace_reader_open(*f, &h, &err);
    ATF_REQUIRE_MSG(*r != NULL, "%s: %s", path, err.msg);
    ATF_REQUIRE_EQ_MSG(0, opts_from_header(&h, o, path), "%s: bad header options", path);
}

ATF_TC_WITHOUT_HEAD(fresh_runs_end_as_expected);
ATF_TC_BODY(fresh_runs_end_as_expected, tc)
{
    struct entry e[MAX_ENTRIES];
    unsigned n = load_index(e, MAX_ENTRIES);
    ATF_REQUIRE(n > 0);
    for (unsigned i = 0; i < n; i++) {
        if (e[i].from_input)
            continue;
        FILE *f;
        struct trace_reader *r;
        struct run_opts o;
        open_trace(e[i].file, &f, &r, &o);
        trace_reader_close(r);
        fclose(f);
        struct sim_cfg cfg;
        sim_cfg_from_opts(&o, &cfg);
        struct sim_result res;
        sim_run(&cfg, &res);
        ATF_CHECK_MSG(res.status == e[i].expect, "%s: a fresh run of seed %llu ended %s (%s: %s), "
                      "INDEX expects %s", e[i].file, (unsigned long long)o.seed,
                      sim_status_name(res.status), res.invariant, res.message,
                      sim_status_name(e[i].expect));
    }
}

ATF_TC_WITHOUT_HEAD(replays_are_exact);
ATF_TC_BODY(replays_are_exact, tc)
{
    struct entry e[MAX_ENTRIES];
    unsigned n = load_index(e, MAX_ENTRIES);
    for (unsigned i = 0; i < n; i++) {
        FILE *f;
        struct trace_reader *r;
        struct run_opts o;
        open_trace(e[i].file, &f, &r, &o);
        struct sim_cfg cfg;
        sim_cfg_from_opts(&o, &cfg);
        cfg.replay = r;
        struct sim_result res;
        sim_run(&cfg, &res);
        trace_reader_close(r);
        fclose(f);
        ATF_CHECK_MSG(res.status == e[i].expect, "%s: replay ended %s: %s (re-record with make "
                      "corpus-update if the change of behaviour is intended)",
                      e[i].file, sim_status_name(res.status), res.message);
    }
}

ATF_TC_WITHOUT_HEAD(every_trace_is_indexed);
ATF_TC_BODY(every_trace_is_indexed, tc)
{
    struct entry e[MAX_ENTRIES];
    unsigned n = load_index(e, MAX_ENTRIES);
    DIR *d = opendir(CORPUS);
    ATF_REQUIRE(d != NULL);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 6, ".trace") != 0)
            continue;
        bool found = false;
        for (unsigned i = 0; i < n && !found; i++)
            found = strcmp(e[i].file, de->d_name) == 0;
        ATF_CHECK_MSG(found, "%s/%s is not listed in INDEX (add it with a one-line description)",
                      CORPUS, de->d_name);
    }
    closedir(d);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, fresh_runs_end_as_expected);
    ATF_TP_ADD_TC(tp, replays_are_exact);
    ATF_TP_ADD_TC(tp, every_trace_is_indexed);
    return atf_no_error();
}
