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
     "                    [--liveness-ms MS] [--linux 6.1|6.12] [--deviate NAME,...]\n"
     "                    [--trace FILE] [--quiet]\n"
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
     "  --linux 6.1|6.12     whose rules the model follows where the spec leaves room:\n"
     "                       Debian 12's 6.1.192 (default) or 6.12.118\n"
     "  --deviate NAME,...   switch on named deviations from Linux's rules (default\n"
     "                       none: Linux's rule everywhere); vsocksim deviations\n"
     "                       lists them with their reasons\n"
     "  --trace FILE         record the run (vsocksim replay FILE, vsocksim show FILE)\n"
     "  --quiet              no summary\n"
     "\n"
     "Both sides pause on their replies as Linux does, so the run can meet Linux's\n"
     "reply-pause deadlock (tiny rings find it): it is reported as the violation\n"
     "'linux-reply-pause' (traces/corpus/linux-reply-pause-deadlock.md);\n"
     "--deviate reply-budget runs past it.\n"
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
    {"pcap", cmd_pcap, "write a trace's packets as a pcap file for Wireshark",
     "usage: vsocksim pcap TRACE -o FILE.pcap\n"
     "\n"
     "Writes every packet record of the trace as a LINKTYPE_VSOCK (271) frame, as\n"
     "Linux's vsockmon captures them: af_vsockmon_hdr, the 44-byte virtio header,\n"
     "then for RW packets hdr.len bytes of zeros (a trace keeps only the payload's\n"
     "CRC-32). Timestamps are the simulated time. Open it with wireshark or\n"
     "tshark -r FILE.pcap. TRACE may be - for standard input.\n"},
    {"chart", cmd_chart, "draw a trace as a message sequence chart (SVG)",
     "usage: vsocksim chart TRACE -o FILE.svg [--fold] [--page-rows N] [--max-rows N]\n"
     "\n"
     "Lanes for the guest app, the driver, the device and the host app; one arrow\n"
     "per packet crossing the ring (colour = connection), dashed arrows for the\n"
     "kicks and interrupts the trace shows, faults marked on the lanes they hit,\n"
     "and the scheduler's decisions counted on the row that follows them.\n"
     "\n"
     "  --fold          one arrow for each run of RW packets of one connection and\n"
     "                  direction (\"RW x12 49152B\")\n"
     "  --page-rows N   rows per page (default 60); each page repeats the lane names\n"
     "  --max-rows N    stop after N rows\n"
     "\n"
     "FILE may be - for standard output.\n"},
    {"shrink", cmd_shrink, "make a failing trace smaller, failing the same way",
     "usage: vsocksim shrink TRACE -o OUT [--max-runs N]\n"
     "\n"
     "Delta debugging over the trace's decisions: they are taken as a fuzzer's\n"
     "decision bytes (each decision as many bytes as its range needs; past the end\n"
     "every decision is 0), chunks are removed and then zeroed while the run still\n"
     "ends with the same violated invariant, and the smallest run is recorded to\n"
     "OUT with the same header, decisions included (vsocksim replay OUT). Run it\n"
     "from the source tree when the trace names a scenario file.\n"
     "\n"
     "  --max-runs N   stop after N trial runs (default 4000)\n"
     "\n"
     "Exit status: 0 smaller and failing the same way, 1 the result fails\n"
     "differently, 2 the trace does not end with a violation, 3 unreadable.\n"},
    {"report", cmd_report, "write a Markdown bug report for a failing trace",
     "usage: vsocksim report TRACE [-o REPORT.md] [--log FILE] [--input FILE]\n"
     "                       [--context N]\n"
     "\n"
     "Replays the trace and writes what failed (invariant and message), the seed,\n"
     "scenario and options, the last N timeline lines before the failure (default\n"
     "30), and the commands that reproduce it.\n"
     "\n"
     "  --log FILE     quote a sanitizer's or fuzz harness's output (a crash)\n"
     "  --input FILE   the fuzzer input the trace was made from (fuzz/sim_prog)\n"
     "\n"
     "REPORT.md may be - (or left out) for standard output.\n"},
    {"sweep", cmd_sweep, "run many seeds and list the failing ones",
     "usage: vsocksim sweep --seeds A-B [--shard I/N] [--scenario NAME | --scenario-file F]\n"
     "                      [--faults SPEC] [--steps N] [--fault-window-ms MS]\n"
     "                      [--liveness-ms MS] [--linux 6.1|6.12] [--deviate NAME,...]\n"
     "\n"
     "Runs every seed from A to B (inclusive). --shard I/N takes every N-th seed\n"
     "starting at the I-th (1 <= I <= N), so N machines can split one sweep.\n"
     "Prints progress on stderr, a summary line, and each failure with its replay\n"
     "command. Runs that end in Linux's reply-pause deadlock are counted apart\n"
     "(known Linux behaviour, not failures; --deviate reply-budget runs past it).\n"
     "Exit status 1 when any seed fails.\n"},
    {"faults", cmd_faults, "list the fault catalogue",
     "usage: vsocksim faults\n\nLists every fault --faults accepts, with what it does.\n"},
    {"deviations", cmd_deviations, "list the named deviations from Linux",
     "usage: vsocksim deviations\n\n"
     "Lists the deviations --deviate accepts: where the model can deliberately\n"
     "differ from Debian's Linux, with the module whose rule changes and why.\n"
     "Linux's rule is always the default; conformance/known-differences.txt has\n"
     "the kernel's evidence for each.\n"},
    {"scenarios", cmd_scenarios, "list the built-in scenarios",
     "usage: vsocksim scenarios\n\nLists the built-in scenarios and their default faults.\n"},
    {"vhost-user", cmd_vhost_user, "serve QEMU's vhost-user-vsock-pci with our device",
     "usage: vsocksim vhost-user --socket PATH --cid N [--uds-path PREFIX]\n"
     "                           [--no-seqpacket] [--no-reply-ack] [--verbose]\n"
     "                           [--max-connections N] [--control PATH]\n"
     "                           [--linux 6.1|6.12] [--deviate NAME,...]\n"
     "\n"
     "Listens on the Unix socket PATH for QEMU (-chardev socket,path=PATH\n"
     "-device vhost-user-vsock-pci,chardev=...; guest memory must be shared:\n"
     "memory-backend-memfd,share=on) and serves the guest's rx and tx rings with\n"
     "our device. The guest's CID is N (3..4294967294).\n"
     "\n"
     "  --uds-path PREFIX    host side as Unix sockets: connect to PREFIX and write\n"
     "                       'CONNECT <port>\\n' (answer 'OK <hostport>\\n') to reach\n"
     "                       a guest listener; a guest connecting to host port P\n"
     "                       reaches a listener at PREFIX_P\n"
     "  --no-seqpacket       do not offer VIRTIO_VSOCK_F_SEQPACKET\n"
     "  --no-reply-ack       do not offer the REPLY_ACK protocol feature\n"
     "  --verbose            log every vhost-user message\n"
     "  --max-connections N  exit after N front ends have come and gone\n"
     "  --control PATH       listen at PATH for the guest target's control channel\n"
     "                       (QEMU: -chardev socket,path=PATH on a virtserialport\n"
     "                       named vsocksim.ctl): the conformance cases inside the\n"
     "                       guest drive the host sockets through it\n"
     "  --linux 6.1|6.12     whose rules the device follows where the spec leaves\n"
     "                       room (default 6.1)\n"
     "  --deviate NAME,...   named deviations from Linux's rules (vsocksim\n"
     "                       deviations); default none\n"
     "\n"
     "Serves one front end at a time and the next one after it leaves.\n"},
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
        if (argc > 3)
            return usage_error(NULL, "help takes one command, not %d arguments", argc - 2);
        if (find(argv[2]) == NULL)
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
