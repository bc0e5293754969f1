/* ATF glue: dynamic registration, metadata, and the verdict of a run as an
 * ATF result. */
#include "conformance/conf_atf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

atf_error_t conf_atf_add(atf_tp_t *tp, const char *ident, void (*head)(atf_tc_t *),
                         void (*body)(const atf_tc_t *))
{
    /* ATF keeps the case (and its name) until the program exits, as it
     * does the static ones ATF_TC defines. */
    atf_tc_t *tc = calloc(1, sizeof(*tc));
    if (tc == NULL)
        return atf_no_memory_error();
    struct atf_tc_pack pack = {
        .m_ident = ident, .m_config = NULL, .m_head = head, .m_body = body, .m_cleanup = NULL};
    char **config = atf_tp_get_config(tp);
    if (config == NULL)
        return atf_no_memory_error();
    atf_error_t err = atf_tc_init_pack(tc, &pack, (const char *const *)config);
    atf_utils_free_charpp(config);
    if (atf_is_error(err))
        return err;
    return atf_tp_add_tc(tp, tc);
}

void conf_atf_head(atf_tc_t *tc, const char *descr, const char *reqs, unsigned targets)
{
    char names[64];
    atf_tc_set_md_var(tc, "descr", "%s", descr != NULL && *descr ? descr : "(no description)");
    if (reqs != NULL && *reqs != '\0')
        atf_tc_set_md_var(tc, "X-requirements", "%s", reqs);
    conf_mask_names(targets, names, sizeof(names));
    atf_tc_set_md_var(tc, "X-targets", "%s", names);
}

void conf_atf_run(const atf_tc_t *tc, const struct conf_runnable *r)
{
    const char *target = atf_tc_get_config_var_wd(tc, "target", "sim");
    const char *spec = atf_tc_get_config_var_wd(tc, "seeds", "");
    const char *linux_ver = atf_tc_get_config_var_wd(tc, "linux", "");
    struct conf_runcfg rc;
    char msg[2048];
    if (conf_runcfg_parse(spec, linux_ver, &rc, msg, sizeof(msg)) < 0)
        atf_tc_fail("%s", msg);
    enum conf_verdict v = conf_run(r, target, &rc, msg, sizeof(msg));
    if (v == CONF_SKIP)
        atf_tc_skip("%s", msg);
    if (v == CONF_FAIL)
        atf_tc_fail("%s", msg);
}

const char *conf_atf_config(const atf_tp_t *tp, const char *name, char *buf, size_t len)
{
    char **config = atf_tp_get_config(tp);
    const char *found = NULL;
    size_t n = strlen(name);
    for (char **p = config; p != NULL && *p != NULL && p[1] != NULL; p += 2)
        if (strncmp(p[0], name, n) == 0 && p[0][n] == '\0') {
            snprintf(buf, len, "%s", p[1]);
            found = buf;
        }
    atf_utils_free_charpp(config);
    return found;
}
