/* The parsers harness: byte 0 picks a parser, the rest is its input.
 *   trace     trace_reader (header, every record), trace_show, and a round
 *             trip: whatever the reader accepts, the writer writes and the
 *             reader reads back equal;
 *   scenario  sim_scenario_parse; what it accepts must be a sane scenario;
 *   faults    sim_faults_parse; format then parse gives the same rates;
 *   script    conformance packet scripts (script_parse), and what a parsed
 *             script reports about itself. */
#include "fuzz/fuzz.h"
#include "conformance/script.h"
#include "traces/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- trace ------------------------------------------------------------------------- */

struct rt {
    char *buf;
    size_t len;
    FILE *out;
    struct trace_writer *w;
};

static void show_one(const struct trace_record *r)
{
    char line[160];
    (void)trace_record_show(r, true, line, sizeof(line));
}

/* Reads every record of the reader into the writer; 0 at a clean end,
 * -1 on a reader error, -2 when the writer refused an accepted record. */
static int copy_records(struct trace_reader *r, struct trace_writer *w, struct trace_record *rec,
                        unsigned long *line)
{
    struct trace_error err;
    int n;
    while ((n = trace_reader_next(r, rec, &err)) == 1) {
        show_one(rec);
        *line = trace_reader_line(r);
        if (trace_write_record(w, rec) < 0)
            return -2;
    }
    return n < 0 ? -1 : 0;
}

static bool reread_equal(const struct rt *rt, const struct trace_header *h0,
                         struct trace_record *a, struct fuzz_report *rep, const uint8_t *data,
                         size_t len)
{
    FILE *f1 = fmemopen((void *)(uintptr_t)data, len, "r");
    FILE *f2 = fmemopen(rt->buf, rt->len, "r");
    struct trace_header h1, h2;
    struct trace_reader *r1 = f1 ? trace_reader_open(f1, &h1, NULL) : NULL;
    struct trace_reader *r2 = f2 ? trace_reader_open(f2, &h2, NULL) : NULL;
    bool ok = r1 != NULL && r2 != NULL;
    if (!ok)
        fuzz_found(rep, "trace round trip: the writer's header does not read back");
    else if (h2.seed != h0->seed || strcmp(h2.program, h0->program) != 0 ||
             strcmp(h2.scenario, h0->scenario) != 0 || h2.noptions != h0->noptions)
        fuzz_found(rep, "trace round trip: the header changed");
    struct trace_record *b = a + 1;
    int n1 = 1, n2 = 1;
    for (unsigned long i = 0; ok && rep->outcome == FUZZ_OK && n1 == 1; i++) {
        n1 = trace_reader_next(r1, a, NULL);
        n2 = trace_reader_next(r2, b, NULL);
        if (n1 == 1 && (n2 != 1 || !trace_record_equal(a, b))) {
            char diff[256] = "record missing";
            if (n2 == 1)
                trace_record_diff(a, b, diff, sizeof(diff));
            fuzz_found(rep, "trace round trip: record %lu (a %s) reads back different: %s", i + 1,
                       trace_rec_type_name(a->type), diff);
        }
    }
    if (r1 != NULL)
        trace_reader_close(r1);
    if (r2 != NULL)
        trace_reader_close(r2);
    if (f1 != NULL)
        fclose(f1);
    if (f2 != NULL)
        fclose(f2);
    return ok;
}

static void trace_show_all(const uint8_t *data, size_t len)
{
    char *buf = NULL;
    size_t blen = 0;
    FILE *in = fmemopen((void *)(uintptr_t)data, len, "r");
    FILE *out = open_memstream(&buf, &blen);
    struct trace_error err;
    if (in != NULL && out != NULL)
        (void)trace_show(in, out, true, &err);
    if (in != NULL)
        fclose(in);
    if (out != NULL)
        fclose(out);
    free(buf);
}

static void parse_trace(const uint8_t *data, size_t len, struct fuzz_report *rep)
{
    trace_show_all(data, len);
    FILE *f = fmemopen((void *)(uintptr_t)data, len, "r");
    if (f == NULL)
        return;
    struct trace_header h;
    struct trace_reader *r = trace_reader_open(f, &h, NULL);
    struct rt rt = {0};
    rt.out = r != NULL ? open_memstream(&rt.buf, &rt.len) : NULL;
    rt.w = rt.out != NULL ? trace_writer_open(rt.out, &h) : NULL;
    struct trace_record *recs = malloc(2 * sizeof(*recs));
    unsigned long line = 0;
    int c = rt.w != NULL && recs != NULL ? copy_records(r, rt.w, recs, &line) : -1;
    if (c == -2)
        fuzz_found(rep, "trace: the reader accepted line %lu (a %s record) that the writer "
                   "refuses", line, trace_rec_type_name(recs->type));
    if (rt.w != NULL && trace_writer_close(rt.w) < 0 && c == 0)
        fuzz_found(rep, "trace: the writer refused the header the reader accepted");
    if (rt.out != NULL)
        fclose(rt.out);
    if (c == 0 && rep->outcome == FUZZ_OK)
        (void)reread_equal(&rt, &h, recs, rep, data, len);
    free(recs);
    free(rt.buf);
    if (r != NULL)
        trace_reader_close(r);
    fclose(f);
}

/* ---- scenario and faults ----------------------------------------------------------- */

static void check_scenario(const struct scenario *s, struct fuzz_report *rep)
{
    if (s->name[0] == '\0' || s->ngroups == 0 || s->ngroups > SCENARIO_MAX_GROUPS)
        fuzz_found(rep, "scenario accepted without a name or with %u flow groups", s->ngroups);
    for (uint32_t g = 0; g < s->ngroups && g < SCENARIO_MAX_GROUPS; g++) {
        const struct flow_group *fg = &s->group[g];
        if (fg->count == 0 || fg->concurrent == 0 || fg->concurrent > fg->count || fg->bytes == 0)
            fuzz_found(rep, "scenario flow %u accepted with count %u concurrent %u bytes %u", g,
                       fg->count, fg->concurrent, fg->bytes);
    }
    struct sim_faults f;
    char err[200];
    if (sim_faults_parse(s->faults, &f, err, sizeof(err)) < 0)
        fuzz_found(rep, "scenario accepted with faults that do not parse: %s", err);
}

static void parse_scenario(const uint8_t *data, size_t len, struct fuzz_report *rep)
{
    FILE *f = fmemopen((void *)(uintptr_t)data, len, "r");
    if (f == NULL)
        return;
    struct scenario s;
    char err[300];
    if (sim_scenario_parse(f, "fuzz", &s, err, sizeof(err)) == 0)
        check_scenario(&s, rep);
    fclose(f);
}

static void parse_faults(const uint8_t *data, size_t len, struct fuzz_report *rep)
{
    char spec[512], again[512], err[200];
    size_t n = len < sizeof(spec) - 1 ? len : sizeof(spec) - 1;
    memcpy(spec, data, n);
    spec[n] = '\0';
    struct sim_faults a, b;
    if (sim_faults_parse(spec, &a, err, sizeof(err)) < 0)
        return;
    sim_faults_format(&a, again, sizeof(again));
    if (sim_faults_parse(again, &b, err, sizeof(err)) < 0)
        fuzz_found(rep, "faults: '%s' formats as '%s', which does not parse: %s", spec, again, err);
    else if (memcmp(&a, &b, sizeof(a)) != 0)
        fuzz_found(rep, "faults: '%s' formats as '%s', which parses differently", spec, again);
}

static void parse_script(const uint8_t *data, size_t len, struct fuzz_report *rep)
{
    char err[300];
    struct script *sc = script_parse((const char *)data, len, "fuzz.script", err, sizeof(err));
    if (sc == NULL)
        return;
    if (script_name(sc) == NULL || script_descr(sc) == NULL || script_covers(sc) == NULL)
        fuzz_found(rep, "script: a parsed script has no name, description or covers string");
    (void)script_lines(sc);
    (void)script_targets(sc);
    (void)script_caps(sc);
    script_free(sc);
}

void fuzz_parsers_one(const uint8_t *data, size_t len, struct fuzz_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    if (len > FUZZ_PARSERS_MAX_LEN || len == 0) {
        rep->outcome = FUZZ_NOTHING;
        return;
    }
    switch ((enum fuzz_parser)(data[0] % FUZZ_PARSE_COUNT)) {
    case FUZZ_PARSE_TRACE: parse_trace(data + 1, len - 1, rep); break;
    case FUZZ_PARSE_SCENARIO: parse_scenario(data + 1, len - 1, rep); break;
    case FUZZ_PARSE_FAULTS: parse_faults(data + 1, len - 1, rep); break;
    default: parse_script(data + 1, len - 1, rep); break;
    }
}
