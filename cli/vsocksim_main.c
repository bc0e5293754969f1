/* vsocksim: the deterministic virtio-vsock simulator. */
#include "cli/cli.h"

#include <string.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *synopsis;
    const char *help;
};

static const struct command commands[] = {
    {"run", cmd_run, "run one simulation and print a summary",
     "usage: vsocksim run [--seed N] [--scenario NAME | --scenario-file FILE]\n"
     "                    [--faults SPEC] [--steps N] [--fault-window-ms MS]\n"
     "                    [--liveness-ms MS] [--linux-reply-pause] [--trace FILE]\n"
     "                    [--quiet]\n"
     "\n"
     "Runs one simulation: our guest driver and our device over split virtqueues,\n"
     "with every choice decided by the seed, and the invariant oracle checked after\n"
     "every step.\n"
     "\n"
     "  --seed N             the run's seed (default 1)\n"
     "  --scenario NAME      a built-in scenario (default mixed; vsocksim scenarios)\n"
     "  --scenario-file F    a scenario file (format in the README)\n"
     "  --faults SPEC        name=rate,... (vsocksim faults); 'none' for none;\n"
     "                       default: the scenario's own\n"
     "  --steps N            step budget (default 5000000): exceeding it is a liveness\n"
     "                       violation\n"
     "  --fault-window-ms MS faults stop at this simulated time (default 2000)\n"
     "  --liveness-ms MS     once faults stop, every flow must end within this\n"
     "                       (default 30000)\n"
     "  --linux-reply-pause  the guest stops taking rx while a ring's worth of replies\n"
     "                       waits, as Linux 6.1 does (against vhost's matching rule\n"
     "                       this can deadlock: try --faults tiny-rings=1)\n"
     "  --trace FILE         record the run (vsocksim replay FILE, vsocksim show FILE)\n"
     "  --quiet              no summary\n"
     "\n"
     "Exit status: 0 clean, 1 an invariant was violated (the seed and the replay\n"
     "command are printed), 2 bad arguments, 3 a file could not be used.\n"},
    {"replay", cmd_replay, "re-execute a trace and check it event by event",
     "usage: vsocksim replay FILE\n"
     "\n"
     "Re-runs the trace's seed, scenario and options, taking every decision from\n"
     "the trace, and checks each decision, packet and fault against it. Reports\n"
     "the first divergence with its trace line. Exit status: the recorded run's\n"
     "(0 ok, 1 violation reproduced or divergence), 2 bad header, 3 unreadable.\n"},
    {"show", cmd_show, "print a trace as a readable timeline",
     "usage: vsocksim show [--verbose] FILE\n"
     "\n"
     "Prints packets and faults, one line each, with simulated time; --verbose adds\n"
     "the scheduler's decisions.\n"},
    {"sweep", cmd_sweep, "run many seeds and list the failing ones",
     "usage: vsocksim sweep --seeds A-B [--shard I/N] [--scenario NAME | --scenario-file F]\n"
     "                      [--faults SPEC] [--steps N] [--fault-window-ms MS]\n"
     "                      [--liveness-ms MS] [--linux-reply-pause]\n"
     "\n"
     "Runs every seed from A to B (inclusive). --shard I/N takes every N-th seed\n"
     "starting at the I-th (1 <= I <= N), so N machines can split one sweep.\n"
     "Prints progress on stderr, a summary line, and each failure with its replay\n"
     "command. Exit status 1 when any seed fails.\n"},
    {"faults", cmd_faults, "list the fault catalogue",
     "usage: vsocksim faults\n\nLists every fault --faults accepts, with what it does.\n"},
    {"scenarios", cmd_scenarios, "list the built-in scenarios",
     "usage: vsocksim scenarios\n\nLists the built-in scenarios and their default faults.\n"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int usage(FILE *f, int status)
{
    fprintf(f, "usage: vsocksim COMMAND [options]     (vsocksim help COMMAND for details)\n\n"
               "A deterministic simulator for virtio-vsock: one seed decides every\n"
               "interleaving; every run can be recorded, replayed and shown.\n\n"
               "commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].synopsis);
    fprintf(f, "  %-10s %s\n", "help", "help on a command");
    fprintf(f, "\nvsocksim %s\n", SIM_VERSION);
    return status;
}

void print_command_help(FILE *f, const char *cmd)
{
    const struct command *c = find(cmd);
    if (c != NULL)
        fputs(c->help, f);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, EXIT_USAGE);
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        return usage(stdout, EXIT_RUN_OK);
    if (strcmp(name, "--version") == 0) {
        printf("vsocksim %s\n", SIM_VERSION);
        return EXIT_RUN_OK;
    }
    if (strcmp(name, "help") == 0) {
        if (argc == 2)
            return usage(stdout, EXIT_RUN_OK);
        if (argc > 3 || find(argv[2]) == NULL)
            return usage_error(NULL, "help: unknown command '%s'", argv[2]);
        print_command_help(stdout, argv[2]);
        return EXIT_RUN_OK;
    }
    const struct command *c = find(name);
    if (c == NULL)
        return usage_error(NULL, "unknown command '%s'", name);
    if (wants_help(argc - 1, argv + 1)) {
        print_command_help(stdout, name);
        return EXIT_RUN_OK;
    }
    return c->fn(argc - 1, argv + 1);
}
