/*
 * ringbench: the split virtqueue of ring/ measured on its own.
 *
 *   ringbench roundtrip [--ring-size N] [--iters N] [--reps N]
 *       One thread plays both halves: add a one-descriptor chain, decide
 *       whether to kick, pop it, push it, get it back. Prints ns per round
 *       trip (best of --reps runs) as result rows (bench/bench.h).
 *
 *   ringbench threads [--ring-size R] [--run-cycles C] [--batch B]
 *                     [--outstanding O] [--host-affinity H] [--guest-affinity G]
 *                     [--used-align A]
 *       Shaped like Linux's tools/virtio/ringtest (main.c run_guest/run_host in
 *       its default polling mode), with the same options and defaults: a
 *       guest thread adds buffers and collects used ones, a host thread pops
 *       and pushes them, C buffers in all, over one ring in shared memory.
 *       Our driver half in one thread, our device half in the other (threads
 *       live here, never in the library). The caller times the whole
 *       process, as ringtest is timed; the time between the threads' start
 *       and end is printed too.
 *
 * Both modes negotiate EVENT_IDX, as ringtest's virtio_ring_0_9 does
 * unconditionally.
 */
#include "bench/bench.h"
#include "ring/ring.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>

#define RB_GPA 0x100000ull
#define RB_BUF_LEN 16u /* ringtest's buffers are "Buffer\n"-sized; the device reads none */

/* One ring and its guest memory; the two halves each on their own cache lines. */
struct rb_ring {
    struct gmem mem;
    uint8_t *ram;
    struct vring_layout layout;
    uint64_t buf_gpa;
    struct vq_driver *drv;
    struct vq_device *dev;
};

static void *alloc_line(size_t size)
{
    size_t rounded = (size + 127) & ~(size_t)127;
    void *p = aligned_alloc(128, rounded);
    if (p != NULL)
        memset(p, 0, rounded);
    return p;
}

static void rb_free(struct rb_ring *r)
{
    if (r->drv != NULL)
        vqd_destroy(r->drv);
    free(r->drv);
    free(r->dev);
    free(r->ram);
}

/* Table, avail, and the used ring at used_align (4096, as ringtest's
 * vring_init lays it out, or 4 for the virtio 1.x minimum), then one small
 * buffer every chain points at. */
static int rb_init(struct rb_ring *r, uint32_t num, uint64_t used_align)
{
    memset(r, 0, sizeof(*r));
    gmem_init(&r->mem);
    uint64_t ring_bytes = vring_layout_contiguous(&r->layout, num, RB_GPA, used_align);
    if (ring_bytes == 0)
        return RING_E_QUEUE_SIZE;
    r->buf_gpa = RB_GPA + ((ring_bytes + 4095) & ~4095ull);
    size_t size = (size_t)(r->buf_gpa - RB_GPA) + 4096;
    r->ram = aligned_alloc(4096, size);
    r->drv = alloc_line(sizeof(*r->drv));
    r->dev = alloc_line(sizeof(*r->dev));
    if (r->ram == NULL || r->drv == NULL || r->dev == NULL)
        return RING_E_NOMEM;
    memset(r->ram, 0, size);
    int err = gmem_add_region(&r->mem, RB_GPA, size, r->ram);
    struct vq_driver_cfg dc = {.layout = r->layout, .event_idx = true};
    struct vq_device_cfg vc = {.layout = r->layout, .event_idx = true};
    if (err == RING_OK)
        err = vqd_init(r->drv, &r->mem, &dc);
    if (err == RING_OK)
        err = vqdev_init(r->dev, &r->mem, &vc);
    return err;
}

static int fail_ring(const char *what, int err)
{
    fprintf(stderr, "ringbench: %s: %s\n", what, ring_strerror(err));
    return 1;
}

/* ---- single thread ------------------------------------------------------- */

static int round_trip(struct rb_ring *r, const struct vq_seg *seg, void *token)
{
    struct vq_chain ch;
    struct vq_used_entry u;
    int err = vqd_add(r->drv, seg, 1, 0, token, VQ_ADD_DIRECT);
    if (err != RING_OK)
        return err;
    (void)vqd_kick_prepare(r->drv);
    if (vqdev_pop(r->dev, &ch) != 1)
        return RING_E_NOT_READY;
    err = vqdev_push(r->dev, ch.head, 0);
    if (err != RING_OK)
        return err;
    return vqd_get_used(r->drv, &u) == 1 ? RING_OK : RING_E_USED_ID;
}

static int time_round_trips(struct rb_ring *r, uint64_t iters, double *ns)
{
    static int token;
    struct vq_seg seg = {.gpa = r->buf_gpa, .len = RB_BUF_LEN};
    uint64_t t0 = bench_ns();
    for (uint64_t i = 0; i < iters; i++) {
        int err = round_trip(r, &seg, &token);
        if (err != RING_OK)
            return err;
    }
    *ns = (double)(bench_ns() - t0) / (double)iters;
    return RING_OK;
}

static int cmd_roundtrip(int argc, char **argv)
{
    uint64_t num = 256, iters = 10000000, reps = 5;
    for (int i = 1; i < argc; i++) {
        uint64_t *dst = strcmp(argv[i], "--ring-size") == 0 ? &num
                        : strcmp(argv[i], "--iters") == 0   ? &iters
                        : strcmp(argv[i], "--reps") == 0    ? &reps
                                                            : NULL;
        if (dst == NULL || i + 1 >= argc || bench_parse_u64(argv[++i], UINT32_MAX, dst) < 0 ||
            *dst == 0) {
            fprintf(stderr, "ringbench roundtrip: bad option '%s' (--ring-size N, --iters N, "
                            "--reps N, all positive)\n", argv[i]);
            return 2;
        }
    }
    struct rb_ring r;
    int err = rb_init(&r, (uint32_t)num, VIRTQ_USED_ALIGN);
    double best = 0;
    for (uint64_t k = 0; k < reps && err == RING_OK; k++) {
        double ns;
        err = time_round_trips(&r, iters, &ns);
        if (err == RING_OK && (k == 0 || ns < best))
            best = ns;
    }
    rb_free(&r);
    if (err != RING_OK)
        return fail_ring("roundtrip", err);
    char note[96];
    snprintf(note, sizeof(note), "add+kick decision+pop+push+get, ring %" PRIu64 ", best of %" PRIu64,
             num, reps);
    bench_row("ring", "roundtrip_1thread", best, "ns", 15, "ns(target)", note);
    return 0;
}

/* ---- two threads, shaped like ringtest ----------------------------------- */

struct rb_threads {
    struct rb_ring ring;
    int64_t bufs;
    int64_t max_outstanding;
    int guest_cpu, host_cpu;
    int err; /* first error of either thread, read after both joined */
    int guest_err, host_err;
};

/* The compiler must reload the ring on each pass (ringtest's busy_wait). */
#define RB_BARRIER() __asm__ __volatile__("" ::: "memory")

static void *run_guest(void *arg)
{
    struct rb_threads *t = arg;
    struct vq_driver *vq = t->ring.drv;
    struct vq_seg seg = {.gpa = t->ring.buf_gpa, .len = RB_BUF_LEN};
    int64_t started = 0, completed = 0;
    static int token;
    bench_pin(t->guest_cpu);
    /* Polling, as ringtest without --sleep: no interrupts wanted. */
    vqd_disable_cb(vq);
    for (;;) {
        int r;
        do {
            r = -1;
            if (started < t->bufs && started - completed < t->max_outstanding &&
                vqd_add(vq, &seg, 1, 0, &token, VQ_ADD_DIRECT) == RING_OK) {
                started++;
                r = 0;
            }
            struct vq_used_entry u;
            int got = vqd_get_used(vq, &u);
            if (got < 0) {
                t->guest_err = got;
                return NULL;
            }
            if (got == 1) {
                if (++completed == t->bufs)
                    return NULL;
                r = 0;
            }
        } while (r == 0);
        while (!vqd_has_used(vq))
            RB_BARRIER();
    }
}

static void *run_host(void *arg)
{
    struct rb_threads *t = arg;
    struct vq_device *dev = t->ring.dev;
    int64_t completed = 0;
    bench_pin(t->host_cpu);
    vqdev_disable_notify(dev);
    for (;;) {
        while (!vqdev_has_avail(dev))
            RB_BARRIER();
        struct vq_chain ch;
        int r;
        while ((r = vqdev_pop(dev, &ch)) == 1) {
            int err = vqdev_push(dev, ch.head, 0);
            if (err != RING_OK) {
                t->host_err = err;
                return NULL;
            }
            if (++completed == t->bufs)
                return NULL;
        }
        if (r < 0) {
            t->host_err = r;
            return NULL;
        }
    }
}

struct rb_thread_opts {
    uint64_t ring_size, run_cycles, batch, outstanding, used_align;
    int64_t host_cpu, guest_cpu;
};

static int parse_cpu(const char *s, int64_t *cpu)
{
    uint64_t v;
    if (bench_parse_u64(s, CPU_SETSIZE - 1, &v) < 0)
        return -1;
    *cpu = (int64_t)v;
    return 0;
}

static int parse_thread_opt(struct rb_thread_opts *o, const char *name, const char *val)
{
    uint64_t *dst = strcmp(name, "--ring-size") == 0     ? &o->ring_size
                    : strcmp(name, "--run-cycles") == 0  ? &o->run_cycles
                    : strcmp(name, "--batch") == 0       ? &o->batch
                    : strcmp(name, "--outstanding") == 0 ? &o->outstanding
                    : strcmp(name, "--used-align") == 0  ? &o->used_align
                                                         : NULL;
    if (dst != NULL)
        return bench_parse_u64(val, INT_MAX, dst) == 0 && *dst > 0 ? 0 : -1;
    if (strcmp(name, "--host-affinity") == 0)
        return parse_cpu(val, &o->host_cpu);
    if (strcmp(name, "--guest-affinity") == 0)
        return parse_cpu(val, &o->guest_cpu);
    return -1;
}

static int run_threads(struct rb_threads *t)
{
    pthread_t host, guest;
    if (pthread_create(&host, NULL, run_host, t) != 0)
        return -1;
    if (pthread_create(&guest, NULL, run_guest, t) != 0) {
        /* The host would spin for ever: this program ends here. */
        fprintf(stderr, "ringbench threads: cannot start the guest thread\n");
        exit(1);
    }
    pthread_join(guest, NULL);
    pthread_join(host, NULL);
    return t->guest_err != 0 ? t->guest_err : t->host_err;
}

static int cmd_threads(int argc, char **argv)
{
    struct rb_thread_opts o = {.ring_size = 256, .run_cycles = 10000000, .batch = 1,
                               .outstanding = INT_MAX, .used_align = 4096,
                               .host_cpu = -1, .guest_cpu = -1};
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc || parse_thread_opt(&o, argv[i], argv[i + 1]) < 0) {
            fprintf(stderr, "ringbench threads: bad option '%s' (ringtest's: --ring-size R "
                            "--run-cycles C --batch B --outstanding O --host-affinity H "
                            "--guest-affinity G; and --used-align A)\n", argv[i]);
            return 2;
        }
        i++;
    }
    /* --batch only paces kicks in ringtest's --sleep mode; polling ignores it
     * there too. */
    static struct rb_threads t; /* static: large alignment, zeroed */
    t.bufs = (int64_t)o.run_cycles;
    t.max_outstanding = (int64_t)o.outstanding;
    t.guest_cpu = (int)o.guest_cpu;
    t.host_cpu = (int)o.host_cpu;
    int err = rb_init(&t.ring, (uint32_t)o.ring_size, o.used_align);
    if (err != RING_OK) {
        rb_free(&t.ring);
        return fail_ring("threads", err);
    }
    uint64_t t0 = bench_wall_ns();
    err = run_threads(&t);
    double ns = (double)(bench_wall_ns() - t0) / (double)t.bufs;
    rb_free(&t.ring);
    if (err != 0)
        return fail_ring("threads", err);
    char note[96];
    snprintf(note, sizeof(note), "inside the process, ring %" PRIu64 ", %" PRIu64 " buffers",
             o.ring_size, o.run_cycles);
    bench_row("ring", "threads_inner", ns, "ns/buf", 0, NULL, note);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "roundtrip") == 0)
        return cmd_roundtrip(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "threads") == 0)
        return cmd_threads(argc - 1, argv + 1);
    fprintf(stderr, "usage: ringbench roundtrip [--ring-size N] [--iters N] [--reps N]\n"
                    "       ringbench threads [--ring-size R] [--run-cycles C] [--batch B]\n"
                    "                         [--outstanding O] [--host-affinity H]\n"
                    "                         [--guest-affinity G] [--used-align A]\n");
    return 2;
}
