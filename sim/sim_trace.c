/* Recording a run into a trace, and strict replay: every decision is read
 * back from the trace instead of drawn from the PRNG, and every decision,
 * packet and fault the run makes must equal the trace's next record. The
 * first difference ends the run as a divergence, naming the trace line. */
#include "sim/sim_internal.h"
#include "traces/trace.h"

#include <inttypes.h>
#include <string.h>

/* The next record of the replayed trace that a run can reproduce (notes are
 * commentary). False (and the run stopped) when the trace cannot say. */
static bool replay_next(struct sim *s, struct trace_record *rec)
{
    struct trace_error err;
    for (;;) {
        int r = trace_reader_next(s->cfg->replay, rec, &err);
        if (r < 0) {
            sim_fail(s, SIM_ERROR, "trace", "%s", err.msg);
            return false;
        }
        if (r == 0) {
            sim_fail(s, SIM_DIVERGENCE, "divergence",
                     "the trace ended (line %lu) but the run goes on",
                     trace_reader_line(s->cfg->replay));
            return false;
        }
        if (rec->type != TRACE_NOTE)
            return true;
    }
}

static void diverged(struct sim *s, const struct trace_record *expected,
                     const struct trace_record *got)
{
    char diff[256], want[320], have[320];
    trace_record_diff(expected, got, diff, sizeof(diff));
    trace_record_show(expected, true, want, sizeof(want));
    trace_record_show(got, true, have, sizeof(have));
    sim_fail(s, SIM_DIVERGENCE, "divergence",
             "first divergence at trace line %lu (step %" PRIu64 "): %s; trace has '%s', run made '%s'",
             trace_reader_line(s->cfg->replay), s->res->stats.steps, diff, want, have);
}

/* Compares what the run did with the trace's next record. */
static void replay_expect(struct sim *s, const struct trace_record *got)
{
    struct trace_record want;
    if (!replay_next(s, &want))
        return;
    if (!trace_record_equal(&want, got))
        diverged(s, &want, got);
}

static void record(struct sim *s, const struct trace_record *rec)
{
    if (trace_write_record(s->cfg->record, rec) < 0)
        sim_fail(s, SIM_ERROR, "trace", "writing the trace failed");
}

bool sim_trace_decision(struct sim *s, const char *kind, uint32_t n, uint32_t *value)
{
    if (s->cfg->replay == NULL && s->cfg->record == NULL)
        return false; /* a record is 4 KiB to clear: not per decision when nobody looks */
    struct trace_record rec = {.type = TRACE_DECISION};
    snprintf(rec.decision.kind, sizeof(rec.decision.kind), "%s", kind);
    rec.decision.n = n;
    bool replayed = false;
    if (s->cfg->replay != NULL) {
        struct trace_record want;
        if (!replay_next(s, &want)) {
            *value = 0;
            return true;
        }
        rec.decision.value = want.decision.value;
        if (want.type != TRACE_DECISION || strcmp(want.decision.kind, kind) != 0 ||
            want.decision.n != n) {
            diverged(s, &want, &rec);
            *value = 0;
            return true;
        }
        *value = (uint32_t)want.decision.value;
        replayed = true;
    }
    if (s->cfg->record != NULL) {
        if (!replayed)
            return false; /* the caller draws, then sim_trace_record_value writes it */
        rec.decision.value = *value;
        record(s, &rec);
    }
    return replayed;
}

void sim_trace_record_value(struct sim *s, const char *kind, uint32_t n, uint32_t value)
{
    if (s->cfg->record == NULL || s->cfg->replay != NULL)
        return;
    struct trace_record rec = {.type = TRACE_DECISION};
    snprintf(rec.decision.kind, sizeof(rec.decision.kind), "%s", kind);
    rec.decision.n = n;
    rec.decision.value = value;
    record(s, &rec);
}

void sim_trace_packet(struct sim *s, bool g2h, const void *hdr, const uint8_t *payload,
                      uint32_t len)
{
    if (s->cfg->record == NULL && s->cfg->replay == NULL)
        return;
    struct trace_record rec = {.type = TRACE_PACKET};
    rec.packet.t = s->now;
    rec.packet.dir = g2h ? TRACE_G2H : TRACE_H2G;
    memcpy(&rec.packet.hdr, hdr, sizeof(rec.packet.hdr));
    rec.packet.sum = trace_crc32(payload, len); /* hdr.len as sent: it may lie about len */
    if (s->cfg->replay != NULL)
        replay_expect(s, &rec);
    if (s->cfg->record != NULL)
        record(s, &rec);
}

void sim_trace_fault(struct sim *s, const char *name, const char *detail)
{
    if (s->cfg->record == NULL && s->cfg->replay == NULL)
        return;
    struct trace_record rec = {.type = TRACE_FAULT};
    rec.fault.t = s->now;
    snprintf(rec.fault.name, sizeof(rec.fault.name), "%s", name);
    snprintf(rec.fault.detail, sizeof(rec.fault.detail), "%s", detail ? detail : "");
    if (s->cfg->replay != NULL)
        replay_expect(s, &rec);
    if (s->cfg->record != NULL)
        record(s, &rec);
}

static enum trace_status trace_status_of(enum sim_status st)
{
    switch (st) {
    case SIM_OK: return TRACE_OK;
    case SIM_VIOLATION: return TRACE_VIOLATION;
    case SIM_DIVERGENCE: return TRACE_DIVERGENCE;
    case SIM_ERROR: return TRACE_ERROR;
    }
    return TRACE_ERROR;
}

void sim_trace_end(struct sim *s)
{
    const struct sim_result *res = s->res;
    struct trace_record end = {.type = TRACE_END};
    end.end.status = trace_status_of(res->status);
    end.end.steps = res->stats.steps;
    end.end.t = s->now;
    end.end.digest = res->stats.digest;
    if (s->cfg->record != NULL) {
        if (res->status != SIM_OK) {
            char note[700];
            snprintf(note, sizeof(note), "%s: %s", res->invariant, res->message);
            trace_write_note(s->cfg->record, s->now, note);
        }
        record(s, &end);
    }
    if (s->cfg->replay != NULL && res->status != SIM_DIVERGENCE && res->status != SIM_ERROR) {
        s->stopped = false; /* a recorded violation must be met again, at the same place */
        replay_expect(s, &end);
    }
}

static void observe_g2h(void *ctx, const struct vsock_hdr *h, const uint8_t *payload,
                        uint32_t len)
{
    sim_trace_packet(ctx, true, h, payload, len);
}

static void observe_h2g(void *ctx, const struct vsock_hdr *h, const uint8_t *payload,
                        uint32_t len)
{
    sim_trace_packet(ctx, false, h, payload, len);
}

/* The host endpoint receives what the guest sent, and the other way round. */
void sim_world_observe(struct sim *s, struct world_cfg *wc)
{
    if (s->cfg->record == NULL && s->cfg->replay == NULL)
        return; /* no cost when nobody looks */
    wc->host.observe_rx = observe_g2h;
    wc->host.observe_ctx = s;
    wc->guest.observe_rx = observe_h2g;
    wc->guest.observe_ctx = s;
}
