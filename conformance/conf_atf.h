/*
 * ATF glue for conformance test programs: cases are added at run time (the
 * registry of C cases, the script files found on disk), each with a generic
 * head and body that find their case by the test case's name.
 *
 * ATF config variables (kyua -v NAME=VALUE):
 *   target  sim (default), kernel or guest
 *   seeds   sim seeds: N (1..N, default 3), A-B, or a,b,c
 */
#ifndef VSOCKSIM_CONF_ATF_H
#define VSOCKSIM_CONF_ATF_H

#include <atf-c.h>

#include "conformance/conf_run.h"

/* Adds a test case named ident (which must outlive the program) with the
 * given head and body. */
atf_error_t conf_atf_add(atf_tp_t *tp, const char *ident, void (*head)(atf_tc_t *),
                         void (*body)(const atf_tc_t *));
/* Metadata: descr, and the requirement IDs and targets as X- properties. */
void conf_atf_head(atf_tc_t *tc, const char *descr, const char *reqs, unsigned targets);
/* Runs r on the configured target and seeds; returns on pass, skips or
 * fails the ATF case otherwise. */
void conf_atf_run(const atf_tc_t *tc, const struct conf_runnable *r);
/* A config variable of the test program (NULL when unset). */
const char *conf_atf_config(const atf_tp_t *tp, const char *name, char *buf, size_t len);

#endif
