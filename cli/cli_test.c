/*
 * cli/ tests: the vsocksim program as its users run it, in a subprocess,
 * with stdout and stderr captured to files and a timeout guard. The binary
 * comes from the ATF config variable `vsocksim` (ci/kyua-run.sh passes
 * test_suites.vsocksim.vsocksim=<build dir>/vsocksim), so each build's suite
 * tests its own program. Each case runs in Kyua's scratch directory.
 */
#include <atf-c.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"

extern char **environ;

#define RUN_TIMEOUT_S 120 /* below Kyua's 300 s per case, so the guard speaks first */
#define MAX_ARGS 32

#define TC(name, descr)                                                                   \
    ATF_TC(name);                                                                         \
    ATF_TC_HEAD(name, tc)                                                                 \
    {                                                                                     \
        atf_tc_set_md_var(tc, "descr", descr);                                            \
        atf_tc_set_md_var(tc, "require.config", "vsocksim");                              \
    }                                                                                     \
    ATF_TC_BODY(name, tc)

/* The commands these tests know; the program may have more (the help cases
 * take the list from --help, and require these in it). */
static const char *const known_commands[] = {"run",    "replay", "show",
                                             "sweep",  "faults", "scenarios"};
#define NKNOWN (sizeof(known_commands) / sizeof(known_commands[0]))
#define MAX_COMMANDS 32

/* ---- running the program ----------------------------------------------------------- */

struct proc {
    int code;      /* exit status */
    char cmd[512]; /* the command line, for messages */
    char *out;     /* stdout, NUL-terminated */
    char *err;     /* stderr */
};

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    ATF_REQUIRE_MSG(f != NULL, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    ATF_REQUIRE(buf != NULL);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            ATF_REQUIRE(buf != NULL);
        }
    }
    ATF_REQUIRE(!ferror(f));
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ATF_REQUIRE_MSG(f != NULL, "cannot create %s: %s", path, strerror(errno));
    ATF_REQUIRE_EQ(len, fwrite(data, 1, len, f));
    ATF_REQUIRE_EQ(0, fclose(f));
}

static void proc_free(struct proc *p)
{
    free(p->out);
    free(p->err);
    p->out = p->err = NULL;
}

/* Runs the program with args (NULL-terminated) to completion, at most
 * RUN_TIMEOUT_S seconds; stdout and stderr go to files, then into p. */
static void run_argv(const atf_tc_t *tc, struct proc *p, const char *const *args)
{
    const char *prog = atf_tc_get_config_var(tc, "vsocksim");
    ATF_REQUIRE_MSG(access(prog, X_OK) == 0, "config variable vsocksim=%s: %s", prog,
                    strerror(errno));
    char *argv[MAX_ARGS + 2];
    argv[0] = (char *)prog;
    size_t n = 0, used = 0;
    p->cmd[0] = '\0';
    used += (size_t)snprintf(p->cmd, sizeof(p->cmd), "vsocksim");
    for (; args[n] != NULL; n++) {
        ATF_REQUIRE(n < MAX_ARGS);
        argv[n + 1] = (char *)args[n];
        if (used < sizeof(p->cmd))
            used += (size_t)snprintf(p->cmd + used, sizeof(p->cmd) - used, " %s", args[n]);
    }
    argv[n + 1] = NULL;

    posix_spawn_file_actions_t fa;
    ATF_REQUIRE_EQ(0, posix_spawn_file_actions_init(&fa));
    ATF_REQUIRE_EQ(0, posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0));
    ATF_REQUIRE_EQ(0, posix_spawn_file_actions_addopen(&fa, 1, "stdout.txt",
                                                       O_WRONLY | O_CREAT | O_TRUNC, 0644));
    ATF_REQUIRE_EQ(0, posix_spawn_file_actions_addopen(&fa, 2, "stderr.txt",
                                                       O_WRONLY | O_CREAT | O_TRUNC, 0644));
    pid_t pid;
    int r = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    ATF_REQUIRE_MSG(r == 0, "cannot start %s: %s", prog, strerror(r));

    /* The timeout guard: poll, and kill the program when it overstays. */
    int status = 0;
    struct timespec t0, now, nap = {0, 5 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        ATF_REQUIRE_MSG(w == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > RUN_TIMEOUT_S) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            atf_tc_fail("%s: still running after %d s, killed", p->cmd, RUN_TIMEOUT_S);
        }
        nanosleep(&nap, NULL);
    }
    ATF_REQUIRE_MSG(WIFEXITED(status), "%s: killed by signal %d", p->cmd,
                    WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    p->code = WEXITSTATUS(status);
    p->out = read_file("stdout.txt");
    p->err = read_file("stderr.txt");
}

#define RUN(p, ...) run_argv(tc, (p), (const char *const[]){__VA_ARGS__, NULL})

static unsigned count_lines(const char *s)
{
    unsigned n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

#define EXPECT_EXIT(p, want)                                                              \
    ATF_CHECK_MSG((p)->code == (want), "%s: exit %d, expected %d; stderr: %s", (p)->cmd,  \
                  (p)->code, (want), (p)->err)

#define EXPECT_OUT(p, text)                                                               \
    ATF_CHECK_MSG(strstr((p)->out, (text)) != NULL, "%s: stdout lacks '%s':\n%s",         \
                  (p)->cmd, (text), (p)->out)

#define EXPECT_ERR(p, text)                                                               \
    ATF_CHECK_MSG(strstr((p)->err, (text)) != NULL, "%s: stderr lacks '%s':\n%s",         \
                  (p)->cmd, (text), (p)->err)

/* A usage error: exit 2, nothing on stdout, one line on stderr naming the
 * problem (and pointing at the help). */
#define EXPECT_USAGE_ERROR(p, text)                                                       \
    do {                                                                                  \
        EXPECT_EXIT(p, 2);                                                                \
        ATF_CHECK_MSG(count_lines((p)->err) == 1, "%s: stderr is not one line:\n%s",      \
                      (p)->cmd, (p)->err);                                                \
        ATF_CHECK_MSG((p)->out[0] == '\0', "%s: stdout not empty: %s", (p)->cmd,          \
                      (p)->out);                                                          \
        EXPECT_ERR(p, text);                                                              \
        EXPECT_ERR(p, "vsocksim");                                                        \
    } while (0)

/* A file error: exit 3, one line on stderr. */
#define EXPECT_IO_ERROR(p, text)                                                          \
    do {                                                                                  \
        EXPECT_EXIT(p, 3);                                                                \
        ATF_CHECK_MSG(count_lines((p)->err) == 1, "%s: stderr is not one line:\n%s",      \
                      (p)->cmd, (p)->err);                                                \
        EXPECT_ERR(p, text);                                                              \
    } while (0)

/* ---- help and version -------------------------------------------------------------- */

struct command_list {
    unsigned n;
    char name[MAX_COMMANDS][32];
};

/* The commands `vsocksim --help` lists (without "help" itself), and a check
 * that every known one is among them. */
static void list_commands(const atf_tc_t *tc, struct command_list *cl)
{
    struct proc p;
    RUN(&p, "--help");
    ATF_REQUIRE_EQ_MSG(0, p.code, "--help: exit %d", p.code);
    const char *c = strstr(p.out, "\ncommands:\n");
    ATF_REQUIRE_MSG(c != NULL, "--help has no 'commands:' section: %s", p.out);
    c += strlen("\ncommands:\n");
    cl->n = 0;
    char name[32];
    int len;
    while (sscanf(c, "  %31[a-z-]%n", name, &len) == 1 && c[0] == ' ') {
        if (strcmp(name, "help") != 0) {
            ATF_REQUIRE(cl->n < MAX_COMMANDS);
            snprintf(cl->name[cl->n++], sizeof(cl->name[0]), "%s", name);
        }
        c = strchr(c, '\n');
        if (c == NULL)
            break;
        c++;
    }
    proc_free(&p);
    for (size_t k = 0; k < NKNOWN; k++) {
        bool found = false;
        for (unsigned i = 0; i < cl->n; i++)
            found = found || strcmp(cl->name[i], known_commands[k]) == 0;
        ATF_CHECK_MSG(found, "--help does not list '%s'", known_commands[k]);
    }
}

TC(help_option, "--help, -h and help print the usage and every command, exit 0")
{
    static const char *const forms[] = {"--help", "-h", "help"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct proc p;
        RUN(&p, forms[i]);
        EXPECT_EXIT(&p, 0);
        EXPECT_OUT(&p, "usage: vsocksim COMMAND");
        for (size_t c = 0; c < NKNOWN; c++) {
            char line[64];
            snprintf(line, sizeof(line), "\n  %s ", known_commands[c]);
            EXPECT_OUT(&p, line);
        }
        ATF_CHECK_MSG(p.err[0] == '\0', "%s: stderr: %s", p.cmd, p.err);
        proc_free(&p);
    }
}

TC(help_command, "help CMD prints that command's usage for every command, exit 0")
{
    struct command_list cl;
    list_commands(tc, &cl);
    for (unsigned c = 0; c < cl.n; c++) {
        struct proc p;
        RUN(&p, "help", cl.name[c]);
        EXPECT_EXIT(&p, 0);
        char want[64];
        snprintf(want, sizeof(want), "usage: vsocksim %s", cl.name[c]);
        ATF_CHECK_MSG(strncmp(p.out, want, strlen(want)) == 0, "%s: stdout starts '%.60s'", p.cmd,
                      p.out);
        ATF_CHECK_MSG(p.err[0] == '\0', "%s: stderr: %s", p.cmd, p.err);
        proc_free(&p);
    }
    struct proc p;
    RUN(&p, "help", "nosuch");
    EXPECT_USAGE_ERROR(&p, "unknown command 'nosuch'");
    proc_free(&p);
    RUN(&p, "help", "run", "sweep");
    EXPECT_USAGE_ERROR(&p, "help takes one command");
    proc_free(&p);
}

TC(command_help_option, "CMD --help and CMD -h print the same usage as help CMD, exit 0")
{
    struct command_list cl;
    list_commands(tc, &cl);
    for (unsigned c = 0; c < cl.n; c++) {
        struct proc h;
        RUN(&h, "help", cl.name[c]);
        static const char *const forms[] = {"--help", "-h"};
        for (size_t i = 0; i < 2; i++) {
            struct proc p;
            RUN(&p, cl.name[c], forms[i]);
            EXPECT_EXIT(&p, 0);
            EXPECT_OUT(&p, "usage:");
            ATF_CHECK_MSG(strcmp(p.out, h.out) == 0, "%s differs from help %s", p.cmd, cl.name[c]);
            proc_free(&p);
        }
        /* help wins over anything else on the line, even bad options */
        struct proc p;
        RUN(&p, cl.name[c], "--bogus", "--help");
        EXPECT_EXIT(&p, 0);
        EXPECT_OUT(&p, "usage:");
        proc_free(&p);
        proc_free(&h);
    }
}

TC(version, "--version prints the program's version, exit 0")
{
    struct proc p;
    RUN(&p, "--version");
    EXPECT_EXIT(&p, 0);
    ATF_CHECK_MSG(strcmp(p.out, "vsocksim 0.1.0\n") == 0, "stdout: '%s'", p.out);
    ATF_CHECK_MSG(p.err[0] == '\0', "stderr: %s", p.err);
    proc_free(&p);
}

TC(no_arguments, "no arguments: the usage on stderr, exit 2")
{
    struct proc p;
    run_argv(tc, &p, (const char *const[]){NULL});
    EXPECT_EXIT(&p, 2);
    EXPECT_ERR(&p, "usage: vsocksim COMMAND");
    ATF_CHECK_MSG(p.out[0] == '\0', "stdout: %s", p.out);
    proc_free(&p);
}

/* ---- usage errors ------------------------------------------------------------------ */

TC(unknown_command, "an unknown command: one line naming it, exit 2")
{
    struct proc p;
    RUN(&p, "frobnicate");
    EXPECT_USAGE_ERROR(&p, "vsocksim: unknown command 'frobnicate' (vsocksim --help)");
    proc_free(&p);
    RUN(&p, "--frobnicate");
    EXPECT_USAGE_ERROR(&p, "unknown command '--frobnicate'");
    proc_free(&p);
}

TC(unknown_option, "an unknown option: one line naming it and the command, exit 2")
{
    struct proc p;
    RUN(&p, "run", "--bogus");
    EXPECT_USAGE_ERROR(&p, "vsocksim run: unknown option '--bogus' (vsocksim help run)");
    proc_free(&p);
    RUN(&p, "sweep", "--seeds", "1-2", "--colour", "red");
    EXPECT_USAGE_ERROR(&p, "vsocksim sweep: unknown option '--colour'");
    proc_free(&p);
    RUN(&p, "show", "--bogus", "x.trace");
    EXPECT_USAGE_ERROR(&p, "vsocksim show: unexpected argument '--bogus'");
    proc_free(&p);
    RUN(&p, "faults", "extra");
    EXPECT_USAGE_ERROR(&p, "vsocksim faults: takes no arguments");
    proc_free(&p);
    RUN(&p, "scenarios", "extra");
    EXPECT_USAGE_ERROR(&p, "vsocksim scenarios: takes no arguments");
    proc_free(&p);
    RUN(&p, "replay");
    EXPECT_USAGE_ERROR(&p, "vsocksim replay: needs exactly one trace file");
    proc_free(&p);
    RUN(&p, "show");
    EXPECT_USAGE_ERROR(&p, "vsocksim show: needs a trace file");
    proc_free(&p);
}

TC(bad_number, "a bad number or a missing value: one line naming the option, exit 2")
{
    struct proc p;
    RUN(&p, "run", "--seed", "abc");
    EXPECT_USAGE_ERROR(&p, "vsocksim run: --seed: 'abc' is not a number of at least 0");
    proc_free(&p);
    RUN(&p, "run", "--seed", "-1");
    EXPECT_USAGE_ERROR(&p, "--seed: '-1' is not a number");
    proc_free(&p);
    RUN(&p, "run", "--seed", "99999999999999999999999");
    EXPECT_USAGE_ERROR(&p, "--seed: '99999999999999999999999' is not a number");
    proc_free(&p);
    RUN(&p, "run", "--steps", "0");
    EXPECT_USAGE_ERROR(&p, "--steps: '0' is not a number of at least 1");
    proc_free(&p);
    RUN(&p, "run", "--liveness-ms", "1.5");
    EXPECT_USAGE_ERROR(&p, "--liveness-ms: '1.5' is not a number of at least 1");
    proc_free(&p);
    RUN(&p, "run", "--fault-window-ms", "");
    EXPECT_USAGE_ERROR(&p, "--fault-window-ms: '' is not a number");
    proc_free(&p);
    RUN(&p, "run", "--seed");
    EXPECT_USAGE_ERROR(&p, "vsocksim run: --seed needs a value");
    proc_free(&p);
    RUN(&p, "sweep", "--seeds", "1-3", "--steps");
    EXPECT_USAGE_ERROR(&p, "vsocksim sweep: --steps needs a value");
    proc_free(&p);
}

TC(bad_faults, "a bad --faults: one line with the parser's message, exit 2")
{
    struct proc p;
    RUN(&p, "run", "--faults", "bogus=0.1");
    EXPECT_USAGE_ERROR(&p, "vsocksim run: --faults: unknown fault 'bogus' (vsocksim faults lists them)");
    proc_free(&p);
    RUN(&p, "run", "--faults", "kick-delay=2");
    EXPECT_USAGE_ERROR(&p, "--faults: fault 'kick-delay': rate '2' is not a number between 0 and 1");
    proc_free(&p);
    RUN(&p, "sweep", "--seeds", "1-2", "--faults", "kick-delay=0.1,");
    EXPECT_USAGE_ERROR(&p, "vsocksim sweep: --faults: empty item in fault list 'kick-delay=0.1,'");
    proc_free(&p);
    RUN(&p, "run", "--faults", "kick-delay");
    EXPECT_USAGE_ERROR(&p, "--faults: fault 'kick-delay' has no rate");
    proc_free(&p);
}

TC(unknown_scenario, "an unknown --scenario or a bad scenario file: one line, exit 2")
{
    struct proc p;
    RUN(&p, "run", "--scenario", "nope");
    EXPECT_USAGE_ERROR(&p, "vsocksim run: unknown scenario 'nope' (vsocksim scenarios lists them)");
    proc_free(&p);
    RUN(&p, "sweep", "--seeds", "1-2", "--scenario", "Echo");
    EXPECT_USAGE_ERROR(&p, "vsocksim sweep: unknown scenario 'Echo'");
    proc_free(&p);
    RUN(&p, "run", "--scenario-file", "missing.scn");
    EXPECT_USAGE_ERROR(&p, "--scenario-file missing.scn: No such file or directory");
    proc_free(&p);
    const char *bad = "scenario s\nflow echo count=0\n";
    write_file("bad.scn", bad, strlen(bad));
    RUN(&p, "run", "--scenario-file", "bad.scn");
    EXPECT_USAGE_ERROR(&p, "vsocksim run: bad.scn:2: count=0 is out of range (1..100000)");
    proc_free(&p);
}

TC(sweep_seeds_missing, "sweep without --seeds, or with a bad range: one line, exit 2")
{
    struct proc p;
    RUN(&p, "sweep");
    EXPECT_USAGE_ERROR(&p, "vsocksim sweep: needs --seeds A-B");
    proc_free(&p);
    RUN(&p, "sweep", "--scenario", "echo");
    EXPECT_USAGE_ERROR(&p, "vsocksim sweep: needs --seeds A-B");
    proc_free(&p);
    RUN(&p, "sweep", "--seeds");
    EXPECT_USAGE_ERROR(&p, "vsocksim sweep: --seeds needs a value");
    proc_free(&p);
    RUN(&p, "sweep", "--seeds", "5-2");
    EXPECT_USAGE_ERROR(&p, "vsocksim sweep: --seeds: '5-2' is not A-B with A <= B");
    proc_free(&p);
    RUN(&p, "sweep", "--seeds", "a-b");
    EXPECT_USAGE_ERROR(&p, "--seeds: 'a-b' is not A-B");
    proc_free(&p);
    RUN(&p, "sweep", "--seed", "3");
    EXPECT_USAGE_ERROR(&p, "vsocksim sweep: use --seeds A-B, not --seed");
    proc_free(&p);
}

TC(bad_shard, "a bad --shard: one line naming it, exit 2")
{
    static const char *const bad[] = {"0/3", "4/3", "2", "a/b", "1/0", "1/", "/3", "-1/3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct proc p;
        RUN(&p, "sweep", "--seeds", "1-10", "--shard", bad[i]);
        char want[128];
        snprintf(want, sizeof(want), "vsocksim sweep: --shard: '%s' is not i/n with 1 <= i <= n",
                 bad[i]);
        EXPECT_USAGE_ERROR(&p, want);
        proc_free(&p);
    }
    struct proc p;
    RUN(&p, "sweep", "--seeds", "1-10", "--shard");
    EXPECT_USAGE_ERROR(&p, "vsocksim sweep: --shard needs a value");
    proc_free(&p);
}

TC(trace_without_file, "run --trace without a file name: one line, exit 2")
{
    struct proc p;
    RUN(&p, "run", "--scenario", "echo", "--trace");
    EXPECT_USAGE_ERROR(&p, "vsocksim run: --trace needs a file name");
    proc_free(&p);
    RUN(&p, "run", "--scenario", "echo", "--trace", "no-such-dir/t.trace");
    EXPECT_IO_ERROR(&p, "--trace no-such-dir/t.trace: No such file or directory");
    proc_free(&p);
}

/* ---- runs, traces, replay, show ------------------------------------------------------ */

TC(run_summary, "run prints a summary with every figure, exit 0")
{
    struct proc p;
    RUN(&p, "run", "--scenario", "echo", "--faults", "none");
    EXPECT_EXIT(&p, 0);
    EXPECT_OUT(&p, "vsocksim run: scenario echo, seed 1, faults none\n");
    static const char *const lines[] = {
        "\n  result             ok\n",
        "\n  connections        4 (4 completed, 0 ended by faults)\n",
        "\n  bytes              guest->host ",
        "\n  packets g->h       REQUEST ",
        "\n  packets h->g       REQUEST ",
        "\n  notifications      kicks ",
        "\n  faults injected    none\n",
        "\n  invariant checks   ",
        "\n  steps              ",
        "\n  simulated time     ",
        "\n  final digest       ",
        " events/s (",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        EXPECT_OUT(&p, lines[i]);
    ATF_CHECK_MSG(p.err[0] == '\0', "stderr: %s", p.err);
    /* the figures are the run's: the same run in process gives the same ones */
    struct sim_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.scenario = *sim_scenario_builtin("echo");
    cfg.seed = 1;
    cfg.check_every_step = true;
    struct sim_result res;
    ATF_REQUIRE_EQ(SIM_OK, sim_run(&cfg, &res));
    char want[128];
    snprintf(want, sizeof(want), "\n  final digest       %016" PRIx64 "\n", res.stats.digest);
    EXPECT_OUT(&p, want);
    snprintf(want, sizeof(want), "\n  steps              %" PRIu64 " (%" PRIu64 " decisions)\n",
             res.stats.steps, res.stats.decisions);
    EXPECT_OUT(&p, want);
    snprintf(want, sizeof(want), "\n  invariant checks   %" PRIu64 "\n", res.stats.checks);
    EXPECT_OUT(&p, want);
    snprintf(want, sizeof(want), "\n  bytes              guest->host %" PRIu64 ", host->guest %" PRIu64
             "\n", res.stats.bytes_g2h, res.stats.bytes_h2g);
    EXPECT_OUT(&p, want);
    proc_free(&p);

    RUN(&p, "run", "--scenario", "echo", "--faults", "none", "--quiet");
    EXPECT_EXIT(&p, 0);
    ATF_CHECK_MSG(p.out[0] == '\0' && p.err[0] == '\0', "--quiet printed '%s' '%s'", p.out, p.err);
    proc_free(&p);
}

TC(run_violation, "a violation: exit 1, the seed and the command that replays it")
{
    struct proc p;
    RUN(&p, "run", "--scenario", "echo", "--faults", "none", "--steps", "10");
    EXPECT_EXIT(&p, 1);
    EXPECT_OUT(&p, "  result             violation\n");
    EXPECT_ERR(&p, "vsocksim: violation of 'liveness' at step 10");
    EXPECT_ERR(&p, "seed 1: step budget of 10 exhausted\n");
    EXPECT_ERR(&p, "  replay: vsocksim run --seed 1 --scenario echo --faults none --steps 10\n");
    proc_free(&p);
}

TC(linux_profile_option, "--linux picks the profile: the trace header records it, the replay "
                         "command repeats it, replay takes it from the header; a bad one exits 2")
{
    struct proc p;
    RUN(&p, "run", "--linux", "6.2");
    EXPECT_USAGE_ERROR(&p, "vsocksim run: --linux: '6.2' is not a profile (6.1 or 6.12)");
    proc_free(&p);
    RUN(&p, "sweep", "--seeds", "1-2", "--linux");
    EXPECT_USAGE_ERROR(&p, "vsocksim sweep: --linux needs a value");
    proc_free(&p);
    RUN(&p, "run", "--scenario", "echo", "--faults", "none", "--steps", "10", "--linux", "6.12",
        "--trace", "l.trace");
    EXPECT_EXIT(&p, 1);
    EXPECT_ERR(&p, "  replay: vsocksim run --seed 1 --scenario echo --faults none --steps 10 "
                   "--linux 6.12 --trace l.trace\n");
    proc_free(&p);
    char *t = read_file("l.trace");
    ATF_REQUIRE(t != NULL);
    ATF_CHECK_MSG(strstr(t, "\noption linux 6.12\n") != NULL, "no profile in the header:\n%.400s", t);
    free(t);
    RUN(&p, "replay", "l.trace");
    EXPECT_EXIT(&p, 1);
    EXPECT_OUT(&p, "reproduced exactly");
    proc_free(&p);
    /* The default is written too, so a trace says whose rules it followed. */
    RUN(&p, "run", "--scenario", "echo", "--faults", "none", "--steps", "10", "--trace", "d.trace");
    EXPECT_EXIT(&p, 1);
    EXPECT_ERR(&p, "--steps 10 --trace d.trace\n");
    proc_free(&p);
    t = read_file("d.trace");
    ATF_REQUIRE(t != NULL);
    ATF_CHECK_MSG(strstr(t, "\noption linux 6.1\n") != NULL, "no profile in the header:\n%.400s", t);
    free(t);
}

TC(run_trace_replay, "run --trace F then replay F reproduces the run exactly")
{
    static const char *const scenarios[] = {"echo", "reset-storm"};
    for (size_t i = 0; i < 2; i++) {
        struct proc p;
        RUN(&p, "run", "--scenario", scenarios[i], "--seed", "7", "--faults", "all=0.002",
            "--trace", "t.trace");
        EXPECT_EXIT(&p, 0);
        char digest[64] = "";
        const char *d = strstr(p.out, "final digest       ");
        ATF_REQUIRE_MSG(d != NULL, "no digest in: %s", p.out);
        snprintf(digest, sizeof(digest), "digest %.16s", d + strlen("final digest       "));
        proc_free(&p);

        RUN(&p, "replay", "t.trace");
        EXPECT_EXIT(&p, 0);
        EXPECT_OUT(&p, "vsocksim replay: t.trace: reproduced exactly (");
        EXPECT_OUT(&p, digest);
        EXPECT_OUT(&p, "): ok\n");
        ATF_CHECK_MSG(p.err[0] == '\0', "stderr: %s", p.err);
        proc_free(&p);
    }
    /* a recorded violation replays to the same violation: exit 1 */
    struct proc p;
    RUN(&p, "run", "--scenario", "echo", "--faults", "none", "--steps", "10", "--trace", "v.trace");
    EXPECT_EXIT(&p, 1);
    EXPECT_ERR(&p, "  trace:  vsocksim replay v.trace\n");
    proc_free(&p);
    RUN(&p, "replay", "v.trace");
    EXPECT_EXIT(&p, 1);
    EXPECT_OUT(&p, "reproduced exactly");
    EXPECT_OUT(&p, "): violation: step budget of 10 exhausted\n");
    proc_free(&p);
}

TC(replay_divergence, "a replay of an edited trace names the first divergent line, exit 1")
{
    struct proc p;
    RUN(&p, "run", "--scenario", "echo", "--faults", "none", "--trace", "t.trace", "--quiet");
    EXPECT_EXIT(&p, 0);
    proc_free(&p);
    char *t = read_file("t.trace");
    /* change the first packet's buf_alloc */
    char *pkt = strstr(t, "\nP ");
    ATF_REQUIRE(pkt != NULL);
    unsigned line = 2;
    for (char *c = t; c <= pkt; c++)
        line += *c == '\n' ? 1u : 0u;
    line--;
    char *ba = strstr(pkt, "buf_alloc=");
    ATF_REQUIRE(ba != NULL);
    ba[strlen("buf_alloc=")] = ba[strlen("buf_alloc=")] == '9' ? '8' : '9';
    write_file("bad.trace", t, strlen(t));
    free(t);
    RUN(&p, "replay", "bad.trace");
    EXPECT_EXIT(&p, 1);
    ATF_CHECK_MSG(count_lines(p.err) == 1, "stderr is not one line: %s", p.err);
    char want[96];
    snprintf(want, sizeof(want), "vsocksim replay: bad.trace: first divergence at trace line %u ",
             line);
    EXPECT_ERR(&p, want);
    EXPECT_ERR(&p, "packet buf_alloc");
    proc_free(&p);
}

TC(show_trace, "show prints the trace's packets, one a line")
{
    struct proc p;
    RUN(&p, "run", "--scenario", "echo", "--faults", "none", "--trace", "t.trace", "--quiet");
    EXPECT_EXIT(&p, 0);
    proc_free(&p);
    RUN(&p, "show", "t.trace");
    EXPECT_EXIT(&p, 0);
    EXPECT_OUT(&p, " REQUEST ");
    EXPECT_OUT(&p, " RESPONSE ");
    EXPECT_OUT(&p, " RW ");
    EXPECT_OUT(&p, "t=");
    ATF_CHECK_MSG(strstr(p.out, "decision") == NULL, "decisions shown without --verbose");
    ATF_CHECK_MSG(p.err[0] == '\0', "stderr: %s", p.err);
    unsigned plain = count_lines(p.out);
    proc_free(&p);
    RUN(&p, "show", "--verbose", "t.trace");
    EXPECT_EXIT(&p, 0);
    EXPECT_OUT(&p, "decision actor ");
    ATF_CHECK_MSG(count_lines(p.out) > plain, "--verbose shows %u lines, plain %u",
                  count_lines(p.out), plain);
    proc_free(&p);
}

TC(replay_bad_file, "replay or show of a garbage or missing file: one line, exit 3")
{
    const char *garbage = "this is not a trace\nat all\n";
    write_file("garbage.trace", garbage, strlen(garbage));
    write_file("empty.trace", "", 0);
    struct proc p;
    RUN(&p, "replay", "garbage.trace");
    EXPECT_IO_ERROR(&p, "vsocksim replay: garbage.trace: line 1: ");
    proc_free(&p);
    RUN(&p, "replay", "empty.trace");
    EXPECT_IO_ERROR(&p, "vsocksim replay: empty.trace: line ");
    proc_free(&p);
    RUN(&p, "replay", "missing.trace");
    EXPECT_IO_ERROR(&p, "vsocksim replay: missing.trace: No such file or directory");
    proc_free(&p);
    RUN(&p, "show", "garbage.trace");
    EXPECT_EXIT(&p, 3);
    EXPECT_ERR(&p, "vsocksim show: garbage.trace: line 1: ");
    proc_free(&p);
    RUN(&p, "show", "missing.trace");
    EXPECT_IO_ERROR(&p, "vsocksim show: missing.trace: No such file or directory");
    proc_free(&p);

    /* a trace cut short: replay stops with an error naming the line */
    RUN(&p, "run", "--scenario", "echo", "--faults", "none", "--trace", "t.trace", "--quiet");
    EXPECT_EXIT(&p, 0);
    proc_free(&p);
    char *t = read_file("t.trace");
    size_t half = strlen(t) / 2;
    while (half > 0 && t[half - 1] != '\n')
        half--;
    write_file("cut.trace", t, half);
    free(t);
    RUN(&p, "replay", "cut.trace");
    EXPECT_IO_ERROR(&p, "the trace is truncated");
    EXPECT_ERR(&p, "vsocksim replay: cut.trace: line ");
    proc_free(&p);
}

TC(sweep_shard, "sweep --seeds 1-20 --shard 2/3 runs 7 seeds, exit 0")
{
    struct proc p;
    RUN(&p, "sweep", "--seeds", "1-20", "--shard", "2/3");
    EXPECT_EXIT(&p, 0);
    EXPECT_OUT(&p, "sweep: scenario mixed, faults ");
    EXPECT_OUT(&p, " seeds 1-20 shard 2/3: 7 run, 7 ok, 0 failing (");
    ATF_CHECK_EQ_MSG(1u, count_lines(p.out), "stdout: %s", p.out);
    EXPECT_ERR(&p, "sweep: 7/7 seeds, 0 failing");
    proc_free(&p);

    RUN(&p, "sweep", "--seeds", "1-20", "--shard", "3/3", "--scenario", "echo");
    EXPECT_EXIT(&p, 0);
    EXPECT_OUT(&p, " seeds 1-20 shard 3/3: 6 run, 6 ok, 0 failing (");
    proc_free(&p);

    /* a failing seed: exit 1, with its replay command */
    RUN(&p, "sweep", "--seeds", "3-4", "--scenario", "echo", "--faults", "none", "--steps", "20");
    EXPECT_EXIT(&p, 1);
    EXPECT_OUT(&p, ": 2 run, 0 ok, 2 failing (");
    EXPECT_ERR(&p, "  replay: vsocksim run --seed 3 --scenario echo --faults none --steps 20\n");
    EXPECT_ERR(&p, "  replay: vsocksim run --seed 4 --scenario echo --faults none --steps 20\n");
    proc_free(&p);
}

TC(deviate_option, "--deviate switches named deviations on: the summary and the trace header "
                  "say which, the replay command repeats them, replay takes them from the "
                  "header; an unknown name exits 2 naming the known ones")
{
    struct proc p;
    RUN(&p, "run", "--deviate", "bad-credit,nope");
    EXPECT_USAGE_ERROR(&p, "vsocksim run: --deviate: unknown deviation 'nope' (known: bad-credit, "
                           "seqpacket-whole, sndbuf-bound, return-bad-chains, reply-budget)");
    proc_free(&p);
    RUN(&p, "sweep", "--seeds", "1-2", "--deviate");
    EXPECT_USAGE_ERROR(&p, "vsocksim sweep: --deviate needs a value");
    proc_free(&p);
    RUN(&p, "run", "--scenario", "echo", "--faults", "none", "--deviate", "sndbuf-bound,bad-credit",
        "--trace", "d.trace");
    EXPECT_EXIT(&p, 0);
    EXPECT_OUT(&p, "faults none, deviate bad-credit,sndbuf-bound\n");
    proc_free(&p);
    char *t = read_file("d.trace");
    ATF_REQUIRE(t != NULL);
    ATF_CHECK_MSG(strstr(t, "\noption deviate-bad-credit on\noption deviate-sndbuf-bound on\n"),
                  "no deviations in the header:\n%.600s", t);
    free(t);
    RUN(&p, "replay", "d.trace");
    EXPECT_EXIT(&p, 0);
    EXPECT_OUT(&p, "reproduced exactly");
    proc_free(&p);
    RUN(&p, "run", "--scenario", "echo", "--faults", "none", "--steps", "10", "--deviate", "all");
    EXPECT_EXIT(&p, 1);
    EXPECT_ERR(&p, "--steps 10 --deviate bad-credit,seqpacket-whole,sndbuf-bound,return-bad-chains,"
                   "reply-budget\n");
    proc_free(&p);
    /* A header naming a deviation this build does not know is refused. */
    t = read_file("d.trace");
    ATF_REQUIRE(t != NULL);
    char *k = strstr(t, "deviate-bad-credit");
    ATF_REQUIRE(k != NULL);
    memcpy(k, "deviate-bad-credix", 18);
    FILE *f = fopen("x.trace", "w");
    ATF_REQUIRE(f != NULL);
    fputs(t, f);
    fclose(f);
    free(t);
    RUN(&p, "replay", "x.trace");
    EXPECT_EXIT(&p, 2);
    EXPECT_ERR(&p, "header option 'deviate-bad-credix': unknown deviation 'bad-credix'");
    proc_free(&p);
}

TC(deviations_list, "deviations lists every named deviation with its module and reason, exit 0")
{
    struct proc p;
    RUN(&p, "deviations");
    EXPECT_EXIT(&p, 0);
    EXPECT_OUT(&p, "\n  bad-credit       transport  ");
    EXPECT_OUT(&p, "\n  seqpacket-whole  transport  ");
    EXPECT_OUT(&p, "\n  sndbuf-bound     transport  ");
    EXPECT_OUT(&p, "\n  return-bad-chains device  ");
    ATF_CHECK_EQ_MSG(2u + VSOCK_DEV_COUNT, count_lines(p.out), "stdout: %s", p.out);
    proc_free(&p);
    RUN(&p, "deviations", "extra");
    EXPECT_USAGE_ERROR(&p, "vsocksim deviations: takes no arguments");
    proc_free(&p);
    RUN(&p, "help", "run");
    EXPECT_EXIT(&p, 0);
    EXPECT_OUT(&p, "--deviate NAME,...");
    proc_free(&p);
}

TC(faults_list, "faults lists all thirteen faults, exit 0")
{
    static const char *const names[] = {
        "kick-delay", "irq-delay", "spurious-kick", "spurious-irq", "rx-starve", "tiny-rings",
        "host-stall", "guest-stall", "peer-reset", "transport-reset", "device-restart",
        "connect-timeout", "device-pause",
    };
    struct proc p;
    RUN(&p, "faults");
    EXPECT_EXIT(&p, 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), "\n  %-16s ", names[i]);
        EXPECT_OUT(&p, line);
    }
    ATF_CHECK_EQ_MSG(14u, count_lines(p.out), "stdout: %s", p.out);
    proc_free(&p);
}

TC(scenarios_list, "scenarios lists the six built-ins, exit 0")
{
    static const char *const names[] = {"echo", "bulk", "churn", "seqpacket", "mixed",
                                        "reset-storm"};
    struct proc p;
    RUN(&p, "scenarios");
    EXPECT_EXIT(&p, 0);
    EXPECT_OUT(&p, "(default mixed)");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), "\n  %-12s ", names[i]);
        EXPECT_OUT(&p, line);
    }
    EXPECT_OUT(&p, "default faults: kick-delay=0.05,irq-delay=0.05");
    proc_free(&p);
}

TC(run_scenario_file, "run --scenario-file runs a scenario from a file, and replays it")
{
    const char *scn = "scenario from-file\n"
                      "description a file\n"
                      "faults kick-delay=0.1\n"
                      "flow echo count=3 concurrent=2 bytes=1000\n";
    write_file("s.scn", scn, strlen(scn));
    struct proc p;
    RUN(&p, "run", "--scenario-file", "s.scn", "--seed", "4", "--trace", "f.trace");
    EXPECT_EXIT(&p, 0);
    EXPECT_OUT(&p, "vsocksim run: scenario from-file, seed 4, faults kick-delay=0.1\n");
    EXPECT_OUT(&p, "  connections        3 (3 completed, 0 ended by faults)\n");
    proc_free(&p);
    RUN(&p, "replay", "f.trace");
    EXPECT_EXIT(&p, 0);
    EXPECT_OUT(&p, "reproduced exactly");
    proc_free(&p);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, help_option);
    ATF_TP_ADD_TC(tp, help_command);
    ATF_TP_ADD_TC(tp, command_help_option);
    ATF_TP_ADD_TC(tp, version);
    ATF_TP_ADD_TC(tp, no_arguments);
    ATF_TP_ADD_TC(tp, unknown_command);
    ATF_TP_ADD_TC(tp, unknown_option);
    ATF_TP_ADD_TC(tp, bad_number);
    ATF_TP_ADD_TC(tp, bad_faults);
    ATF_TP_ADD_TC(tp, unknown_scenario);
    ATF_TP_ADD_TC(tp, sweep_seeds_missing);
    ATF_TP_ADD_TC(tp, bad_shard);
    ATF_TP_ADD_TC(tp, trace_without_file);
    ATF_TP_ADD_TC(tp, run_summary);
    ATF_TP_ADD_TC(tp, run_violation);
    ATF_TP_ADD_TC(tp, linux_profile_option);
    ATF_TP_ADD_TC(tp, deviate_option);
    ATF_TP_ADD_TC(tp, deviations_list);
    ATF_TP_ADD_TC(tp, run_trace_replay);
    ATF_TP_ADD_TC(tp, replay_divergence);
    ATF_TP_ADD_TC(tp, show_trace);
    ATF_TP_ADD_TC(tp, replay_bad_file);
    ATF_TP_ADD_TC(tp, sweep_shard);
    ATF_TP_ADD_TC(tp, faults_list);
    ATF_TP_ADD_TC(tp, scenarios_list);
    ATF_TP_ADD_TC(tp, run_scenario_file);
    return atf_no_error();
}
