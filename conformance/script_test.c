/*
 * The packet-script parser on good and malformed input (every error names
 * file:line and never crashes), and a failing script's report: file:line,
 * the expected and the received packet.
 */
#include <atf-c.h>
#include <stdio.h>
#include <string.h>

#include "conformance/conf_run.h"
#include "conformance/script.h"

#define TC(name, descr)                                                                   \
    ATF_TC(name);                                                                         \
    ATF_TC_HEAD(name, tc) { atf_tc_set_md_var(tc, "descr", descr); }                      \
    ATF_TC_BODY(name, tc)

static struct script *parse(const char *text, char *err, size_t len)
{
    return script_parse(text, strlen(text), "t.pkt", err, len);
}

/* text must fail to parse with a message starting "t.pkt:LINE:" and
 * containing want. */
static void bad(const char *text, unsigned line, const char *want)
{
    char err[512] = "", prefix[32];
    struct script *s = parse(text, err, sizeof(err));
    ATF_CHECK_MSG(s == NULL, "parsed, but should not have: %s", text);
    script_free(s);
    snprintf(prefix, sizeof(prefix), "t.pkt:%u: ", line);
    ATF_CHECK_MSG(strncmp(err, prefix, strlen(prefix)) == 0, "for <<%s>>: '%s' does not start "
                  "with '%s'", text, err, prefix);
    ATF_CHECK_MSG(strstr(err, want) != NULL, "for <<%s>>: '%s' does not mention '%s'", text, err,
                  want);
}

TC(parse_good, "a script with every kind of line parses, with its header, caps and targets")
{
    const char *text =
        "# A short description.\n"
        "# covers: VS-S1 VS-11\n"
        "# targets: sim, kernel\n"
        "host listen 5000 type=STREAM backlog=4 buf=65536\n"
        "> REQUEST $guest:1024 -> $host:5000 buf_alloc=65536 # trailing comment\n"
        "< RESPONSE $host:5000 -> $guest:1024 type=STREAM fwd_cnt=* buf_alloc=$ba timeout=2s\n"
        "> RW $guest:1024 -> $host:5000 flags=EOM|EOR \"a\\x00\\\"\\\\b\" fwd_cnt=$ba\n"
        "> RW $guest:1024 -> $host:5000 len=100 \"short\"\n"
        "host send 5000 bytes=10 eor\n"
        "host recv 5000 \"abc\"\n"
        "host recv 5000 eof\n"
        "host recv 5000 ret=EAGAIN\n"
        "host send 5000 \"x\" ret=EPIPE\n"
        "host connect 6000 type=SEQPACKET from=7000\n"
        "host connected 6000\n"
        "host accept 5000\n"
        "host shutdown 5000 wr\n"
        "host bufsize 5000 4096\n"
        "host error 5000 ECONNRESET\n"
        "host close 5000\n"
        "< none 50ms\n"
        "< * * -> * \n"
        "wait 1s\n"
        "reset\n";
    char err[512] = "";
    struct script *s = parse(text, err, sizeof(err));
    ATF_REQUIRE_MSG(s != NULL, "%s", err);
    ATF_CHECK_STREQ(script_descr(s), "A short description.");
    ATF_CHECK_STREQ(script_covers(s), "VS-S1 VS-11");
    ATF_CHECK_EQ(script_targets(s), CONF_SIM | CONF_KERNEL);
    ATF_CHECK_EQ(script_caps(s), CONF_CAP_RAW | CONF_CAP_RAW_RING | CONF_CAP_RESET);
    ATF_CHECK_EQ(script_lines(s), 21u);
    script_free(s);
}

TC(parse_defaults, "no header means every target and no covers; host-only scripts need no raw")
{
    char err[512] = "";
    struct script *s = parse("host listen 1\nwait 1ms", err, sizeof(err));
    ATF_REQUIRE_MSG(s != NULL, "%s", err);
    ATF_CHECK_EQ(script_targets(s), CONF_ALL);
    ATF_CHECK_EQ(script_caps(s), 0u);
    ATF_CHECK_STREQ(script_covers(s), "");
    script_free(s);
}

TC(parse_bad_packets, "malformed packet lines name the line and the problem")
{
    bad("> REQUEST $guest:1 $host:2\n", 1, "OP SRC -> DST");
    bad("\n\n> FOO $guest:1 -> $host:2\n", 3, "not a valid value");
    bad("> REQUEST guest:1 -> $host:2\n", 1, "CID");
    bad("> REQUEST $guest -> $host:2\n", 1, "not an address");
    bad("> REQUEST $guest:1 -> $host:99999999999\n", 1, "larger than");
    bad("> REQUEST $guest:1 -> $host:2 color=red\n", 1, "unknown field");
    bad("> REQUEST $guest:1 -> $host:2 flags=EOM|BAD\n", 1, "unknown name 'BAD'");
    bad("> REQUEST $guest:1 -> $host:* \n", 1, "only fits a < line");
    bad("> REQUEST $guest:1 -> $host:$p\n", 1, "not bound");
    bad("> RW $guest:1 -> $host:2 \"abc\n", 1, "unterminated");
    bad("> RW $guest:1 -> $host:2 \"a\\q\"\n", 1, "unknown escape");
    bad("> RW $guest:1 -> $host:2 \"a\\x4\"\n", 1, "two hex digits");
    bad("> RW $guest:1 -> $host:2 \"a\" \"b\"\n", 1, "second payload");
    bad("> RW $guest:1 -> $host:2 type=DGRAM\n", 1, "not a valid value");
    bad("> RW $guest:1 -> $host:2 len=$x\n", 1, "not bound");
    bad("> RW $guest:1 -> $host:2 bytes=99999999\n", 1, "larger than");
    bad("< RW $guest:1 -> $host:2 timeout=5 \n", 1, "not a duration");
    bad("< RW $guest:1 -> $host:2 junk\n", 1, "not field=value");
    bad("< RW $guest:1 -> $host:2 $1bad=3\n", 1, "unknown field");
    bad("< RW $guest:$1x -> $host:2\n", 1, "bad variable name");
    bad("< none\n", 1, "< none DURATION");
    bad("< none 10 parsecs\n", 1, "< none DURATION");
    bad("< none 10h\n", 1, "not a duration");
}

TC(parse_bad_commands, "malformed host commands, waits and headers name the line")
{
    bad("host\n", 1, "host VERB PORT");
    bad("host dance 5000\n", 1, "unknown host command");
    bad("host listen port\n", 1, "not a number");
    bad("host listen 5000 type=DGRAM\n", 1, "not STREAM or SEQPACKET");
    bad("host listen 5000 color=red\n", 1, "unexpected");
    bad("host send 5000\n", 1, "needs a payload");
    bad("host recv 5000\n", 1, "needs a payload");
    bad("host recv 5000 eof \"x\"\n", 1, "eof takes nothing else");
    bad("host send 5000 \"x\" ret=EWHAT\n", 1, "not a number");
    bad("host shutdown 5000 sideways\n", 1, "not rd, wr or rdwr");
    bad("host shutdown 5000\n", 1, "one argument");
    bad("host error 5000 17\n", 1, "not an errno name");
    bad("wait\n", 1, "wait DURATION");
    bad("wait 5 ms\n", 1, "wait DURATION");
    bad("reset now\n", 1, "no arguments");
    bad("jump 5\n", 1, "unknown command 'jump'");
    bad("# targets: sim mars\nwait 1ms\n", 1, "unknown target 'mars'");
    bad("# targets:\nwait 1ms\n", 1, "names no target");
    bad("# targets: sim\n# targets: kernel\nwait 1ms\n", 2, "second");
    bad("# only comments\n\n", 2, "no commands");
    bad("", 1, "no commands");
}

TC(parse_limits, "overlong lines, too many words or variables, NUL bytes: errors, not crashes")
{
    char big[6000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    bad(big, 1, "longer than");
    char words[400] = "host listen 5000";
    for (int i = 0; i < 40; i++)
        strcat(words, " eor");
    bad(words, 1, "more than");
    char vars[4096] = "";
    for (int i = 0; i < 40; i++) {
        char line[80];
        snprintf(line, sizeof(line), "< RW $guest:$v%d -> $host:1\n", i);
        strcat(vars, line);
    }
    bad(vars, 33, "more than 32 variables");
    char err[256] = "";
    const char nul[] = "wait 1ms\0\n";
    struct script *s = script_parse(nul, sizeof(nul) - 1, "t.pkt", err, sizeof(err));
    ATF_CHECK(s == NULL);
    ATF_CHECK_MSG(strstr(err, "t.pkt:1: a NUL byte") != NULL, "%s", err);
    script_free(s);
    s = script_load("/nonexistent/x.pkt", err, sizeof(err));
    ATF_CHECK(s == NULL);
    ATF_CHECK_MSG(strstr(err, "/nonexistent/x.pkt: cannot open") != NULL, "%s", err);
}

static void run_script(struct conf *c, const void *arg)
{
    script_run(arg, c);
}

/* Runs text on sim with one seed under a profile (NULL: the default);
 * returns the verdict and the message. */
static enum conf_verdict run_text_linux(const char *text, const char *linux_ver, char *msg,
                                        size_t len)
{
    char err[512] = "";
    struct script *s = parse(text, err, sizeof(err));
    ATF_REQUIRE_MSG(s != NULL, "%s", err);
    struct conf_runcfg rc;
    ATF_REQUIRE(conf_runcfg_parse("1", linux_ver, &rc, err, sizeof(err)) == 0);
    struct conf_runnable r = {"t", script_targets(s), script_caps(s), NULL, run_script, s};
    enum conf_verdict v = conf_run(&r, "sim", &rc, msg, len);
    script_free(s);
    return v;
}

static enum conf_verdict run_text(const char *text, char *msg, size_t len)
{
    return run_text_linux(text, NULL, msg, len);
}

TC(run_reports_mismatch, "a failing script names file:line, what it expected and what came")
{
    char msg[2048];
    enum conf_verdict v = run_text("host listen 5000\n"
                                   "> REQUEST $guest:1024 -> $host:5000\n"
                                   "< RST $host:5000 -> $guest:1024\n",
                                   msg, sizeof(msg));
    ATF_CHECK_EQ(v, CONF_FAIL);
    ATF_CHECK_MSG(strstr(msg, "seed 1: t.pkt:3: expected: < RST $host:5000 -> $guest:1024") !=
                  NULL, "%s", msg);
    ATF_CHECK_MSG(strstr(msg, "got: RESPONSE 2:5000 -> 3:1024") != NULL, "%s", msg);
    ATF_CHECK_MSG(strstr(msg, "(op differs)") != NULL, "%s", msg);
}

TC(run_reports_silence, "an expected packet that never comes is reported with its line")
{
    char msg[2048];
    enum conf_verdict v = run_text("> RST $guest:1024 -> $host:5000\n"
                                   "< RST * -> *\n", msg, sizeof(msg));
    ATF_CHECK_EQ(v, CONF_FAIL);
    ATF_CHECK_MSG(strstr(msg, "t.pkt:2: expected: < RST * -> *") != NULL, "%s", msg);
    ATF_CHECK_MSG(strstr(msg, "got: no packet within 1000 ms") != NULL, "%s", msg);
}

TC(run_variables, "a variable binds in one < line and must match in the next")
{
    char msg[2048];
    enum conf_verdict v = run_text("host connect 5000 from=7000\n"
                                   "< REQUEST $host:$p -> $guest:5000\n"
                                   "> RST $guest:5000 -> $host:$p\n"
                                   "host error 5000 ECONNRESET\n",
                                   msg, sizeof(msg));
    ATF_CHECK_MSG(v == CONF_PASS, "%s", msg);
    v = run_text("host connect 5000 from=7000\n"
                 "< REQUEST $host:$p -> $guest:$p\n", msg, sizeof(msg));
    ATF_CHECK_EQ(v, CONF_FAIL);
    ATF_CHECK_MSG(strstr(msg, "(dst port differs)") != NULL, "%s", msg);
}

TC(parse_profile_conditions, "[6.1], [6.12] and [6.1,6.12] condition a line on the Linux "
                             "profile; malformed conditions name the line and the problem")
{
    char err[512] = "";
    struct script *s = parse("host listen 5000\n"
                             "[6.1] host send 5000 \"x\" ret=ENOMEM\n"
                             "[6.12]   host send 5000 \"x\" ret=EMSGSIZE\n"
                             "[6.1,6.12] < none 10ms\n"
                             "[6.12] < RST $host:5000 -> $guest:1024 fwd_cnt=$f\n"
                             "[6.12] > RW $guest:1024 -> $host:5000 fwd_cnt=$f\n"
                             "host bufmax 5000 18446744073709551615\n"
                             "host bufmin 5000 0\n",
                             err, sizeof(err));
    ATF_REQUIRE_MSG(s != NULL, "%s", err);
    ATF_CHECK_EQ(script_lines(s), 8u);
    script_free(s);
    bad("[6.2] wait 1ms\n", 1, "unknown Linux profile '6.2' in [6.2] (6.1, 6.12)");
    bad("[6.1 wait 1ms\n", 1, "'[6.1' is not a profile condition");
    bad("[] wait 1ms\n", 1, "[] names no profile");
    bad("[6.1,] wait 1ms\n", 1, "an empty or overlong profile name");
    bad("wait 1ms\n[6.12]\n", 2, "a profile condition needs a command after it");
    bad("[6.12] # a comment only\n", 1, "a profile condition needs a command after it");
    /* A variable bound under one profile cannot be used under another. */
    bad("[6.1] < RST $host:5000 -> $guest:1024 fwd_cnt=$f\n"
        "> RW $guest:1024 -> $host:5000 fwd_cnt=$f\n",
        2, "$f is not bound by an earlier < line for every profile");
    bad("[6.1] < RST $host:5000 -> $guest:1024 fwd_cnt=$f\n"
        "[6.12] > RW $guest:1024 -> $host:5000 fwd_cnt=$f\n",
        2, "for every profile");
    s = parse("[6.1] < RST $host:5000 -> $guest:1024 fwd_cnt=$f\n"
              "[6.12] < RST $host:5000 -> $guest:1024 fwd_cnt=$f\n"
              "> RW $guest:1024 -> $host:5000 fwd_cnt=$f\n",
              err, sizeof(err));
    ATF_CHECK_MSG(s != NULL, "bound under both, used under both: %s", err);
    script_free(s);
    bad("host bufmax 5000 18446744073709551616\n", 1, "bufmax");
    bad("host bufmin 5000\n", 1, "host bufmin takes PORT and one argument");
}

static void run_script(struct conf *c, const void *arg);

/* Runs text on sim under a profile; returns the verdict and the message. */
static enum conf_verdict run_text_linux(const char *text, const char *linux_ver, char *msg,
                                        size_t len);

TC(run_profile_conditions, "a conditioned line runs only under its profile")
{
    const char *text = "host listen 5000 type=SEQPACKET buf=2048\n"
                       "> REQUEST $guest:1024 -> $host:5000 type=SEQPACKET\n"
                       "< RESPONSE $host:5000 -> $guest:1024 type=SEQPACKET\n"
                       "host accept 5000\n"
                       "[6.1] host send 5000 bytes=2049 ret=ENOMEM\n"
                       "[6.12] host send 5000 bytes=2049 ret=EMSGSIZE\n";
    char msg[2048];
    ATF_CHECK_MSG(run_text_linux(text, "6.1", msg, sizeof(msg)) == CONF_PASS, "6.1: %s", msg);
    ATF_CHECK_MSG(run_text_linux(text, "6.12", msg, sizeof(msg)) == CONF_PASS, "6.12: %s", msg);
    const char *wrong = "host listen 5000 type=SEQPACKET buf=2048\n"
                        "> REQUEST $guest:1024 -> $host:5000 type=SEQPACKET\n"
                        "< RESPONSE $host:5000 -> $guest:1024 type=SEQPACKET\n"
                        "host accept 5000\n"
                        "[6.12] host send 5000 bytes=2049 ret=ENOMEM\n";
    ATF_CHECK_MSG(run_text_linux(wrong, "6.1", msg, sizeof(msg)) == CONF_PASS,
                  "a 6.12 line does not run on 6.1: %s", msg);
    ATF_CHECK_EQ(run_text_linux(wrong, "6.12", msg, sizeof(msg)), CONF_FAIL);
    ATF_CHECK_MSG(strstr(msg, "t.pkt:5: host send returned -EMSGSIZE, expected -ENOMEM"), "%s",
                  msg);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, parse_good);
    ATF_TP_ADD_TC(tp, parse_defaults);
    ATF_TP_ADD_TC(tp, parse_bad_packets);
    ATF_TP_ADD_TC(tp, parse_bad_commands);
    ATF_TP_ADD_TC(tp, parse_limits);
    ATF_TP_ADD_TC(tp, run_reports_mismatch);
    ATF_TP_ADD_TC(tp, run_reports_silence);
    ATF_TP_ADD_TC(tp, run_variables);
    ATF_TP_ADD_TC(tp, parse_profile_conditions);
    ATF_TP_ADD_TC(tp, run_profile_conditions);
    return atf_no_error();
}
