/* What the reader and the writer of traces/ must agree on: the character
 * classes of each field, so that whatever one writes the other reads. */
#ifndef VSOCKSIM_TRACES_TRACE_INTERNAL_H
#define VSOCKSIM_TRACES_TRACE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "traces/trace.h"

/* 1..max characters of [a-z-]: decision kinds, fault names. */
bool trace_is_name(const char *s, size_t max);
/* 1..max characters of [a-z0-9-]: option keys. */
bool trace_is_key(const char *s, size_t max);
/* 1..max printable ASCII characters other than space: values, details. */
bool trace_is_token(const char *s, size_t max);
/* The name of op or type, or NULL when transport/ has none (the format
 * then uses the number). */
const char *trace_op_known(uint16_t op);
const char *trace_type_known(uint16_t type);
/* The format's spelling of a status; false for an unknown word. */
bool trace_status_parse(const char *s, enum trace_status *out);

#endif
