/* The fault catalogue: names, what each does, and the --faults syntax. Rates
 * are parsed into parts per million with integer arithmetic only, so a rate
 * means the same thing on every compiler. */
#include "sim/prng.h"
#include "sim/sim.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    const char *help;
} catalogue[FAULT_COUNT] = {
    [FAULT_KICK_DELAY] = {"kick-delay", "per kick: delivered 10 us to 2 ms late instead of 0.2-2 us"},
    [FAULT_IRQ_DELAY] = {"irq-delay", "per interrupt: delivered 10 us to 2 ms late"},
    [FAULT_SPURIOUS_KICK] = {"spurious-kick", "per step: a kick on a random queue with nothing new"},
    [FAULT_SPURIOUS_IRQ] = {"spurious-irq", "per step: an interrupt on a random queue with nothing new"},
    [FAULT_RX_STARVE] = {"rx-starve", "per rx interrupt: the driver stops refilling rx for up to 5 ms"},
    [FAULT_TINY_RINGS] = {"tiny-rings", "per run: every queue has 1 to 4 entries"},
    [FAULT_HOST_STALL] = {"host-stall", "per host app step: the app stops for up to 20 ms (credit runs out)"},
    [FAULT_GUEST_STALL] = {"guest-stall", "per guest app step: the app stops for up to 20 ms"},
    [FAULT_PEER_RESET] = {"peer-reset", "per app step on a connection: that side aborts it with RST"},
    [FAULT_TRANSPORT_RESET] = {"transport-reset", "per step: the device sends TRANSPORT_RESET"},
    [FAULT_DEVICE_RESTART] = {"device-restart", "per step: device reset, rings set up again"},
    [FAULT_CONNECT_TIMEOUT] = {"connect-timeout", "per connect: the device stalls 2.5 s, past the 2 s connect timeout"},
    [FAULT_DEVICE_PAUSE] = {"device-pause", "per step: a VM stop of up to 5 ms, then cont (vhost stopped and started where it was); nothing may be lost"},
};

const char *sim_fault_name(enum sim_fault f)
{
    return (unsigned)f < FAULT_COUNT ? catalogue[f].name : "fault?";
}

const char *sim_fault_help(enum sim_fault f)
{
    return (unsigned)f < FAULT_COUNT ? catalogue[f].help : "";
}

static int fault_by_name(const char *name, size_t len)
{
    for (int i = 0; i < FAULT_COUNT; i++)
        if (strlen(catalogue[i].name) == len && memcmp(catalogue[i].name, name, len) == 0)
            return i;
    return -1;
}

/* "0", "1", "0.05", "1.0", ".5": at most 6 decimals, value in [0, 1]. */
static int parse_rate(const char *s, size_t len, uint32_t *ppm)
{
    uint64_t whole = 0, frac = 0, scale = PPM;
    size_t i = 0;
    bool digits = false;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        whole = whole * 10 + (uint64_t)(s[i++] - '0');
        digits = true;
        if (whole > 1)
            return -1;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (scale == 1)
                return -1; /* finer than one part per million */
            scale /= 10;
            frac += (uint64_t)(s[i++] - '0') * scale;
            digits = true;
        }
    }
    if (!digits || i != len)
        return -1;
    uint64_t v = whole * PPM + frac;
    if (v > PPM)
        return -1;
    *ppm = (uint32_t)v;
    return 0;
}

static int parse_item(const char *item, size_t len, struct sim_faults *out, char *err,
                      size_t errlen)
{
    const char *eq = memchr(item, '=', len);
    if (eq == NULL) {
        snprintf(err, errlen, "fault '%.*s' has no rate (write name=RATE, e.g. kick-delay=0.1)",
                 (int)len, item);
        return -1;
    }
    size_t nlen = (size_t)(eq - item);
    uint32_t ppm;
    if (parse_rate(eq + 1, len - nlen - 1, &ppm) < 0) {
        snprintf(err, errlen, "fault '%.*s': rate '%.*s' is not a number between 0 and 1",
                 (int)nlen, item, (int)(len - nlen - 1), eq + 1);
        return -1;
    }
    if (nlen == 3 && memcmp(item, "all", 3) == 0) {
        for (int i = 0; i < FAULT_COUNT; i++)
            out->ppm[i] = ppm;
        return 0;
    }
    int f = fault_by_name(item, nlen);
    if (f < 0) {
        snprintf(err, errlen, "unknown fault '%.*s' (vsocksim faults lists them)", (int)nlen, item);
        return -1;
    }
    out->ppm[f] = ppm;
    return 0;
}

int sim_faults_parse(const char *spec, struct sim_faults *out, char *err, size_t errlen)
{
    struct sim_faults f;
    memset(&f, 0, sizeof(f));
    if (strcmp(spec, "none") == 0 || spec[0] == '\0') {
        *out = f;
        return 0;
    }
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0) {
            snprintf(err, errlen, "empty item in fault list '%s'", spec);
            return -1;
        }
        if (parse_item(p, len, &f, err, errlen) < 0)
            return -1;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *out = f;
    return 0;
}

void sim_faults_format(const struct sim_faults *f, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < FAULT_COUNT && used < len; i++) {
        if (f->ppm[i] == 0)
            continue;
        uint32_t frac = f->ppm[i] % PPM;
        char rate[16];
        if (frac == 0) {
            snprintf(rate, sizeof(rate), "%u", f->ppm[i] / PPM);
        } else {
            snprintf(rate, sizeof(rate), "%u.%06u", f->ppm[i] / PPM, frac);
            char *end = rate + strlen(rate) - 1;
            while (*end == '0')
                *end-- = '\0'; /* 0.050000 -> 0.05 */
        }
        int n = snprintf(buf + used, len - used, "%s%s=%s", used ? "," : "", catalogue[i].name, rate);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (used == 0)
        snprintf(buf, len, "none");
}
