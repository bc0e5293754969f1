/* The control channel's wire format (vu_ctl.h), shared by the backend and
 * the guest target, and the read/write loops both ends use. */
#include "vhostuser/vu_ctl.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const op_names[VCTL_OP_END_] = {
    [VCTL_HELLO] = "HELLO",         [VCTL_END] = "END",
    [VCTL_SOCKET] = "SOCKET",       [VCTL_BIND] = "BIND",
    [VCTL_LISTEN] = "LISTEN",       [VCTL_ACCEPT] = "ACCEPT",
    [VCTL_CONNECT] = "CONNECT",     [VCTL_SEND] = "SEND",
    [VCTL_RECV] = "RECV",           [VCTL_SHUTDOWN] = "SHUTDOWN",
    [VCTL_CLOSE] = "CLOSE",         [VCTL_POLL] = "POLL",
    [VCTL_SOCK_ERROR] = "SOCK_ERROR", [VCTL_SET_BUF_SIZE] = "SET_BUF_SIZE",
    [VCTL_SET_RCVLOWAT] = "SET_RCVLOWAT", [VCTL_LOCAL_PORT] = "LOCAL_PORT",
    [VCTL_PEER_NAME] = "PEER_NAME", [VCTL_DROPS] = "DROPS",
    [VCTL_RAW_BEGIN] = "RAW_BEGIN", [VCTL_RAW_SEND] = "RAW_SEND",
    [VCTL_RAW_RECV] = "RAW_RECV", [VCTL_PKTLOG] = "PKTLOG",
    [VCTL_SET_BUF_MAX] = "SET_BUF_MAX", [VCTL_SET_BUF_MIN] = "SET_BUF_MIN",
    [VCTL_DEVICE_STOP] = "DEVICE_STOP", [VCTL_DEVICE_START] = "DEVICE_START",
    [VCTL_USED_LEN_EXTRA] = "USED_LEN_EXTRA",
    [VCTL_OUTQ] = "OUTQ",           [VCTL_SIGPIPES] = "SIGPIPES",
    [VCTL_TXLOG] = "TXLOG",
    [VCTL_REPLY_STATE] = "REPLY_STATE",
    [VCTL_REPLY_BOUND] = "REPLY_BOUND",
};

const char *vctl_op_name(uint16_t op)
{
    return op < VCTL_OP_END_ && op_names[op] != NULL ? op_names[op] : "op?";
}

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

size_t vctl_encode(const struct vctl_msg *m, uint8_t *buf, size_t cap)
{
    if (m->dlen > VCTL_MAX_DATA || (m->dlen > 0 && m->data == NULL))
        return 0;
    size_t total = VCTL_HDR + VCTL_FIXED + m->dlen;
    if (total > cap)
        return 0;
    put_le(buf, VCTL_MAGIC, 4);
    put_le(buf + 4, VCTL_VERSION, 2);
    put_le(buf + 6, m->op, 2);
    put_le(buf + 8, m->seq, 4);
    put_le(buf + 12, VCTL_FIXED + m->dlen, 4);
    for (unsigned i = 0; i < VCTL_NVAL; i++)
        put_le(buf + VCTL_HDR + 8 * i, m->v[i], 8);
    if (m->dlen > 0)
        memcpy(buf + VCTL_HDR + VCTL_FIXED, m->data, m->dlen);
    return total;
}

int vctl_parse_header(const uint8_t hdr[VCTL_HDR], uint16_t *op, uint32_t *seq, uint32_t *body,
                      const char **why)
{
    *op = (uint16_t)get_le(hdr + 6, 2);
    *seq = (uint32_t)get_le(hdr + 8, 4);
    *body = (uint32_t)get_le(hdr + 12, 4);
    if (get_le(hdr, 4) != VCTL_MAGIC) {
        *why = "bad magic (not a control message, or the stream lost its framing)";
        return -EPROTO;
    }
    if (get_le(hdr + 4, 2) != VCTL_VERSION) {
        *why = "unsupported protocol version";
        return -EPROTO;
    }
    if (*body < VCTL_FIXED) {
        *why = "body shorter than the fixed values";
        return -EPROTO;
    }
    if (*body - VCTL_FIXED > VCTL_MAX_DATA) {
        *why = "data longer than VCTL_MAX_DATA";
        return -EMSGSIZE;
    }
    return 0;
}

void vctl_decode_body(const uint8_t *body, uint32_t len, struct vctl_msg *m)
{
    for (unsigned i = 0; i < VCTL_NVAL; i++)
        m->v[i] = get_le(body + 8 * i, 8);
    m->dlen = len - VCTL_FIXED;
    m->data = m->dlen > 0 ? body + VCTL_FIXED : NULL;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events until deadline: 0, or -ETIMEDOUT. */
static int ready(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

/* One loop for both directions: reading (out == NULL) or writing. */
static int transfer(int fd, uint8_t *in, const uint8_t *out, size_t n, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    size_t done = 0;
    while (done < n) {
        ssize_t r = out != NULL ? write(fd, out + done, n - done) : read(fd, in + done, n - done);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r == 0)
            return -EPIPE;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int err = ready(fd, out != NULL ? POLLOUT : POLLIN, deadline);
        if (err != 0)
            return err;
    }
    return 0;
}

int vctl_read_full(int fd, void *buf, size_t n, int timeout_ms)
{
    return transfer(fd, buf, NULL, n, timeout_ms);
}

int vctl_write_full(int fd, const void *buf, size_t n, int timeout_ms)
{
    return transfer(fd, NULL, buf, n, timeout_ms);
}
