/* The device harness (fuzz/fuzz.h) as a program: AFL++ persistent mode, or
 * one run per input file (fuzz/prog_main.h). */
#define FUZZ_PROG_HARNESS "device"
#include "fuzz/prog_main.h"

static int prog_option(int argc, char **argv, int *i)
{
    (void)argc;
    (void)argv;
    (void)i;
    return 0;
}

static void prog_after(const uint8_t *data, size_t len, const struct fuzz_report *rep)
{
    (void)data;
    (void)len;
    (void)rep;
}
