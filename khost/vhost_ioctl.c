/* The /dev/vhost-vsock ioctls, with the definitions of <linux/vhost.h>.
 * Reached only through khost_open, which checked the marker first. */
#include "khost/vhost_ioctl.h"

#include <errno.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <sys/ioctl.h>

static int xioctl(int fd, unsigned long req, void *arg)
{
    return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

int khv_set_owner(int fd)
{
    return xioctl(fd, VHOST_SET_OWNER, NULL);
}

int khv_get_features(int fd, uint64_t *features)
{
    __u64 f = 0;
    int r = xioctl(fd, VHOST_GET_FEATURES, &f);
    *features = f;
    return r;
}

int khv_set_features(int fd, uint64_t features)
{
    __u64 f = features;
    return xioctl(fd, VHOST_SET_FEATURES, &f);
}

int khv_set_mem_table(int fd, uint64_t gpa, uint64_t size, uint64_t hva)
{
    struct vhost_memory *m = calloc(1, sizeof(*m) + sizeof(struct vhost_memory_region));
    if (m == NULL)
        return -ENOMEM;
    m->nregions = 1;
    m->regions[0].guest_phys_addr = gpa;
    m->regions[0].memory_size = size;
    m->regions[0].userspace_addr = hva;
    int r = xioctl(fd, VHOST_SET_MEM_TABLE, m);
    free(m);
    return r;
}

int khv_set_vring(int fd, const struct khv_vring *v, const char **failed)
{
    struct vhost_vring_state num = {.index = v->index, .num = v->num};
    struct vhost_vring_addr addr = {
        .index = v->index,
        .flags = 0,
        .desc_user_addr = v->desc,
        .avail_user_addr = v->avail,
        .used_user_addr = v->used,
        .log_guest_addr = 0,
    };
    struct vhost_vring_state base = {.index = v->index, .num = v->base};
    struct vhost_vring_file kick = {.index = v->index, .fd = v->kick};
    struct vhost_vring_file call = {.index = v->index, .fd = v->call};
    struct vhost_vring_file err = {.index = v->index, .fd = v->err};
    int r;
    if ((r = xioctl(fd, VHOST_SET_VRING_NUM, &num)) != 0)
        *failed = "VHOST_SET_VRING_NUM";
    else if ((r = xioctl(fd, VHOST_SET_VRING_ADDR, &addr)) != 0)
        *failed = "VHOST_SET_VRING_ADDR";
    else if ((r = xioctl(fd, VHOST_SET_VRING_BASE, &base)) != 0)
        *failed = "VHOST_SET_VRING_BASE";
    else if ((r = xioctl(fd, VHOST_SET_VRING_KICK, &kick)) != 0)
        *failed = "VHOST_SET_VRING_KICK";
    else if ((r = xioctl(fd, VHOST_SET_VRING_CALL, &call)) != 0)
        *failed = "VHOST_SET_VRING_CALL";
    else if ((r = xioctl(fd, VHOST_SET_VRING_ERR, &err)) != 0)
        *failed = "VHOST_SET_VRING_ERR";
    return r;
}

int khv_get_vring_base(int fd, unsigned index, uint16_t *base)
{
    struct vhost_vring_state s = {.index = index, .num = 0};
    int r = xioctl(fd, VHOST_GET_VRING_BASE, &s);
    *base = (uint16_t)s.num;
    return r;
}

int khv_set_guest_cid(int fd, uint64_t cid)
{
    __u64 c = cid;
    return xioctl(fd, VHOST_VSOCK_SET_GUEST_CID, &c);
}

int khv_set_running(int fd, int on)
{
    int v = on;
    return xioctl(fd, VHOST_VSOCK_SET_RUNNING, &v);
}
