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
    bool linux_reply_pause;
};

int cmd_run(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_faults(int argc, char **argv);
int cmd_scenarios(int argc, char **argv);

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

#endif
