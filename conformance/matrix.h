/*
 * The requirement matrix: which conformance case or packet script checks
 * which normative statement of the spec, on which targets.
 *
 * Inputs:
 *   conformance/requirements.txt   ID | LEVEL | WHO | SECTION | TEXT [| n/a: WHY]
 *   the case registry              the struct conf_case of every CONF_CASE the
 *                                  program links (conf_cases, conf.h)
 *   conformance/scripts/NAME.pkt   read by the script parser (script.h): its
 *                                  "# covers:" and "# targets:" lines
 *
 * Nothing here aborts on bad input: every problem becomes a diagnostic with
 * its file and line, and the rest of the input is still read.
 */
#ifndef VSOCKSIM_MATRIX_H
#define VSOCKSIM_MATRIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct conf_case;

enum mx_level { MX_MUST, MX_MUST_NOT, MX_SHOULD, MX_SHOULD_NOT, MX_MAY, MX_INFO, MX_NLEVELS };
enum mx_who { MX_DRIVER, MX_DEVICE, MX_BOTH, MX_GENERAL };
enum mx_kind { MX_CASE, MX_SCRIPT };

/* Targets, as conf.h's CONF_SIM, CONF_KERNEL and CONF_GUEST_TARGET. */
#define MX_T_SIM 1u
#define MX_T_KERNEL 2u
#define MX_T_GUEST 4u
#define MX_T_ALL 7u

struct mx_req {
    char *id;
    enum mx_level level;
    enum mx_who who;
    char *section; /* "5.10.6.3.1" */
    char *title;   /* "Buffer Space Management" */
    char *text;
    char *na;      /* why no case can check it, or NULL */
    char *file;
    unsigned line;
    bool bad;      /* a malformed line: its ID is known, nothing else is used */
};

struct mx_ref {
    char *id;
    unsigned line;
};

/* A case or a script. */
struct mx_user {
    enum mx_kind kind;
    char *name;
    char *descr;   /* the case's description, the script's first comment */
    char *file;
    unsigned line;
    unsigned targets; /* MX_T_* */
    struct mx_ref *refs;
    size_t nrefs, caprefs;
};

enum mx_dkind {
    MX_D_IO,            /* error: a file could not be read */
    MX_D_REQ_SYNTAX,    /* error: a malformed requirement line */
    MX_D_REQ_DUP,       /* error: an ID defined twice */
    MX_D_CASE,          /* error: a registered case without name, description or
                           targets, or a name registered twice */
    MX_D_SCRIPT_SYNTAX, /* error: a script that does not parse (script.h) */
    MX_D_UNKNOWN_ID,    /* error: a case or script names an ID that is not defined */
    MX_D_UNCOVERED,     /* error: a MUST or MUST NOT that nothing checks */
    MX_D_WEAK,          /* warning: a SHOULD, SHOULD NOT or MAY that nothing checks */
    MX_D_NOTE,          /* warning: anything else worth a look */
    MX_D_NKINDS
};

struct mx_diag {
    enum mx_dkind kind;
    char *file;
    unsigned line; /* 0: the whole file */
    char *msg;
};

struct matrix {
    struct mx_req *reqs;
    size_t nreqs, capreqs;
    struct mx_user *users;
    size_t nusers, capusers;
    struct mx_diag *diags;
    size_t ndiags, capdiags;
    bool oom;     /* an allocation failed: results are incomplete */
    bool checked; /* mx_check has run */
};

void mx_init(struct matrix *m);
void mx_free(struct matrix *m);

/* Each reader returns 0 once the file was read (its syntax errors are
 * diagnostics) and -1 when it could not be read at all. */
int mx_read_requirements(struct matrix *m, const char *path);
int mx_read_script(struct matrix *m, const char *path);
/* The cases v[0..n), in that order (the registry's: conf_cases); a malformed
 * one is an error at its file and line and is left out. */
void mx_add_cases(struct matrix *m, const struct conf_case *const *v, size_t n);
/* root/conformance/requirements.txt, then the cases, then
 * root/conformance/scripts/NAME.pkt in name order. Paths in diagnostics are
 * relative when root is ".". */
int mx_read_tree(struct matrix *m, const char *root, const struct conf_case *const *cases,
                 size_t ncases);

/* Cross-references the cases with the requirements: unknown IDs, uncovered
 * requirements. Runs once; later calls do nothing. */
void mx_check(struct matrix *m);

const char *mx_level_name(enum mx_level l);
const char *mx_who_name(enum mx_who w);
bool mx_dkind_is_error(enum mx_dkind k);
size_t mx_count(const struct matrix *m, enum mx_dkind k);
size_t mx_errors(const struct matrix *m);
const struct mx_req *mx_find(const struct matrix *m, const char *id);
/* The targets on which the requirement is checked, and by how many users. */
unsigned mx_coverage(const struct matrix *m, const struct mx_req *r, size_t *nusers);

/* "file:line: error: message", one per line, for the kinds in the mask
 * (bit 1u << kind). */
void mx_print_diags(const struct matrix *m, FILE *out, unsigned kinds);
/* The matrix as text: a row per requirement, then coverage per section, per
 * level and overall. */
void mx_print_text(const struct matrix *m, FILE *out);
void mx_print_summary(const struct matrix *m, FILE *out);
/* Return 0, or -1 on a write error. */
int mx_write_md(const struct matrix *m, FILE *out);
int mx_write_tsv(const struct matrix *m, FILE *out);

#endif
