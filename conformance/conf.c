/* Target dispatch: the registry of targets by name, and every conf_* call
 * forwarded to the target's ops with its own state. The generic parts live
 * here so that each target implements only what it can do: waiting for a
 * poll event, sleeping, failing a case, scratch memory. */
#include "conformance/conf_run.h"
#include "conformance/conf_target.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Scratch blocks are chained in front of the memory handed out; the union
 * keeps that memory aligned for any type. */
union scratch_blk {
    union scratch_blk *next;
    max_align_t align;
};

struct conf {
    const struct conf_target_ops *ops;
    void *t;
    struct conf_opts opts;
    union scratch_blk *scratch;
    /* Where conf_fail jumps (set by the runner), and where it writes. */
    jmp_buf *fail_env;
    char *fail_msg;
    size_t fail_len;
};

static const struct conf_target_ops *const registry[] = {
    &conf_target_sim,
    &conf_target_kernel,
    &conf_target_guest,
};

const struct conf_target_ops *const *conf_target_list(size_t *n)
{
    *n = sizeof(registry) / sizeof(registry[0]);
    return registry;
}

const struct conf_target_ops *conf_target_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof(registry) / sizeof(registry[0]); i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

static void unknown_target(const char *name, char *why, size_t len)
{
    char names[64] = "";
    size_t n;
    const struct conf_target_ops *const *all = conf_target_list(&n);
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "", all[i]->name);
    }
    snprintf(why, len, "unknown target '%s' (known: %s)", name ? name : "(null)", names);
}

bool conf_target_available(const char *target, bool *known, char *why, size_t whylen)
{
    const struct conf_target_ops *ops = conf_target_find(target);
    *known = ops != NULL;
    if (ops == NULL) {
        unknown_target(target, why, whylen);
        return false;
    }
    return ops->available == NULL || ops->available(why, whylen);
}

struct conf *conf_open(const char *target, const struct conf_opts *o, char *why, size_t whylen)
{
    const struct conf_target_ops *ops = conf_target_find(target);
    if (ops == NULL) {
        unknown_target(target, why, whylen);
        return NULL;
    }
    if (ops->available != NULL && !ops->available(why, whylen))
        return NULL;
    struct conf *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    c->ops = ops;
    if (o != NULL)
        c->opts = *o;
    c->t = ops->open(&c->opts, why, whylen);
    if (c->t == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void scratch_free(struct conf *c)
{
    while (c->scratch != NULL) {
        union scratch_blk *b = c->scratch;
        c->scratch = b->next;
        free(b);
    }
}

bool conf_close(struct conf *c, char *why, size_t whylen)
{
    if (c == NULL)
        return true;
    if (whylen > 0)
        why[0] = '\0';
    bool ok = c->ops->close(c->t, why, whylen);
    scratch_free(c);
    free(c);
    return ok;
}

void conf_set_fail_jump(struct conf *c, jmp_buf *env, char *msg, size_t len)
{
    c->fail_env = env;
    c->fail_msg = msg;
    c->fail_len = len;
}

_Noreturn void conf_fail(struct conf *c, const char *file, int line, const char *fmt, ...)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s:%d: ", file, line);
    if (n < 0 || (size_t)n >= sizeof(buf))
        n = 0; /* a path too long to show: the message matters more */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    if (c == NULL || c->fail_env == NULL) {
        fprintf(stderr, "conformance failure outside a runner: %s\n", buf);
        abort();
    }
    /* One line: a test result with a newline in its reason is "broken" to Kyua. */
    for (char *q = buf; *q; q++)
        if (*q == '\n' || *q == '\r')
            *q = ' ';
    snprintf(c->fail_msg, c->fail_len, "%s", buf);
    longjmp(*c->fail_env, 1);
}

void *conf_scratch(struct conf *c, size_t bytes)
{
    if (bytes > SIZE_MAX - sizeof(union scratch_blk))
        conf_fail(c, __FILE__, __LINE__, "scratch request of %zu bytes is too large", bytes);
    union scratch_blk *b = calloc(1, sizeof(*b) + bytes);
    if (b == NULL)
        conf_fail(c, __FILE__, __LINE__, "out of memory for %zu bytes of scratch", bytes);
    b->next = c->scratch;
    c->scratch = b;
    return b + 1;
}

/* ---- the target ---- */

const char *conf_target_name(const struct conf *c) { return c->ops->name; }
unsigned conf_target_mask(const struct conf *c) { return c->ops->mask; }
const struct conf_opts *conf_options(const struct conf *c) { return &c->opts; }
enum vsock_linux conf_linux(const struct conf *c) { return c->opts.linux_ver; }
uint64_t conf_host_cid(const struct conf *c) { (void)c; return VSOCK_CID_HOST; }

unsigned conf_caps(const struct conf *c)
{
    return c->ops->caps != NULL ? c->ops->caps(c->t) : 0;
}

uint64_t conf_guest_cid(const struct conf *c)
{
    return c->ops->guest_cid(c->t);
}

uint64_t conf_now(const struct conf *c)
{
    return c->ops->now(c->t);
}

/* ---- sockets ---- */

#define CALL(op, ...) (c->ops->op != NULL ? c->ops->op(c->t, __VA_ARGS__) : -EOPNOTSUPP)

int conf_socket(struct conf *c, enum conf_side s, int type) { return CALL(socket, s, type); }

int conf_bind(struct conf *c, enum conf_side s, int fd, uint32_t port)
{
    return CALL(bind, s, fd, port);
}

int conf_listen(struct conf *c, enum conf_side s, int fd, int backlog)
{
    return CALL(listen, s, fd, backlog);
}

int conf_accept(struct conf *c, enum conf_side s, int fd) { return CALL(accept, s, fd); }

int conf_connect(struct conf *c, enum conf_side s, int fd, uint64_t cid, uint32_t port)
{
    return CALL(connect, s, fd, cid, port);
}

int64_t conf_send(struct conf *c, enum conf_side s, int fd, const void *buf, size_t len,
                  unsigned flags)
{
    return CALL(send, s, fd, buf, len, flags);
}

int64_t conf_recv(struct conf *c, enum conf_side s, int fd, void *buf, size_t len,
                  unsigned flags, unsigned *out_flags)
{
    unsigned dummy = 0;
    return CALL(recv, s, fd, buf, len, flags, out_flags != NULL ? out_flags : &dummy);
}

int conf_shutdown(struct conf *c, enum conf_side s, int fd, int how)
{
    return CALL(shutdown, s, fd, how);
}

int conf_close_sock(struct conf *c, enum conf_side s, int fd) { return CALL(close_sock, s, fd); }

unsigned conf_poll(struct conf *c, enum conf_side s, int fd)
{
    return c->ops->poll != NULL ? c->ops->poll(c->t, s, fd) : VEP_POLLERR;
}

int conf_sock_error(struct conf *c, enum conf_side s, int fd) { return CALL(sock_error, s, fd); }

int conf_set_buf_size(struct conf *c, enum conf_side s, int fd, uint32_t bytes)
{
    return CALL(set_buf_size, s, fd, bytes);
}

int conf_set_rcvlowat(struct conf *c, enum conf_side s, int fd, uint32_t bytes)
{
    return CALL(set_rcvlowat, s, fd, bytes);
}

int conf_set_buf_max_size(struct conf *c, enum conf_side s, int fd, uint64_t bytes)
{
    return CALL(set_buf_bound, s, fd, true, bytes);
}

int conf_set_buf_min_size(struct conf *c, enum conf_side s, int fd, uint64_t bytes)
{
    return CALL(set_buf_bound, s, fd, false, bytes);
}

int conf_local_port(struct conf *c, enum conf_side s, int fd, uint32_t *port)
{
    return CALL(local_port, s, fd, port);
}

int conf_peer_name(struct conf *c, enum conf_side s, int fd, uint64_t *cid, uint32_t *port)
{
    return CALL(peer_name, s, fd, cid, port);
}

/* ---- waiting ---- */

/* The target's wait takes a plain predicate; this one carries the case's. */
struct wait_adapter {
    struct conf *c;
    bool (*cond)(struct conf *c, void *arg);
    void *arg;
};

static bool adapt(void *p)
{
    struct wait_adapter *a = p;
    return a->cond(a->c, a->arg);
}

bool conf_wait(struct conf *c, bool (*cond)(struct conf *c, void *arg), void *arg,
               uint64_t timeout_ns)
{
    if (cond == NULL) {
        c->ops->wait(c->t, NULL, NULL, timeout_ns);
        return false;
    }
    struct wait_adapter a = {c, cond, arg};
    return c->ops->wait(c->t, adapt, &a, timeout_ns);
}

void conf_sleep(struct conf *c, uint64_t timeout_ns)
{
    c->ops->wait(c->t, NULL, NULL, timeout_ns);
}

struct poll_wait {
    enum conf_side s;
    int fd;
    unsigned events;
    unsigned got;
};

static bool poll_ready(struct conf *c, void *arg)
{
    struct poll_wait *p = arg;
    p->got = conf_poll(c, p->s, p->fd) & p->events;
    return p->got != 0;
}

unsigned conf_wait_poll(struct conf *c, enum conf_side s, int fd, unsigned events,
                        uint64_t timeout_ns)
{
    struct poll_wait p = {s, fd, events, 0};
    return conf_wait(c, poll_ready, &p, timeout_ns) ? p.got : 0;
}

/* ---- raw access and the rest ---- */

int conf_raw_begin(struct conf *c)
{
    return c->ops->raw_begin != NULL ? c->ops->raw_begin(c->t) : -EOPNOTSUPP;
}

int conf_raw_send(struct conf *c, const struct vsock_hdr *h, const void *payload, uint32_t len)
{
    return CALL(raw_send, h, payload, len);
}

int conf_raw_recv(struct conf *c, struct vsock_hdr *h, void *payload, uint32_t cap,
                  uint32_t *len, uint64_t timeout_ns)
{
    uint32_t dummy;
    return CALL(raw_recv, h, payload, cap, len != NULL ? len : &dummy, timeout_ns);
}

int conf_raw_chain(struct conf *c, const struct conf_desc *descs, unsigned n,
                   struct conf_chain_result *out, uint64_t timeout_ns)
{
    memset(out, 0, sizeof(*out));
    return CALL(raw_chain, descs, n, out, timeout_ns);
}

int conf_raw_host_begin(struct conf *c)
{
    return c->ops->raw_host_begin != NULL ? c->ops->raw_host_begin(c->t) : -EOPNOTSUPP;
}

int conf_raw_host_send(struct conf *c, const struct vsock_hdr *h, const void *payload,
                       uint32_t len)
{
    return CALL(raw_host_send, h, payload, len);
}

int conf_raw_host_recv(struct conf *c, struct vsock_hdr *h, void *payload, uint32_t cap,
                       uint32_t *len, uint64_t timeout_ns)
{
    uint32_t dummy;
    return CALL(raw_host_recv, h, payload, cap, len != NULL ? len : &dummy, timeout_ns);
}

int conf_ring_info(struct conf *c, unsigned q, struct conf_ring_info *out)
{
    memset(out, 0, sizeof(*out));
    return CALL(ring_info, q, out);
}

static int mem_read(void *ctx, uint64_t gpa, void *dst, size_t len)
{
    struct conf *c = ctx;
    return c->ops->mem_read(c->t, gpa, dst, len);
}

int conf_used_header(struct conf *c, unsigned q, uint16_t pos, struct vsock_hdr *out)
{
    memset(out, 0, sizeof(*out));
    struct conf_ring_info r;
    int err = conf_ring_info(c, q, &r);
    if (err != 0)
        return err;
    if (c->ops->mem_read == NULL)
        return -EOPNOTSUPP;
    return conf_read_used_header(mem_read, c, &r, pos, out);
}

int conf_device_info(struct conf *c, struct conf_device_info *out)
{
    memset(out, 0, sizeof(*out));
    return CALL(device_info, out);
}

int conf_device_reply_bound(struct conf *c, uint32_t at)
{
    return CALL(device_reply_bound, at);
}

int conf_driver_info(struct conf *c, struct conf_driver_info *out)
{
    memset(out, 0, sizeof(*out));
    return CALL(driver_info, out);
}

int conf_transport_reset(struct conf *c)
{
    return c->ops->transport_reset != NULL ? c->ops->transport_reset(c->t) : -EOPNOTSUPP;
}

uint64_t conf_drops(struct conf *c, enum conf_side s, enum vep_drop why)
{
    return c->ops->drops != NULL ? c->ops->drops(c->t, s, why) : 0;
}

#define CALL0(op) (c->ops->op != NULL ? c->ops->op(c->t) : -EOPNOTSUPP)

int conf_device_stop(struct conf *c) { return CALL0(device_stop); }
int conf_device_start(struct conf *c) { return CALL0(device_start); }
int conf_device_reset(struct conf *c) { return CALL0(device_reset); }

int conf_rx_used_len_extra(struct conf *c, int32_t extra)
{
    return CALL(rx_used_len_extra, extra);
}

int conf_device_features(struct conf *c, uint64_t *out)
{
    return CALL(device_features, out);
}

int64_t conf_queue_errors(struct conf *c, unsigned q)
{
    return CALL(queue_errors, q);
}

int conf_outq(struct conf *c, enum conf_side s, int fd)
{
    return CALL(outq, s, fd);
}

int64_t conf_sigpipes(struct conf *c, enum conf_side s)
{
    return CALL(sigpipes, s);
}

int64_t conf_tx_chains(struct conf *c, uint32_t first, struct conf_tx_chain *out, uint32_t max)
{
    return CALL(tx_chains, first, out, max);
}

int64_t conf_transcript(struct conf *c, uint32_t first, struct conf_pktlog_entry *out,
                        uint32_t max)
{
    return CALL(transcript, first, out, max);
}

/* ---- names for messages ---- */

static void append_names(unsigned mask, const char *const *names, unsigned n, char *buf,
                         size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < n && used < len; i++)
        if (mask & (1u << i))
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? " " : "", names[i]);
    if (buf[0] == '\0')
        snprintf(buf, len, "none");
}

void conf_mask_names(unsigned targets, char *buf, size_t len)
{
    static const char *const names[] = {"sim", "kernel", "guest"};
    append_names(targets, names, 3, buf, len);
}

void conf_cap_names(unsigned caps, char *buf, size_t len)
{
    static const char *const names[] = {"RAW",    "RAW_RING", "RESET",        "COUNTERS",
                                        "CONFIG", "RAW_HOST", "RING_INSPECT", "DEVICE_STOP",
                                        "USED_LEN", "DEVICE_RESET", "DRIVER_STATE",
                                        "DEVICE_STATE"};
    append_names(caps, names, 12, buf, len);
}
