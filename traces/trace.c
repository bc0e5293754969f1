/* What readers and writers of traces share: names, field rules, the header's
 * options and the payload checksum. */
#include "traces/trace_internal.h"

#include <errno.h>
#include <string.h>

static bool all_chars(const char *s, size_t max, bool (*ok)(char))
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (n == max || !ok(s[n]))
            return false;
    return n > 0;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || c == '-';
}

static bool key_char(char c)
{
    return name_char(c) || (c >= '0' && c <= '9');
}

static bool token_char(char c)
{
    return c > ' ' && c < 0x7f;
}

bool trace_is_name(const char *s, size_t max)
{
    return s != NULL && all_chars(s, max, name_char);
}

bool trace_is_key(const char *s, size_t max)
{
    return s != NULL && all_chars(s, max, key_char);
}

bool trace_is_token(const char *s, size_t max)
{
    return s != NULL && all_chars(s, max, token_char);
}

static const char *const status_names[] = {
    [TRACE_OK] = "ok",
    [TRACE_VIOLATION] = "violation",
    [TRACE_DIVERGENCE] = "divergence",
    [TRACE_ERROR] = "error",
};
#define NSTATUS (sizeof status_names / sizeof status_names[0])

const char *trace_status_name(enum trace_status s)
{
    return (unsigned)s < NSTATUS ? status_names[s] : "status?";
}

bool trace_status_parse(const char *s, enum trace_status *out)
{
    for (unsigned i = 0; i < NSTATUS; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (enum trace_status)i;
            return true;
        }
    }
    return false;
}

const char *trace_rec_type_name(enum trace_rec_type t)
{
    switch (t) {
    case TRACE_DECISION: return "decision";
    case TRACE_PACKET: return "packet";
    case TRACE_FAULT: return "fault";
    case TRACE_NOTE: return "note";
    case TRACE_END: return "end";
    }
    return "record?";
}

const char *trace_dir_name(enum trace_dir d)
{
    switch (d) {
    case TRACE_G2H: return "g2h";
    case TRACE_H2G: return "h2g";
    }
    return "dir?";
}

/* transport/ marks a value without a name with a '?' ("OP?", "TYPE?"). */
static const char *known(const char *name)
{
    return strchr(name, '?') == NULL ? name : NULL;
}

const char *trace_op_known(uint16_t op)
{
    return known(vsock_op_name(op));
}

const char *trace_type_known(uint16_t type)
{
    return known(vsock_type_name(type));
}

int trace_header_add_option(struct trace_header *h, const char *key, const char *value)
{
    if (!trace_is_key(key, TRACE_FIELD_MAX) || !trace_is_token(value, TRACE_FIELD_MAX) ||
        trace_header_option(h, key) != NULL)
        return -EINVAL;
    if (h->noptions >= TRACE_MAX_OPTIONS)
        return -ENOSPC;
    struct trace_option *o = &h->options[h->noptions++];
    strcpy(o->key, key);
    strcpy(o->value, value);
    return 0;
}

const char *trace_header_option(const struct trace_header *h, const char *key)
{
    unsigned n = h->noptions < TRACE_MAX_OPTIONS ? h->noptions : TRACE_MAX_OPTIONS;
    for (unsigned i = 0; i < n; i++)
        if (strcmp(h->options[i].key, key) == 0)
            return h->options[i].value;
    return NULL;
}

/* A nibble at a time: 16 constant entries instead of 256, and still 4x
 * fewer steps than bit by bit (payloads are up to 64 KiB per packet). */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
    0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
    0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
};

uint32_t trace_crc32_update(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return ~crc;
}

uint32_t trace_crc32(const void *data, size_t len)
{
    return trace_crc32_update(0, data, len);
}
