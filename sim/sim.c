/* The scheduler: at every step the seed decides which runnable actor runs.
 * Actors are the guest and host applications, the driver's tx work and its
 * per-queue interrupt handlers, the device's per-queue kick handlers and its
 * rx delivery, socket timers, and the fault injector. Kicks and interrupts
 * travel as vhost's ioeventfd and irqfd do: raised, coalesced while in
 * flight, delivered after a latency drawn from the seed. */
#include "sim/sim_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_STEPS 5000000ull
#define DEFAULT_FAULT_WINDOW_NS 2000000000ull
#define DEFAULT_LIVENESS_NS 30000000000ull
#define ACTOR_COST_NS 500u
#define MAX_ACTORS SIM_MAX_ACTORS

enum actor_kind {
    ACT_DRV_TX,
    ACT_DRV_IRQ_RX,
    ACT_DRV_IRQ_TX,
    ACT_DRV_IRQ_EVENT,
    ACT_DEV_KICK_RX,
    ACT_DEV_KICK_TX,
    ACT_DEV_DELIVER,
    ACT_TIMERS,
    ACT_APP_BASE, /* + flow * 2 + side */
};

bool sim_known_linux_deadlock(const struct sim_result *r)
{
    return r->status == SIM_VIOLATION && strcmp(r->invariant, SIM_KNOWN_LINUX_DEADLOCK) == 0;
}

const char *sim_status_name(enum sim_status st)
{
    switch (st) {
    case SIM_OK: return "ok";
    case SIM_VIOLATION: return "violation";
    case SIM_DIVERGENCE: return "divergence";
    case SIM_ERROR: return "error";
    }
    return "status?";
}

uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---- decisions and failures ---- */

/* A fuzzer's bytes as decisions: just enough bytes for the range, so every
 * byte of the input steers something. */
static uint32_t decide_from_bytes(struct sim *s, uint32_t n)
{
    uint32_t range = n - 1;
    unsigned bytes = range > 0xffffffu ? 4 : range > 0xffffu ? 3 : range > 0xffu ? 2 : 1;
    const uint8_t *p = s->cfg->decision_bytes + s->byte_pos;
    size_t left = s->cfg->decision_len - s->byte_pos;
    uint32_t v;
    if (left >= bytes) { /* the common case, unrolled: this runs several times a step */
        v = p[0];
        if (bytes > 1)
            v |= (uint32_t)p[1] << 8;
        if (bytes > 2)
            v |= (uint32_t)p[2] << 16;
        if (bytes > 3)
            v |= (uint32_t)p[3] << 24;
        s->byte_pos += bytes;
        return v % n;
    }
    /* Near the end: the bytes that are left, then zeros. */
    v = 0;
    for (unsigned i = 0; i < left; i++)
        v |= (uint32_t)p[i] << (8 * i);
    s->byte_pos += left;
    return v % n;
}

uint32_t sim_decide(struct sim *s, const char *kind, uint32_t n)
{
    if (n <= 1 || s->stopped)
        return 0;
    uint32_t v;
    bool traced = s->cfg->replay != NULL || s->cfg->record != NULL;
    if (!traced || !sim_trace_decision(s, kind, n, &v)) {
        v = s->cfg->decision_bytes != NULL ? decide_from_bytes(s, n)
                                           : (uint32_t)prng_below(&s->rng, n);
        if (traced) /* no trace: nothing to record (and no call per decision) */
            sim_trace_record_value(s, kind, n, v);
    }
    s->res->stats.decisions++;
    return v;
}

bool sim_chance(struct sim *s, const char *kind, uint32_t ppm)
{
    if (ppm == 0)
        return false;
    if (ppm >= PPM)
        return true;
    return sim_decide(s, kind, PPM) < ppm;
}

bool sim_faults_active(const struct sim *s)
{
    return s->now < s->fault_end;
}

void sim_note_fault(struct sim *s, enum sim_fault f, const char *detail)
{
    s->res->stats.faults[f]++;
    sim_trace_fault(s, sim_fault_name(f), detail);
}

/* A flow that cannot finish, or a run that cannot go on, while the world is
 * in Linux's reply-pause deadlock is that deadlock, not a new bug: the
 * violation is named after it (SIM_KNOWN_LINUX_DEADLOCK), with the state that
 * shows it and the first symptom. */
static void name_known_deadlock(struct sim *s)
{
    struct sim_result *r = s->res;
    if (r->status != SIM_VIOLATION || s->w == NULL ||
        (strcmp(r->invariant, "flow") != 0 && strcmp(r->invariant, "liveness") != 0))
        return;
    char state[224];
    if (!world_reply_pause_deadlock(s->w, state, sizeof(state)))
        return;
    char symptom[sizeof(r->message)];
    snprintf(symptom, sizeof(symptom), "%s", r->message);
    snprintf(r->invariant, sizeof(r->invariant), "%s", SIM_KNOWN_LINUX_DEADLOCK);
    snprintf(r->message, sizeof(r->message), "Linux's reply-pause deadlock (%s): %s; then %.180s",
             SIM_KNOWN_LINUX_DEADLOCK_REPORT, state, symptom);
}

__attribute__((format(printf, 4, 0))) static void vfail(struct sim *s, enum sim_status st,
                                                        const char *inv, const char *fmt,
                                                        va_list ap)
{
    if (s->stopped)
        return; /* the first failure is the one that matters */
    s->stopped = true;
    s->res->status = st;
    s->res->step = s->res->stats.steps;
    s->res->t_ns = s->now;
    snprintf(s->res->invariant, sizeof(s->res->invariant), "%s", inv);
    vsnprintf(s->res->message, sizeof(s->res->message), fmt, ap);
    name_known_deadlock(s);
}

void sim_fail(struct sim *s, enum sim_status st, const char *inv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(s, st, inv, fmt, ap);
    va_end(ap);
}

void sim_violation(struct sim *s, const char *inv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(s, SIM_VIOLATION, inv, fmt, ap);
    va_end(ap);
}

/* ---- notifications ---- */

static bool note_in_flight(const struct sim *s, bool irq, unsigned q)
{
    for (uint32_t i = 0; i < s->nnotes; i++)
        if (s->notes[i].irq == irq && s->notes[i].q == q)
            return true;
    return false;
}

static uint64_t note_latency(struct sim *s, bool irq)
{
    enum sim_fault f = irq ? FAULT_IRQ_DELAY : FAULT_KICK_DELAY;
    if (sim_faults_active(s) && sim_chance(s, irq ? "irq-delay" : "kick-delay", s->cfg->faults.ppm[f])) {
        sim_note_fault(s, f, NULL);
        return 10000 + sim_decide(s, "late-ns", 1990000);
    }
    return 200 + sim_decide(s, "latency-ns", 1800);
}

/* An eventfd is a counter: a second signal before the reader runs merges. */
static void raise_notes(struct sim *s, unsigned bits, bool irq)
{
    for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++) {
        if (!(bits & (1u << q)))
            continue;
        if (irq)
            s->res->stats.interrupts++;
        else
            s->res->stats.kicks++;
        unsigned ready = irq ? s->irq_ready : s->kick_ready;
        if ((ready & (1u << q)) || note_in_flight(s, irq, q) || s->nnotes == SIM_NOTES_MAX)
            continue;
        s->notes[s->nnotes++] = (struct sim_note){.at = s->now + note_latency(s, irq), .irq = irq,
                                                  .q = (uint8_t)q};
    }
}

static void collect_notes(struct sim *s)
{
    unsigned kicks = vdrv_take_kicks(world_driver(s->w));
    unsigned irqs = vdev_take_interrupts(world_device(s->w));
    if (kicks != 0) /* mostly neither: collected twice a step */
        raise_notes(s, kicks, false);
    if (irqs != 0)
        raise_notes(s, irqs, true);
}

static void deliver_due_notes(struct sim *s)
{
    uint32_t i = 0;
    while (i < s->nnotes) {
        struct sim_note n = s->notes[i];
        if (n.at > s->now) {
            i++;
            continue;
        }
        if (n.irq)
            s->irq_ready |= 1u << n.q;
        else
            s->kick_ready |= 1u << n.q;
        s->notes[i] = s->notes[--s->nnotes]; /* order does not matter: delivery is by time */
    }
}

/* ---- actors ---- */

static bool device_stalled(const struct sim *s)
{
    return s->now < s->device_stall_until;
}

static bool drv_tx_runnable(const struct sim *s)
{
    struct vdrv *drv = world_driver(s->w);
    return vep_tx_queued_pkts(s->g) > 0 && !vdrv_broken(drv) &&
           vqd_num_free(vdrv_queue(drv, VSOCK_VQ_TX)) > 0;
}

static bool dev_deliver_runnable(const struct sim *s)
{
    const struct vq_device *rx = vdev_queue(world_device(s->w), VSOCK_VQ_RX);
    return !device_stalled(s) && vep_tx_queued_pkts(s->h) > 0 && rx != NULL && vqdev_has_avail(rx);
}

static uint64_t timers_deadline(const struct sim *s)
{
    uint64_t a = vdrv_next_deadline(world_driver(s->w));
    uint64_t b = vdev_next_deadline(world_device(s->w));
    return a < b ? a : b;
}

static uint32_t runnable_actors(struct sim *s, uint32_t *out)
{
    uint32_t n = 0;
    if (drv_tx_runnable(s))
        out[n++] = ACT_DRV_TX;
    for (unsigned q = 0; q < VSOCK_VQ_COUNT; q++)
        if ((s->irq_ready & (1u << q)) && (q != VSOCK_VQ_RX || s->now >= s->rx_starve_until))
            out[n++] = ACT_DRV_IRQ_RX + q;
    if (!device_stalled(s)) {
        if (s->kick_ready & (1u << VSOCK_VQ_RX))
            out[n++] = ACT_DEV_KICK_RX;
        if (s->kick_ready & (1u << VSOCK_VQ_TX))
            out[n++] = ACT_DEV_KICK_TX;
    }
    if (dev_deliver_runnable(s))
        out[n++] = ACT_DEV_DELIVER;
    if (timers_deadline(s) <= s->now)
        out[n++] = ACT_TIMERS;
    uint32_t apps = sim_flows_runnable(s, out + n, MAX_ACTORS - n);
    for (uint32_t i = 0; i < apps; i++)
        out[n + i] += ACT_APP_BASE;
    return n + apps;
}

/* The guest's rx handler is what refills rx buffers: holding it back starves
 * the device of buffers while the interrupt stays pending. */
static bool starve_rx(struct sim *s)
{
    if (!sim_faults_active(s) ||
        !sim_chance(s, "rx-starve", s->cfg->faults.ppm[FAULT_RX_STARVE]))
        return false;
    s->rx_starve_until = s->now + 1 + sim_decide(s, "starve-ns", 5000000);
    sim_note_fault(s, FAULT_RX_STARVE, NULL);
    return true;
}

static void run_driver_irq(struct sim *s, enum vsock_vq q)
{
    struct vdrv *drv = world_driver(s->w);
    if (q == VSOCK_VQ_RX && starve_rx(s))
        return;
    s->irq_ready &= ~(1u << q);
    if (q == VSOCK_VQ_RX)
        vdrv_handle_rx(drv, s->now);
    else if (q == VSOCK_VQ_TX)
        vdrv_handle_tx(drv, s->now);
    else
        vdrv_handle_event(drv, s->now);
}

static void run_actor(struct sim *s, uint32_t a)
{
    struct vdrv *drv = world_driver(s->w);
    struct vdev *dev = world_device(s->w);
    switch (a) {
    case ACT_DRV_TX:
        vdrv_handle_tx(drv, s->now);
        return;
    case ACT_DRV_IRQ_RX:
    case ACT_DRV_IRQ_TX:
    case ACT_DRV_IRQ_EVENT:
        run_driver_irq(s, (enum vsock_vq)(a - ACT_DRV_IRQ_RX));
        return;
    case ACT_DEV_KICK_RX:
        s->kick_ready &= ~(1u << VSOCK_VQ_RX);
        vdev_handle_rx_kick(dev, s->now);
        return;
    case ACT_DEV_KICK_TX:
        s->kick_ready &= ~(1u << VSOCK_VQ_TX);
        vdev_handle_tx_kick(dev, s->now);
        return;
    case ACT_DEV_DELIVER:
        vdev_deliver(dev, s->now);
        return;
    case ACT_TIMERS:
        vdrv_tick(drv, s->now);
        vdev_tick(dev, s->now);
        return;
    default:
        sim_flow_run(s, a - ACT_APP_BASE);
        return;
    }
}

/* ---- faults that act on the world ---- */

int sim_device_reset(struct sim *s)
{
    s->paused_until = 0; /* the reset starts the device */
    sim_flows_device_reset(s);
    s->nnotes = 0;
    s->kick_ready = s->irq_ready = 0;
    int err = world_device_reset(s->w, s->now);
    /* A reset event still on the ring is gone with the old rings. */
    const struct vdrv_counters *dc = vdrv_counters(world_driver(s->w));
    s->resets_injected = dc->transport_resets + dc->bad_events;
    return err;
}

void sim_device_stop(struct sim *s)
{
    world_device_stop(s->w);
}

int sim_device_start(struct sim *s)
{
    int err = world_device_start(s->w);
    /* vhost's poll finds the kicks it missed when QEMU hands it the kick
     * eventfd again: the device looks at tx. */
    if (err == 0)
        s->kick_ready |= 1u << VSOCK_VQ_TX;
    return err;
}

static void device_restart(struct sim *s)
{
    sim_note_fault(s, FAULT_DEVICE_RESTART, NULL);
    int err = sim_device_reset(s);
    if (err < 0)
        sim_fail(s, SIM_ERROR, "device-restart", "device restart failed: %s", strerror(-err));
}

/* A VM stop: vhost stops where it is and nobody is told; the cont comes
 * when the pause is over (end_pause). */
static void device_pause(struct sim *s)
{
    if (s->paused_until != 0)
        return;
    sim_note_fault(s, FAULT_DEVICE_PAUSE, NULL);
    sim_device_stop(s);
    s->paused_until = s->now + 1 + sim_decide(s, "pause-ns", 5000000);
}

static void end_pause(struct sim *s)
{
    if (s->paused_until == 0 || s->now < s->paused_until)
        return;
    s->paused_until = 0;
    int err = sim_device_start(s);
    if (err < 0)
        sim_fail(s, SIM_ERROR, "device-pause", "device start after a pause failed: %s",
                 strerror(-err));
}

static void transport_reset(struct sim *s)
{
    int err = vdev_inject_transport_reset(world_device(s->w));
    if (err == -ENOSPC)
        return; /* no event buffer posted: nothing happens, as with a real device */
    sim_note_fault(s, FAULT_TRANSPORT_RESET, NULL);
    sim_flows_disrupt_all(s);
    s->resets_injected++;
}

bool sim_reset_in_flight(const struct sim *s)
{
    /* The guest resets its connections when it handles the event, not when
     * the device raises it: a flow started in between is hit too. */
    return vdrv_counters(world_driver(s->w))->transport_resets + vdrv_counters(world_driver(s->w))->bad_events <
           s->resets_injected;
}

static void inject_faults(struct sim *s)
{
    const uint32_t *ppm = s->cfg->faults.ppm;
    if (!sim_faults_active(s))
        return;
    if (sim_chance(s, "spurious-kick", ppm[FAULT_SPURIOUS_KICK])) {
        unsigned q = sim_decide(s, "queue", 2);
        sim_note_fault(s, FAULT_SPURIOUS_KICK, q ? "tx" : "rx");
        s->kick_ready |= 1u << q;
    }
    if (sim_chance(s, "spurious-irq", ppm[FAULT_SPURIOUS_IRQ])) {
        unsigned q = sim_decide(s, "queue", VSOCK_VQ_COUNT);
        sim_note_fault(s, FAULT_SPURIOUS_IRQ, q == 0 ? "rx" : q == 1 ? "tx" : "event");
        s->irq_ready |= 1u << q;
    }
    /* A stopped VM neither migrates (TRANSPORT_RESET) nor resets its
     * device: those wait for the cont. */
    if (s->paused_until != 0)
        return;
    if (sim_chance(s, "transport-reset", ppm[FAULT_TRANSPORT_RESET]))
        transport_reset(s);
    if (sim_chance(s, "device-restart", ppm[FAULT_DEVICE_RESTART]))
        device_restart(s);
    if (sim_chance(s, "device-pause", ppm[FAULT_DEVICE_PAUSE]))
        device_pause(s);
}

/* ---- the oracle ---- */

static void check_world(struct sim *s)
{
    s->res->stats.checks++;
    const char *why = world_check(s->w);
    if (why != NULL)
        sim_violation(s, "world", "%s", why);
}

static uint64_t next_event_time(const struct sim *s)
{
    uint64_t t = timers_deadline(s);
    for (uint32_t i = 0; i < s->nnotes; i++)
        if (s->notes[i].at < t)
            t = s->notes[i].at;
    uint64_t wake = sim_flows_next_wake(s);
    if (wake < t)
        t = wake;
    if (s->device_stall_until > s->now && s->device_stall_until < t)
        t = s->device_stall_until;
    if (s->rx_starve_until > s->now && s->rx_starve_until < t)
        t = s->rx_starve_until;
    if (s->paused_until > s->now && s->paused_until < t)
        t = s->paused_until;
    return t;
}

static bool liveness_exceeded(struct sim *s)
{
    if (s->now <= s->fault_end + s->cfg->liveness_ns || sim_flows_all_done(s))
        return false;
    char pending[256];
    sim_flows_describe_pending(s, pending, sizeof(pending));
    sim_violation(s, "liveness",
                  "flows still running %" PRIu64 " ms after faults stopped: %s",
                  s->cfg->liveness_ns / 1000000, pending);
    return true;
}

/* Moves the clock to the next timed event when nothing can run now; false
 * when nothing ever will. */
static bool advance_clock(struct sim *s)
{
    uint64_t t = next_event_time(s);
    if (t == UINT64_MAX)
        return false;
    /* A caller waiting until a deadline sees the clock stop there, not at
     * the next event beyond it. */
    if (t > s->until && s->until > s->now)
        t = s->until;
    if (t > s->now)
        s->now = t;
    return true;
}

static void end_checks(struct sim *s)
{
    struct vep_conn_info info;
    uint32_t g = vep_conns(s->g, &info, 0), h = vep_conns(s->h, &info, 0);
    if (g != 0 || h != 0)
        sim_violation(s, "leak", "all flows ended but %" PRIu32 " guest and %" PRIu32
                      " host sockets remain", g, h);
}

/* One step: faults, then one actor chosen by the seed, then the oracle.
 * False when the run is over. */
static bool step(struct sim *s)
{
    uint32_t *actors = s->actors;
    collect_notes(s);
    deliver_due_notes(s);
    end_pause(s);
    inject_faults(s);
    uint32_t n = runnable_actors(s, actors);
    if (n == 0) {
        if (sim_flows_all_done(s) && s->nnotes == 0 && timers_deadline(s) == UINT64_MAX)
            return false;
        if (!advance_clock(s)) {
            char pending[256];
            sim_flows_describe_pending(s, pending, sizeof(pending));
            sim_violation(s, "liveness", "deadlock: nothing can run and nothing is due: %s", pending);
            return false;
        }
        return !liveness_exceeded(s);
    }
    uint32_t a = actors[sim_decide(s, "actor", n)];
    run_actor(s, a);
    s->now += ACTOR_COST_NS;
    s->res->stats.steps++;
    collect_notes(s);
    if (s->cfg->check_every_step)
        check_world(s);
    if (s->res->stats.steps >= s->cfg->max_steps) {
        sim_violation(s, "liveness", "step budget of %" PRIu64 " exhausted", s->cfg->max_steps);
        return false;
    }
    return !s->stopped && !liveness_exceeded(s);
}

/* ---- a run ---- */

static uint32_t pick_queue_size(struct sim *s)
{
    if (!sim_chance(s, "tiny-rings", s->cfg->faults.ppm[FAULT_TINY_RINGS]))
        return WORLD_DEFAULT_QSIZE;
    uint32_t q = 1u << sim_decide(s, "tiny-size", 3); /* 1, 2 or 4 */
    char detail[16];
    snprintf(detail, sizeof(detail), "q=%u", q);
    sim_note_fault(s, FAULT_TINY_RINGS, detail);
    return q;
}

static int build_world(struct sim *s)
{
    struct world_cfg wc;
    if (s->cfg->world != NULL)
        wc = *s->cfg->world;
    else
        memset(&wc, 0, sizeof(wc));
    uint32_t q = pick_queue_size(s);
    for (int i = 0; i < VSOCK_VQ_COUNT; i++)
        if (wc.qsize[i] == 0 || q != WORLD_DEFAULT_QSIZE) /* tiny rings win */
            wc.qsize[i] = q;
    wc.linux_ver = s->cfg->linux_ver;
    wc.deviate = s->cfg->deviate;
    wc.guest.ephemeral_seed = (uint32_t)(s->cfg->seed * 0x9e3779b97f4a7c15ull >> 32);
    wc.host.ephemeral_seed = (uint32_t)(s->cfg->seed * 0xc2b2ae3d27d4eb4full >> 32);
    sim_world_observe(s, &wc);
    int err = 0;
    s->w = world_new(&wc, &err);
    if (s->w == NULL)
        return err ? err : -ENOMEM;
    s->g = world_guest(s->w);
    s->h = world_host(s->w);
    world_set_exempt(s->w, sim_flow_conn_exempt, s);
    return 0;
}

static void resolve_cfg(struct sim_cfg *c)
{
    if (c->max_steps == 0)
        c->max_steps = DEFAULT_MAX_STEPS;
    if (c->fault_window_ns == 0)
        c->fault_window_ns = DEFAULT_FAULT_WINDOW_NS;
    if (c->liveness_ns == 0)
        c->liveness_ns = DEFAULT_LIVENESS_NS;
}

static void fill_stats(struct sim *s)
{
    struct sim_stats *st = &s->res->stats;
    const struct vep_counters *hc = vep_counters(s->h), *gc = vep_counters(s->g);
    st->sim_ns = s->now;
    st->bytes_g2h = hc->rx_bytes;
    st->bytes_h2g = gc->rx_bytes;
    for (int op = 0; op < 8; op++) {
        st->pkts_g2h[op] = hc->rx_pkts[op];
        st->pkts_h2g[op] = gc->rx_pkts[op];
    }
    uint64_t h = fnv1a(0xcbf29ce484222325ull, &s->now, sizeof(s->now));
    h = fnv1a(h, &st->bytes_g2h, sizeof(st->bytes_g2h));
    h = fnv1a(h, &st->bytes_h2g, sizeof(st->bytes_h2g));
    h = fnv1a(h, st->pkts_g2h, sizeof(st->pkts_g2h));
    h = fnv1a(h, st->pkts_h2g, sizeof(st->pkts_h2g));
    st->digest = sim_flows_digest(s, h);
}

/* Builds the world and the flows; the run then advances by step(). */
struct sim *sim_open(const struct sim_cfg *cfg, struct sim_result *res)
{
    memset(res, 0, sizeof(*res));
    struct sim *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        res->status = SIM_ERROR;
        snprintf(res->invariant, sizeof(res->invariant), "error");
        snprintf(res->message, sizeof(res->message), "out of memory");
        return NULL;
    }
    s->cfg_copy = *cfg;
    resolve_cfg(&s->cfg_copy);
    s->cfg = &s->cfg_copy;
    s->res = res;
    s->until = UINT64_MAX;
    s->fault_end = s->cfg->fault_window_ns;
    prng_seed(&s->rng, s->cfg->seed);
    int err = build_world(s);
    if (err < 0)
        sim_fail(s, SIM_ERROR, "error", "building the world: %s", strerror(-err));
    else if (sim_flows_init(s) < 0)
        sim_fail(s, SIM_ERROR, "error", "out of memory for flows");
    return s;
}

enum sim_status sim_close(struct sim *s, bool final_checks)
{
    struct sim_result *res = s->res;
    if (final_checks && !s->stopped)
        end_checks(s);
    if (!s->stopped && s->w != NULL)
        check_world(s);
    if (s->w != NULL)
        fill_stats(s);
    res->stats.flows = s->nflows;
    sim_trace_end(s);
    sim_flows_free(s);
    world_free(s->w);
    free(s);
    return res->status;
}

bool sim_run_until(struct sim *s, bool (*cond)(void *ctx), void *ctx, uint64_t deadline_ns)
{
    s->until = deadline_ns;
    for (;;) {
        if (cond != NULL && cond(ctx))
            return true;
        if (s->stopped || s->now >= deadline_ns)
            return false;
        uint64_t steps = s->res->stats.steps;
        bool more = step(s);
        if (s->stopped)
            return false;
        if (!more || (s->res->stats.steps == steps && s->now > deadline_ns)) {
            /* nothing will happen before the deadline: time simply passes */
            if (cond != NULL && cond(ctx))
                return true;
            /* unless the condition acted (a caller sending from inside it)
             * and so gave the scheduler something to run */
            if (cond != NULL && runnable_actors(s, s->actors) != 0)
                continue;
            if (s->now < deadline_ns)
                s->now = deadline_ns;
            return false;
        }
    }
}

uint64_t sim_now(const struct sim *s)
{
    return s->now;
}

struct world *sim_world(struct sim *s)
{
    return s->w;
}

bool sim_stopped(const struct sim *s)
{
    return s->stopped;
}

enum sim_status sim_run(const struct sim_cfg *cfg, struct sim_result *res)
{
    struct sim *s = sim_open(cfg, res);
    if (s == NULL)
        return res->status;
    while (!s->stopped && step(s))
        ;
    return sim_close(s, true);
}
