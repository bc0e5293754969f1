/* The poll loop: the front end's socket, the kick eventfds, the listener and
 * the host-side Unix sockets, one round per vu_step. */
#define _GNU_SOURCE /* accept4, MSG_CMSG_CLOEXEC */
#include "vhostuser/vu_ctl_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define MSGS_PER_STEP 64
#define PUMP_ROUNDS 16

enum slot { SLOT_CONN, SLOT_LISTEN, SLOT_KICK0, SLOT_KICK1, SLOT_CTL, SLOT_CTL2, SLOT_FIXED };

static void ack(struct vu_backend *b, const struct vu_msg *m, int outcome)
{
    if (!(b->protocol & 1ull << VU_PROTOCOL_F_REPLY_ACK) || !(m->flags & VU_FLAG_NEED_REPLY))
        return;
    uint8_t v[8] = {outcome == VU_H_OK ? 0 : 1};
    if (vu_msg_reply(b->conn, m->request, v, sizeof(v)) != 0)
        vu_detach(b);
}

/* A message with no rule: answered with an error when an ack is asked,
 * else ignored; either way its fds are closed. */
static int unknown_request(struct vu_backend *b, struct vu_msg *m)
{
    b->stats.unknown_msgs++;
    vu_log(b, "request %u not implemented (%u bytes, %u fds)", m->request, m->size, m->nfds);
    vu_msg_close_fds(m);
    return VU_H_FAIL;
}

/* Reads and handles one message; false when the connection ended. */
static bool one_message(struct vu_backend *b, uint64_t now)
{
    struct vu_msg *m = &b->msg;
    const char *why = "";
    int timeout = b->cfg.msg_timeout_ms > 0 ? b->cfg.msg_timeout_ms : 2000;
    enum vu_read r = vu_msg_read(b->conn, m, timeout, &why);
    if (r != VU_READ_OK) {
        if (r == VU_READ_BAD) {
            b->stats.bad_msgs++;
            vu_log(b, "malformed message: %s", why);
        }
        vu_msg_close_fds(m);
        vu_detach(b);
        return false;
    }
    b->stats.msgs++;
    const struct vu_rule *rule = vu_rule_find(m->request);
    int out;
    if (rule == NULL) {
        out = unknown_request(b, m);
    } else if ((why = vu_msg_check(rule, m)) != NULL) {
        b->stats.bad_msgs++;
        vu_log(b, "malformed %s (%u bytes, %u fds): %s", rule->name, m->size, m->nfds, why);
        vu_msg_close_fds(m);
        vu_detach(b);
        return false;
    } else {
        if (b->cfg.verbose)
            vu_log(b, "%s (%u bytes, %u fds)", rule->name, m->size, m->nfds);
        out = vu_handle(b, m, now);
        vu_msg_close_fds(m); /* whatever the handler did not take */
    }
    if (out == VU_H_FAIL)
        b->stats.failed_msgs++;
    if (out == VU_H_DISCONNECT) {
        vu_detach(b);
        return false;
    }
    if (out != VU_H_REPLIED)
        ack(b, m, out);
    if (b->conn < 0)
        return false;
    vu_try_start(b, now);
    return true;
}

static bool readable_now(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

static void handle_conn(struct vu_backend *b, uint64_t now)
{
    for (int i = 0; i < MSGS_PER_STEP; i++)
        if (!one_message(b, now) || !readable_now(b->conn))
            return;
}

static void accept_front_end(struct vu_backend *b)
{
    int fd = accept4(b->listener, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        vu_attach(b, fd);
}

static void handle_kick(struct vu_backend *b, unsigned q, uint64_t now)
{
    uint64_t v;
    if (read(b->ring[q].kick, &v, sizeof(v)) != (ssize_t)sizeof(v))
        return;
    b->stats.kicks++;
    if (!b->dev_started)
        return; /* looked at when the device starts */
    if (q == VSOCK_VQ_TX)
        vdev_handle_tx_kick(b->dev, now);
    else
        vdev_handle_rx_kick(b->dev, now);
}

static int poll_timeout(const struct vu_backend *b, int timeout_ms, uint64_t now)
{
    uint64_t dl = vdev_next_deadline(b->dev);
    if (dl == UINT64_MAX)
        return timeout_ms;
    uint64_t ms = dl <= now ? 0 : (dl - now + 999999) / 1000000;
    if (timeout_ms >= 0 && (uint64_t)timeout_ms < ms)
        return timeout_ms;
    return ms > 60000 ? 60000 : (int)ms;
}

static void fill_fixed(struct vu_backend *b, struct pollfd *p)
{
    p[SLOT_CONN] = (struct pollfd){.fd = b->conn, .events = POLLIN};
    p[SLOT_LISTEN] = (struct pollfd){.fd = b->conn < 0 ? b->listener : -1, .events = POLLIN};
    for (unsigned i = 0; i < VU_NUM_RINGS; i++)
        p[SLOT_KICK0 + i] = (struct pollfd){.fd = b->ring[i].kick, .events = POLLIN};
    p[SLOT_CTL] = p[SLOT_CTL2] = (struct pollfd){.fd = -1};
    if (b->ctl != NULL)
        (void)vu_ctl_pollfds(b->ctl, p + SLOT_CTL);
}

/* Lets host sockets and the device exchange what they can. */
static void settle(struct vu_backend *b, struct pollfd *p, unsigned n, uint64_t now)
{
    vdev_tick(b->dev, now);
    for (int i = 0; i < PUMP_ROUNDS; i++) {
        vu_bridge_accept(b->bridge, now);
        bool moved = vu_bridge_run(b->bridge, p, n, now);
        p = NULL;
        n = 0;
        vdev_deliver(b->dev, now);
        if (!moved)
            break;
    }
    vu_bridge_accept(b->bridge, now);
    vu_notify(b);
}

int vu_step(struct vu_backend *b, int timeout_ms)
{
    unsigned max = SLOT_FIXED + vu_bridge_max_pollfds(b->bridge);
    struct pollfd *p = calloc(max, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    fill_fixed(b, p);
    unsigned n = SLOT_FIXED + vu_bridge_pollfds(b->bridge, p + SLOT_FIXED, max - SLOT_FIXED);
    int r = poll(p, n, poll_timeout(b, timeout_ms, vu_now_ns()));
    if (r < 0) {
        free(p);
        return errno == EINTR ? 0 : -errno;
    }
    uint64_t now = vu_now_ns();
    for (unsigned q = 0; q < VU_NUM_RINGS; q++)
        if (p[SLOT_KICK0 + q].revents && b->ring[q].kick == p[SLOT_KICK0 + q].fd)
            handle_kick(b, q, now);
    if (p[SLOT_CONN].revents && b->conn >= 0)
        handle_conn(b, now);
    if (p[SLOT_LISTEN].revents && b->conn < 0 && b->listener >= 0)
        accept_front_end(b);
    /* After the device's own work, so a request sees what the guest sent. */
    if (b->ctl != NULL)
        vu_ctl_run(b, b->ctl, p + SLOT_CTL);
    settle(b, p + SLOT_FIXED, n - SLOT_FIXED, now);
    free(p);
    return 0;
}
