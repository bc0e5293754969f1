/* Shared harness plumbing: the harness table, findings, the input cursor. */
#include "fuzz/fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct fuzz_harness harnesses[] = {
    {"sim", fuzz_sim_one, FUZZ_SIM_MAX_LEN, fuzz_sim_prepare},
    {"guest", fuzz_guest_one, FUZZ_GUEST_MAX_LEN, NULL},
    {"device", fuzz_device_one, FUZZ_DEVICE_MAX_LEN, NULL},
    {"parsers", fuzz_parsers_one, FUZZ_PARSERS_MAX_LEN, NULL},
};

#define NHARNESSES (sizeof(harnesses) / sizeof(harnesses[0]))

const struct fuzz_harness *fuzz_harness_list(size_t *count)
{
    *count = NHARNESSES;
    return harnesses;
}

const struct fuzz_harness *fuzz_harness_find(const char *name)
{
    for (size_t i = 0; i < NHARNESSES; i++)
        if (strcmp(harnesses[i].name, name) == 0)
            return &harnesses[i];
    return NULL;
}

void fuzz_found(struct fuzz_report *rep, const char *fmt, ...)
{
    if (rep->outcome == FUZZ_FINDING)
        return;
    rep->outcome = FUZZ_FINDING;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->why, sizeof(rep->why), fmt, ap);
    va_end(ap);
}

void fuzz_in_init(struct fuzz_in *in, const uint8_t *data, size_t len)
{
    in->p = data;
    in->len = data != NULL ? len : 0;
    in->pos = 0;
}

bool fuzz_in_done(const struct fuzz_in *in)
{
    return in->pos >= in->len;
}

uint8_t fuzz_u8(struct fuzz_in *in)
{
    return in->pos < in->len ? in->p[in->pos++] : 0;
}

uint16_t fuzz_u16(struct fuzz_in *in)
{
    uint16_t lo = fuzz_u8(in);
    return (uint16_t)(lo | (uint16_t)fuzz_u8(in) << 8);
}

uint32_t fuzz_u32(struct fuzz_in *in)
{
    uint32_t lo = fuzz_u16(in);
    return lo | (uint32_t)fuzz_u16(in) << 16;
}

uint64_t fuzz_u64(struct fuzz_in *in)
{
    uint64_t lo = fuzz_u32(in);
    return lo | (uint64_t)fuzz_u32(in) << 32;
}

size_t fuzz_bytes(struct fuzz_in *in, void *dst, size_t n)
{
    size_t left = in->len - in->pos;
    if (in->pos >= in->len)
        left = 0;
    if (n > left)
        n = left;
    if (n > 0)
        memcpy(dst, in->p + in->pos, n);
    in->pos += n;
    return n;
}
