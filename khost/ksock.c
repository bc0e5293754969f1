#define _GNU_SOURCE /* accept4 */
/* The kernel target's host side: real AF_VSOCK sockets of the guest kernel,
 * non-blocking, with the endpoint's flag values and -errno results so they
 * line up with vep_*. Only khost_vsock_socket creates a socket, and it checks
 * that we are inside the test guest first. */
#include "khost/khost.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>
/* After sys/socket.h: it needs sa_family_t. */
#include <linux/vm_sockets.h>

static int neg(int r)
{
    return r < 0 ? -errno : r;
}

/* SIGPIPE, counted: Linux 6.12 raises it for a stream send's EPIPE, and a
 * case asks how many came. A signal handler can only reach a global, and
 * only one of this type; the process is one case's, and nothing else here
 * raises SIGPIPE. */
static volatile sig_atomic_t sigpipe_count;

static void count_sigpipe(int sig)
{
    (void)sig;
    sigpipe_count++;
}

static void install_sigpipe_counter(void)
{
    struct sigaction sa = {0}, old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == count_sigpipe)
        return;
    sa.sa_handler = count_sigpipe;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGPIPE, &sa, NULL);
}

uint64_t khost_sigpipes(void)
{
    return (uint64_t)sigpipe_count;
}

int khost_vsock_outq(int fd)
{
    int n = 0;
    if (ioctl(fd, SIOCOUTQ, &n) < 0)
        return -errno;
    return n;
}

int khost_vsock_socket(int type)
{
    if (khost_guest_check() != 0)
        return -EPERM;
    install_sigpipe_counter();
    int st;
    if (type == VSOCK_TYPE_STREAM)
        st = SOCK_STREAM;
    else if (type == VSOCK_TYPE_SEQPACKET)
        st = SOCK_SEQPACKET;
    else
        return -EINVAL;
    return neg(socket(AF_VSOCK, st | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

static struct sockaddr_vm vm_addr(uint64_t cid, uint32_t port)
{
    struct sockaddr_vm a = {0};
    a.svm_family = AF_VSOCK;
    a.svm_cid = (unsigned)cid;
    a.svm_port = port;
    return a;
}

int khost_vsock_bind(int fd, uint64_t cid, uint32_t port)
{
    struct sockaddr_vm a = vm_addr(cid, port);
    return neg(bind(fd, (struct sockaddr *)&a, sizeof(a)));
}

int khost_vsock_listen(int fd, int backlog)
{
    return neg(listen(fd, backlog));
}

int khost_vsock_accept(int fd, uint64_t *peer_cid, uint32_t *peer_port)
{
    struct sockaddr_vm a = {0};
    socklen_t len = sizeof(a);
    int r = accept4(fd, (struct sockaddr *)&a, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (r < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if (peer_cid != NULL)
        *peer_cid = a.svm_cid;
    if (peer_port != NULL)
        *peer_port = a.svm_port;
    return r;
}

int khost_vsock_connect(int fd, uint64_t cid, uint32_t port)
{
    struct sockaddr_vm a = vm_addr(cid, port);
    return neg(connect(fd, (struct sockaddr *)&a, sizeof(a)));
}

static int msg_flags(unsigned vep)
{
    int f = MSG_DONTWAIT;
    if (vep & VEP_MSG_NOSIGNAL)
        f |= MSG_NOSIGNAL;
    if (vep & VEP_MSG_PEEK)
        f |= MSG_PEEK;
    if (vep & VEP_MSG_TRUNC)
        f |= MSG_TRUNC;
    if (vep & VEP_MSG_EOR)
        f |= MSG_EOR;
    return f;
}

int64_t khost_vsock_send(int fd, const void *buf, size_t len, unsigned flags)
{
    ssize_t r = send(fd, buf, len, msg_flags(flags) & ~MSG_TRUNC & ~MSG_PEEK);
    if (r < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return r;
}

int64_t khost_vsock_recv(int fd, void *buf, size_t len, unsigned flags, unsigned *out_flags)
{
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t r = recvmsg(fd, &m, msg_flags(flags) & ~MSG_EOR & ~MSG_NOSIGNAL);
    if (r < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if (out_flags != NULL) {
        unsigned o = 0;
        if (m.msg_flags & MSG_EOR)
            o |= VEP_MSG_EOR;
        if (m.msg_flags & MSG_TRUNC)
            o |= VEP_MSG_TRUNC;
        *out_flags = o;
    }
    return r;
}

int khost_vsock_shutdown(int fd, int how)
{
    int h;
    switch (how) {
    case VEP_SHUT_RD: h = SHUT_RD; break;
    case VEP_SHUT_WR: h = SHUT_WR; break;
    case VEP_SHUT_RDWR: h = SHUT_RDWR; break;
    default: return -EINVAL;
    }
    return neg(shutdown(fd, h));
}

int khost_vsock_close(int fd)
{
    return neg(close(fd));
}

unsigned khost_vsock_poll(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return 0;
    unsigned o = 0;
    if (p.revents & POLLIN)
        o |= VEP_POLLIN;
    if (p.revents & POLLOUT)
        o |= VEP_POLLOUT;
    if (p.revents & POLLERR)
        o |= VEP_POLLERR;
    if (p.revents & POLLHUP)
        o |= VEP_POLLHUP;
    if (p.revents & POLLRDHUP)
        o |= VEP_POLLRDHUP;
    return o;
}

int khost_vsock_error(int fd)
{
    int e = 0;
    socklen_t len = sizeof(e);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
        return -errno;
    return -e;
}

int khost_vsock_set_buf_size(int fd, uint32_t bytes)
{
    unsigned long long v = bytes;
    return neg(setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, sizeof(v)));
}

int khost_vsock_set_buf_bound(int fd, bool max, uint64_t bytes)
{
    unsigned long long v = bytes;
    int opt = max ? SO_VM_SOCKETS_BUFFER_MAX_SIZE : SO_VM_SOCKETS_BUFFER_MIN_SIZE;
    return neg(setsockopt(fd, AF_VSOCK, opt, &v, sizeof(v)));
}

int khost_vsock_set_rcvlowat(int fd, uint32_t bytes)
{
    int v = bytes > (uint32_t)INT32_MAX ? INT32_MAX : (int)bytes;
    return neg(setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)));
}

int khost_vsock_local_port(int fd, uint32_t *port)
{
    struct sockaddr_vm a = {0};
    socklen_t len = sizeof(a);
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return -errno;
    if (port != NULL)
        *port = a.svm_port;
    return 0;
}

int khost_vsock_peer_name(int fd, uint64_t *cid, uint32_t *port)
{
    struct sockaddr_vm a = {0};
    socklen_t len = sizeof(a);
    if (getpeername(fd, (struct sockaddr *)&a, &len) < 0)
        return -errno;
    if (cid != NULL)
        *cid = a.svm_cid;
    if (port != NULL)
        *port = a.svm_port;
    return 0;
}
