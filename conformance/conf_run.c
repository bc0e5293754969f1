/* The runner: applicability, capabilities, one fresh target per seed, the
 * failure jump, and the health of the target after the body. */
#include "conformance/conf_run.h"
#include "conformance/conf_target.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- seeds ---- */

/* A decimal number from *p; false when there is none or it overflows. */
static bool parse_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

static int seeds_add(struct conf_seeds *out, uint64_t seed, char *err, size_t errlen)
{
    if (out->n == CONF_MAX_SEEDS) {
        snprintf(err, errlen, "seeds: more than %u seeds", CONF_MAX_SEEDS);
        return -1;
    }
    out->seed[out->n++] = seed;
    return 0;
}

static int seeds_range(struct conf_seeds *out, uint64_t a, uint64_t b, char *err, size_t errlen)
{
    if (b < a || b - a >= CONF_MAX_SEEDS) {
        snprintf(err, errlen, "seeds: range %" PRIu64 "-%" PRIu64 " is empty or longer than %u",
                 a, b, CONF_MAX_SEEDS);
        return -1;
    }
    for (uint64_t s = a; s <= b; s++)
        if (seeds_add(out, s, err, errlen) < 0)
            return -1;
    return 0;
}

int conf_seeds_parse(const char *spec, struct conf_seeds *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (spec == NULL || *spec == '\0')
        return seeds_range(out, 1, CONF_DEFAULT_SEEDS, err, errlen);
    const char *p = spec;
    uint64_t a = 0, b = 0;
    if (!parse_u64(&p, &a))
        goto bad;
    if (*p == '\0') /* a count */
        return a == 0 ? (snprintf(err, errlen, "seeds: a count of 0 runs nothing"), -1)
                      : seeds_range(out, 1, a, err, errlen);
    if (*p == '-') {
        p++;
        if (!parse_u64(&p, &b) || *p != '\0')
            goto bad;
        return seeds_range(out, a, b, err, errlen);
    }
    for (;;) { /* a list */
        if (*p != ',' && *p != '\0')
            goto bad;
        if (seeds_add(out, a, err, errlen) < 0)
            return -1;
        if (*p == '\0')
            return 0;
        p++;
        if (!parse_u64(&p, &a))
            goto bad;
    }
bad:
    snprintf(err, errlen, "seeds: '%s' is not N, A-B or a,b,c", spec);
    return -1;
}

int conf_runcfg_parse(const char *seeds, const char *linux_ver, struct conf_runcfg *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (conf_seeds_parse(seeds, &out->seeds, err, errlen) < 0)
        return -1;
    out->linux_ver = VSOCK_LINUX_DEFAULT;
    if (linux_ver == NULL || *linux_ver == '\0')
        return 0;
    if (vsock_linux_parse(linux_ver, &out->linux_ver) < 0) {
        snprintf(err, errlen, "linux: '%s' is not a profile (6.1 or 6.12)", linux_ver);
        return -1;
    }
    return 0;
}

/* ---- one run ---- */

static enum conf_verdict run_once(const struct conf_runnable *r, const char *target,
                                  const struct conf_runcfg *rc, uint64_t seed, const char *label,
                                  char *msg, size_t len)
{
    struct conf_opts o;
    memset(&o, 0, sizeof(o));
    if (r->opts != NULL)
        o = *r->opts;
    o.seed = seed;
    o.linux_ver = rc->linux_ver;
    char why[512] = "";
    struct conf *c = conf_open(target, &o, why, sizeof(why));
    if (c == NULL) {
        snprintf(msg, len, "%sopening target %s failed: %s", label, target, why);
        return CONF_FAIL;
    }
    unsigned missing = r->caps & ~conf_caps(c);
    if (missing != 0) {
        char caps[64];
        conf_cap_names(missing, caps, sizeof(caps));
        conf_close(c, why, sizeof(why));
        snprintf(msg, len, "needs %s, which target %s does not offer", caps, target);
        return CONF_SKIP;
    }
    /* conf_fail writes into msg (the caller's, so it survives the jump)
     * and comes back here; the target is closed either way. */
    jmp_buf env;
    conf_set_fail_jump(c, &env, msg, len);
    if (setjmp(env) != 0) {
        bool healthy = conf_close(c, why, sizeof(why));
        if (*label != '\0' && strlen(msg) + strlen(label) < len) {
            memmove(msg + strlen(label), msg, strlen(msg) + 1);
            memcpy(msg, label, strlen(label));
        }
        /* The target's own finding often explains the failure. */
        if (!healthy && strlen(msg) + 1 < len)
            snprintf(msg + strlen(msg), len - strlen(msg), "\n  (target %s: %s)", target, why);
        return CONF_FAIL;
    }
    r->body(c, r->arg);
    if (!conf_close(c, why, sizeof(why))) {
        snprintf(msg, len, "%sthe case passed but target %s became unhealthy: %s", label,
                 target, why);
        return CONF_FAIL;
    }
    return CONF_PASS;
}

enum conf_verdict conf_run(const struct conf_runnable *r, const char *target,
                           const struct conf_runcfg *rc, char *msg, size_t len)
{
    const struct conf_seeds *seeds = &rc->seeds;
    msg[0] = '\0';
    const struct conf_target_ops *ops = conf_target_find(target);
    char why[512] = "";
    bool known;
    if (ops == NULL) {
        conf_target_available(target, &known, why, sizeof(why));
        snprintf(msg, len, "%s", why);
        return CONF_FAIL;
    }
    if (!(r->targets & ops->mask)) {
        char names[64];
        conf_mask_names(r->targets, names, sizeof(names));
        snprintf(msg, len, "%s applies to %s, not to target %s", r->name, names, target);
        return CONF_SKIP;
    }
    if (!conf_target_available(target, &known, why, sizeof(why))) {
        snprintf(msg, len, "target %s is not available here: %s", target, why);
        return CONF_SKIP;
    }
    /* Only the simulator has seeds; a real target runs each case once. */
    unsigned runs = ops->mask == CONF_SIM ? seeds->n : 1;
    for (unsigned i = 0; i < runs; i++) {
        char label[48] = "";
        if (ops->mask == CONF_SIM)
            snprintf(label, sizeof(label), "seed %" PRIu64 ": ", seeds->seed[i]);
        enum conf_verdict v = run_once(r, target, rc, ops->mask == CONF_SIM ? seeds->seed[i] : 0,
                                       label, msg, len);
        if (v != CONF_PASS)
            return v;
    }
    return CONF_PASS;
}

static void case_body(struct conf *c, const void *arg)
{
    const struct conf_case *k = arg;
    k->body(c);
}

enum conf_verdict conf_run_case(const struct conf_case *k, const char *target,
                                const struct conf_runcfg *rc, char *msg, size_t len)
{
    struct conf_runnable r = {
        .name = k->name,
        .targets = k->targets,
        .caps = k->caps,
        .opts = k->opts,
        .body = case_body,
        .arg = k,
    };
    return conf_run(&r, target, rc, msg, len);
}
