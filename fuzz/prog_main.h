/*
 * The main of every harness program (fuzz/NAME_prog.c defines
 * FUZZ_PROG_HARNESS, the harness's name, and includes this file).
 *
 * Built with afl-clang-fast it runs in AFL++'s persistent mode (shared-memory
 * test cases, __AFL_LOOP) when given no arguments, and aborts on a finding so
 * that AFL records a crash. Built with any other compiler, or given
 * arguments, it runs each input file once and prints what happened:
 *
 *   NAME_prog [--keep-going] FILE...
 *
 * Exit status: 0 no finding, 1 a finding (abort() instead unless
 * --keep-going), 3 a file could not be read.
 */
#ifndef VSOCKSIM_FUZZ_PROG_MAIN_H
#define VSOCKSIM_FUZZ_PROG_MAIN_H

#include "fuzz/fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* read(), which __AFL_FUZZ_TESTCASE_LEN may use */
#ifdef __GLIBC__
#include <malloc.h>
#endif

#ifndef FUZZ_PROG_HARNESS
#error "define FUZZ_PROG_HARNESS before including fuzz/prog_main.h"
#endif

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

/* A harness program may add options (sim_prog: --trace); 1 if it took
 * argv[*i], 0 if not, -1 after a usage error. */
static int prog_option(int argc, char **argv, int *i);
/* Called after each file's run (sim_prog records its trace here). */
static void prog_after(const uint8_t *data, size_t len, const struct fuzz_report *rep);

static const struct fuzz_harness *prog_harness(void)
{
    const struct fuzz_harness *h = fuzz_harness_find(FUZZ_PROG_HARNESS);
    if (h == NULL) {
        fprintf(stderr, "%s: no harness named %s\n", FUZZ_PROG_HARNESS "_prog", FUZZ_PROG_HARNESS);
        exit(3);
    }
    return h;
}

/* Each run allocates and frees the same few hundred KiB (guest memory, a
 * world, buffers). glibc would give them back to the kernel after every run
 * (trim) and fault them in again, which costs more than the run itself:
 * keep them. */
static void prog_keep_memory(void)
{
#ifdef __GLIBC__
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
#endif
}

#ifdef __AFL_FUZZ_TESTCASE_LEN
static int prog_afl_loop(const struct fuzz_harness *h)
{
    prog_keep_memory();
    if (h->prepare != NULL)
        h->prepare();
    __AFL_INIT();
    const unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(100000)) {
        size_t len = (size_t)__AFL_FUZZ_TESTCASE_LEN;
        struct fuzz_report rep;
        h->one(buf, len, &rep);
        if (rep.outcome == FUZZ_FINDING) {
            fprintf(stderr, "%s: finding: %s\n", h->name, rep.why);
            abort();
        }
    }
    return 0;
}
#endif

/* The whole file, at most max + 1 bytes (so that a longer one is seen). */
static uint8_t *prog_read(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = malloc(max + 1);
    size_t n = buf != NULL ? fread(buf, 1, max + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (buf == NULL || bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int prog_run_file(const struct fuzz_harness *h, const char *path, bool keep_going)
{
    size_t len = 0;
    uint8_t *data = prog_read(path, h->max_len, &len);
    if (data == NULL) {
        fprintf(stderr, "%s_prog: %s: %s\n", h->name, path, strerror(errno ? errno : EIO));
        return 3;
    }
    struct fuzz_report rep;
    h->one(data, len, &rep);
    prog_after(data, len, &rep);
    free(data);
    if (rep.outcome == FUZZ_FINDING) {
        fprintf(stderr, "%s_prog: %s: FINDING: %s\n", h->name, path, rep.why);
        if (!keep_going)
            abort();
        return 1;
    }
    printf("%s_prog: %s: %s (%zu bytes)\n", h->name, path,
           rep.outcome == FUZZ_OK ? "ok" : "not used (too long or refused)", len);
    return 0;
}

int main(int argc, char **argv)
{
    const struct fuzz_harness *h = prog_harness();
#ifdef __AFL_FUZZ_TESTCASE_LEN
    if (argc < 2)
        return prog_afl_loop(h);
#endif
    prog_keep_memory();
    bool keep_going = false;
    int status = 0, files = 0;
    for (int i = 1; i < argc; i++) {
        int r = prog_option(argc, argv, &i);
        if (r < 0)
            return 2;
        if (r == 1)
            continue;
        if (strcmp(argv[i], "--keep-going") == 0) {
            keep_going = true;
            continue;
        }
        int s = prog_run_file(h, argv[i], keep_going);
        files++;
        if (s > status)
            status = s;
    }
    if (files == 0) {
        fprintf(stderr, "usage: %s_prog [--keep-going] FILE...\n", h->name);
        return 2;
    }
    return status;
}

#endif
