/*
 * Writing conformance cases.
 *
 *   CONF_CASE(stream_connect_g2h, "VS-S1", CONF_ALL, 0,
 *             "a guest stream socket connects to a host listener")
 *   {
 *       struct conf_pair p;
 *       CONF_PAIR(c, CONF_GUEST, VSOCK_TYPE_STREAM, 5000, &p);
 *       CONF_SEND_ALL(c, CONF_GUEST, p.client, "hi", 2);
 *       char buf[2];
 *       CONF_RECV_EXACT(c, CONF_HOST, p.server, buf, 2);
 *       CONF_REQUIRE(c, memcmp(buf, "hi", 2) == 0);
 *   }
 *
 * The macro defines the body and a `const struct conf_case conf_case_NAME`,
 * and registers the case where it is written: a pointer to it goes into the
 * linker section CONF_CASE_SECTION, which conf_cases() (conf.h) reads. So a
 * case is written in one place and found from there: the test program
 * cases_test adds one ATF case per registered case, and the requirement
 * matrix (vsocksim-matrix) reads the same registry. A name used twice is a
 * build error (conf_case_NAME is defined twice). The body gets `struct conf
 * *c`, a fresh target for each seed. Requirement IDs: VS-01..VS-15,
 * VS-S1..S5, VS-Q1..Q2, VS-N1.., SR-01..SR-53
 * (conformance/requirements.txt). CONF_CASE_OPTS takes conf_opts fields
 * (CONF_CAP_CONFIG): CONF_CASE_OPTS(name, reqs, targets, caps, descr,
 * .queue_size = 4).
 *
 * The programs that list cases link the case objects directly (CASE_OBJS in
 * the Makefile): nothing refers to a case by name, so the linker would leave
 * a case object in an archive out.
 *
 * Every CONF_REQUIRE* and helper below fails the case with file:line, both
 * values and (on sim) the seed, and never returns on failure.
 */
#ifndef VSOCKSIM_CONF_CASE_H
#define VSOCKSIM_CONF_CASE_H

#include <errno.h>
#include <string.h>

#include "conformance/conf.h"

/* The linker section of the registry (an identifier, so that GNU ld and
 * lld bracket it with __start_ and __stop_ symbols). */
#define CONF_CASE_SECTION vsocksim_conf_cases
#define CONF_CASE_STR_(x) #x
#define CONF_CASE_STR(x) CONF_CASE_STR_(x)
#define CONF_CASE_IN_REGISTRY                                                               \
    __attribute__((used, section(CONF_CASE_STR(CONF_CASE_SECTION))))

#define CONF_CASE(k_name, k_reqs, k_targets, k_caps, k_descr)                               \
    static void conf_body_##k_name(struct conf *c);                                         \
    extern const struct conf_case conf_case_##k_name;                                       \
    const struct conf_case conf_case_##k_name = {                                           \
        .name = #k_name, .reqs = (k_reqs), .targets = (k_targets), .caps = (k_caps),        \
        .descr = (k_descr), .body = conf_body_##k_name, .opts = NULL,                       \
        .file = __FILE__, .line = __LINE__};                                                \
    static const struct conf_case *const conf_case_entry_##k_name CONF_CASE_IN_REGISTRY =   \
        &conf_case_##k_name;                                                                \
    static void conf_body_##k_name(struct conf *c)

#define CONF_CASE_OPTS(k_name, k_reqs, k_targets, k_caps, k_descr, ...)                     \
    static void conf_body_##k_name(struct conf *c);                                         \
    static const struct conf_opts conf_opts_##k_name = {__VA_ARGS__};                       \
    extern const struct conf_case conf_case_##k_name;                                       \
    const struct conf_case conf_case_##k_name = {                                           \
        .name = #k_name, .reqs = (k_reqs), .targets = (k_targets), .caps = (k_caps),        \
        .descr = (k_descr), .body = conf_body_##k_name, .opts = &conf_opts_##k_name,        \
        .file = __FILE__, .line = __LINE__};                                                \
    static const struct conf_case *const conf_case_entry_##k_name CONF_CASE_IN_REGISTRY =   \
        &conf_case_##k_name;                                                                \
    static void conf_body_##k_name(struct conf *c)

/* ---- assertions ---- */

#define CONF_REQUIRE(c, cond)                                                               \
    do {                                                                                    \
        if (!(cond))                                                                        \
            conf_fail((c), __FILE__, __LINE__, "requirement failed: %s", #cond);            \
    } while (0)

#define CONF_REQUIRE_MSG(c, cond, ...)                                                      \
    do {                                                                                    \
        if (!(cond))                                                                        \
            conf_fail((c), __FILE__, __LINE__, __VA_ARGS__);                                \
    } while (0)

/* Integers of any type (compared as int64_t). */
#define CONF_REQUIRE_EQ(c, actual, expected)                                                \
    do {                                                                                    \
        int64_t conf_a_ = (int64_t)(actual), conf_e_ = (int64_t)(expected);                 \
        if (conf_a_ != conf_e_)                                                             \
            conf_fail_eq((c), __FILE__, __LINE__, #actual, #expected, conf_a_, conf_e_);    \
    } while (0)

/* Return values that are counts or negative errno values: both shown as
 * names ("-ECONNRESET"). */
#define CONF_REQUIRE_RET(c, actual, expected)                                               \
    do {                                                                                    \
        int64_t conf_a_ = (int64_t)(actual), conf_e_ = (int64_t)(expected);                 \
        if (conf_a_ != conf_e_)                                                             \
            conf_fail_ret((c), __FILE__, __LINE__, #actual, conf_a_, conf_e_);              \
    } while (0)

_Noreturn void conf_fail_eq(struct conf *c, const char *file, int line, const char *a,
                            const char *e, int64_t av, int64_t ev);
_Noreturn void conf_fail_ret(struct conf *c, const char *file, int line, const char *a,
                             int64_t av, int64_t ev);

/* "ECONNRESET" for 104 or -104; "errno 999" for unknown ones. */
const char *conf_errname(int err, char *buf, size_t len);
/* "RST 2:5000 -> 3:1024 type=STREAM len=0 flags=0x0 buf_alloc=0 fwd_cnt=0" */
void conf_hdr_format(const struct vsock_hdr *h, char *buf, size_t len);

static inline enum conf_side conf_other(enum conf_side s)
{
    return s == CONF_GUEST ? CONF_HOST : CONF_GUEST;
}

/* The CID a socket on side s connects to. */
uint64_t conf_peer_cid(const struct conf *c, enum conf_side s);

/* ---- socket helpers (each waits as long as a real target may need) ---- */

#define CONF_CONNECT_TIMEOUT_NS CONF_MS(3000) /* > the 2 s connect timeout */
#define CONF_IO_TIMEOUT_NS CONF_MS(5000)

struct conf_pair {
    enum conf_side client_side;
    int listener; /* on the server side, still open */
    int client;
    int server;   /* accepted */
};

/* A bound, listening socket. */
#define CONF_LISTEN(c, side, type, port, backlog)                                           \
    conf_listen_at((c), __FILE__, __LINE__, (side), (type), (port), (backlog))
int conf_listen_at(struct conf *c, const char *file, int line, enum conf_side side, int type,
                   uint32_t port, int backlog);

/* Connects a new socket from side to the other side's port and waits for
 * the outcome: 0 or the negative errno the connection failed with. *fd
 * gets the socket either way. */
#define CONF_CONNECT(c, side, type, port, fd)                                               \
    conf_connect_at((c), __FILE__, __LINE__, (side), (type), (port), (fd))
int conf_connect_at(struct conf *c, const char *file, int line, enum conf_side side, int type,
                    uint32_t port, int *fd);

/* Waits for a connection on a listener: the accepted fd. */
#define CONF_ACCEPT(c, side, lfd) conf_accept_at((c), __FILE__, __LINE__, (side), (lfd))
int conf_accept_at(struct conf *c, const char *file, int line, enum conf_side side, int lfd);

/* Listener on the other side, connect from client_side, accept. */
#define CONF_PAIR(c, client_side, type, port, p)                                            \
    conf_pair_at((c), __FILE__, __LINE__, (client_side), (type), (port), (p))
void conf_pair_at(struct conf *c, const char *file, int line, enum conf_side client_side,
                  int type, uint32_t port, struct conf_pair *p);

/* Sends all len bytes (one message for seqpacket), waiting for credit. */
#define CONF_SEND_ALL(c, side, fd, buf, len)                                                \
    conf_send_all_at((c), __FILE__, __LINE__, (side), (fd), (buf), (len), 0)
#define CONF_SEND_MSG(c, side, fd, buf, len, flags)                                         \
    conf_send_all_at((c), __FILE__, __LINE__, (side), (fd), (buf), (len), (flags))
void conf_send_all_at(struct conf *c, const char *file, int line, enum conf_side side, int fd,
                      const void *buf, size_t len, unsigned flags);

/* Receives exactly len stream bytes, waiting for them. */
#define CONF_RECV_EXACT(c, side, fd, buf, len)                                              \
    conf_recv_exact_at((c), __FILE__, __LINE__, (side), (fd), (buf), (len))
void conf_recv_exact_at(struct conf *c, const char *file, int line, enum conf_side side, int fd,
                        void *buf, size_t len);

/* Waits for one seqpacket message (or stream read) and returns what recv
 * returned; *out_flags gets the message flags. */
#define CONF_RECV_MSG(c, side, fd, buf, cap, flags, out_flags)                              \
    conf_recv_msg_at((c), __FILE__, __LINE__, (side), (fd), (buf), (cap), (flags), (out_flags))
int64_t conf_recv_msg_at(struct conf *c, const char *file, int line, enum conf_side side, int fd,
                         void *buf, size_t cap, unsigned flags, unsigned *out_flags);

/* Waits until a read returns end of stream; data before it fails. */
#define CONF_WAIT_EOF(c, side, fd) conf_wait_eof_at((c), __FILE__, __LINE__, (side), (fd))
void conf_wait_eof_at(struct conf *c, const char *file, int line, enum conf_side side, int fd);

/* Waits until a poll shows any of events; fails on timeout. */
#define CONF_WAIT_POLL(c, side, fd, events)                                                 \
    conf_wait_poll_at((c), __FILE__, __LINE__, (side), (fd), (events))
unsigned conf_wait_poll_at(struct conf *c, const char *file, int line, enum conf_side side,
                           int fd, unsigned events);

/* Streams len pattern bytes (conf_fill with tag) from sfd on side from to
 * rfd on the other side, sending and receiving together so that neither
 * buffer size limits len, and checks every byte that arrives. */
#define CONF_TRANSFER(c, from, sfd, rfd, len, tag)                                          \
    conf_transfer_at((c), __FILE__, __LINE__, (from), (sfd), (rfd), (len), (tag))
void conf_transfer_at(struct conf *c, const char *file, int line, enum conf_side from, int sfd,
                      int rfd, size_t len, uint32_t tag);

/* Bytes that encode their offset and a tag, so a misplaced byte shows. */
void conf_fill(void *buf, size_t len, uint32_t tag, size_t offset);
/* The offset of the first byte that differs from conf_fill's, or len. */
size_t conf_check(const void *buf, size_t len, uint32_t tag, size_t offset);

/* ---- raw helpers (CONF_CAP_RAW) ---- */

#define CONF_DEFAULT_BUF_ALLOC (256u * 1024u)

/* A header from the guest's CID to the host's. */
struct vsock_hdr conf_raw_hdr(const struct conf *c, uint16_t op, uint32_t src_port,
                              uint32_t dst_port, uint16_t type);

#define CONF_RAW_BEGIN(c) conf_raw_begin_at((c), __FILE__, __LINE__)
void conf_raw_begin_at(struct conf *c, const char *file, int line);

#define CONF_RAW_SEND(c, h, payload, len)                                                   \
    conf_raw_send_at((c), __FILE__, __LINE__, (h), (payload), (len))
void conf_raw_send_at(struct conf *c, const char *file, int line, const struct vsock_hdr *h,
                      const void *payload, uint32_t len);

/* The next rx packet; fails when none comes within 1 s or its op is not
 * op (op < 0: any). Returns the payload bytes that came. */
#define CONF_RAW_EXPECT(c, h, payload, cap, op)                                             \
    conf_raw_expect_at((c), __FILE__, __LINE__, (h), (payload), (cap), (op))
uint32_t conf_raw_expect_at(struct conf *c, const char *file, int line, struct vsock_hdr *h,
                            void *payload, uint32_t cap, int op);

/* Fails when any packet comes within timeout_ns. */
#define CONF_RAW_EXPECT_NONE(c, timeout_ns)                                                 \
    conf_raw_expect_none_at((c), __FILE__, __LINE__, (timeout_ns))
void conf_raw_expect_none_at(struct conf *c, const char *file, int line, uint64_t timeout_ns);

/* Requires the addresses of a packet from the host to the guest's port. */
#define CONF_REQUIRE_ADDR(c, h, host_port, guest_port)                                      \
    conf_require_addr_at((c), __FILE__, __LINE__, (h), (host_port), (guest_port))
void conf_require_addr_at(struct conf *c, const char *file, int line, const struct vsock_hdr *h,
                          uint32_t host_port, uint32_t guest_port);

/* REQUEST from the guest's gport to the host's hport advertising buf_alloc,
 * then the RESPONSE (checked for addresses and type), which is returned. */
#define CONF_RAW_CONNECT(c, gport, hport, type, buf_alloc)                                  \
    conf_raw_connect_at((c), __FILE__, __LINE__, (gport), (hport), (type), (buf_alloc))
struct vsock_hdr conf_raw_connect_at(struct conf *c, const char *file, int line, uint32_t gport,
                                     uint32_t hport, uint16_t type, uint32_t buf_alloc);

/* ---- the host side's raw mode (CONF_CAP_RAW_HOST) ---- */

/* A header from the host's CID to the guest's. */
struct vsock_hdr conf_raw_host_hdr(const struct conf *c, uint16_t op, uint32_t src_port,
                                   uint32_t dst_port, uint16_t type);

#define CONF_RAW_HOST_BEGIN(c) conf_raw_host_begin_at((c), __FILE__, __LINE__)
void conf_raw_host_begin_at(struct conf *c, const char *file, int line);

#define CONF_RAW_HOST_SEND(c, h, payload, len)                                              \
    conf_raw_host_send_at((c), __FILE__, __LINE__, (h), (payload), (len))
void conf_raw_host_send_at(struct conf *c, const char *file, int line, const struct vsock_hdr *h,
                           const void *payload, uint32_t len);

/* The next packet the guest sent; as CONF_RAW_EXPECT. */
#define CONF_RAW_HOST_EXPECT(c, h, payload, cap, op)                                        \
    conf_raw_host_expect_at((c), __FILE__, __LINE__, (h), (payload), (cap), (op))
uint32_t conf_raw_host_expect_at(struct conf *c, const char *file, int line, struct vsock_hdr *h,
                                 void *payload, uint32_t cap, int op);

#define CONF_RAW_HOST_EXPECT_NONE(c, timeout_ns)                                            \
    conf_raw_host_expect_none_at((c), __FILE__, __LINE__, (timeout_ns))
void conf_raw_host_expect_none_at(struct conf *c, const char *file, int line,
                                  uint64_t timeout_ns);

#endif
