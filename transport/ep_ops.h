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

void ep_hash(struct vep *ep, struct vep_sock *s);
void ep_unhash(struct vep *ep, struct vep_sock *s);
void ep_set_state(struct vep *ep, struct vep_sock *s, enum vep_sock_state st);
struct vep_sock *ep_lookup(const struct vep *ep, uint32_t lport, uint64_t pcid, uint32_t pport);
/* The connection, else the listener or connecting socket on that port. */
struct vep_sock *ep_lookup_rx(const struct vep *ep, uint32_t lport, uint64_t pcid,
                              uint32_t pport);
bool ep_port_in_use(const struct vep *ep, uint32_t port);

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
/* Credit we may still send: peer_buf_alloc - (tx_cnt - peer_fwd_cnt), at least 0. */
uint32_t ep_peer_free(const struct vep_sock *s);

#endif
