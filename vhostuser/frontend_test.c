/* A hostile vhost-user front end against the backend, in process over a
 * socketpair: every malformed message ends the connection cleanly, every
 * unacceptable one is refused with an error ack and changes nothing, and
 * after each the same backend still serves a correct front end through a
 * full setup (memfd memory, two regions, mmap offsets) and a REQUEST from
 * our guest driver answered with RST and with RESPONSE. No fd leaks. */
#include "vhostuser/vu_fe_testlib.h"
#include "vhostuser/vu_priv.h"

#include <atf-c.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static void log_stderr(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "backend: %s\n", line);
}

/* VU_TEST_LOG=1 shows the backend's log. */
static struct vu_backend *backend(void)
{
    struct vu_cfg cfg = {.guest_cid = FE_CID, .msg_timeout_ms = 200};
    if (getenv("VU_TEST_LOG") != NULL)
        cfg.log = log_stderr;
    int err;
    struct vu_backend *b = vu_new(&cfg, &err);
    ATF_REQUIRE_MSG(b != NULL, "vu_new: %d", err);
    return b;
}

static void attach(struct vu_backend *b, struct fe *fe)
{
    int sv[2];
    ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    ATF_REQUIRE(vu_attach(b, sv[1]) == 0);
    fe_init(fe, sv[0], b);
}

static void detach_and_settle(struct vu_backend *b, struct fe *fe)
{
    fe_fini(fe);
    for (int i = 0; i < 50 && vu_attached(b); i++)
        vu_step(b, 5);
    ATF_CHECK(!vu_attached(b));
    ATF_CHECK(!vu_device_running(b));
}

/* A correct front end after whatever came before. */
static void still_serves(struct vu_backend *b, const char *after)
{
    struct fe fe;
    attach(b, &fe);
    bool ok = fe_setup(&fe) && fe_request_answered(&fe);
    ATF_CHECK_MSG(ok, "no longer serves a correct front end after: %s", after);
    detach_and_settle(b, &fe);
}

static int negotiate_ack(struct fe *fe)
{
    uint8_t u[8];
    fe_u64(u, 1ull << VU_PROTOCOL_F_REPLY_ACK | 1ull << VU_PROTOCOL_F_CONFIG);
    return fe_send(fe, VU_SET_PROTOCOL_FEATURES, VU_VERSION, u, 8, NULL, 0);
}

static uint64_t ack_of(struct fe *fe, uint32_t req, const void *p, uint32_t size, const int *fds,
                       unsigned nfds)
{
    return fe_call_u64(fe, req, VU_VERSION | VU_FLAG_NEED_REPLY, p, size, fds, nfds);
}

/* ---- malformed messages: the connection ends ---- */

struct hostile {
    const char *name;
    void (*send)(struct fe *fe);
};

#define H(fn) static void fn(struct fe *fe)

H(get_features_with_payload)
{
    uint8_t u[8] = {0};
    fe_send(fe, VU_GET_FEATURES, VU_VERSION, u, 8, NULL, 0);
}
H(vring_num_short)
{
    uint8_t s[4] = {0};
    fe_send(fe, VU_SET_VRING_NUM, VU_VERSION, s, 4, NULL, 0);
}
H(vring_addr_long)
{
    uint8_t a[48] = {0};
    fe_send(fe, VU_SET_VRING_ADDR, VU_VERSION, a, 48, NULL, 0);
}
H(mem_table_size_mismatch)
{
    uint8_t mt[8 + 2 * VU_REGION_BYTES];
    fe_mem_table(fe, mt, 2);
    fe_send(fe, VU_SET_MEM_TABLE, VU_VERSION, mt, 8 + VU_REGION_BYTES, &fe->memfd, 1);
}
H(mem_table_no_regions)
{
    uint8_t mt[8] = {0};
    fe_send(fe, VU_SET_MEM_TABLE, VU_VERSION, mt, 8, NULL, 0);
}
H(mem_table_nine_regions)
{
    uint8_t mt[8 + 9 * VU_REGION_BYTES] = {9};
    int fds[8];
    for (int i = 0; i < 8; i++)
        fds[i] = fe->memfd;
    fe_send(fe, VU_SET_MEM_TABLE, VU_VERSION, mt, sizeof(mt), fds, 8);
}
H(config_beyond_256)
{
    uint8_t c[12 + 300] = {0};
    c[4] = 300 & 0xff;
    c[5] = 300 >> 8;
    fe_send(fe, VU_GET_CONFIG, VU_VERSION, c, sizeof(c), NULL, 0);
}
H(config_size_mismatch)
{
    uint8_t c[12 + 4] = {0, 0, 0, 0, 8};
    fe_send(fe, VU_GET_CONFIG, VU_VERSION, c, sizeof(c), NULL, 0);
}
H(mem_table_missing_fd)
{
    uint8_t mt[8 + VU_REGION_BYTES];
    fe_send(fe, VU_SET_MEM_TABLE, VU_VERSION, mt, fe_mem_table(fe, mt, 1), NULL, 0);
}
H(mem_table_one_fd_short)
{
    uint8_t mt[8 + 2 * VU_REGION_BYTES];
    fe_send(fe, VU_SET_MEM_TABLE, VU_VERSION, mt, fe_mem_table(fe, mt, 2), &fe->memfd, 1);
}
H(kick_without_fd)
{
    uint8_t u[8];
    fe_u64(u, 0);
    fe_send(fe, VU_SET_VRING_KICK, VU_VERSION, u, 8, NULL, 0);
}
H(owner_with_fd)
{
    fe_send(fe, VU_SET_OWNER, VU_VERSION, NULL, 0, &fe->kick[0], 1);
}
H(call_with_two_fds)
{
    uint8_t u[8];
    fe_u64(u, 1);
    int fds[2] = {fe->call[0], fe->call[1]};
    fe_send(fe, VU_SET_VRING_CALL, VU_VERSION, u, 8, fds, 2);
}
H(nofd_flag_with_fd)
{
    uint8_t u[8];
    fe_u64(u, VU_VRING_NOFD);
    fe_send(fe, VU_SET_VRING_ERR, VU_VERSION, u, 8, &fe->err[0], 1);
}
H(twelve_fds)
{
    uint8_t mt[8 + VU_REGION_BYTES];
    int fds[12];
    for (int i = 0; i < 12; i++)
        fds[i] = fe->memfd;
    fe_send(fe, VU_SET_MEM_TABLE, VU_VERSION, mt, fe_mem_table(fe, mt, 1), fds, 12);
}
H(vring_num_queue_2)
{
    uint8_t s[8];
    fe_state(s, 2, 64); /* the event queue stays in QEMU */
    fe_send(fe, VU_SET_VRING_NUM, VU_VERSION, s, 8, NULL, 0);
}
H(kick_queue_5)
{
    uint8_t u[8];
    fe_u64(u, 5);
    fe_send(fe, VU_SET_VRING_KICK, VU_VERSION, u, 8, &fe->kick[0], 1);
}
H(get_base_queue_max)
{
    uint8_t s[8];
    fe_state(s, 0xffffffffu, 0);
    fe_send(fe, VU_GET_VRING_BASE, VU_VERSION, s, 8, NULL, 0);
}
H(enable_queue_256)
{
    uint8_t s[8];
    fe_state(s, 256, 1);
    fe_send(fe, VU_SET_VRING_ENABLE, VU_VERSION, s, 8, NULL, 0);
}
H(addr_queue_3)
{
    uint8_t a[40];
    fe_addr(fe, a, 0);
    a[0] = 3;
    fe_send(fe, VU_SET_VRING_ADDR, VU_VERSION, a, 40, NULL, 0);
}
H(kick_reserved_bits)
{
    uint8_t u[8];
    fe_u64(u, 1ull << 40);
    fe_send(fe, VU_SET_VRING_KICK, VU_VERSION, u, 8, &fe->kick[0], 1);
}
H(wrong_version)
{
    fe_send(fe, VU_GET_FEATURES, 0x2, NULL, 0, NULL, 0);
}
H(reply_flag_on_request)
{
    fe_send(fe, VU_GET_FEATURES, VU_VERSION | VU_FLAG_REPLY, NULL, 0, NULL, 0);
}
H(payload_too_large)
{
    static uint8_t big[8192];
    fe_send(fe, VU_SET_FEATURES, VU_VERSION, big, sizeof(big), NULL, 0);
}
H(torn_header_then_close)
{
    uint8_t h[6] = {1, 0, 0, 0, 1, 0};
    fe_send_raw(fe, h, sizeof(h));
    shutdown(fe->sock, SHUT_WR);
}
H(payload_never_completes)
{
    uint8_t h[12 + 4] = {VU_SET_FEATURES, 0, 0, 0, VU_VERSION, 0, 0, 0, 8};
    fe_send_raw(fe, h, sizeof(h)); /* 4 of 8 payload bytes, then silence */
}
H(close_inside_payload)
{
    uint8_t h[12 + 20] = {VU_SET_VRING_ADDR, 0, 0, 0, VU_VERSION, 0, 0, 0, 40};
    fe_send_raw(fe, h, sizeof(h));
    shutdown(fe->sock, SHUT_WR);
}

static const struct hostile malformed[] = {
#define E(fn) {#fn, fn}
    E(get_features_with_payload), E(vring_num_short), E(vring_addr_long),
    E(mem_table_size_mismatch), E(mem_table_no_regions), E(mem_table_nine_regions),
    E(config_beyond_256), E(config_size_mismatch), E(mem_table_missing_fd),
    E(mem_table_one_fd_short), E(kick_without_fd), E(owner_with_fd), E(call_with_two_fds),
    E(nofd_flag_with_fd), E(twelve_fds), E(vring_num_queue_2), E(kick_queue_5),
    E(get_base_queue_max), E(enable_queue_256), E(addr_queue_3), E(kick_reserved_bits),
    E(wrong_version), E(reply_flag_on_request), E(payload_too_large), E(torn_header_then_close),
    E(payload_never_completes), E(close_inside_payload),
};

ATF_TC_WITHOUT_HEAD(malformed_messages_disconnect);
ATF_TC_BODY(malformed_messages_disconnect, tc)
{
    struct vu_backend *b = backend();
    int fds0 = fe_count_fds();
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        uint64_t bad = vu_stats(b)->bad_msgs;
        struct fe fe;
        attach(b, &fe);
        malformed[i].send(&fe);
        ATF_CHECK_MSG(fe_closed(&fe, 2000), "%s: connection not closed", malformed[i].name);
        ATF_CHECK_MSG(vu_stats(b)->bad_msgs == bad + 1, "%s: not counted as malformed",
                      malformed[i].name);
        detach_and_settle(b, &fe);
        ATF_CHECK_EQ_MSG(fe_count_fds(), fds0, "%s: fds leaked", malformed[i].name);
        still_serves(b, malformed[i].name);
        ATF_CHECK_EQ_MSG(fe_count_fds(), fds0, "%s: fds leaked by the next session",
                         malformed[i].name);
    }
    vu_free(b);
}

/* ---- well formed but unacceptable: an error ack, nothing changes ---- */

static uint64_t mem_table_edit(struct fe *fe, void (*edit)(uint8_t *mt), const int *fds)
{
    uint8_t mt[8 + 2 * VU_REGION_BYTES];
    uint32_t size = fe_mem_table(fe, mt, 2);
    edit(mt);
    int two[2] = {fe->memfd, fe->memfd};
    return ack_of(fe, VU_SET_MEM_TABLE, mt, size, fds ? fds : two, 2);
}

static void region1_gpa_overlaps(uint8_t *mt) { fe_u64(mt + 8 + 32, FE_GPA0 + 4096); }
static void region1_ua_overlaps(uint8_t *mt) { fe_u64(mt + 8 + 32 + 16, FE_UA0 + 4096); }
static void region1_past_file(uint8_t *mt) { fe_u64(mt + 8 + 32 + 24, FE_REGION + 4096); }
static void region0_empty(uint8_t *mt) { fe_u64(mt + 8 + 8, 0); }
static void region0_wraps(uint8_t *mt) { fe_u64(mt + 8, UINT64_MAX - 4095); }
static void region0_huge(uint8_t *mt) { fe_u64(mt + 8 + 8, 1ull << 40); }

struct refusal {
    const char *name;
    uint64_t (*send)(struct fe *fe); /* returns the ack */
};

#define R(fn) static uint64_t fn(struct fe *fe)

R(gpa_overlap) { return mem_table_edit(fe, region1_gpa_overlaps, NULL); }
R(ua_overlap) { return mem_table_edit(fe, region1_ua_overlaps, NULL); }
R(region_past_end_of_file) { return mem_table_edit(fe, region1_past_file, NULL); }
R(region_of_size_0) { return mem_table_edit(fe, region0_empty, NULL); }
R(region_wraps_around) { return mem_table_edit(fe, region0_wraps, NULL); }
R(region_beyond_limit) { return mem_table_edit(fe, region0_huge, NULL); }
static void no_edit(uint8_t *mt) { (void)mt; }
R(region_fd_not_a_file)
{
    int fds[2] = {fe->memfd, fe->kick[0]};
    return mem_table_edit(fe, no_edit, fds);
}

/* Memory and ring 0's size in place, then a bad address. */
static uint64_t addr_after_setup(struct fe *fe, uint64_t desc_ua, uint64_t used_ua)
{
    uint8_t s[8], a[40];
    if (mem_table_edit(fe, no_edit, NULL) != 0)
        return UINT64_MAX;
    fe_state(s, 0, FE_QSIZE);
    if (ack_of(fe, VU_SET_VRING_NUM, s, 8, NULL, 0) != 0)
        return UINT64_MAX;
    fe_addr(fe, a, 0);
    if (desc_ua)
        fe_u64(a + 8, desc_ua);
    if (used_ua)
        fe_u64(a + 16, used_ua);
    return ack_of(fe, VU_SET_VRING_ADDR, a, 40, NULL, 0);
}

R(ring_outside_memory) { return addr_after_setup(fe, 0x1000, 0); }
R(ring_straddles_region_end) { return addr_after_setup(fe, 0, FE_UA0 + FE_REGION - 16); }
R(ring_between_regions) { return addr_after_setup(fe, FE_UA0 + FE_REGION + 4096, 0); }
R(addr_before_mem_table)
{
    uint8_t s[8], a[40];
    fe_state(s, 1, FE_QSIZE);
    if (ack_of(fe, VU_SET_VRING_NUM, s, 8, NULL, 0) != 0)
        return UINT64_MAX;
    fe_addr(fe, a, 1);
    return ack_of(fe, VU_SET_VRING_ADDR, a, 40, NULL, 0);
}
R(ring_size_3)
{
    uint8_t s[8];
    fe_state(s, 0, 3);
    return ack_of(fe, VU_SET_VRING_NUM, s, 8, NULL, 0);
}
R(ring_size_65536)
{
    uint8_t s[8];
    fe_state(s, 1, 65536);
    return ack_of(fe, VU_SET_VRING_NUM, s, 8, NULL, 0);
}
R(base_beyond_16_bits)
{
    uint8_t s[8];
    fe_state(s, 0, 0x10000);
    return ack_of(fe, VU_SET_VRING_BASE, s, 8, NULL, 0);
}
R(enable_2)
{
    uint8_t s[8];
    fe_state(s, 0, 2);
    return ack_of(fe, VU_SET_VRING_ENABLE, s, 8, NULL, 0);
}
R(kick_polling_mode)
{
    uint8_t u[8];
    fe_u64(u, VU_VRING_NOFD | 1);
    return ack_of(fe, VU_SET_VRING_KICK, u, 8, NULL, 0);
}
R(set_config)
{
    uint8_t c[12 + 8] = {0, 0, 0, 0, 8};
    return ack_of(fe, VU_SET_CONFIG, c, sizeof(c), NULL, 0);
}
R(features_not_offered)
{
    uint8_t u[8];
    fe_u64(u, 1ull << 63);
    return ack_of(fe, VU_SET_FEATURES, u, 8, NULL, 0);
}
R(protocol_features_not_offered)
{
    uint8_t u[8];
    fe_u64(u, 1ull << VU_PROTOCOL_F_REPLY_ACK | 1ull << 0);
    return ack_of(fe, VU_SET_PROTOCOL_FEATURES, u, 8, NULL, 0);
}
R(unknown_request_99) { return ack_of(fe, 99, NULL, 0, NULL, 0); }
R(log_base_not_offered)
{
    uint8_t u[16] = {0};
    return ack_of(fe, VU_SET_LOG_BASE, u, 16, &fe->kick[0], 1);
}

static const struct refusal refusals[] = {
#define F(fn) {#fn, fn}
    F(gpa_overlap), F(ua_overlap), F(region_past_end_of_file), F(region_of_size_0),
    F(region_wraps_around), F(region_beyond_limit), F(region_fd_not_a_file),
    F(ring_outside_memory), F(ring_straddles_region_end), F(ring_between_regions),
    F(addr_before_mem_table), F(ring_size_3), F(ring_size_65536), F(base_beyond_16_bits),
    F(enable_2), F(kick_polling_mode), F(set_config), F(features_not_offered),
    F(protocol_features_not_offered), F(unknown_request_99), F(log_base_not_offered),
};

ATF_TC_WITHOUT_HEAD(unacceptable_requests_refused);
ATF_TC_BODY(unacceptable_requests_refused, tc)
{
    struct vu_backend *b = backend();
    int fds0 = fe_count_fds();
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        struct fe fe;
        attach(b, &fe);
        ATF_REQUIRE(negotiate_ack(&fe) == 0);
        uint64_t a = refusals[i].send(&fe);
        ATF_CHECK_MSG(a != 0 && a != UINT64_MAX, "%s: ack %llu, not an error",
                      refusals[i].name, (unsigned long long)a);
        /* Still talking, and nothing half-done stays behind. */
        ATF_CHECK_MSG(fe_call_u64(&fe, VU_GET_FEATURES, VU_VERSION, NULL, 0, NULL, 0) != UINT64_MAX,
                      "%s: connection not alive afterwards", refusals[i].name);
        ATF_CHECK(!vu_device_running(b));
        detach_and_settle(b, &fe);
        ATF_CHECK_EQ_MSG(fe_count_fds(), fds0, "%s: fds leaked", refusals[i].name);
        still_serves(b, refusals[i].name);
    }
    vu_free(b);
}

/* A correct front end that also sends refused and unknown requests on the way
 * still gets a running device on the same connection. */
ATF_TC_WITHOUT_HEAD(refusals_change_nothing);
ATF_TC_BODY(refusals_change_nothing, tc)
{
    struct vu_backend *b = backend();
    struct fe fe;
    attach(b, &fe);
    ATF_REQUIRE(negotiate_ack(&fe) == 0);
    ATF_CHECK(gpa_overlap(&fe) != 0);
    ATF_CHECK(ring_outside_memory(&fe) != 0);
    ATF_CHECK(ring_size_3(&fe) != 0);
    uint8_t junk[16] = {0};
    int efd = eventfd(0, EFD_CLOEXEC);
    ATF_CHECK(fe_send(&fe, 1000, VU_VERSION, junk, 16, &efd, 1) == 0); /* ignored */
    close(efd);
    ATF_CHECK(fe_setup(&fe));
    ATF_CHECK(fe_request_answered(&fe));
    ATF_CHECK(vu_stats(b)->unknown_msgs == 1);
    detach_and_settle(b, &fe);
    vu_free(b);
}

/* ---- lifecycle ---- */

ATF_TC_WITHOUT_HEAD(disconnect_mid_setup);
ATF_TC_BODY(disconnect_mid_setup, tc)
{
    struct vu_backend *b = backend();
    int fds0 = fe_count_fds();
    for (unsigned stage = 0; stage < 4; stage++) {
        struct fe fe;
        attach(b, &fe);
        ATF_REQUIRE(negotiate_ack(&fe) == 0);
        uint8_t u[8];
        if (stage >= 1)
            ATF_CHECK(mem_table_edit(&fe, no_edit, NULL) == 0);
        if (stage >= 2) {
            fe_u64(u, 0);
            fe_send(&fe, VU_SET_VRING_KICK, VU_VERSION, u, 8, &fe.kick[0], 1);
            fe_send(&fe, VU_SET_VRING_CALL, VU_VERSION, u, 8, &fe.call[0], 1);
        }
        if (stage >= 3) /* a message cut off, then gone */
            fe_send_raw(&fe, "\x05\x00\x00\x00\x01\x00\x00\x00\x28\x00", 10);
        fe_run_backend(&fe, 5);
        detach_and_settle(b, &fe);
        ATF_CHECK_EQ_MSG(fe_count_fds(), fds0, "stage %u: fds leaked (memory not unmapped?)",
                         stage);
        still_serves(b, "a front end that left mid-setup");
    }
    vu_free(b);
}

/* The front end leaves while the device runs with a connection open: the
 * host socket sees the reset, and the next front end starts afresh. */
ATF_TC_WITHOUT_HEAD(disconnect_while_running);
ATF_TC_BODY(disconnect_while_running, tc)
{
    struct vu_backend *b = backend();
    struct vep *h = vu_sockets(b);
    int l = vep_socket(h, VSOCK_TYPE_STREAM);
    ATF_REQUIRE(vep_bind(h, l, 9000) == 0 && vep_listen(h, l, 4) == 0);
    struct fe fe;
    attach(b, &fe);
    ATF_REQUIRE(fe_setup(&fe));
    int gfd;
    ATF_REQUIRE(fe_guest_connect(&fe, 9000, &gfd, 3000) == 0);
    int a = vep_accept(h, l, NULL, NULL);
    ATF_REQUIRE(a >= 0);
    detach_and_settle(b, &fe);
    ATF_CHECK(vep_send(h, a, "x", 1, 0) < 0);
    vep_close(h, a, vu_now_ns());
    still_serves(b, "a front end that left while running");
    vu_free(b);
}

/* QEMU stops the device (GET_VRING_BASE on both rings) and starts it again
 * with the bases it was given: the rings carry on where they were. */
ATF_TC_WITHOUT_HEAD(stop_and_restart_with_bases);
ATF_TC_BODY(stop_and_restart_with_bases, tc)
{
    struct vu_backend *b = backend();
    struct fe fe;
    attach(b, &fe);
    ATF_REQUIRE(fe_setup(&fe));
    ATF_REQUIRE(fe_request_answered(&fe));
    uint32_t base[2];
    for (uint32_t q = 0; q < 2; q++) {
        uint8_t s[8];
        fe_state(s, q, 0);
        ATF_REQUIRE(fe_send(&fe, VU_GET_VRING_BASE, VU_VERSION, s, 8, NULL, 0) == 0);
        struct fe_reply r;
        ATF_REQUIRE(fe_reply(&fe, &r, 2000) == 1 && r.size == 8);
        base[q] = (uint32_t)r.payload[4] | (uint32_t)r.payload[5] << 8;
        ATF_CHECK(!vu_device_running(b));
    }
    ATF_CHECK_EQ(base[1], vqd_used_idx(vdrv_queue(fe.drv, VSOCK_VQ_TX)));
    ATF_CHECK(base[0] != 0 && base[1] != 0);
    for (uint32_t q = 0; q < 2; q++) {
        uint8_t s[8], u[8];
        fe_state(s, q, base[q]);
        ATF_CHECK(ack_of(&fe, VU_SET_VRING_BASE, s, 8, NULL, 0) == 0);
        fe_u64(u, q);
        ATF_CHECK(ack_of(&fe, VU_SET_VRING_KICK, u, 8, &fe.kick[q], 1) == 0);
    }
    ATF_CHECK(vu_device_running(b));
    ATF_CHECK(fe_request_answered(&fe));
    detach_and_settle(b, &fe);
    vu_free(b);
}

/* A guest connection to a host listener through the front end: the host's
 * accepted fd. */
static int connected_pair(struct vu_backend *b, struct fe *fe, uint32_t port, int *gfd)
{
    struct vep *h = vu_sockets(b);
    int l = vep_socket(h, VSOCK_TYPE_STREAM);
    ATF_REQUIRE(vep_bind(h, l, port) == 0 && vep_listen(h, l, 4) == 0);
    ATF_REQUIRE(fe_guest_connect(fe, port, gfd, 3000) == 0);
    int a = vep_accept(h, l, NULL, NULL);
    ATF_REQUIRE(a >= 0);
    return a;
}

/* The guest reads n bytes of its connection within about a second. */
static bool guest_reads(struct fe *fe, int gfd, const char *want, size_t n)
{
    char buf[64] = {0};
    size_t got = 0;
    for (int i = 0; i < 200 && got < n; i++) {
        fe_guest_step(fe, 5);
        int64_t r = vep_recv(vdrv_sockets(fe->drv), gfd, buf + got, n - got, 0, NULL);
        if (r > 0)
            got += (size_t)r;
    }
    return got == n && memcmp(buf, want, n) == 0;
}

/* A VM stop (GET_VRING_BASE on both rings) and cont (SET_VRING_BASE and a
 * kick fd each): vhost keeps host connections through a stop, and what the
 * host sent meanwhile reaches the guest after it. */
ATF_TC_WITHOUT_HEAD(stop_keeps_host_connections);
ATF_TC_BODY(stop_keeps_host_connections, tc)
{
    struct vu_backend *b = backend();
    struct fe fe;
    attach(b, &fe);
    ATF_REQUIRE(fe_setup(&fe));
    int gfd;
    int a = connected_pair(b, &fe, 9100, &gfd);
    struct vep *h = vu_sockets(b);
    uint32_t base[2];
    for (uint32_t q = 0; q < 2; q++) {
        uint8_t s[8];
        fe_state(s, q, 0);
        ATF_REQUIRE(fe_send(&fe, VU_GET_VRING_BASE, VU_VERSION, s, 8, NULL, 0) == 0);
        struct fe_reply r;
        ATF_REQUIRE(fe_reply(&fe, &r, 2000) == 1 && r.size == 8);
        base[q] = (uint32_t)r.payload[4] | (uint32_t)r.payload[5] << 8;
    }
    ATF_CHECK(!vu_device_running(b));
    ATF_CHECK_EQ(vep_send(h, a, "paused", 6, 0), 6);
    ATF_CHECK_EQ(vep_sock_error(h, a), 0);
    ATF_CHECK_EQ(vep_sock_state(h, a), VEP_SS_CONNECTED);
    for (uint32_t q = 0; q < 2; q++) {
        uint8_t s[8], u[8];
        fe_state(s, q, base[q]);
        ATF_CHECK(ack_of(&fe, VU_SET_VRING_BASE, s, 8, NULL, 0) == 0);
        fe_u64(u, q);
        ATF_CHECK(ack_of(&fe, VU_SET_VRING_KICK, u, 8, &fe.kick[q], 1) == 0);
    }
    ATF_CHECK(vu_device_running(b));
    ATF_CHECK(guest_reads(&fe, gfd, "paused", 6));
    detach_and_settle(b, &fe);
    vu_free(b);
}

/* SET_MEM_TABLE while the device runs (memory hotplug): the device stops
 * over the old mappings and starts over the new ones where it was; host
 * connections never notice. */
ATF_TC_WITHOUT_HEAD(mem_table_change_keeps_host_connections);
ATF_TC_BODY(mem_table_change_keeps_host_connections, tc)
{
    struct vu_backend *b = backend();
    struct fe fe;
    attach(b, &fe);
    ATF_REQUIRE(fe_setup(&fe));
    int gfd;
    int a = connected_pair(b, &fe, 9200, &gfd);
    struct vep *h = vu_sockets(b);
    uint8_t mt[8 + 2 * VU_REGION_BYTES];
    int two[2] = {fe.memfd, fe.memfd};
    ATF_REQUIRE(ack_of(&fe, VU_SET_MEM_TABLE, mt, fe_mem_table(&fe, mt, 2), two, 2) == 0);
    ATF_CHECK(vu_device_running(b));
    ATF_CHECK_EQ(vep_sock_error(h, a), 0);
    ATF_CHECK_EQ(vep_send(h, a, "remapped", 8, 0), 8);
    ATF_CHECK(guest_reads(&fe, gfd, "remapped", 8));
    detach_and_settle(b, &fe);
    vu_free(b);
}

/* The front end gone (QEMU exited): as vhost when its file is released,
 * host connections are orphaned: ECONNRESET, end of stream, no send. */
ATF_TC_WITHOUT_HEAD(disconnect_orphans_host_connections);
ATF_TC_BODY(disconnect_orphans_host_connections, tc)
{
    struct vu_backend *b = backend();
    struct fe fe;
    attach(b, &fe);
    ATF_REQUIRE(fe_setup(&fe));
    int gfd;
    int a = connected_pair(b, &fe, 9300, &gfd);
    struct vep *h = vu_sockets(b);
    ATF_CHECK_EQ(vep_send(h, a, "late", 4, 0), 4);
    detach_and_settle(b, &fe);
    ATF_CHECK_EQ(vep_sock_error(h, a), -ECONNRESET);
    char buf[8];
    ATF_CHECK_EQ(vep_recv(h, a, buf, sizeof(buf), 0, NULL), 0);
    ATF_CHECK_EQ(vep_send(h, a, "x", 1, 0), -EPIPE);
    ATF_CHECK_EQ(vep_tx_queued_pkts(h), 0);
    vep_close(h, a, vu_now_ns());
    vu_free(b);
}

ATF_TC_WITHOUT_HEAD(reset_owner_then_setup_again);
ATF_TC_BODY(reset_owner_then_setup_again, tc)
{
    struct vu_backend *b = backend();
    struct fe fe;
    attach(b, &fe);
    ATF_REQUIRE(fe_setup(&fe));
    ATF_REQUIRE(fe_send(&fe, VU_RESET_OWNER, VU_VERSION, NULL, 0, NULL, 0) == 0);
    fe_run_backend(&fe, 5);
    ATF_CHECK(!vu_device_running(b));
    vdrv_free(fe.drv);
    fe.drv = NULL;
    memset(fe.mem, 0, 2 * FE_REGION);
    ATF_CHECK(fe_setup(&fe));
    ATF_CHECK(fe_request_answered(&fe));
    detach_and_settle(b, &fe);
    vu_free(b);
}

ATF_TC_WITHOUT_HEAD(second_front_end_refused);
ATF_TC_BODY(second_front_end_refused, tc)
{
    struct vu_backend *b = backend();
    struct fe fe;
    attach(b, &fe);
    int sv[2];
    ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    ATF_CHECK_EQ(vu_attach(b, sv[1]), -EBUSY);
    char c;
    ATF_CHECK_EQ(recv(sv[0], &c, 1, MSG_DONTWAIT), 0); /* closed */
    close(sv[0]);
    ATF_CHECK(fe_setup(&fe));
    detach_and_settle(b, &fe);
    vu_free(b);
}

/* A malformed tx chain (head index beyond the ring) fires the err eventfd
 * that SET_VRING_ERR gave, and the ring keeps serving later chains. */
ATF_TC_WITHOUT_HEAD(ring_error_signalled);
ATF_TC_BODY(ring_error_signalled, tc)
{
    struct vu_backend *b = backend();
    struct fe fe;
    attach(b, &fe);
    ATF_REQUIRE(fe_setup(&fe));
    const struct vring_layout *l = &fe.lay[VSOCK_VQ_TX];
    uint8_t *avail = fe.mem + (l->avail - FE_GPA0);
    uint16_t idx = (uint16_t)(avail[2] | avail[3] << 8);
    uint16_t bad = 1000;
    memcpy(avail + 4 + 2 * (idx % FE_QSIZE), &bad, 2);
    idx++;
    __atomic_store_n((uint16_t *)(avail + 2), idx, __ATOMIC_RELEASE);
    /* The driver's shadow idx is now behind: this test drives the ring by
     * hand, so it ends the session rather than continuing. */
    uint64_t one = 1, v = 0;
    ATF_REQUIRE(write(fe.kick[1], &one, 8) == 8);
    for (int i = 0; i < 10 && v == 0; i++) {
        vu_step(b, 5);
        if (read(fe.err[1], &v, 8) != 8)
            v = 0;
    }
    ATF_CHECK_MSG(v != 0, "err eventfd not written");
    ATF_CHECK(vu_stats(b)->errs >= 1);
    detach_and_settle(b, &fe);
    still_serves(b, "a ring error");
    vu_free(b);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, malformed_messages_disconnect);
    ATF_TP_ADD_TC(tp, unacceptable_requests_refused);
    ATF_TP_ADD_TC(tp, refusals_change_nothing);
    ATF_TP_ADD_TC(tp, disconnect_mid_setup);
    ATF_TP_ADD_TC(tp, disconnect_while_running);
    ATF_TP_ADD_TC(tp, stop_and_restart_with_bases);
    ATF_TP_ADD_TC(tp, stop_keeps_host_connections);
    ATF_TP_ADD_TC(tp, mem_table_change_keeps_host_connections);
    ATF_TP_ADD_TC(tp, disconnect_orphans_host_connections);
    ATF_TP_ADD_TC(tp, reset_owner_then_setup_again);
    ATF_TP_ADD_TC(tp, second_front_end_refused);
    ATF_TP_ADD_TC(tp, ring_error_signalled);
    return atf_no_error();
}
