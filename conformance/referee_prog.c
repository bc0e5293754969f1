/* vsocksim-referee: the sim target's conformance results beside a real
 * kernel's, verdict by verdict and packet by packet (conformance/referee.h).
 *
 *   vsocksim-referee --sim R --kernel R [--guest R] --judge kernel --linux 6.12 \
 *       --known conformance/known-differences.txt --out build/.../differential-kernel \
 *       [--package "linux-image-... VERSION"] [--note-max N]
 *   vsocksim-referee --check-known conformance/known-differences.txt
 *
 * Writes OUT.md and OUT.tsv, prints every unexplained difference (up to
 * --note-max packet ones, default 30) and a summary. Exit status: 0 every
 * difference of the judged target is explained, 1 some are not, 2 bad usage
 * or input (a malformed report or known-differences file, named with its
 * line). A report of the non-judged real target that does not exist is a
 * target that was not run. */
#include "conformance/referee.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT (512u << 20)

static int usage(const char *why)
{
    fprintf(stderr,
            "vsocksim-referee: %s\n"
            "usage: vsocksim-referee --sim REPORT [--kernel REPORT] [--guest REPORT] --judge "
            "kernel|guest\n"
            "           --linux 6.1|6.12 --known FILE --out PREFIX [--package TEXT] [--note-max N]\n"
            "       vsocksim-referee --check-known FILE\n",
            why);
    return 2;
}

/* The whole file, NUL-terminated, or NULL with the reason on stderr;
 * *missing set when it does not exist. */
static char *slurp(const char *path, size_t *len, bool *missing)
{
    *missing = false;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        *missing = errno == ENOENT;
        if (!*missing)
            fprintf(stderr, "vsocksim-referee: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n + 1 >= cap) {
            if (cap >= MAX_INPUT) {
                fprintf(stderr, "vsocksim-referee: %s: larger than %u MiB\n", path, MAX_INPUT >> 20);
                free(buf);
                buf = NULL;
                break;
            }
            char *b = realloc(buf, cap * 2);
            if (b == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                fprintf(stderr, "vsocksim-referee: %s: read error\n", path);
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    fclose(f);
    if (buf == NULL)
        return NULL;
    buf[n] = '\0';
    *len = n;
    return buf;
}

struct args {
    const char *report[REF_NTARGETS];
    const char *judge, *linux_ver, *known, *out, *package, *check_known;
    unsigned note_max;
};

static int parse_args(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof(*a));
    a->note_max = 30;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (i + 1 >= argc)
            return usage("every option takes a value");
        const char *v = argv[++i];
        if (strcmp(o, "--sim") == 0)
            a->report[REF_SIM] = v;
        else if (strcmp(o, "--kernel") == 0)
            a->report[REF_KERNEL] = v;
        else if (strcmp(o, "--guest") == 0)
            a->report[REF_GUEST] = v;
        else if (strcmp(o, "--judge") == 0)
            a->judge = v;
        else if (strcmp(o, "--linux") == 0)
            a->linux_ver = v;
        else if (strcmp(o, "--known") == 0)
            a->known = v;
        else if (strcmp(o, "--out") == 0)
            a->out = v;
        else if (strcmp(o, "--package") == 0)
            a->package = v;
        else if (strcmp(o, "--check-known") == 0)
            a->check_known = v;
        else if (strcmp(o, "--note-max") == 0) {
            char *end;
            unsigned long n = strtoul(v, &end, 10);
            if (*v == '\0' || *end != '\0' || n > 100000)
                return usage("--note-max wants a number");
            a->note_max = (unsigned)n;
        } else {
            fprintf(stderr, "vsocksim-referee: unknown option %s\n", o);
            return usage("unknown option");
        }
    }
    return 0;
}

static int load_known(const char *path, struct ref_known *k)
{
    size_t len;
    bool missing;
    char *text = slurp(path, &len, &missing);
    if (text == NULL) {
        if (missing)
            fprintf(stderr, "vsocksim-referee: %s does not exist\n", path);
        return -1;
    }
    char err[512];
    int rc = ref_known_parse(text, len, path, k, err, sizeof(err));
    free(text);
    if (rc < 0)
        fprintf(stderr, "vsocksim-referee: %s\n", err);
    return rc;
}

/* 0 loaded, 1 the file does not exist, -1 an error (said). */
static int load_report(const char *path, struct ref_report *r)
{
    size_t len;
    bool missing;
    char *text = slurp(path, &len, &missing);
    if (text == NULL)
        return missing ? 1 : -1;
    char err[512];
    int rc = ref_report_parse(text, len, path, r, err, sizeof(err));
    free(text);
    if (rc < 0)
        fprintf(stderr, "vsocksim-referee: %s\n", err);
    return rc;
}

static FILE *open_out(const char *prefix, const char *ext)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s.%s", prefix, ext);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "vsocksim-referee: %s: %s\n", path, strerror(errno));
    return f;
}

static int judge(const struct args *a, struct ref_report *reps, struct ref_known *known)
{
    struct ref_inputs in;
    memset(&in, 0, sizeof(in));
    in.judged = strcmp(a->judge, "kernel") == 0 ? REF_KERNEL : REF_GUEST;
    in.kernel = ref_kernel_parse(a->linux_ver);
    in.known = known;
    in.kernel_package = a->package;
    in.note_max = a->note_max;
    for (int t = 0; t < REF_NTARGETS; t++) {
        if (a->report[t] == NULL)
            continue;
        int rc = load_report(a->report[t], &reps[t]);
        if (rc < 0)
            return 2;
        if (rc == 1 && (t == REF_SIM || t == (int)in.judged)) {
            fprintf(stderr, "vsocksim-referee: %s (the %s report) does not exist\n", a->report[t],
                    ref_target_name(t));
            return 2;
        }
        if (rc == 0)
            in.rep[t] = &reps[t];
    }
    if (in.rep[in.judged] == NULL) {
        fprintf(stderr, "vsocksim-referee: no report for the judged target %s\n", a->judge);
        return 2;
    }
    FILE *md = open_out(a->out, "md"), *tsv = open_out(a->out, "tsv");
    struct ref_summary s;
    char err[512];
    int rc = 2;
    if (md != NULL && tsv != NULL) {
        rc = ref_judge(&in, md, tsv, stdout, &s, err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "vsocksim-referee: %s\n", err);
            rc = 2;
        }
    }
    /* Both are closed, whatever the first says. */
    bool md_error = md != NULL && fclose(md) != 0;
    bool tsv_error = tsv != NULL && fclose(tsv) != 0;
    bool write_error = md_error || tsv_error;
    if (write_error) {
        fprintf(stderr, "vsocksim-referee: writing %s.md or .tsv failed\n", a->out);
        rc = 2;
    }
    if (rc == 2)
        return 2;
    if (s.pkt_unexplained > a->note_max && a->note_max != 0)
        printf("referee: ... and %u more unexplained packet differences (all in %s.md)\n",
               s.pkt_unexplained - a->note_max, a->out);
    printf("referee: Linux %s, sim vs %s: %u cases; verdicts: %u differ (%u known, %u not "
           "applicable, %u unexplained); packets: %u compared, %u agree, %u known, %u unexplained "
           "(%u not comparable): %s.md\n",
           a->linux_ver, a->judge, s.cases, s.verdict_diffs, s.verdict_known, s.verdict_na,
           s.verdict_unexplained, s.pkt_compared, s.pkt_same, s.pkt_known, s.pkt_unexplained,
           s.pkt_incomparable, a->out);
    return rc;
}

int main(int argc, char **argv)
{
    struct args a;
    if (parse_args(argc, argv, &a) != 0)
        return 2;
    struct ref_known known;
    if (a.check_known != NULL) {
        if (load_known(a.check_known, &known) < 0)
            return 2;
        printf("referee: %s: %u blocks\n", a.check_known, known.n);
        ref_known_free(&known);
        return 0;
    }
    if (a.report[REF_SIM] == NULL || a.judge == NULL || a.linux_ver == NULL || a.known == NULL ||
        a.out == NULL)
        return usage("--sim, --judge, --linux, --known and --out are needed");
    if (strcmp(a.judge, "kernel") != 0 && strcmp(a.judge, "guest") != 0)
        return usage("--judge is kernel or guest");
    if (ref_kernel_parse(a.linux_ver) == 0)
        return usage("--linux is 6.1 or 6.12");
    if (load_known(a.known, &known) < 0)
        return 2;
    struct ref_report reps[REF_NTARGETS];
    memset(reps, 0, sizeof(reps));
    int rc = judge(&a, reps, &known);
    for (int t = 0; t < REF_NTARGETS; t++)
        ref_report_free(&reps[t]);
    ref_known_free(&known);
    return rc;
}
