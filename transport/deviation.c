/* The registry of named deviations from Linux: one table, names and reasons.
 * A deviation is where the model deliberately does not do what Debian's
 * kernel does; Linux's rule is always the default, and each entry here is
 * documented with the kernel's evidence in conformance/known-differences.txt.
 * Entries may belong to any module (the module column says whose rule
 * changes); their bits travel in vep_cfg.deviate. */
#include "transport/transport.h"

#include <stdio.h>
#include <string.h>

static const struct vsock_deviation_info table[VSOCK_DEV_COUNT] = {
    [VSOCK_DEV_BAD_CREDIT] = {"bad-credit", "transport",
                              "a fwd_cnt that moves backwards or past what was sent is ignored and "
                              "counted (Linux takes it as is and may stall)"},
    [VSOCK_DEV_SEQPACKET_WHOLE] = {"seqpacket-whole", "transport",
                                   "a seqpacket message is queued whole or not at all (EAGAIN); "
                                   "Linux sends what credit allows, and a non-blocking send that "
                                   "runs out leaves a fragment the next message completes"},
    [VSOCK_DEV_SNDBUF_BOUND] = {"sndbuf-bound", "transport",
                                "each socket's queued, unsent payload is bounded (max_sndbuf, "
                                "1 MiB), whatever buf_alloc the peer advertises; Linux bounds it "
                                "by credit alone"},
    [VSOCK_DEV_RETURN_BAD_CHAINS] = {"return-bad-chains", "device",
                                     "a malformed chain comes back with used len 0 and no queue "
                                     "error, and a ring error consumes its head; vhost keeps "
                                     "the chain with a queue error (or stops at it)"},
    [VSOCK_DEV_REPLY_BUDGET] = {"reply-budget", "driver",
                                "the guest keeps taking rx while its replies wait for tx, until "
                                "the socket layer's reply budget is spent; Linux's guest stops at "
                                "an rx ring's worth, and with vhost stopping tx at a tx ring's "
                                "worth the two can wait on each other for ever "
                                "(traces/corpus/linux-reply-pause-deadlock.md)"},
};

const struct vsock_deviation_info *vsock_deviation(unsigned d)
{
    return d < VSOCK_DEV_COUNT ? &table[d] : NULL;
}

static int find(const char *s, size_t n)
{
    for (unsigned d = 0; d < VSOCK_DEV_COUNT; d++)
        if (strlen(table[d].name) == n && memcmp(table[d].name, s, n) == 0)
            return (int)d;
    return -1;
}

static void known_names(char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned d = 0; d < VSOCK_DEV_COUNT && used < len; d++) {
        int n = snprintf(buf + used, len - used, "%s%s", d ? ", " : "", table[d].name);
        if (n < 0)
            return;
        used += (size_t)n;
    }
}

int vsock_deviations_parse(const char *s, uint64_t *mask, char *err, size_t errlen)
{
    char names[256];
    known_names(names, sizeof(names));
    if (s == NULL || *s == '\0') {
        snprintf(err, errlen, "no deviation named (known: %s, or none, all)", names);
        return -1;
    }
    if (strcmp(s, "none") == 0) {
        *mask = 0;
        return 0;
    }
    if (strcmp(s, "all") == 0) {
        *mask = VSOCK_DEV_ALL;
        return 0;
    }
    uint64_t m = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        int d = find(p, n);
        if (d < 0) {
            if (n == 0)
                snprintf(err, errlen, "an empty name in '%s' (known: %s)", s, names);
            else
                snprintf(err, errlen, "unknown deviation '%.*s' (known: %s)", (int)n, p, names);
            return -1;
        }
        m |= VSOCK_DEV_BIT(d);
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *mask = m;
    return 0;
}

int vsock_deviations_format(uint64_t mask, char *buf, size_t len)
{
    if (mask == 0)
        return snprintf(buf, len, "none");
    int total = 0;
    for (unsigned bit = 0; bit < 64; bit++) {
        if (!(mask & (UINT64_C(1) << bit)))
            continue;
        size_t used = (size_t)total < len ? (size_t)total : len;
        const char *sep = total ? "," : "";
        int n = bit < VSOCK_DEV_COUNT
                    ? snprintf(buf + used, len - used, "%s%s", sep, table[bit].name)
                    : snprintf(buf + used, len - used, "%sbit%u", sep, bit);
        if (n < 0)
            return n;
        total += n;
    }
    return total;
}
