/*
 * Running a case (or a script) against a target, independent of the test
 * framework: the ATF glue (conf_atf.h) and any other driver (an in-guest
 * runner) turn the verdict into their own pass / fail / skip.
 *
 * A case runs once per seed on the sim target (the interleavings differ,
 * the verdict must not) and once on real targets, where there is no seed.
 * Each run gets a fresh target; a failed assertion, or a target that became
 * unhealthy (sim: the invariant oracle found a violation), fails the case.
 */
#ifndef VSOCKSIM_CONF_RUN_H
#define VSOCKSIM_CONF_RUN_H

#include <setjmp.h>

#include "conformance/conf.h"

enum conf_verdict { CONF_PASS, CONF_FAIL, CONF_SKIP };

#define CONF_MAX_SEEDS 64u
#define CONF_DEFAULT_SEEDS 3u

struct conf_seeds {
    uint64_t seed[CONF_MAX_SEEDS];
    unsigned n;
};

/* Parses the `seeds` config value: "N" (seeds 1..N), "A-B" (seeds A..B) or
 * "a,b,c"; NULL or "" gives 1..CONF_DEFAULT_SEEDS. 0, or -1 with a message. */
int conf_seeds_parse(const char *spec, struct conf_seeds *out, char *err, size_t errlen);

/* What a whole run shares: the seeds (sim) and the Linux profile, whose
 * rules the sim target's model follows and which the real targets check
 * against the kernel they run on. */
struct conf_runcfg {
    struct conf_seeds seeds;
    enum vsock_linux linux_ver;
};
/* The `seeds` and `linux` config values ("6.1" or "6.12"; NULL or "" for
 * the default): 0, or -1 with a message. */
int conf_runcfg_parse(const char *seeds, const char *linux_ver, struct conf_runcfg *out,
                      char *err, size_t errlen);

/* What a run needs to know about the thing it runs. */
struct conf_runnable {
    const char *name;
    unsigned targets;
    unsigned caps;
    const struct conf_opts *opts; /* or NULL */
    void (*body)(struct conf *c, const void *arg);
    const void *arg;
};

/* Runs r on the target under every seed; msg gets the reason for a fail or
 * a skip ("seed 2: conformance/cases_x.c:40: ..."). */
enum conf_verdict conf_run(const struct conf_runnable *r, const char *target,
                           const struct conf_runcfg *rc, char *msg, size_t len);
/* The same for a C case. */
enum conf_verdict conf_run_case(const struct conf_case *k, const char *target,
                                const struct conf_runcfg *rc, char *msg, size_t len);

/* For the runner: where conf_fail jumps and writes (conf.c). */
void conf_set_fail_jump(struct conf *c, jmp_buf *env, char *msg, size_t len);

#endif
