/* Placeholder for the target that runs elsewhere and has no table yet: the
 * guest target (the real Linux guest driver against our device through
 * vhost-user). It refuses with the reason, so every case on it is skipped
 * (never passed). Its real table replaces this one: delete the stub in the
 * same change that defines it. (The kernel target's table is in
 * conformance/target_kernel.c.) */
#include "conformance/conf_target.h"

#include <stdio.h>

static bool guest_available(char *why, size_t len)
{
    snprintf(why, len,
             "the guest target (the Linux guest driver against our device through "
             "vhost-user) is not implemented yet");
    return false;
}

/* Never reached: conf_open asks available first. */
static void *refuse_open(const struct conf_opts *o, char *why, size_t len)
{
    (void)o;
    snprintf(why, len, "target not available");
    return NULL;
}

const struct conf_target_ops conf_target_guest = {
    .name = "guest",
    .mask = CONF_GUEST_TARGET,
    .available = guest_available,
    .open = refuse_open,
};
