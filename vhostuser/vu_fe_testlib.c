/* The test front end (vu_fe_testlib.h). */
#define _GNU_SOURCE /* memfd_create */
#include "vhostuser/vu_fe_testlib.h"

#include <atf-c.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void st32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void fe_u64(uint8_t out[8], uint64_t v)
{
    st32(out, (uint32_t)v);
    st32(out + 4, (uint32_t)(v >> 32));
}

static uint64_t ld64(const uint8_t *p)
{
    return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

void fe_state(uint8_t out[8], uint32_t index, uint32_t num)
{
    st32(out, index);
    st32(out + 4, num);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void fe_init(struct fe *fe, int sock, struct vu_backend *b)
{
    memset(fe, 0, sizeof(*fe));
    fe->sock = sock;
    fe->b = b;
    fe->memfd = memfd_create("fe-guest-ram", MFD_CLOEXEC);
    ATF_REQUIRE(fe->memfd >= 0);
    ATF_REQUIRE(ftruncate(fe->memfd, 2 * FE_REGION) == 0);
    fe->mem = mmap(NULL, 2 * FE_REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fe->memfd, 0);
    ATF_REQUIRE(fe->mem != MAP_FAILED);
    gmem_init(&fe->gmem);
    ATF_REQUIRE(gmem_add_region(&fe->gmem, FE_GPA0, FE_REGION, fe->mem) == 0);
    ATF_REQUIRE(gmem_add_region(&fe->gmem, FE_GPA1, FE_REGION, fe->mem + FE_REGION) == 0);
    for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++)
        ATF_REQUIRE(vring_layout_contiguous(&fe->lay[q], FE_QSIZE, FE_GPA0 + q * 0x4000ull, 4) != 0);
    for (unsigned q = 0; q < 2; q++) {
        fe->kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        fe->call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        fe->err[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        ATF_REQUIRE(fe->kick[q] >= 0 && fe->call[q] >= 0 && fe->err[q] >= 0);
    }
}

void fe_fini(struct fe *fe)
{
    if (fe->drv != NULL)
        vdrv_free(fe->drv);
    for (unsigned q = 0; q < 2; q++) {
        close(fe->kick[q]);
        close(fe->call[q]);
        close(fe->err[q]);
    }
    munmap(fe->mem, 2 * FE_REGION);
    close(fe->memfd);
    if (fe->sock >= 0)
        close(fe->sock);
    fe->sock = -1;
}

/* ---- raw messages ---- */

int fe_send(struct fe *fe, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
            const int *fds, unsigned nfds)
{
    uint8_t hdr[12];
    st32(hdr, req);
    st32(hdr + 4, flags);
    st32(hdr + 8, size);
    struct iovec iov[2] = {{.iov_base = hdr, .iov_len = sizeof(hdr)},
                           {.iov_base = (void *)payload, .iov_len = size}};
    union {
        char buf[CMSG_SPACE(16 * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = size ? 2 : 1};
    if (nfds > 0) {
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    ssize_t n = sendmsg(fe->sock, &mh, MSG_NOSIGNAL);
    return n == (ssize_t)(sizeof(hdr) + size) ? 0 : -1;
}

int fe_send_raw(struct fe *fe, const void *buf, size_t len)
{
    return send(fe->sock, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

void fe_run_backend(struct fe *fe, int ms)
{
    if (fe->b != NULL) {
        vu_step(fe->b, ms);
    } else {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static bool sock_ready(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

static bool read_exact(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        if (!sock_ready(fd, 2000))
            return false;
        ssize_t n = recv(fd, (uint8_t *)buf + got, len - got, 0);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

int fe_reply(struct fe *fe, struct fe_reply *r, int timeout_ms)
{
    uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (!sock_ready(fe->sock, 0)) {
        if (now_ns() > end)
            return -1;
        fe_run_backend(fe, 5);
        if (fe->b == NULL && !sock_ready(fe->sock, 20))
            continue;
    }
    uint8_t hdr[12];
    ssize_t n = recv(fe->sock, hdr, sizeof(hdr), MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return 0;
    if (!read_exact(fe->sock, hdr, sizeof(hdr)))
        return 0;
    r->request = ld32(hdr);
    r->flags = ld32(hdr + 4);
    r->size = ld32(hdr + 8);
    if (r->size > sizeof(r->payload) || !read_exact(fe->sock, r->payload, r->size))
        return 0;
    return 1;
}

bool fe_closed(struct fe *fe, int timeout_ms)
{
    uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        if (sock_ready(fe->sock, 0)) {
            uint8_t c;
            ssize_t n = recv(fe->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
            return n == 0 || (n < 0 && errno == ECONNRESET);
        }
        if (now_ns() > end)
            return false;
        fe_run_backend(fe, 5);
    }
}

uint64_t fe_call_u64(struct fe *fe, uint32_t req, uint32_t flags, const void *payload,
                     uint32_t size, const int *fds, unsigned nfds)
{
    if (fe_send(fe, req, flags, payload, size, fds, nfds) != 0)
        return UINT64_MAX;
    struct fe_reply r;
    if (fe_reply(fe, &r, 3000) != 1 || r.request != req || r.size != 8 ||
        r.flags != (VU_VERSION | VU_FLAG_REPLY))
        return UINT64_MAX;
    return ld64(r.payload);
}

/* ---- builders ---- */

uint32_t fe_mem_table(const struct fe *fe, uint8_t *out, unsigned nregions)
{
    (void)fe;
    memset(out, 0, 8 + nregions * VU_REGION_BYTES);
    st32(out, nregions);
    const uint64_t gpa[2] = {FE_GPA0, FE_GPA1}, ua[2] = {FE_UA0, FE_UA1};
    for (unsigned i = 0; i < nregions && i < 2; i++) {
        uint8_t *p = out + 8 + i * VU_REGION_BYTES;
        fe_u64(p, gpa[i]);
        fe_u64(p + 8, FE_REGION);
        fe_u64(p + 16, ua[i]);
        fe_u64(p + 24, (uint64_t)i * FE_REGION);
    }
    return 8 + nregions * VU_REGION_BYTES;
}

static uint64_t gpa_to_ua(uint64_t gpa)
{
    return gpa >= FE_GPA1 ? FE_UA1 + (gpa - FE_GPA1) : FE_UA0 + (gpa - FE_GPA0);
}

void fe_addr(const struct fe *fe, uint8_t out[40], uint32_t index)
{
    const struct vring_layout *l = &fe->lay[index];
    memset(out, 0, 40);
    st32(out, index);
    fe_u64(out + 8, gpa_to_ua(l->desc));
    fe_u64(out + 16, gpa_to_ua(l->used));
    fe_u64(out + 24, gpa_to_ua(l->avail));
}

/* ---- the full sequence ---- */

static uint64_t read_cid(void *ctx)
{
    return ((struct fe *)ctx)->cid;
}

static bool make_driver(struct fe *fe)
{
    struct vdrv_cfg dc = {
        .mem = &fe->gmem,
        .arena_gpa = FE_GPA1,
        .arena_size = FE_REGION,
        .device_features = fe->features & ~(1ull << VU_F_PROTOCOL_FEATURES),
        .read_cid = read_cid,
        .read_cid_ctx = fe,
        /* Small tx slots: a queue's worth of Linux-sized 64 KiB ones would
         * not fit one region. */
        .tx_max_payload = 8192,
    };
    for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++)
        dc.vq[q] = fe->lay[q];
    ATF_REQUIRE(vdrv_arena_bytes(&dc) <= FE_REGION);
    int err;
    fe->drv = vdrv_new(&dc, &err);
    ATF_CHECK_MSG(fe->drv != NULL, "vdrv_new: %d", err);
    return fe->drv != NULL;
}

static bool get_config(struct fe *fe)
{
    uint8_t cfg[12 + 8] = {0};
    st32(cfg + 4, 8);
    if (fe_send(fe, VU_GET_CONFIG, VU_VERSION, cfg, sizeof(cfg), NULL, 0) != 0)
        return false;
    struct fe_reply r;
    if (fe_reply(fe, &r, 3000) != 1 || r.size != sizeof(cfg))
        return false;
    fe->cid = ld64(r.payload + 12);
    return true;
}

static bool ack_ok(struct fe *fe, uint32_t req, const void *p, uint32_t size, const int *fds,
                   unsigned nfds)
{
    uint64_t v = fe_call_u64(fe, req, VU_VERSION | VU_FLAG_NEED_REPLY, p, size, fds, nfds);
    ATF_CHECK_MSG(v == 0, "%s: ack %llu", vu_request_name(req), (unsigned long long)v);
    return v == 0;
}

static bool setup_ring(struct fe *fe, uint32_t q)
{
    uint8_t s[8], a[40], u[8];
    fe_state(s, q, FE_QSIZE);
    bool ok = ack_ok(fe, VU_SET_VRING_NUM, s, 8, NULL, 0);
    fe_state(s, q, 0);
    ok = ok && ack_ok(fe, VU_SET_VRING_BASE, s, 8, NULL, 0);
    fe_addr(fe, a, q);
    ok = ok && ack_ok(fe, VU_SET_VRING_ADDR, a, 40, NULL, 0);
    fe_u64(u, q);
    ok = ok && ack_ok(fe, VU_SET_VRING_KICK, u, 8, &fe->kick[q], 1);
    ok = ok && ack_ok(fe, VU_SET_VRING_CALL, u, 8, &fe->call[q], 1);
    ok = ok && ack_ok(fe, VU_SET_VRING_ERR, u, 8, &fe->err[q], 1);
    return ok;
}

bool fe_setup(struct fe *fe)
{
    uint8_t u[8], mt[8 + 2 * VU_REGION_BYTES];
    fe->features = fe_call_u64(fe, VU_GET_FEATURES, VU_VERSION, NULL, 0, NULL, 0);
    ATF_CHECK(fe->features != UINT64_MAX && (fe->features >> VU_F_PROTOCOL_FEATURES & 1));
    if (fe->features == UINT64_MAX || fe_send(fe, VU_SET_OWNER, VU_VERSION, NULL, 0, NULL, 0))
        return false;
    fe->protocol = fe_call_u64(fe, VU_GET_PROTOCOL_FEATURES, VU_VERSION, NULL, 0, NULL, 0);
    ATF_CHECK(fe->protocol != UINT64_MAX && (fe->protocol >> VU_PROTOCOL_F_CONFIG & 1) &&
              (fe->protocol >> VU_PROTOCOL_F_REPLY_ACK & 1));
    fe_u64(u, fe->protocol);
    if (fe_send(fe, VU_SET_PROTOCOL_FEATURES, VU_VERSION, u, 8, NULL, 0) != 0 || !get_config(fe))
        return false;
    ATF_CHECK_EQ(fe->cid, FE_CID);
    if (!make_driver(fe))
        return false;
    fe_u64(u, vdrv_features(fe->drv) | 1ull << VU_F_PROTOCOL_FEATURES);
    bool ok = ack_ok(fe, VU_SET_FEATURES, u, 8, NULL, 0);
    int two[2] = {fe->memfd, fe->memfd}; /* one fd per region, as QEMU sends */
    ok = ok && ack_ok(fe, VU_SET_MEM_TABLE, mt, fe_mem_table(fe, mt, 2), two, 2);
    ok = ok && setup_ring(fe, 0) && setup_ring(fe, 1);
    for (uint32_t q = 0; ok && q < 2; q++) {
        uint8_t s[8];
        fe_state(s, q, 1);
        ok = ack_ok(fe, VU_SET_VRING_ENABLE, s, 8, NULL, 0);
    }
    if (ok && fe->b != NULL)
        ATF_CHECK(vu_device_running(fe->b));
    return ok;
}

/* ---- the guest ---- */

static bool take_eventfd(int fd)
{
    uint64_t v;
    return read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

void fe_guest_step(struct fe *fe, int ms)
{
    uint64_t now = now_ns();
    vdrv_handle_tx(fe->drv, now);
    unsigned kicks = vdrv_take_kicks(fe->drv);
    uint64_t one = 1;
    for (unsigned q = 0; q < 2; q++)
        if (kicks & (1u << q) && write(fe->kick[q], &one, sizeof(one)) != sizeof(one))
            ATF_CHECK_MSG(false, "kick write");
    if (fe->b != NULL) {
        vu_step(fe->b, ms);
    } else {
        struct pollfd p[2] = {{.fd = fe->call[0], .events = POLLIN},
                              {.fd = fe->call[1], .events = POLLIN}};
        poll(p, 2, ms);
    }
    bool irq = false;
    for (unsigned q = 0; q < 2; q++)
        irq = take_eventfd(fe->call[q]) || irq;
    now = now_ns();
    if (irq)
        vdrv_interrupt(fe->drv, now);
    vdrv_tick(fe->drv, now);
}

int fe_guest_connect(struct fe *fe, uint32_t port, int *fd, int timeout_ms)
{
    struct vep *g = vdrv_sockets(fe->drv);
    *fd = vep_socket(g, VSOCK_TYPE_STREAM);
    ATF_REQUIRE(*fd >= 0);
    int r = vep_connect(g, *fd, VSOCK_CID_HOST, port, now_ns());
    ATF_REQUIRE(r == -EINPROGRESS);
    uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (now_ns() < end) {
        fe_guest_step(fe, 5);
        enum vep_sock_state s = vep_sock_state(g, *fd);
        if (s == VEP_SS_CONNECTED)
            return 0;
        if (s != VEP_SS_CONNECTING) {
            int e = vep_sock_error(g, *fd);
            return e != 0 ? e : -ECONNRESET;
        }
    }
    return -ETIMEDOUT;
}

bool fe_request_answered(struct fe *fe)
{
    int fd;
    int r = fe_guest_connect(fe, 7001, &fd, 3000);
    ATF_CHECK_MSG(r == -ECONNRESET, "REQUEST to a port nobody listens on: %d, not RST", r);
    vep_close(vdrv_sockets(fe->drv), fd, now_ns());
    if (r != -ECONNRESET || fe->b == NULL)
        return r == -ECONNRESET;
    struct vep *h = vu_sockets(fe->b);
    int l = vep_socket(h, VSOCK_TYPE_STREAM);
    ATF_REQUIRE(l >= 0 && vep_bind(h, l, 7002) == 0 && vep_listen(h, l, 4) == 0);
    r = fe_guest_connect(fe, 7002, &fd, 3000);
    ATF_CHECK_MSG(r == 0, "REQUEST to a host listener: %d, not RESPONSE", r);
    int a = vep_accept(h, l, NULL, NULL);
    ATF_CHECK(a >= 0);
    if (a >= 0)
        vep_close(h, a, now_ns());
    vep_close(h, l, now_ns());
    vep_close(vdrv_sockets(fe->drv), fd, now_ns());
    for (int i = 0; i < 5; i++)
        fe_guest_step(fe, 2);
    return r == 0;
}

int fe_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}
