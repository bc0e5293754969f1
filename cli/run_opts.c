/* Options shared by run, sweep and replay, and the replay command line. */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vsocksim%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    if (cmd != NULL)
        fprintf(stderr, " (vsocksim help %s)\n", cmd);
    else
        fprintf(stderr, " (vsocksim --help)\n");
    va_end(ap);
    return EXIT_USAGE;
}

bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

void run_opts_init(struct run_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    snprintf(o->scenario_name, sizeof(o->scenario_name), "%s", SIM_DEFAULT_SCENARIO);
}

static const char *take_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        usage_error(cmd, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static int number_option(const char *cmd, const char *name, const char *v, uint64_t lo,
                         uint64_t *out)
{
    if (parse_u64(v, out) < 0 || *out < lo) {
        usage_error(cmd, "%s: '%s' is not a number of at least %" PRIu64, name, v, lo);
        return -1;
    }
    return 1;
}

static int faults_option(const char *cmd, const char *v, struct run_opts *o)
{
    char err[200];
    if (sim_faults_parse(v, &o->faults, err, sizeof(err)) < 0) {
        usage_error(cmd, "--faults: %s", err);
        return -1;
    }
    o->faults_given = true;
    return 1;
}

int parse_run_option(const char *cmd, int argc, char **argv, int *i, struct run_opts *o)
{
    const char *a = argv[*i];
    const char *v;
    uint64_t ms;
    if (strcmp(a, "--seed") == 0)
        return (v = take_value(cmd, argc, argv, i)) ? number_option(cmd, a, v, 0, &o->seed) : -1;
    if (strcmp(a, "--scenario") == 0) {
        if ((v = take_value(cmd, argc, argv, i)) == NULL)
            return -1;
        snprintf(o->scenario_name, sizeof(o->scenario_name), "%s", v);
        o->scenario_file[0] = '\0';
        return 1;
    }
    if (strcmp(a, "--scenario-file") == 0) {
        if ((v = take_value(cmd, argc, argv, i)) == NULL)
            return -1;
        if (strlen(v) >= sizeof(o->scenario_file))
            return usage_error(cmd, "--scenario-file: path too long"), -1;
        snprintf(o->scenario_file, sizeof(o->scenario_file), "%s", v);
        return 1;
    }
    if (strcmp(a, "--faults") == 0)
        return (v = take_value(cmd, argc, argv, i)) ? faults_option(cmd, v, o) : -1;
    if (strcmp(a, "--steps") == 0)
        return (v = take_value(cmd, argc, argv, i)) ? number_option(cmd, a, v, 1, &o->max_steps) : -1;
    if (strcmp(a, "--fault-window-ms") == 0) {
        if ((v = take_value(cmd, argc, argv, i)) == NULL || number_option(cmd, a, v, 0, &ms) < 0)
            return -1;
        o->fault_window_ns = ms * 1000000ull;
        return 1;
    }
    if (strcmp(a, "--linux") == 0) {
        if ((v = take_value(cmd, argc, argv, i)) == NULL)
            return -1;
        if (vsock_linux_parse(v, &o->linux_ver) < 0)
            return usage_error(cmd, "--linux: '%s' is not a profile (6.1 or 6.12)", v), -1;
        return 1;
    }
    if (strcmp(a, "--deviate") == 0) {
        char err[256];
        if ((v = take_value(cmd, argc, argv, i)) == NULL)
            return -1;
        if (vsock_deviations_parse(v, &o->deviate, err, sizeof(err)) < 0)
            return usage_error(cmd, "--deviate: %s", err), -1;
        return 1;
    }
    if (strcmp(a, "--liveness-ms") == 0) {
        if ((v = take_value(cmd, argc, argv, i)) == NULL || number_option(cmd, a, v, 1, &ms) < 0)
            return -1;
        o->liveness_ns = ms * 1000000ull;
        return 1;
    }
    return 0;
}

static int load_scenario_file(const char *cmd, struct run_opts *o)
{
    FILE *f = fopen(o->scenario_file, "r");
    if (f == NULL)
        return usage_error(cmd, "--scenario-file %s: %s", o->scenario_file, strerror(errno)), -1;
    char err[300];
    int r = sim_scenario_parse(f, o->scenario_file, &o->scenario, err, sizeof(err));
    fclose(f);
    if (r < 0)
        return usage_error(cmd, "%s", err), -1;
    snprintf(o->scenario_name, sizeof(o->scenario_name), "%s", o->scenario.name);
    return 0;
}

int finish_run_opts(const char *cmd, struct run_opts *o)
{
    if (o->scenario_file[0] != '\0') {
        if (load_scenario_file(cmd, o) < 0)
            return -1;
    } else {
        const struct scenario *sc = sim_scenario_builtin(o->scenario_name);
        if (sc == NULL)
            return usage_error(cmd, "unknown scenario '%s' (vsocksim scenarios lists them)",
                               o->scenario_name), -1;
        o->scenario = *sc;
    }
    if (!o->faults_given) {
        char err[200];
        if (sim_faults_parse(o->scenario.faults, &o->faults, err, sizeof(err)) < 0)
            return usage_error(cmd, "scenario %s: faults: %s", o->scenario.name, err), -1;
    }
    return 0;
}

void sim_cfg_from_opts(const struct run_opts *o, struct sim_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = o->seed;
    cfg->scenario = o->scenario;
    cfg->faults = o->faults;
    cfg->max_steps = o->max_steps;
    cfg->fault_window_ns = o->fault_window_ns;
    cfg->liveness_ns = o->liveness_ns;
    cfg->check_every_step = true;
    cfg->linux_ver = o->linux_ver;
    cfg->deviate = o->deviate;
}

void replay_command(const struct run_opts *o, char *buf, size_t len)
{
    char faults[300];
    sim_faults_format(&o->faults, faults, sizeof(faults));
    int n;
    if (o->scenario_file[0] != '\0')
        n = snprintf(buf, len, "vsocksim run --seed %" PRIu64 " --scenario-file %s --faults %s",
                     o->seed, o->scenario_file, faults);
    else
        n = snprintf(buf, len, "vsocksim run --seed %" PRIu64 " --scenario %s --faults %s", o->seed,
                     o->scenario_name, faults);
    if (n < 0 || (size_t)n >= len)
        return;
    size_t used = (size_t)n;
    if (o->max_steps)
        used += (size_t)snprintf(buf + used, len - used, " --steps %" PRIu64, o->max_steps);
    if (used < len && o->fault_window_ns)
        used += (size_t)snprintf(buf + used, len - used, " --fault-window-ms %" PRIu64,
                                 o->fault_window_ns / 1000000);
    if (used < len && o->liveness_ns)
        used += (size_t)snprintf(buf + used, len - used, " --liveness-ms %" PRIu64,
                                 o->liveness_ns / 1000000);
    if (used < len && o->linux_ver != VSOCK_LINUX_DEFAULT)
        used += (size_t)snprintf(buf + used, len - used, " --linux %s",
                                 vsock_linux_name(o->linux_ver));
    if (used < len && o->deviate != 0) {
        char names[256];
        vsock_deviations_format(o->deviate, names, sizeof(names));
        snprintf(buf + used, len - used, " --deviate %s", names);
    }
}
