/* cli/: the vsocksim program's commands. The only place that reads a wall
 * clock (to report events per second); nothing it reads reaches a run. */
#ifndef VSOCKSIM_CLI_H
#define VSOCKSIM_CLI_H

#include "sim/sim.h"

#include <stdbool.h>
#include <stdio.h>

/* Exit codes. */
#define EXIT_RUN_OK 0
#define EXIT_RUN_FAILED 1 /* a violation or divergence */
#define EXIT_USAGE 2      /* bad arguments */
#define EXIT_IO 3         /* a file could not be read or written */

/* What a run needs, from the command line or from a trace's header. */
struct run_opts {
    uint64_t seed;
    char scenario_name[65];
    char scenario_file[256];  /* "" for a built-in */
    struct scenario scenario;
    bool faults_given;
    struct sim_faults faults;
    uint64_t max_steps;
    uint64_t fault_window_ns;
    uint64_t liveness_ns;
    enum vsock_linux linux_ver;
    uint64_t deviate; /* --deviate: named deviations from Linux */
};

int cmd_run(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_pcap(int argc, char **argv);  /* cli/views.c */
int cmd_chart(int argc, char **argv); /* cli/views.c */
int cmd_sweep(int argc, char **argv);
int cmd_faults(int argc, char **argv);
int cmd_deviations(int argc, char **argv);
int cmd_scenarios(int argc, char **argv);
int cmd_vhost_user(int argc, char **argv); /* cli/vhost_user_cmd.c */

/* One-line usage error: "vsocksim CMD: message", exit status 2. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool wants_help(int argc, char **argv);
void print_command_help(FILE *f, const char *cmd);

/* Shared option parsing: consumes one option of a run (seed, scenario,
 * faults, steps, fault window, liveness) at argv[*i]; 1 if it took it, 0 if
 * it is not a run option, -1 after printing a usage error. */
int parse_run_option(const char *cmd, int argc, char **argv, int *i, struct run_opts *o);
/* Resolves the scenario and faults (defaults from the scenario); -1 after a usage error. */
int finish_run_opts(const char *cmd, struct run_opts *o);
void run_opts_init(struct run_opts *o);
/* The one-line command that replays this run from its seed. */
void replay_command(const struct run_opts *o, char *buf, size_t len);
void sim_cfg_from_opts(const struct run_opts *o, struct sim_cfg *cfg);
int parse_u64(const char *s, uint64_t *out);
struct trace_header;
/* A run's options from a trace's header; -1 after printing what is wrong. */
int opts_from_header(const struct trace_header *h, struct run_opts *o, const char *path);

/* ---- shrink and report (cli/shrink.c, cli/report.c) ---- */

int cmd_shrink(int argc, char **argv);
int cmd_report(int argc, char **argv);

struct shrink_stats {
    size_t before_bytes, after_bytes;          /* decisions as decision_bytes */
    uint64_t before_decisions, after_decisions;
    uint64_t before_steps, after_steps;
    uint64_t runs;
    bool same;                                 /* the result fails as the original */
    char invariant[48];
    char message[512];                         /* the result's violation */
};
/* Delta debugging over the decisions of the trace in, written to out (the
 * same header; decisions recorded). At most max_runs runs (0 = 4000).
 * Returns an exit status: 0, 2 (not a violation), 3 (unreadable). */
int shrink_trace(const char *in, const char *out, uint64_t max_runs, struct shrink_stats *st);
/* Same status and invariant (and, for liveness, the same kind). */
bool shrink_same_failure(const struct sim_result *want, const struct sim_result *got);

struct report_opts {
    const char *trace;
    const char *log;    /* a sanitizer's or harness's output to quote, or NULL */
    const char *input;  /* the fuzzer input the trace came from, or NULL */
    unsigned context;   /* timeline lines before the end; 0 = 30 */
};
/* Writes the Markdown bug report for a trace to out; an exit status. */
int report_write(const struct report_opts *ro, FILE *out);

#endif
