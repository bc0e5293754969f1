/* vsocksim shrink: delta debugging over a failing trace's decisions.
 *
 * The trace's decisions become a byte string with sim_cfg.decision_bytes'
 * semantics (each decision takes as many bytes as its range needs, little-
 * endian, modulo the range; past the end every decision is 0), so that
 * removing or zeroing any chunk still gives a run: a lenient replay. The
 * string is cut (chunks removed, halving the chunk size) and then cleared
 * (chunks zeroed) as long as the run still fails the same way: the same
 * status and invariant (for liveness, the same kind). The smallest string is
 * run once more and recorded with the original header, decisions included,
 * so `vsocksim replay OUT` re-executes it exactly. */
#include "cli/cli.h"
#include "traces/trace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SHRINK_DEFAULT_RUNS 4000u

struct shrink {
    struct run_opts opts;
    struct trace_header hdr;
    uint8_t *bytes;
    size_t len;
    struct sim_result want; /* the original failure */
    uint64_t decisions;     /* of the smallest failing run so far */
    uint64_t runs, max_runs;
};

/* ---- the decisions as bytes --------------------------------------------------- */

static unsigned bytes_for(uint64_t n)
{
    unsigned k = 0;
    for (uint64_t range = n - 1; range != 0; range >>= 8)
        k++;
    return k;
}

static int append_decision(struct shrink *s, size_t *cap, const struct trace_decision *d)
{
    unsigned k = bytes_for(d->n);
    if (s->len + k > *cap) {
        size_t ncap = *cap ? *cap * 2 : 4096;
        uint8_t *nb = realloc(s->bytes, ncap);
        if (nb == NULL)
            return -1;
        s->bytes = nb;
        *cap = ncap;
    }
    for (unsigned i = 0; i < k; i++)
        s->bytes[s->len++] = (uint8_t)(d->value >> (8 * i));
    return 0;
}

/* Reads the header and every decision; -1 after printing what is wrong. */
static int load_trace(struct shrink *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "vsocksim shrink: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct trace_error err;
    struct trace_reader *r = trace_reader_open(f, &s->hdr, &err);
    int rc = r == NULL ? -1 : 0;
    if (r == NULL)
        fprintf(stderr, "vsocksim shrink: %s: %s\n", path, err.msg);
    struct trace_record rec;
    size_t cap = 0;
    int n = 0;
    while (rc == 0 && (n = trace_reader_next(r, &rec, &err)) == 1)
        if (rec.type == TRACE_DECISION && append_decision(s, &cap, &rec.decision) < 0)
            rc = -1;
    if (rc == 0 && n < 0) {
        /* A harness that crashed leaves a trace without its end: the
         * decisions up to the crash are still worth shrinking. */
        fprintf(stderr, "vsocksim shrink: %s: %s (using the decisions before it)\n", path, err.msg);
    }
    if (r != NULL)
        trace_reader_close(r);
    fclose(f);
    if (rc == 0 && opts_from_header(&s->hdr, &s->opts, path) < 0)
        rc = -1;
    return rc;
}

/* ---- runs ------------------------------------------------------------------------ */

static void run_bytes(struct shrink *s, const uint8_t *b, size_t len, struct sim_result *res)
{
    static const uint8_t none[1] = {0};
    struct sim_cfg cfg;
    sim_cfg_from_opts(&s->opts, &cfg);
    cfg.decision_bytes = len > 0 ? b : none;
    cfg.decision_len = len;
    sim_run(&cfg, res);
    s->runs++;
}

/* The first word of a message: "deadlock:", "step", "flows" for liveness. */
static size_t first_word(const char *m)
{
    return strcspn(m, " ");
}

bool shrink_same_failure(const struct sim_result *want, const struct sim_result *got)
{
    if (got->status != want->status || strcmp(got->invariant, want->invariant) != 0)
        return false;
    if (strcmp(want->invariant, "liveness") != 0)
        return true;
    size_t n = first_word(want->message);
    return n == first_word(got->message) && strncmp(want->message, got->message, n) == 0;
}

/* Fails the same way with no more decisions than the smallest run so far
 * (fewer bytes can mean more decisions: past the end every chance fires). */
static bool still_fails(struct shrink *s, const uint8_t *b, size_t len)
{
    struct sim_result res;
    run_bytes(s, b, len, &res);
    if (!shrink_same_failure(&s->want, &res) || res.stats.decisions > s->decisions)
        return false;
    s->decisions = res.stats.decisions;
    return true;
}

/* ---- delta debugging --------------------------------------------------------------- */

/* Removes chunks of size chunk, halving it down to one byte. */
static void cut_chunks(struct shrink *s, uint8_t *tmp)
{
    for (size_t chunk = s->len / 2; chunk >= 1 && s->runs < s->max_runs; chunk /= 2) {
        size_t at = 0;
        while (at < s->len && s->runs < s->max_runs) {
            size_t n = chunk < s->len - at ? chunk : s->len - at;
            memcpy(tmp, s->bytes, at);
            memcpy(tmp + at, s->bytes + at + n, s->len - at - n);
            if (still_fails(s, tmp, s->len - n)) {
                memcpy(s->bytes, tmp, s->len - n);
                s->len -= n;
            } else {
                at += n;
            }
        }
        if (chunk == 1)
            break;
    }
}

/* Zeroes chunks (the smallest value of each decision), halving likewise. */
static void zero_chunks(struct shrink *s, uint8_t *tmp)
{
    for (size_t chunk = s->len / 2; chunk >= 1 && s->runs < s->max_runs; chunk /= 2) {
        for (size_t at = 0; at < s->len && s->runs < s->max_runs; at += chunk) {
            size_t n = chunk < s->len - at ? chunk : s->len - at;
            bool nonzero = false;
            for (size_t i = at; i < at + n && !nonzero; i++)
                nonzero = s->bytes[i] != 0;
            if (!nonzero)
                continue;
            memcpy(tmp, s->bytes, s->len);
            memset(tmp + at, 0, n);
            if (still_fails(s, tmp, s->len))
                memcpy(s->bytes, tmp, s->len);
        }
        if (chunk == 1)
            break;
    }
}

/* Trailing zeros say nothing a missing byte does not. */
static void trim_zeros(struct shrink *s)
{
    size_t len = s->len;
    while (len > 0 && s->bytes[len - 1] == 0)
        len--;
    if (len < s->len && still_fails(s, s->bytes, len))
        s->len = len;
}

static int record(struct shrink *s, const char *out, struct sim_result *res)
{
    FILE *f = fopen(out, "w");
    if (f == NULL) {
        fprintf(stderr, "vsocksim shrink: %s: %s\n", out, strerror(errno));
        return EXIT_IO;
    }
    static const uint8_t none[1] = {0};
    struct sim_cfg cfg;
    sim_cfg_from_opts(&s->opts, &cfg);
    cfg.decision_bytes = s->len > 0 ? s->bytes : none;
    cfg.decision_len = s->len;
    cfg.record = trace_writer_open(f, &s->hdr);
    sim_run(&cfg, res);
    int werr = cfg.record != NULL ? trace_writer_close(cfg.record) : -ENOMEM;
    if (fclose(f) != 0 || werr < 0) {
        fprintf(stderr, "vsocksim shrink: writing %s failed\n", out);
        return EXIT_IO;
    }
    return EXIT_RUN_OK;
}

int shrink_trace(const char *in, const char *out, uint64_t max_runs, struct shrink_stats *st)
{
    struct shrink s;
    memset(&s, 0, sizeof(s));
    s.max_runs = max_runs ? max_runs : SHRINK_DEFAULT_RUNS;
    memset(st, 0, sizeof(*st));
    if (load_trace(&s, in) < 0) {
        free(s.bytes);
        return EXIT_IO;
    }
    run_bytes(&s, s.bytes, s.len, &s.want);
    s.decisions = s.want.stats.decisions;
    st->before_bytes = s.len;
    st->before_steps = s.want.stats.steps;
    st->before_decisions = s.want.stats.decisions;
    snprintf(st->invariant, sizeof(st->invariant), "%s", s.want.invariant);
    if (s.want.status != SIM_VIOLATION) {
        fprintf(stderr, "vsocksim shrink: %s: the run ends %s, not with a violation: nothing to "
                "shrink\n", in, sim_status_name(s.want.status));
        free(s.bytes);
        return EXIT_USAGE;
    }
    uint8_t *tmp = malloc(s.len + 1);
    int rc = tmp != NULL ? EXIT_RUN_OK : EXIT_IO;
    if (tmp != NULL) {
        cut_chunks(&s, tmp);
        zero_chunks(&s, tmp);
        trim_zeros(&s);
        struct sim_result res;
        rc = record(&s, out, &res);
        st->after_bytes = s.len;
        st->after_steps = res.stats.steps;
        st->after_decisions = res.stats.decisions;
        st->runs = s.runs;
        st->same = shrink_same_failure(&s.want, &res);
        snprintf(st->message, sizeof(st->message), "%s", res.message);
    }
    free(tmp);
    free(s.bytes);
    return rc;
}

int cmd_shrink(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    uint64_t max_runs = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--max-runs") == 0 && i + 1 < argc) {
            if (parse_u64(argv[++i], &max_runs) < 0 || max_runs == 0)
                return usage_error("shrink", "--max-runs: '%s' is not a positive number", argv[i]);
        } else if (in == NULL && argv[i][0] != '-')
            in = argv[i];
        else
            return usage_error("shrink", "unexpected argument '%s'", argv[i]);
    }
    if (in == NULL || out == NULL)
        return usage_error("shrink", "needs a trace and -o OUT");
    struct shrink_stats st;
    int rc = shrink_trace(in, out, max_runs, &st);
    if (rc != EXIT_RUN_OK)
        return rc;
    printf("vsocksim shrink: %s -> %s: violation of '%s' kept%s: decisions %" PRIu64 " -> %" PRIu64
           ", steps %" PRIu64 " -> %" PRIu64 ", decision bytes %zu -> %zu (%" PRIu64 " runs)\n"
           "  %s\n  replay: vsocksim replay %s\n",
           in, out, st.invariant, st.same ? "" : " NOT (see the trace)", st.before_decisions,
           st.after_decisions, st.before_steps, st.after_steps, st.before_bytes, st.after_bytes,
           st.runs, st.message, out);
    return st.same ? EXIT_RUN_OK : EXIT_RUN_FAILED;
}
