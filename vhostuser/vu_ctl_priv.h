/* Private to vhostuser/: the control channel's server (vu_ctl.c), driven by
 * the backend's poll loop. */
#ifndef VSOCKSIM_VU_CTL_PRIV_H
#define VSOCKSIM_VU_CTL_PRIV_H

#include "vhostuser/vu_ctl.h"
#include "vhostuser/vu_priv.h"

struct vu_ctl *vu_ctl_new(void);
void vu_ctl_free(struct vu_ctl *c);
void vu_ctl_set_listener(struct vu_ctl *c, int lfd);
int vu_ctl_attach(struct vu_ctl *c, int fd);
/* A packet crossed the rings (to_host: the guest sent it; otherwise the
 * device placed it on rx): kept for the session's transcript (VCTL_PKTLOG). */
void vu_ctl_note_packet(struct vu_ctl *c, bool to_host, const struct vsock_hdr *h);
/* The device took a tx chain of n readable descriptors (lens: the first of
 * them): kept for the session (VCTL_TXLOG). */
void vu_ctl_note_chain(struct vu_ctl *c, const struct vsock_hdr *h, const uint32_t *lens,
                       uint32_t n);
/* Fills two poll entries: the listener (while no connection) and the connection. */
unsigned vu_ctl_pollfds(const struct vu_ctl *c, struct pollfd *p);
/* Accepts a connection, or handles one request, as the two entries say. */
void vu_ctl_run(struct vu_backend *b, struct vu_ctl *c, const struct pollfd *p);

#endif
