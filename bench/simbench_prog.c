/*
 * simbench: the whole stack and the simulator, measured.
 *
 *   simbench datapath [--smoke]  bulk stream guest app -> driver -> ring ->
 *                                device -> host app (and back) through the
 *                                world (sim/world.h), against single-core
 *                                memcpy bandwidth measured here
 *   simbench sim [--smoke]       vsocksim steps per wall second (oracle after
 *                                every step, and only at the end), seeds per
 *                                second of each built-in scenario
 *   simbench memory [--smoke]    heap bytes per established connection
 *   simbench scaling [--smoke]   ns per event as connections grow 1 -> 4096
 *                                and the ring size 16 -> 32768
 *
 * Every figure is printed as a result row (bench/bench.h) next to the
 * reference it is measured against in the same process.
 */
#include "bench/bench.h"
#include "sim/sim.h"
#include "sim/world.h"

#include <malloc.h>
#include <stdbool.h>

#define SB_PORT 7000u
#define SB_CHUNK 65536u

struct sb_opts {
    bool smoke;
    uint64_t max_conns; /* scaling: 0 = 4096 (64 with --smoke) */
    uint64_t events;    /* scaling: events per point; 0 = the default */
};

/* ---- worlds and connections ------------------------------------------------ */

struct sb_world_cfg {
    uint32_t qsize;
    uint32_t max_sockets;
    uint32_t tx_payload; /* 0: the driver's default (4 KiB, as Linux) */
    uint32_t rx_buf;     /* 0: the driver's default (4 KiB, as Linux) */
};

static struct world *sb_world(const struct sb_world_cfg *c)
{
    struct world_cfg wc;
    memset(&wc, 0, sizeof(wc));
    for (int q = 0; q < VSOCK_VQ_COUNT; q++)
        wc.qsize[q] = c->qsize;
    wc.tx_max_payload = c->tx_payload;
    wc.rx_buf_size = c->rx_buf;
    wc.guest.max_sockets = c->max_sockets;
    wc.host.max_sockets = c->max_sockets;
    wc.guest.max_replies = 2 * c->max_sockets + 1024;
    wc.host.max_replies = 2 * c->max_sockets + 1024;
    int err = 0;
    struct world *w = world_new(&wc, &err);
    if (w == NULL)
        fprintf(stderr, "simbench: world_new: error %d\n", err);
    return w;
}

/* The host listener every connection goes to; its fd, or -1. */
static int sb_listen(struct world *w)
{
    struct vep *h = world_host(w);
    int lfd = vep_socket(h, VSOCK_TYPE_STREAM);
    if (lfd < 0 || vep_bind(h, lfd, SB_PORT) < 0 || vep_listen(h, lfd, 4096) < 0) {
        fprintf(stderr, "simbench: host listener failed\n");
        return -1;
    }
    return lfd;
}

/* n more guest sockets connected to the listener lfd; gfd[i] and hfd[i] are
 * the two ends of connection i. 0, or -1 with a message. */
static int sb_connect(struct world *w, int lfd, uint32_t n, int *gfd, int *hfd, uint64_t now)
{
    struct vep *g = world_guest(w), *h = world_host(w);
    if (lfd < 0)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        gfd[i] = vep_socket(g, VSOCK_TYPE_STREAM);
        if (gfd[i] < 0 || vep_connect(g, gfd[i], VSOCK_CID_HOST, SB_PORT, now) != -EINPROGRESS) {
            fprintf(stderr, "simbench: guest connect %u failed\n", i);
            return -1;
        }
    }
    uint32_t accepted = 0;
    for (unsigned round = 0; accepted < n && round < 100000; round++) {
        world_step(w, now);
        int fd;
        while (accepted < n && (fd = vep_accept(h, lfd, NULL, NULL)) >= 0)
            hfd[accepted++] = fd;
    }
    if (accepted < n || world_run_until_idle(w, now, 1000000) != 0) {
        fprintf(stderr, "simbench: only %u of %u connections came up\n", accepted, n);
        return -1;
    }
    return 0;
}

/* ---- data path ------------------------------------------------------------- */

static uint8_t pattern_at(uint64_t off)
{
    return (uint8_t)(off % 251u);
}

static void fill_pattern(uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern_at(i);
}

/* Sends total bytes from src to dst through w; 0, or -1 when the stream
 * stalls or arrives wrong. The sender's buffer holds the pattern from offset
 * 0 over 251 * 261 bytes, so any offset can be sent from it. */
static int sb_stream(struct world *w, struct vep *src, int sfd, struct vep *dst, int dfd,
                     uint64_t total, const uint8_t *pat, uint8_t *rbuf)
{
    uint64_t sent = 0, rcvd = 0;
    unsigned idle = 0;
    while (rcvd < total) {
        bool moved = false;
        while (sent < total) {
            size_t want = total - sent < SB_CHUNK ? (size_t)(total - sent) : SB_CHUNK;
            int64_t n = vep_send(src, sfd, pat + sent % 251u, want, 0);
            if (n <= 0)
                break;
            sent += (uint64_t)n;
            moved = true;
        }
        moved = world_step(w, 0) || moved;
        int64_t r;
        unsigned fl;
        while ((r = vep_recv(dst, dfd, rbuf, SB_CHUNK, 0, &fl)) > 0) {
            if (rbuf[0] != pattern_at(rcvd) || rbuf[r - 1] != pattern_at(rcvd + (uint64_t)r - 1))
                return -1;
            rcvd += (uint64_t)r;
            moved = true;
        }
        idle = moved ? 0 : idle + 1;
        if (idle > 1000)
            return -1;
    }
    return 0;
}

/* Single-core memcpy bandwidth, bytes/s, best of reps: size bytes copied
 * between two buffers of that size (cold: larger than the caches), or a
 * chunk copied round a working set that stays in cache (hot). */
static double memcpy_bw(size_t size, size_t chunk, unsigned reps, uint64_t bytes)
{
    uint8_t *a = malloc(size), *b = malloc(size);
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return 0;
    }
    memset(a, 1, size);
    memset(b, 2, size);
    double best = 0;
    for (unsigned k = 0; k < reps; k++) {
        uint64_t t0 = bench_ns();
        for (uint64_t done = 0, off = 0; done < bytes; done += chunk) {
            memcpy(b + off, a + off, chunk);
            off = off + chunk >= size ? 0 : off + chunk;
        }
        __asm__ __volatile__("" : : "r"(b) : "memory");
        double bw = (double)bytes / ((double)(bench_ns() - t0) / 1e9);
        if (bw > best)
            best = bw;
    }
    free(a);
    free(b);
    return best;
}

struct sb_path {
    const char *name;
    uint32_t tx_payload, rx_buf;
    bool g2h;
};

static double run_path(const struct sb_path *p, uint64_t total, unsigned reps)
{
    struct sb_world_cfg c = {.qsize = WORLD_DEFAULT_QSIZE, .max_sockets = 0,
                             .tx_payload = p->tx_payload, .rx_buf = p->rx_buf};
    double best = 0;
    uint8_t *pat = malloc(SB_CHUNK + 251), *rbuf = malloc(SB_CHUNK);
    for (unsigned k = 0; k < reps && pat != NULL && rbuf != NULL; k++) {
        struct world *w = sb_world(&c);
        int gfd, hfd;
        if (w == NULL || sb_connect(w, sb_listen(w), 1, &gfd, &hfd, 0) < 0) {
            world_free(w);
            break;
        }
        fill_pattern(pat, SB_CHUNK + 251);
        struct vep *g = world_guest(w), *h = world_host(w);
        uint64_t t0 = bench_ns();
        int err = p->g2h ? sb_stream(w, g, gfd, h, hfd, total, pat, rbuf)
                         : sb_stream(w, h, hfd, g, gfd, total, pat, rbuf);
        double bw = (double)total / ((double)(bench_ns() - t0) / 1e9);
        world_free(w);
        if (err < 0) {
            fprintf(stderr, "simbench: %s: the stream stalled or arrived wrong\n", p->name);
            best = 0;
            break;
        }
        if (bw > best)
            best = bw;
    }
    free(pat);
    free(rbuf);
    return best;
}

static int cmd_datapath(const struct sb_opts *o)
{
    uint64_t total = o->smoke ? (4u << 20) : (256u << 20);
    unsigned reps = o->smoke ? 1 : 5;
    double cold = memcpy_bw(64u << 20, SB_CHUNK, reps, o->smoke ? (64u << 20) : (1u << 30));
    double hot = memcpy_bw(256u << 10, SB_CHUNK, reps, o->smoke ? (64u << 20) : (1u << 30));
    bench_row("datapath", "memcpy_64MiB", cold / 1e9, "GB/s", 0, NULL,
              "single core, 64 KiB memcpy calls over 64 MiB buffers (the reference)");
    bench_row("datapath", "memcpy_hot_256KiB", hot / 1e9, "GB/s", cold / 1e9, "GB/s",
              "single core, 64 KiB memcpy calls within 256 KiB (cache-resident)");
    static const struct sb_path paths[] = {
        {"stream_g2h_4KiB_pkts", 0, 0, true},
        {"stream_h2g_4KiB_pkts", 0, 0, false},
        {"stream_g2h_64KiB_pkts", 65536, 65536 + VSOCK_HDR_LEN, true},
        {"stream_h2g_64KiB_pkts", 65536, 65536 + VSOCK_HDR_LEN, false},
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        double bw = run_path(&paths[i], total, reps);
        if (bw == 0)
            return 1;
        char note[160];
        snprintf(note, sizeof(note), "app send -> driver -> ring -> device -> app recv, 64 KiB "
                 "app writes; %.3f of the cache-resident memcpy", bw / hot);
        bench_row("datapath", paths[i].name, bw / 1e9, "GB/s", cold / 1e9, "GB/s(memcpy)", note);
    }
    return 0;
}

/* ---- the simulator ---------------------------------------------------------- */

struct sb_sim_total {
    uint64_t steps;
    uint64_t seeds;
    double wall;      /* thread CPU seconds: the wall time on an idle core */
    double real_wall; /* wall seconds as they passed on this machine */
    int failed;
};

static int scenario_cfg(const struct scenario *sc, struct sim_cfg *cfg, bool check)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->scenario = *sc;
    cfg->check_every_step = check;
    char err[160];
    if (sim_faults_parse(sc->faults[0] ? sc->faults : "none", &cfg->faults, err, sizeof(err)) < 0) {
        fprintf(stderr, "simbench: scenario %s: %s\n", sc->name, err);
        return -1;
    }
    return 0;
}

/* Runs seeds 1..nseeds of one scenario, each reps times, and adds to *t the
 * steps and the fastest of each seed's wall times (other load on the
 * machine only ever slows a run down). */
static int run_seeds(const struct scenario *sc, uint64_t nseeds, unsigned reps, bool check,
                     struct sb_sim_total *t)
{
    struct sim_cfg cfg;
    if (scenario_cfg(sc, &cfg, check) < 0)
        return -1;
    for (uint64_t seed = 1; seed <= nseeds; seed++) {
        double best = 0, best_real = 0;
        struct sim_result res;
        cfg.seed = seed;
        for (unsigned k = 0; k < reps; k++) {
            uint64_t t0 = bench_ns(), r0 = bench_wall_ns();
            enum sim_status st = sim_run(&cfg, &res);
            double wall = (double)(bench_ns() - t0) / 1e9;
            double real = (double)(bench_wall_ns() - r0) / 1e9;
            if (k == 0 || wall < best)
                best = wall;
            if (k == 0 || real < best_real)
                best_real = real;
            if (st != SIM_OK) {
                fprintf(stderr, "simbench: %s seed %" PRIu64 ": %s: %s\n", sc->name, seed,
                        res.invariant, res.message);
                t->failed++;
                break;
            }
        }
        t->steps += res.stats.steps;
        t->wall += best;
        t->real_wall += best_real;
    }
    t->seeds += nseeds;
    return 0;
}

static int sim_scenario_rows(const struct scenario *sc, uint64_t nseeds, unsigned reps,
                             struct sb_sim_total *all_on, struct sb_sim_total *all_off)
{
    struct sb_sim_total on = {0}, off = {0};
    if (run_seeds(sc, nseeds, reps, true, &on) < 0 || run_seeds(sc, nseeds, reps, false, &off) < 0)
        return -1;
    char name[64], note[128];
    double eps_on = (double)on.steps / on.wall, eps_off = (double)off.steps / off.wall;
    snprintf(note, sizeof(note), "%" PRIu64 " seeds, %.0f steps/seed, oracle every step, "
             "fastest of %u", nseeds, (double)on.steps / (double)nseeds, reps);
    snprintf(name, sizeof(name), "seeds_per_s_%s", sc->name);
    bench_row("sim", name, (double)on.seeds / on.wall, "seeds/s", (double)off.seeds / off.wall,
              "seeds/s(no oracle)", note);
    snprintf(name, sizeof(name), "events_per_s_%s_oracle", sc->name);
    bench_row("sim", name, eps_on, "steps/s", 1e6, "steps/s(target)", "oracle after every step");
    snprintf(name, sizeof(name), "events_per_s_%s_sampled", sc->name);
    bench_row("sim", name, eps_off, "steps/s", 1e6, "steps/s(target)",
              "oracle at the end only (check_every_step=false)");
    all_on->steps += on.steps;
    all_on->wall += on.wall;
    all_on->real_wall += on.real_wall;
    all_on->failed += on.failed + off.failed;
    all_off->steps += off.steps;
    all_off->wall += off.wall;
    return 0;
}

static int cmd_sim(const struct sb_opts *o)
{
    size_t count;
    const struct scenario *list = sim_scenario_list(&count);
    struct sb_sim_total on = {0}, off = {0};
    for (size_t i = 0; i < count; i++)
        if (sim_scenario_rows(&list[i], o->smoke ? 1 : 10, o->smoke ? 1 : 3, &on, &off) < 0)
            return 1;
    bench_row("sim", "events_per_s_all_oracle", (double)on.steps / on.wall, "steps/s", 1e6,
              "steps/s(target)", "every built-in scenario, oracle after every step");
    bench_row("sim", "events_per_s_all_sampled", (double)off.steps / off.wall, "steps/s", 1e6,
              "steps/s(target)", "every built-in scenario, oracle at the end only");
    bench_row("sim", "events_per_s_all_oracle_wall", (double)on.steps / on.real_wall, "steps/s",
              1e6, "steps/s(target)", "the same, by wall clock on this (shared) machine");
    bench_row("sim", "oracle_share", 1.0 - ((double)on.steps / on.wall) / ((double)off.steps / off.wall),
              "fraction", 0, NULL, "of the time per step spent in the oracle");
    if (on.failed != 0) {
        fprintf(stderr, "simbench: %d runs failed\n", on.failed);
        return 1;
    }
    return 0;
}

/* ---- memory per connection --------------------------------------------------- */

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static int cmd_memory(const struct sb_opts *o)
{
    uint32_t n = o->smoke ? 256 : 4096;
    struct sb_world_cfg c = {.qsize = WORLD_DEFAULT_QSIZE, .max_sockets = 2 * n + 16};
    int *gfd = calloc(n, sizeof(*gfd)), *hfd = calloc(n, sizeof(*hfd));
    struct world *w = sb_world(&c);
    int lfd = w != NULL ? sb_listen(w) : -1;
    int err = gfd == NULL || hfd == NULL || w == NULL ? -1 : sb_connect(w, lfd, 1, gfd, hfd, 0);
    size_t one = heap_in_use();
    if (err == 0)
        err = sb_connect(w, lfd, n - 1, gfd + 1, hfd + 1, 0);
    size_t all = heap_in_use();
    world_free(w);
    free(gfd);
    free(hfd);
    if (err < 0)
        return 1;
    /* The first connection also brings the listener and the tables' first
     * growth; the slope over the rest is what each one costs. */
    double per = (double)(all - one) / (double)(n - 1);
    char note[96];
    snprintf(note, sizeof(note), "heap growth from 1 to %u idle connections, both ends", n);
    bench_row("memory", "bytes_per_connection", per, "B", 262144, "B(buf_alloc)", note);
    return 0;
}

/* ---- scaling --------------------------------------------------------------------- */

/* One event: the guest app of connection i sends 64 bytes, the world takes
 * one step, the host app of the connection it last served reads. With
 * oracle, world_check follows every event, as the simulator's does. */
static int scale_run(uint32_t conns, uint32_t qsize, uint64_t events, bool oracle, double *ns)
{
    struct sb_world_cfg c = {.qsize = qsize, .max_sockets = 2 * conns + 16};
    int *gfd = calloc(conns, sizeof(*gfd)), *hfd = calloc(conns, sizeof(*hfd));
    struct world *w = sb_world(&c);
    int err = gfd == NULL || hfd == NULL || w == NULL ? -1 : sb_connect(w, sb_listen(w), conns, gfd, hfd, 0);
    uint8_t buf[256];
    memset(buf, 0x5a, sizeof(buf));
    uint64_t t0 = bench_ns();
    for (uint64_t e = 0; e < events && err == 0; e++) {
        uint32_t i = (uint32_t)(e % conns);
        (void)vep_send(world_guest(w), gfd[i], buf, 64, 0);
        world_step(w, 0);
        unsigned fl;
        (void)vep_recv(world_host(w), hfd[(i + conns - 1) % conns], buf, sizeof(buf), 0, &fl);
        if (oracle && world_check(w) != NULL) {
            fprintf(stderr, "simbench: oracle: %s\n", world_check(w));
            err = -1;
        }
    }
    *ns = (double)(bench_ns() - t0) / (double)events;
    world_free(w);
    free(gfd);
    free(hfd);
    return err;
}

static int scale_row(const char *section, const char *param, uint32_t conns, uint32_t qsize,
                     uint64_t events)
{
    double on, off;
    if (scale_run(conns, qsize, events, true, &on) < 0 ||
        scale_run(conns, qsize, events, false, &off) < 0)
        return -1;
    char name[48], note[96];
    snprintf(name, sizeof(name), "%s=%u", param, strcmp(param, "conns") == 0 ? conns : qsize);
    snprintf(note, sizeof(note), "%u connections, ring %u: ns/event with oracle, without", conns,
             qsize);
    bench_row(section, name, on, "ns/event", off, "ns/event(no oracle)", note);
    return 0;
}

/* Fewer events for the largest tables: each point still takes well over
 * the clock's resolution. */
static uint64_t scale_events(const struct sb_opts *o, uint32_t conns)
{
    if (o->events != 0)
        return o->events;
    if (o->smoke)
        return 2000;
    return conns >= 4096 ? 10000 : conns >= 1024 ? 30000 : 100000;
}

static int cmd_scaling(const struct sb_opts *o)
{
    uint64_t max_conns = o->max_conns ? o->max_conns : o->smoke ? 64 : 4096;
    uint32_t max_q = o->smoke ? 256 : 32768;
    for (uint32_t n = 1; n <= max_conns; n *= 4)
        if (scale_row("scale_conns", "conns", n, WORLD_DEFAULT_QSIZE, scale_events(o, n)) < 0)
            return 1;
    for (uint32_t q = 16; q <= max_q && o->max_conns == 0; q *= 2)
        if (scale_row("scale_ring", "ring", 16, q, scale_events(o, 16)) < 0)
            return 1;
    return 0;
}

static int parse_opts(int argc, char **argv, struct sb_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 2; i < argc; i++) {
        uint64_t *dst = strcmp(argv[i], "--max-conns") == 0 ? &o->max_conns
                        : strcmp(argv[i], "--events") == 0  ? &o->events
                                                            : NULL;
        if (strcmp(argv[i], "--smoke") == 0)
            o->smoke = true;
        else if (dst == NULL || i + 1 >= argc || bench_parse_u64(argv[++i], 1u << 20, dst) < 0 ||
                 *dst == 0)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(const struct sb_opts *o);
    } cmds[] = {{"datapath", cmd_datapath}, {"sim", cmd_sim}, {"memory", cmd_memory},
                {"scaling", cmd_scaling}};
    struct sb_opts o;
    for (size_t i = 0; argc >= 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(argv[1], cmds[i].name) == 0 && parse_opts(argc, argv, &o) == 0)
            return cmds[i].fn(&o);
    fprintf(stderr, "usage: simbench datapath|sim|memory|scaling [--smoke]\n"
                    "       simbench scaling [--max-conns N] [--events N]\n");
    return 2;
}
