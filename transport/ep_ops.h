/* Private to transport/: operations the endpoint's source files share. */
#ifndef VSOCKSIM_TRANSPORT_EP_OPS_H
#define VSOCKSIM_TRANSPORT_EP_OPS_H

#include "transport/endpoint_internal.h"

void ep_drop(struct vep *ep, enum vep_drop why);
struct vep_pkt *pkt_new(const struct vsock_hdr *h, const uint8_t *payload, uint32_t len);
void pktq_push(struct vep_pktq *q, struct vep_pkt *p);
struct vep_pkt *pktq_pop(struct vep_pktq *q);

struct vep_sock *ep_sock(const struct vep *ep, int fd);
/* A socket the user holds (not released, not waiting in an accept queue). */
struct vep_sock *ep_user_sock(const struct vep *ep, int fd);
int ep_fd(const struct vep *ep, const struct vep_sock *s);
int ep_sock_alloc(struct vep *ep, int type);
void ep_sock_free(struct vep *ep, struct vep_sock *s);

/* Linux's tables (af_vsock.c): the connected one by (local port, peer CID,
 * peer port), the bound one by local port. Insert and remove are
 * idempotent. */
void ep_conn_insert(struct vep *ep, struct vep_sock *s);
void ep_conn_remove(struct vep *ep, struct vep_sock *s);
void ep_bound_insert(struct vep *ep, struct vep_sock *s);
void ep_bound_remove(struct vep *ep, struct vep_sock *s);
/* vsock_remove_sock: out of the connected table; out of the bound table too
 * when the user has released it (SOCK_DEAD). */
void ep_remove_sock(struct vep *ep, struct vep_sock *s);
struct vep_sock *ep_lookup_conn(const struct vep *ep, uint32_t lport, uint64_t pcid,
                                uint32_t pport);
struct vep_sock *ep_lookup_bound(const struct vep *ep, uint32_t lport);
bool ep_port_in_use(const struct vep *ep, uint32_t port);

/* Whether a named deviation from Linux is switched on. */
static inline bool ep_deviates(const struct vep *ep, enum vsock_deviation d)
{
    return (ep->cfg.deviate & VSOCK_DEV_BIT(d)) != 0;
}

/* Whether the endpoint follows Debian's 6.12.118 (else 6.1.192). */
static inline bool ep_linux_6_12(const struct vep *ep)
{
    return ep->cfg.linux_ver == VSOCK_LINUX_6_12;
}

/* The only writers of a socket's timer (they keep ep->next_deadline). */
void ep_timer_arm(struct vep *ep, struct vep_sock *s, enum vep_timer t, uint64_t deadline);
void ep_timer_disarm(struct vep *ep, struct vep_sock *s);

int ep_queue(struct vep *ep, struct vep_pkt *p, bool reply);
int ep_send(struct vep *ep, struct vep_sock *s, uint16_t op, uint32_t flags,
            const uint8_t *payload, uint32_t len, bool reply);
void ep_cancel_tx(struct vep *ep, struct vep_sock *s);

/* ep_socket.c */
void ep_connect_timeout(struct vep *ep, struct vep_sock *s);
void ep_close_timeout(struct vep *ep, struct vep_sock *s);
/* The peer is gone (RST, or both sides shut): Linux's virtio_transport_do_close. */
void ep_do_close(struct vep *ep, struct vep_sock *s);
/* vsock_stream_has_data: the bytes a reader is told are there. 6.1 counts
 * queued packets whole (a partly read one still counts all its bytes);
 * 6.12 counts the bytes not read yet. */
static inline uint32_t ep_has_data(const struct vep *ep, const struct vep_sock *s)
{
    return ep_linux_6_12(ep) ? s->rx_unread : s->rx_bytes;
}
/* Linux's virtio_transport_tx_buf_size: min(peer_buf_alloc, buf_alloc). */
uint32_t ep_tx_buf_size(const struct vep_sock *s);
/* Credit we may still send (virtio_transport_has_space): tx_buf_size -
 * (tx_cnt - peer_fwd_cnt), the difference taken as u32, at least 0. */
uint32_t ep_peer_free(const struct vep_sock *s);
/* The rx skb tailroom Linux would have left after len payload bytes in a
 * buffer allocated for alloc bytes (header included), under profile v. */
uint32_t ep_linux_rx_room(uint32_t alloc, uint32_t len, enum vsock_linux v);

#endif
