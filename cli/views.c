/* The commands that turn a trace into something to look at: pcap (for
 * Wireshark) and chart (an SVG message sequence chart). */
#include "cli/cli.h"
#include "traces/views.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* TRACE -o FILE, in any order; extra options go to opt (1 taken, 0 not
 * an option of the command, -1 after a usage error). */
struct view_args {
    const char *trace;
    const char *out;
};

typedef int (*view_opt_fn)(const char *cmd, int argc, char **argv, int *i, void *ctx);

static int parse_view_args(const char *cmd, int argc, char **argv, struct view_args *a,
                           view_opt_fn opt, void *ctx)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        int r = opt != NULL ? opt(cmd, argc, argv, &i, ctx) : 0;
        if (r < 0)
            return -1;
        if (r == 1)
            continue;
        if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
            if (i + 1 >= argc)
                return usage_error(cmd, "%s needs a file name", argv[i]), -1;
            a->out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage_error(cmd, "unknown option '%s'", argv[i]), -1;
        } else if (a->trace == NULL) {
            a->trace = argv[i];
        } else {
            return usage_error(cmd, "unexpected argument '%s'", argv[i]), -1;
        }
    }
    if (a->trace == NULL)
        return usage_error(cmd, "needs a trace file"), -1;
    if (a->out == NULL)
        return usage_error(cmd, "needs -o FILE"), -1;
    return 0;
}

static FILE *open_trace(const char *cmd, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL)
        fprintf(stderr, "vsocksim %s: %s: %s\n", cmd, path, strerror(errno));
    return f;
}

static void close_trace(FILE *f)
{
    if (f != stdin)
        fclose(f);
}

/* ---- pcap ---- */

int cmd_pcap(int argc, char **argv)
{
    struct view_args a;
    if (parse_view_args("pcap", argc, argv, &a, NULL, NULL) < 0)
        return EXIT_USAGE;
    if (!views_have_pcap()) {
        fprintf(stderr, "vsocksim pcap: this vsocksim was built without libpcap (install "
                        "libpcap-dev, e.g. ci/install-deps.sh views, then rebuild)\n");
        return EXIT_USAGE;
    }
    FILE *in = open_trace("pcap", a.trace);
    if (in == NULL)
        return EXIT_IO;
    struct views_pcap_stats st;
    char err[320];
    int r = views_trace_to_pcap(in, a.out, &st, err, sizeof(err));
    close_trace(in);
    if (r < 0) {
        fprintf(stderr, "vsocksim pcap: %s: %s\n", a.trace, err);
        return EXIT_IO;
    }
    fprintf(stderr, "vsocksim pcap: %" PRIu64 " packets to %s (LINKTYPE_VSOCK; payloads are "
                    "zeros: the trace keeps only their CRC)\n", st.packets, a.out);
    return EXIT_RUN_OK;
}

/* ---- chart ---- */

static int chart_opt(const char *cmd, int argc, char **argv, int *i, void *ctx)
{
    struct views_chart_opts *o = ctx;
    const char *a = argv[*i];
    if (strcmp(a, "--fold") == 0) {
        o->fold = true;
        return 1;
    }
    bool rows = strcmp(a, "--page-rows") == 0, max = strcmp(a, "--max-rows") == 0;
    if (!rows && !max)
        return 0;
    uint64_t v;
    if (*i + 1 >= argc || parse_u64(argv[*i + 1], &v) < 0 || v == 0 || (rows && v > 100000))
        return usage_error(cmd, "%s needs a number of rows (1..%s)", a,
                           rows ? "100000" : "2^64-1"), -1;
    (*i)++;
    if (rows)
        o->page_rows = (unsigned)v;
    else
        o->max_rows = v;
    return 1;
}

static int write_chart(FILE *in, const char *path, const struct views_chart_opts *o,
                       struct views_chart_stats *st, char *err, size_t errlen)
{
    FILE *out = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (out == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int r = views_trace_to_chart(in, out, o, st, err, errlen);
    if (out != stdout && fclose(out) != 0 && r == 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        r = -1;
    }
    return r;
}

int cmd_chart(int argc, char **argv)
{
    struct views_chart_opts o = {0};
    struct view_args a;
    if (parse_view_args("chart", argc, argv, &a, chart_opt, &o) < 0)
        return EXIT_USAGE;
    FILE *in = open_trace("chart", a.trace);
    if (in == NULL)
        return EXIT_IO;
    struct views_chart_stats st;
    char err[320];
    int r = write_chart(in, a.out, &o, &st, err, sizeof(err));
    close_trace(in);
    if (r < 0) {
        fprintf(stderr, "vsocksim chart: %s: %s\n", a.trace, err);
        return EXIT_IO;
    }
    fprintf(stderr, "vsocksim chart: %" PRIu64 " rows on %" PRIu64 " pages, %" PRIu64
                    " packet arrows for %" PRIu64 " packets, to %s\n",
            st.rows, st.pages, st.arrows, st.packets, a.out);
    return EXIT_RUN_OK;
}
