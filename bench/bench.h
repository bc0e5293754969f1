/* Helpers shared by the benchmark programs (bench/ *_prog.c): a monotonic
 * clock, best-of-N timing, CPU pinning and the result rows. Benchmarks only:
 * nothing here is part of the library. */
#ifndef VSOCKSIM_BENCH_H
#define VSOCKSIM_BENCH_H

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Wall-clock time. */
static inline uint64_t bench_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The calling thread's CPU time: for one CPU-bound thread it is the wall
 * time it takes on an idle core, and it stays so when other processes share
 * the machine (they take turns on the core, not this thread's CPU time).
 * Single-threaded figures use it; the two-thread ring comparison uses wall
 * time, as ringtest is timed. */
static inline uint64_t bench_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Pins the calling thread to one CPU; -1 leaves it where it is. 0 or an errno. */
static inline int bench_pin(int cpu)
{
    if (cpu < 0)
        return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : errno;
}

/* Parses a positive decimal that fits in max; 0 on success. */
static inline int bench_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

/*
 * One result row, tab-separated, on stdout:
 *   section  name  value  unit  reference  ref_unit  ratio  note
 * reference and ratio are "-" when the figure stands alone (it then names a
 * target in the note). ratio = value / reference.
 */
static inline void bench_row(const char *section, const char *name, double value,
                             const char *unit, double ref, const char *ref_unit,
                             const char *note)
{
    printf("%s\t%s\t%.6g\t%s\t", section, name, value, unit);
    if (ref > 0)
        printf("%.6g\t%s\t%.4f\t", ref, ref_unit, value / ref);
    else
        printf("-\t-\t-\t");
    printf("%s\n", note != NULL ? note : "");
    fflush(stdout);
}

#endif
