/*
 * The simulator's only source of randomness: xoshiro256** seeded through
 * splitmix64. Same seed, same sequence, on every compiler and optimisation
 * level: integer arithmetic only, no floating point.
 */
#ifndef VSOCKSIM_SIM_PRNG_H
#define VSOCKSIM_SIM_PRNG_H

#include <stdint.h>

struct prng {
    uint64_t s[4];
};

void prng_seed(struct prng *p, uint64_t seed);
uint64_t prng_next(struct prng *p);
/* Uniform in [0, n); n > 0. Unbiased (rejection). */
uint64_t prng_below(struct prng *p, uint64_t n);

#define PPM 1000000u /* rates are parts per million */

#endif
