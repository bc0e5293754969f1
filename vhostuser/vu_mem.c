/* The memory table: QEMU's regions, each an fd mapped with its offset. A
 * table is validated whole before anything is mapped (sizes, wrap-around,
 * overlap in guest-physical and in QEMU's address space, the fd really
 * holding offset + size bytes, so that no access can fault), and mapped
 * whole or not at all. */
#include "vhostuser/vu_priv.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_REGION (64ull << 30)

static uint64_t ld64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static const char *check_region(const struct vu_region *r, uint64_t max_region)
{
    if (r->size == 0)
        return "memory region of size 0";
    if (r->size > max_region)
        return "memory region larger than the limit";
    if (r->gpa > UINT64_MAX - r->size || r->uaddr > UINT64_MAX - r->size)
        return "memory region wraps around";
    if (r->mmap_offset > UINT64_MAX - r->size || r->mmap_offset + r->size > (uint64_t)SIZE_MAX)
        return "memory region offset too large";
    return NULL;
}

static const char *check_table(const struct vu_mem *t, uint64_t max_region)
{
    for (unsigned i = 0; i < t->n; i++) {
        const char *why = check_region(&t->r[i], max_region);
        if (why != NULL)
            return why;
        for (unsigned j = 0; j < i; j++) {
            if (overlap(t->r[i].gpa, t->r[i].size, t->r[j].gpa, t->r[j].size))
                return "memory regions overlap in guest-physical space";
            if (overlap(t->r[i].uaddr, t->r[i].size, t->r[j].uaddr, t->r[j].size))
                return "memory regions overlap in the front end's address space";
        }
    }
    return NULL;
}

/* The fd must be a file holding every byte the region names: touching a
 * mapping beyond the end of its file would raise SIGBUS. */
static const char *check_fd(int fd, const struct vu_region *r)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return "memory region fd cannot be examined";
    if (!S_ISREG(st.st_mode))
        return "memory region fd is not a file (memfd or hugetlbfs)";
    if (st.st_size < 0 || (uint64_t)st.st_size < r->mmap_offset + r->size)
        return "memory region extends beyond the end of its file";
    return NULL;
}

static void parse_table(struct vu_mem *t, const struct vu_msg *m)
{
    memset(t, 0, sizeof(*t));
    t->n = (unsigned)ld64(m->payload) & 0xffffffffu;
    for (unsigned i = 0; i < t->n; i++) {
        const uint8_t *p = m->payload + 8 + i * VU_REGION_BYTES;
        t->r[i].gpa = ld64(p);
        t->r[i].size = ld64(p + 8);
        t->r[i].uaddr = ld64(p + 16);
        t->r[i].mmap_offset = ld64(p + 24);
    }
}

static const char *map_all(struct vu_mem *t, const struct vu_msg *m)
{
    for (unsigned i = 0; i < t->n; i++) {
        struct vu_region *r = &t->r[i];
        const char *why = check_fd(m->fds[i], r);
        if (why != NULL)
            return why;
        size_t len = (size_t)(r->mmap_offset + r->size);
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[i], 0);
        if (p == MAP_FAILED)
            return "memory region cannot be mapped";
        r->map = p;
        r->map_len = len;
    }
    return NULL;
}

int vu_mem_load(struct vu_mem *out, const struct vu_msg *m, uint64_t max_region,
                const char **why)
{
    struct vu_mem t;
    parse_table(&t, m);
    *why = check_table(&t, max_region != 0 ? max_region : DEFAULT_MAX_REGION);
    if (*why == NULL)
        *why = map_all(&t, m);
    if (*why != NULL) {
        vu_mem_unmap(&t);
        return -1;
    }
    *out = t;
    return 0;
}

void vu_mem_unmap(struct vu_mem *mem)
{
    for (unsigned i = 0; i < mem->n; i++)
        if (mem->r[i].map != NULL)
            munmap(mem->r[i].map, mem->r[i].map_len);
    memset(mem, 0, sizeof(*mem));
}

int vu_mem_to_gmem(const struct vu_mem *mem, struct gmem *g)
{
    gmem_init(g);
    for (unsigned i = 0; i < mem->n; i++) {
        const struct vu_region *r = &mem->r[i];
        int err = gmem_add_region(g, r->gpa, r->size, r->map + r->mmap_offset);
        if (err != RING_OK) {
            gmem_init(g);
            return err;
        }
    }
    return 0;
}

bool vu_mem_ua_to_gpa(const struct vu_mem *mem, uint64_t ua, uint64_t len, uint64_t *gpa)
{
    for (unsigned i = 0; i < mem->n; i++) {
        const struct vu_region *r = &mem->r[i];
        if (ua < r->uaddr || ua - r->uaddr > r->size)
            continue;
        if (len > r->size - (ua - r->uaddr))
            continue;
        *gpa = r->gpa + (ua - r->uaddr);
        return true;
    }
    return false;
}
