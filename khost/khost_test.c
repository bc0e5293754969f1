/*
 * khost/ tests, on the build machine: only the pure pieces. The guard must
 * refuse here (no marker, no command-line token), and every entry point that
 * could open vsock must return -EPERM before opening anything. Nothing in
 * this program opens a vsock socket or /dev/vhost-vsock: the refusal tests
 * run only after khost_guest_check itself said no.
 */
#include <atf-c.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conformance/conf.h"
#include "khost/khost.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ATF_REQUIRE(f != NULL);
    ATF_REQUIRE(fputs(text, f) >= 0);
    ATF_REQUIRE(fclose(f) == 0);
}

/* The test's own working directory (Kyua gives each case a fresh one). */
#define MARKER "marker"
#define CMDLINE "cmdline"

ATF_TC_WITHOUT_HEAD(marker_missing);
ATF_TC_BODY(marker_missing, tc)
{
    write_file(CMDLINE, "console=ttyS0 " KHOST_CMDLINE_TOKEN "\n");
    ATF_CHECK_EQ(khost_marker_check("no-such-marker", CMDLINE), -EPERM);
    ATF_CHECK_EQ(khost_marker_check(NULL, CMDLINE), -EPERM);
}

ATF_TC_WITHOUT_HEAD(marker_wrong_text);
ATF_TC_BODY(marker_wrong_text, tc)
{
    write_file(CMDLINE, KHOST_CMDLINE_TOKEN "\n");
    write_file(MARKER, "something else\n");
    ATF_CHECK_EQ(khost_marker_check(MARKER, CMDLINE), -EPERM);
    write_file(MARKER, KHOST_MARKER_TEXT "x\n");
    ATF_CHECK_EQ(khost_marker_check(MARKER, CMDLINE), -EPERM);
    write_file(MARKER, KHOST_MARKER_TEXT "\n\n");
    ATF_CHECK_EQ(khost_marker_check(MARKER, CMDLINE), -EPERM);
    write_file(MARKER, "");
    ATF_CHECK_EQ(khost_marker_check(MARKER, CMDLINE), -EPERM);
}

ATF_TC_WITHOUT_HEAD(cmdline_token_needed);
ATF_TC_BODY(cmdline_token_needed, tc)
{
    write_file(MARKER, KHOST_MARKER_TEXT "\n");
    write_file(CMDLINE, "console=ttyS0 quiet\n");
    ATF_CHECK_EQ(khost_marker_check(MARKER, CMDLINE), -EPERM);
    write_file(CMDLINE, "x" KHOST_CMDLINE_TOKEN "\n");
    ATF_CHECK_EQ(khost_marker_check(MARKER, CMDLINE), -EPERM);
    write_file(CMDLINE, KHOST_CMDLINE_TOKEN "0\n");
    ATF_CHECK_EQ(khost_marker_check(MARKER, CMDLINE), -EPERM);
    ATF_CHECK_EQ(khost_marker_check(MARKER, "no-such-cmdline"), -EPERM);
}

ATF_TC_WITHOUT_HEAD(both_present_accepts);
ATF_TC_BODY(both_present_accepts, tc)
{
    write_file(MARKER, KHOST_MARKER_TEXT "\n");
    write_file(CMDLINE, "console=ttyS0 " KHOST_CMDLINE_TOKEN " panic=-1\n");
    ATF_CHECK_EQ(khost_marker_check(MARKER, CMDLINE), 0);
    write_file(MARKER, KHOST_MARKER_TEXT);
    write_file(CMDLINE, KHOST_CMDLINE_TOKEN);
    ATF_CHECK_EQ(khost_marker_check(MARKER, CMDLINE), 0);
}

ATF_TC_WITHOUT_HEAD(refuses_on_build_machine);
ATF_TC_BODY(refuses_on_build_machine, tc)
{
    if (khost_guest_check() == 0)
        atf_tc_skip("running inside the vsocksim test guest");
    char why[512];
    int err = 0;
    ATF_CHECK(khost_open(NULL, &err, why, sizeof(why)) == NULL);
    ATF_CHECK_EQ(err, -EPERM);
    ATF_CHECK_MSG(strstr(why, "refusing") != NULL, "why: %s", why);
    ATF_CHECK_EQ(khost_vsock_socket(VSOCK_TYPE_STREAM), -EPERM);
    ATF_CHECK_EQ(khost_vsock_socket(VSOCK_TYPE_SEQPACKET), -EPERM);
}

ATF_TC_WITHOUT_HEAD(kernel_target_unavailable);
ATF_TC_BODY(kernel_target_unavailable, tc)
{
    if (khost_guest_check() == 0)
        atf_tc_skip("running inside the vsocksim test guest");
    bool known = false;
    char why[512] = "";
    ATF_CHECK(!conf_target_available("kernel", &known, why, sizeof(why)));
    ATF_CHECK(known);
    ATF_CHECK_MSG(strstr(why, "refusing") != NULL, "why: %s", why);
    ATF_CHECK(conf_open("kernel", NULL, why, sizeof(why)) == NULL);
}

ATF_TC_WITHOUT_HEAD(monotonic_clock);
ATF_TC_BODY(monotonic_clock, tc)
{
    uint64_t a = khost_now(), b = khost_now();
    ATF_CHECK(a > 0);
    ATF_CHECK(b >= a);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, marker_missing);
    ATF_TP_ADD_TC(tp, marker_wrong_text);
    ATF_TP_ADD_TC(tp, cmdline_token_needed);
    ATF_TP_ADD_TC(tp, both_present_accepts);
    ATF_TP_ADD_TC(tp, refuses_on_build_machine);
    ATF_TP_ADD_TC(tp, kernel_target_unavailable);
    ATF_TP_ADD_TC(tp, monotonic_clock);
    return atf_no_error();
}
