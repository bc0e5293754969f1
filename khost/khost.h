/*
 * khost/: the in-guest vhost harness of the kernel target. It plays both the
 * hypervisor and the guest: the process's own memory is the guest memory (one
 * region, identity mapped: GPA = process virtual address), our driver (driver/)
 * runs its rings there, and the real Linux vhost-vsock (/dev/vhost-vsock) is
 * the device. The host side is real AF_VSOCK sockets of the same kernel, which
 * reach our driver through vhost.
 *
 * SAFETY. All of this runs only inside the throwaway QEMU guest that
 * ci/guest-image.sh builds. Every entry point that could open a vsock socket,
 * /dev/vsock or /dev/vhost-vsock first checks that the process runs there:
 * the file KHOST_MARKER_PATH holds exactly KHOST_MARKER_TEXT (the guest's
 * /init writes it into its initramfs) AND the kernel command line carries
 * KHOST_CMDLINE_TOKEN (which only ci/qemu-run.sh passes). Anywhere else they
 * return -EPERM before opening anything. There is no way to bypass the check.
 *
 * The event queue stays with us: vhost-vsock has no event queue, so khost runs
 * a device half of its own over queue 2 (khost_inject_event).
 *
 * Errors are negative errno values.
 */
#ifndef VSOCKSIM_KHOST_H
#define VSOCKSIM_KHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/driver.h"
#include "transport/transport.h"

#define KHOST_MARKER_PATH "/vsocksim-guest"
#define KHOST_MARKER_TEXT "vsocksim throwaway QEMU guest: vsock tests may run here"
#define KHOST_CMDLINE_PATH "/proc/cmdline"
#define KHOST_CMDLINE_TOKEN "vsocksim.guest=1"

/* 0 when marker_path holds KHOST_MARKER_TEXT (one trailing newline allowed)
 * and cmdline_path has KHOST_CMDLINE_TOKEN as a whole word; -EPERM otherwise.
 * Pure apart from reading the two files: the unit tests call it with their
 * own files. */
int khost_marker_check(const char *marker_path, const char *cmdline_path);
/* khost_marker_check on the real paths. */
int khost_guest_check(void);
/* The sentence to print when khost_guest_check refused. */
const char *khost_refusal(void);

/* CLOCK_MONOTONIC in nanoseconds: this is a real-kernel target. */
uint64_t khost_now(void);

/* ---- the device: our driver over /dev/vhost-vsock --------------------------- */

#define KHOST_DEFAULT_GUEST_CID 3u
#define KHOST_DEFAULT_QSIZE 128u
#define KHOST_SCRATCH_BYTES (256u * 1024u) /* buffers for hand-made chains */

struct khost_cfg {
    uint64_t guest_cid;       /* 0 = KHOST_DEFAULT_GUEST_CID */
    uint32_t queue_size;      /* rx, tx and event; 0 = KHOST_DEFAULT_QSIZE */
    uint32_t rx_buf_size;     /* 0 = the driver's default */
    bool tiny_rx_ok;          /* rx_buf_size may be below a header (vdrv_cfg) */
    uint32_t tx_max_payload;  /* 0 = the driver's default */
    uint64_t driver_features; /* what our driver may use; 0 = all it knows */
    uint32_t rx_pause_replies;
    struct vep_cfg sockets;   /* our driver's socket layer */
};

struct khost_stats {
    uint64_t kicks[2];     /* kick eventfd writes, rx and tx */
    uint64_t calls[2];     /* call eventfd reads that found a count */
    uint64_t errors[2];    /* err eventfd counts: vhost's vq_err */
    uint64_t steps;
    uint64_t events_injected;
};

struct khost;

/* Opens /dev/vhost-vsock and brings it up in the order the kernel needs (see
 * DESIGN): SET_OWNER, GET/SET_FEATURES, SET_MEM_TABLE, per queue
 * NUM/ADDR/BASE/KICK/CALL/ERR, SET_GUEST_CID, SET_RUNNING 1, then kicks rx
 * and tx. NULL on error, with *err (may be NULL) and why (may be NULL) telling
 * which step failed. -EPERM outside the test guest, before anything is
 * opened. */
struct khost *khost_open(const struct khost_cfg *cfg, int *err, char *why, size_t whylen);
/* SET_RUNNING 0, closes everything and frees the memory. */
void khost_close(struct khost *k);

struct vdrv *khost_driver(struct khost *k);
struct vep *khost_sockets(struct khost *k);
uint64_t khost_guest_cid(const struct khost *k);
uint64_t khost_device_features(const struct khost *k); /* what vhost offered */
const struct khost_stats *khost_stats(const struct khost *k);

/* Called with the header of every packet our driver places on the tx ring
 * (read back from the ring after each handling), for transcripts. */
typedef void (*khost_tx_observer)(void *ctx, const struct vsock_hdr *h);
void khost_set_tx_observer(struct khost *k, khost_tx_observer fn, void *ctx);

/* Moves what the socket layer queued onto the tx ring and writes the kick
 * eventfds the driver asks for. Call after socket calls; never blocks. */
void khost_pump(struct khost *k);
/* Waits at most timeout_ns (less when a socket timer is due) for a call or
 * err eventfd, lets the driver handle the interrupt, runs the socket timers
 * with the monotonic clock and kicks. Returns the number of notifications
 * that arrived (0 on timeout), or a negative errno from poll. */
int khost_step(struct khost *k, uint64_t timeout_ns);

/* Places event id (VSOCK_EVENT_TRANSPORT_RESET) in the next event buffer our
 * driver posted, as the hypervisor does, and interrupts the driver. -ENOSPC
 * when no event buffer is posted. */
int khost_inject_event(struct khost *k, uint32_t id);

/* What a hypervisor does when it moves the guest (live migration): the vhost
 * device is torn down and a new one takes the rings over where the old one
 * stopped (VHOST_GET_VRING_BASE, then the whole set-up again on a fresh
 * /dev/vhost-vsock). Closing the old device makes vhost reset the host
 * sockets connected to our CID (vhost_vsock_reset_orphans). */
int khost_restart(struct khost *k, char *why, size_t whylen);
/* khost_restart, then a TRANSPORT_RESET event to our driver (which resets
 * its connections and re-reads guest_cid), as QEMU sends after migration. */
int khost_transport_reset(struct khost *k, char *why, size_t whylen);

/* What QEMU does to vhost at a VM stop: VHOST_GET_VRING_BASE for each ring,
 * then VHOST_VSOCK_SET_RUNNING 0. /dev/vhost-vsock stays open, so vhost's
 * sockets stay connected. -EINVAL when already stopped. */
int khost_stop(struct khost *k, char *why, size_t whylen);
/* ... and at cont: the set-up again from SET_FEATURES (the rings at the
 * bases khost_stop read), SET_RUNNING 1 and a kick on each queue. */
int khost_start(struct khost *k, char *why, size_t whylen);
/* The guest resets the device: vhost stopped as at a VM stop, our driver
 * resets (its connections reset, its rings set up afresh), and vhost
 * started again on them from index 0, as QEMU does when the guest's driver
 * comes back. */
int khost_guest_reset(struct khost *k, char *why, size_t whylen);
/* VHOST_GET_VRING_BASE of a running queue (0 rx, 1 tx): the next avail
 * entry vhost will read. Taken under vhost's queue lock, so every chain
 * before it has been handled (returned, or kept with a queue error). */
int khost_vring_base(struct khost *k, unsigned q, uint16_t *base);

/* ---- hand-made descriptor chains on the tx ring -------------------------- */

struct khost_desc {
    uint64_t addr;  /* written as given */
    uint32_t len;
    uint16_t flags; /* VIRTQ_DESC_F_* as written */
    uint16_t next;  /* written as given */
};
struct khost_chain_result {
    bool returned;  /* vhost put head 0 on the used ring */
    uint32_t used_len;
    bool error;     /* vhost signalled the tx err eventfd (vq_err) */
};

/* A 16-aligned buffer of len bytes in the guest memory's scratch area,
 * holding data (or zeros): its GPA, 0 when the area is full. */
uint64_t khost_scratch(struct khost *k, uint32_t len, const void *data);
/* Everything handed out by khost_scratch is free again. */
void khost_scratch_reset(struct khost *k);
/* Writes one descriptor (16 bytes, little-endian) at guest address gpa: for
 * indirect tables in scratch memory. -EFAULT outside guest memory. */
int khost_desc_store(struct khost *k, uint64_t gpa, const struct khost_desc *d);
/* Waits (up to idle_timeout_ns) until our driver has no tx chain in flight
 * and nothing queued, writes d[j] into tx descriptor slot j (all free then),
 * exposes slot 0 as the next avail entry, kicks, and waits up to timeout_ns
 * for a used entry or the tx err eventfd. Then the driver adopts the ring's
 * indices (vdrv_adopt_queue). A chain vhost refused stays on the avail ring
 * (vhost does not move past an entry it failed to read), so tx is dead
 * afterwards. -EBUSY when tx never became idle, -EINVAL for n of 0 or more
 * than the queue size, -EIO when the driver could not adopt. */
int khost_raw_chain(struct khost *k, const struct khost_desc *d, unsigned n,
                    struct khost_chain_result *out, uint64_t timeout_ns,
                    uint64_t idle_timeout_ns);
/* Where the guest memory lies: [*gpa, *gpa + *size). */
void khost_memory(const struct khost *k, uint64_t *gpa, uint64_t *size);
/* Where queue q's rings lie (rx 0, tx 1, event 2); NULL for another q. */
const struct vring_layout *khost_layout(const struct khost *k, unsigned q);
/* Reads guest memory: 0, or -EFAULT outside it. */
int khost_mem_read(const struct khost *k, uint64_t gpa, void *dst, size_t len);

/* ---- the host side: real AF_VSOCK sockets of the guest kernel ----------- */
/* Non-blocking sockets; flags and results use the endpoint's constants
 * (VEP_MSG_*, VEP_SHUT_*, VEP_POLL*) and errors are -errno, so they line up
 * with vep_*. khost_vsock_socket checks the marker; the others act on its
 * fds. */

int khost_vsock_socket(int type); /* VSOCK_TYPE_STREAM or VSOCK_TYPE_SEQPACKET */
int khost_vsock_bind(int fd, uint64_t cid, uint32_t port);
int khost_vsock_listen(int fd, int backlog);
int khost_vsock_accept(int fd, uint64_t *peer_cid, uint32_t *peer_port);
int khost_vsock_connect(int fd, uint64_t cid, uint32_t port);
int64_t khost_vsock_send(int fd, const void *buf, size_t len, unsigned flags);
int64_t khost_vsock_recv(int fd, void *buf, size_t len, unsigned flags, unsigned *out_flags);
int khost_vsock_shutdown(int fd, int how);
int khost_vsock_close(int fd);
unsigned khost_vsock_poll(int fd);
int khost_vsock_error(int fd);
int khost_vsock_set_buf_size(int fd, uint32_t bytes);
int khost_vsock_set_rcvlowat(int fd, uint32_t bytes);
/* SO_VM_SOCKETS_BUFFER_MAX_SIZE (max true) or _MIN_SIZE. */
int khost_vsock_set_buf_bound(int fd, bool max, uint64_t bytes);
int khost_vsock_local_port(int fd, uint32_t *port);
int khost_vsock_peer_name(int fd, uint64_t *cid, uint32_t *port);
/* ioctl(SIOCOUTQ): the unsent bytes (Linux 6.12), or -errno (6.1:
 * -EOPNOTSUPP). */
int khost_vsock_outq(int fd);
/* SIGPIPEs this process received since its first khost_vsock_socket, which
 * installs a handler that counts them (a send raises one unless it passes
 * VEP_MSG_NOSIGNAL). */
uint64_t khost_sigpipes(void);

#endif
