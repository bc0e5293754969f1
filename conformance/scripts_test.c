/*
 * Every packet script (conformance/scripts/NAME.pkt) as one ATF test case
 * NAME, found at run time, so a new script needs no registration. Config
 * variables: target, seeds (conf_atf.h), and scriptdir (default: the
 * source tree's conformance/scripts), for running where the tree is not.
 * A script whose name is not a valid case name, or a directory that cannot
 * be read, shows up as a failing case rather than vanishing.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conf_atf.h"
#include "conformance/script.h"

#define DEFAULT_DIR VSOCKSIM_SRCDIR "/conformance/scripts"
#define MAX_SCRIPTS 1024

static const char *script_dir(const atf_tc_t *tc)
{
    return atf_tc_get_config_var_wd(tc, "scriptdir", DEFAULT_DIR);
}

static bool valid_ident(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

static void script_path(const atf_tc_t *tc, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.pkt", script_dir(tc), atf_tc_get_ident(tc));
}

static void script_head(atf_tc_t *tc)
{
    char path[1024], err[512];
    script_path(tc, path, sizeof(path));
    struct script *s = script_load(path, err, sizeof(err));
    if (s == NULL) {
        conf_atf_head(tc, "(the script does not parse)", "", CONF_ALL);
        return;
    }
    conf_atf_head(tc, script_descr(s), script_covers(s), script_targets(s));
    script_free(s);
}

static void run_script(struct conf *c, const void *arg)
{
    script_run(arg, c);
}

static void script_body(const atf_tc_t *tc)
{
    char path[1024], err[512];
    script_path(tc, path, sizeof(path));
    struct script *s = script_load(path, err, sizeof(err));
    if (s == NULL)
        atf_tc_fail("%s", err);
    struct conf_opts o;
    script_opts(s, &o);
    struct conf_runnable r = {atf_tc_get_ident(tc), script_targets(s), script_caps(s), &o,
                              run_script, s};
    conf_atf_run(tc, &r);
    script_free(s);
}

static void problem_body(const atf_tc_t *tc)
{
    atf_tc_fail("%s: no usable scripts there, or a script name that is not [A-Za-z0-9_-]+.pkt "
                "(scriptdir=%s)", atf_tc_get_ident(tc), script_dir(tc));
}

static void problem_head(atf_tc_t *tc)
{
    atf_tc_set_md_var(tc, "descr", "reports a script directory or file name problem");
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of dir's *.pkt files without the suffix, sorted; NULL when the
 * directory cannot be read. *bad gets whether a name is not a case name. */
static char **list_scripts(const char *dir, size_t *n, bool *bad)
{
    DIR *d = opendir(dir);
    *n = 0;
    *bad = false;
    if (d == NULL)
        return NULL;
    char **names = calloc(MAX_SCRIPTS, sizeof(*names));
    struct dirent *e;
    while (names != NULL && (e = readdir(d)) != NULL && *n < MAX_SCRIPTS) {
        size_t len = strlen(e->d_name);
        if (len <= 4 || strcmp(e->d_name + len - 4, ".pkt") != 0)
            continue;
        if (!valid_ident(e->d_name, len - 4)) {
            *bad = true;
            continue;
        }
        names[*n] = strndup(e->d_name, len - 4);
        if (names[*n] != NULL)
            (*n)++;
    }
    closedir(d);
    if (names != NULL)
        qsort(names, *n, sizeof(*names), by_name);
    return names;
}

ATF_TP_ADD_TCS(tp)
{
    char buf[1024];
    const char *dir = conf_atf_config(tp, "scriptdir", buf, sizeof(buf));
    size_t n;
    bool bad;
    /* The names live as long as ATF keeps the cases, to the program's end. */
    char **names = list_scripts(dir != NULL ? dir : DEFAULT_DIR, &n, &bad);
    for (size_t i = 0; i < n; i++) {
        atf_error_t err = conf_atf_add(tp, names[i], script_head, script_body);
        if (atf_is_error(err))
            return err;
    }
    free(names); /* the array only: ATF holds on to each name */
    if (n == 0 || bad) {
        atf_error_t err = conf_atf_add(tp, "script_directory", problem_head, problem_body);
        if (atf_is_error(err))
            return err;
    }
    return atf_no_error();
}
