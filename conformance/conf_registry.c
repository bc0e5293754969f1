/*
 * The registry of C conformance cases. CONF_CASE (conf_case.h) puts a
 * pointer to each case into the linker section CONF_CASE_SECTION; GNU ld
 * and lld bracket a section whose name is an identifier with __start_ and
 * __stop_ symbols. The registry is therefore exactly the case objects a
 * program links, and no list is kept by hand. The symbols are weak: a
 * program that links no case sees none instead of failing to link.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conf_case.h"

#define CONF_REG_PASTE_(a, b) a##b
#define CONF_REG_PASTE(a, b) CONF_REG_PASTE_(a, b)
#define CONF_REG_START CONF_REG_PASTE(__start_, CONF_CASE_SECTION)
#define CONF_REG_STOP CONF_REG_PASTE(__stop_, CONF_CASE_SECTION)

extern const struct conf_case *const CONF_REG_START[] __attribute__((weak));
extern const struct conf_case *const CONF_REG_STOP[] __attribute__((weak));

/* The section's entries: *first and their number (0 when there is none).
 * Measured as addresses: the two symbols are not one C object. */
static size_t section_entries(const struct conf_case *const **first)
{
    uintptr_t a = (uintptr_t)CONF_REG_START, b = (uintptr_t)CONF_REG_STOP;
    *first = CONF_REG_START;
    if (a == 0 || b <= a)
        return 0;
    return (size_t)(b - a) / sizeof(CONF_REG_START[0]);
}

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

/* File, then line, then name: the order the cases are written in, the same
 * whatever order the linker placed the objects in. */
static int cmp_case(const void *pa, const void *pb)
{
    const struct conf_case *a = *(const struct conf_case *const *)pa;
    const struct conf_case *b = *(const struct conf_case *const *)pb;
    int c = cmp_str(a->file, b->file);
    if (c != 0)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return cmp_str(a->name, b->name);
}

size_t conf_cases(const struct conf_case **v, size_t cap)
{
    const struct conf_case *const *all;
    size_t n = section_entries(&all), k = 0;
    for (size_t i = 0; i < n; i++)
        k += all[i] != NULL;
    if (v == NULL || k > cap)
        return k;
    k = 0;
    for (size_t i = 0; i < n; i++)
        if (all[i] != NULL)
            v[k++] = all[i];
    if (k > 1)
        qsort(v, k, sizeof(v[0]), cmp_case);
    return k;
}

const struct conf_case *conf_case_find(const char *name)
{
    const struct conf_case *const *all;
    size_t n = section_entries(&all);
    for (size_t i = 0; name != NULL && i < n; i++)
        if (all[i] != NULL && all[i]->name != NULL && strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}
