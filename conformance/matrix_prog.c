/*
 * vsocksim-matrix: the requirement matrix of the conformance suite.
 *
 *   vsocksim-matrix [--root DIR] [--check] [--quiet] [--md FILE] [--tsv FILE]
 *
 * Reads DIR/conformance/requirements.txt, the cases registered in this
 * program (every CONF_CASE of conformance/cases_*.c: it links them, see
 * conf_case.h) and the scripts DIR/conformance/scripts/NAME.pkt; prints,
 * per requirement, its level and the cases and scripts that check it on
 * which targets, then coverage per section, per level and overall.
 * --check: exit 1 on any error (malformed lines, duplicate IDs, unknown IDs,
 * a MUST or MUST NOT that nothing checks), listing every one; SHOULD and MAY
 * without a case are warnings. Without --check only input errors are listed
 * and the exit status is 0 unless an input could not be read.
 * Exit status: 0 ok, 1 check failed or unreadable input, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conf.h"
#include "conformance/matrix.h"

static int usage(FILE *out, int rc)
{
    fprintf(out, "usage: vsocksim-matrix [--root DIR] [--check] [--quiet] [--md FILE] "
                 "[--tsv FILE]\n"
                 "  --root DIR   the source tree (default .)\n"
                 "  --check      fail on malformed inputs, unknown or duplicate IDs and on\n"
                 "               MUST / MUST NOT requirements that no case checks\n"
                 "  --quiet      print only the coverage summary and the diagnostics\n"
                 "  --md FILE    write the matrix as Markdown\n"
                 "  --tsv FILE   write the matrix as tab-separated values\n");
    return rc;
}

static int write_out(const struct matrix *m, const char *path,
                     int (*fn)(const struct matrix *, FILE *))
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "vsocksim-matrix: cannot write %s\n", path);
        return -1;
    }
    int rc = fn(m, f);
    if (fclose(f) != 0)
        rc = -1;
    if (rc)
        fprintf(stderr, "vsocksim-matrix: error writing %s\n", path);
    return rc;
}

int main(int argc, char **argv)
{
    const char *root = ".", *md = NULL, *tsv = NULL;
    int check = 0, quiet = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--check") == 0) {
            check = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return usage(stdout, 0);
        } else if ((strcmp(a, "--root") == 0 || strcmp(a, "--md") == 0 ||
                    strcmp(a, "--tsv") == 0) && i + 1 < argc) {
            const char *v = argv[++i];
            if (a[2] == 'r')
                root = v;
            else if (a[2] == 'm')
                md = v;
            else
                tsv = v;
        } else {
            fprintf(stderr, "vsocksim-matrix: unknown or incomplete option '%s'\n", a);
            return usage(stderr, 2);
        }
    }

    size_t ncases = conf_cases(NULL, 0);
    const struct conf_case **cases = malloc((ncases ? ncases : 1) * sizeof(*cases));
    if (!cases) {
        fprintf(stderr, "vsocksim-matrix: out of memory\n");
        return 1;
    }
    conf_cases(cases, ncases);
    struct matrix m;
    mx_init(&m);
    int rc = mx_read_tree(&m, root, cases, ncases) < 0 ? 1 : 0;
    free(cases);
    mx_check(&m);

    if (quiet)
        mx_print_summary(&m, stdout);
    else
        mx_print_text(&m, stdout);
    fflush(stdout);

    unsigned input = 1u << MX_D_IO | 1u << MX_D_REQ_SYNTAX | 1u << MX_D_REQ_DUP |
                     1u << MX_D_CASE | 1u << MX_D_SCRIPT_SYNTAX | 1u << MX_D_UNKNOWN_ID;
    unsigned all = (1u << MX_D_NKINDS) - 1;
    mx_print_diags(&m, stderr, check ? all : input);
    size_t uncovered = mx_count(&m, MX_D_UNCOVERED), weak = mx_count(&m, MX_D_WEAK);
    size_t errors = mx_errors(&m);
    if (check)
        fprintf(stderr, "vsocksim-matrix: %zu errors (%zu MUST/MUST NOT unchecked), %zu warnings\n",
                errors, uncovered, m.ndiags - (errors - (m.oom ? 1 : 0)));
    else if (uncovered || weak)
        fprintf(stderr, "vsocksim-matrix: %zu MUST/MUST NOT and %zu SHOULD/MAY requirements are "
                        "checked by no case (--check lists them)\n",
                uncovered, weak);

    if (md && write_out(&m, md, mx_write_md) != 0)
        rc = 1;
    if (tsv && write_out(&m, tsv, mx_write_tsv) != 0)
        rc = 1;
    if (check && errors)
        rc = 1;
    if (m.oom)
        rc = 1;
    mx_free(&m);
    return rc;
}
