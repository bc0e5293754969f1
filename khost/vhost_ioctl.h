/* Private to khost/: the /dev/vhost-vsock ioctls, kept in their own file
 * because <linux/vhost.h> brings <linux/virtio_ring.h>, whose helpers clash
 * with ring/ring.h. Each returns 0 or -errno. */
#ifndef VSOCKSIM_KHOST_VHOST_IOCTL_H
#define VSOCKSIM_KHOST_VHOST_IOCTL_H

#include <stdint.h>

struct khv_vring {
    unsigned index;
    uint32_t num;
    uint64_t desc, avail, used; /* user addresses */
    uint16_t base;              /* the avail index vhost starts from */
    int kick, call, err;        /* eventfds */
};

int khv_set_owner(int fd);
int khv_get_features(int fd, uint64_t *features);
int khv_set_features(int fd, uint64_t features);
/* One region: guest-physical gpa, size bytes, at user address hva. */
int khv_set_mem_table(int fd, uint64_t gpa, uint64_t size, uint64_t hva);
/* NUM, ADDR, BASE, KICK, CALL, ERR in that order; *failed names the
 * ioctl that failed. */
int khv_set_vring(int fd, const struct khv_vring *v, const char **failed);
/* VHOST_GET_VRING_BASE: the next avail index vhost would read. */
int khv_get_vring_base(int fd, unsigned index, uint16_t *base);
int khv_set_guest_cid(int fd, uint64_t cid);
int khv_set_running(int fd, int on);

#endif
