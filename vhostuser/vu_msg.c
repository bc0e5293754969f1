/* The vhost-user message layer: framing with fds (SCM_RIGHTS), the shape
 * rules of every request, and replies. A front end is hostile input: a
 * message is read with a deadline, its fds are counted wherever they came
 * and closed when not taken, and nothing about it is trusted before
 * vu_msg_check. */
#define _GNU_SOURCE /* accept4, MSG_CMSG_CLOEXEC */
#include "vhostuser/vu_priv.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define VRING_STATE 8u  /* u32 index, u32 num */
#define VRING_ADDR 40u  /* u32 index, u32 flags, u64 desc, used, avail, log */

static const struct vu_rule rules[] = {
    {VU_GET_FEATURES, "GET_FEATURES", VU_SZ_FIXED, 0, VU_FD_NONE, VU_IDX_NONE, true},
    {VU_SET_FEATURES, "SET_FEATURES", VU_SZ_FIXED, 8, VU_FD_NONE, VU_IDX_NONE, false},
    {VU_SET_OWNER, "SET_OWNER", VU_SZ_FIXED, 0, VU_FD_NONE, VU_IDX_NONE, false},
    {VU_RESET_OWNER, "RESET_OWNER", VU_SZ_FIXED, 0, VU_FD_NONE, VU_IDX_NONE, false},
    {VU_SET_MEM_TABLE, "SET_MEM_TABLE", VU_SZ_MEM, 0, VU_FD_MEM, VU_IDX_NONE, false},
    {VU_SET_VRING_NUM, "SET_VRING_NUM", VU_SZ_FIXED, VRING_STATE, VU_FD_NONE, VU_IDX_STATE, false},
    {VU_SET_VRING_ADDR, "SET_VRING_ADDR", VU_SZ_FIXED, VRING_ADDR, VU_FD_NONE, VU_IDX_STATE, false},
    {VU_SET_VRING_BASE, "SET_VRING_BASE", VU_SZ_FIXED, VRING_STATE, VU_FD_NONE, VU_IDX_STATE, false},
    {VU_GET_VRING_BASE, "GET_VRING_BASE", VU_SZ_FIXED, VRING_STATE, VU_FD_NONE, VU_IDX_STATE, true},
    {VU_SET_VRING_KICK, "SET_VRING_KICK", VU_SZ_FIXED, 8, VU_FD_VRING, VU_IDX_U64, false},
    {VU_SET_VRING_CALL, "SET_VRING_CALL", VU_SZ_FIXED, 8, VU_FD_VRING, VU_IDX_U64, false},
    {VU_SET_VRING_ERR, "SET_VRING_ERR", VU_SZ_FIXED, 8, VU_FD_VRING, VU_IDX_U64, false},
    {VU_GET_PROTOCOL_FEATURES, "GET_PROTOCOL_FEATURES", VU_SZ_FIXED, 0, VU_FD_NONE, VU_IDX_NONE,
     true},
    {VU_SET_PROTOCOL_FEATURES, "SET_PROTOCOL_FEATURES", VU_SZ_FIXED, 8, VU_FD_NONE, VU_IDX_NONE,
     false},
    {VU_GET_QUEUE_NUM, "GET_QUEUE_NUM", VU_SZ_FIXED, 0, VU_FD_NONE, VU_IDX_NONE, true},
    {VU_SET_VRING_ENABLE, "SET_VRING_ENABLE", VU_SZ_FIXED, VRING_STATE, VU_FD_NONE, VU_IDX_STATE,
     false},
    {VU_GET_CONFIG, "GET_CONFIG", VU_SZ_CONFIG, 0, VU_FD_NONE, VU_IDX_NONE, true},
    {VU_SET_CONFIG, "SET_CONFIG", VU_SZ_CONFIG, 0, VU_FD_NONE, VU_IDX_NONE, false},
};

const struct vu_rule *vu_rule_find(uint32_t request)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (rules[i].request == request)
            return &rules[i];
    return NULL;
}

const char *vu_request_name(uint32_t req)
{
    const struct vu_rule *r = vu_rule_find(req);
    return r != NULL ? r->name : "UNKNOWN";
}

static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const char *check_size(const struct vu_rule *r, const struct vu_msg *m)
{
    switch (r->size_kind) {
    case VU_SZ_FIXED:
        return m->size == r->size ? NULL : "payload size does not match the request";
    case VU_SZ_MEM: {
        if (m->size < 8)
            return "memory table shorter than its header";
        uint32_t n = ld32(m->payload);
        if (n == 0 || n > VU_MAX_REGIONS)
            return "memory table region count out of range";
        return m->size == 8 + n * VU_REGION_BYTES ? NULL : "memory table size does not match its regions";
    }
    case VU_SZ_CONFIG: {
        if (m->size < VU_CONFIG_HDR)
            return "config message shorter than its header";
        uint32_t len = ld32(m->payload + 4);
        if (len > VU_CONFIG_MAX)
            return "config size beyond 256 bytes";
        return m->size == VU_CONFIG_HDR + len ? NULL : "config size does not match the payload";
    }
    }
    return "no size rule";
}

static unsigned fds_expected(const struct vu_rule *r, const struct vu_msg *m)
{
    switch (r->fd_kind) {
    case VU_FD_NONE:
        return 0;
    case VU_FD_MEM:
        return ld32(m->payload);
    case VU_FD_VRING:
        return (ld32(m->payload) & VU_VRING_NOFD) ? 0 : 1;
    }
    return 0;
}

static const char *check_index(const struct vu_rule *r, const struct vu_msg *m)
{
    uint32_t idx;
    switch (r->idx_kind) {
    case VU_IDX_NONE:
        return NULL;
    case VU_IDX_STATE:
        idx = ld32(m->payload);
        break;
    case VU_IDX_U64:
        if (ld32(m->payload) & ~(VU_VRING_IDX_MASK | VU_VRING_NOFD))
            return "reserved bits set in a vring fd message";
        if (ld32(m->payload + 4) != 0)
            return "reserved bits set in a vring fd message";
        idx = ld32(m->payload) & VU_VRING_IDX_MASK;
        break;
    default:
        return NULL;
    }
    return idx < VU_NUM_RINGS ? NULL : "queue index out of range (only rx 0 and tx 1)";
}

const char *vu_msg_check(const struct vu_rule *r, const struct vu_msg *m)
{
    const char *why = check_size(r, m);
    if (why != NULL)
        return why;
    if (m->nfds != fds_expected(r, m))
        return m->nfds > fds_expected(r, m) ? "more fds than the request takes"
                                            : "fewer fds than the request takes";
    return check_index(r, m);
}

void vu_msg_close_fds(struct vu_msg *m)
{
    for (unsigned i = 0; i < m->nfds; i++)
        if (m->fds[i] >= 0)
            close(m->fds[i]);
    m->nfds = 0;
}

/* Takes the fds of one control message; false when there were too many. */
static bool collect_fds(struct vu_msg *m, struct msghdr *mh)
{
    bool ok = (mh->msg_flags & MSG_CTRUNC) == 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof(int), sizeof(int));
            if (m->nfds < VU_MAX_FDS) {
                m->fds[m->nfds++] = fd;
            } else {
                close(fd);
                ok = false;
            }
        }
    }
    return ok;
}

static bool wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    do
        r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0;
}

/* Reads exactly len bytes (collecting fds); 1 ok, 0 EOF at offset 0, -1 bad. */
static int read_full(int fd, struct vu_msg *m, uint8_t *buf, size_t len, int timeout_ms,
                     const char **why)
{
    size_t got = 0;
    while (got < len) {
        union {
            char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {.iov_base = buf + got, .iov_len = len - got};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                            .msg_controllen = sizeof(ctl.buf)};
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n > 0 && !collect_fds(m, &mh)) {
            *why = "more than 8 fds";
            return -1;
        }
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0) {
            *why = got == 0 ? "front end closed" : "front end closed inside a message";
            return got == 0 ? 0 : -1;
        }
        if (errno == EINTR)
            continue;
        if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait_readable(fd, timeout_ms)) {
            *why = errno == EAGAIN ? "message not completed in time" : "read error";
            return -1;
        }
    }
    return 1;
}

enum vu_read vu_msg_read(int fd, struct vu_msg *m, int timeout_ms, const char **why)
{
    uint8_t hdr[VU_HDR_SIZE];
    m->nfds = 0;
    m->size = 0;
    int r = read_full(fd, m, hdr, sizeof(hdr), timeout_ms, why);
    if (r <= 0)
        return r == 0 && m->nfds == 0 ? VU_READ_EOF : VU_READ_BAD;
    m->request = ld32(hdr);
    m->flags = ld32(hdr + 4);
    m->size = ld32(hdr + 8);
    if ((m->flags & VU_FLAG_VERSION_MASK) != VU_VERSION) {
        *why = "wrong protocol version";
        return VU_READ_BAD;
    }
    if (m->flags & VU_FLAG_REPLY) {
        *why = "a reply where a request belongs";
        return VU_READ_BAD;
    }
    if (m->size > VU_MAX_PAYLOAD) {
        *why = "payload larger than any request";
        return VU_READ_BAD;
    }
    r = read_full(fd, m, m->payload, m->size, timeout_ms, why);
    if (r <= 0) {
        if (r == 0)
            *why = "front end closed inside a message";
        return VU_READ_BAD;
    }
    return VU_READ_OK;
}

static void st32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int vu_msg_reply(int fd, uint32_t request, const void *payload, uint32_t size)
{
    uint8_t buf[VU_HDR_SIZE + VU_CONFIG_HDR + VU_CONFIG_MAX];
    if (size > sizeof(buf) - VU_HDR_SIZE)
        return -EINVAL;
    st32(buf, request);
    st32(buf + 4, VU_VERSION | VU_FLAG_REPLY);
    st32(buf + 8, size);
    if (size > 0)
        memcpy(buf + VU_HDR_SIZE, payload, size);
    size_t len = VU_HDR_SIZE + size, off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 2000) > 0)
                continue;
        }
        if (n <= 0)
            return -errno;
        off += (size_t)n;
    }
    return 0;
}
