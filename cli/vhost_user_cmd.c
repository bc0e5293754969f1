/* vsocksim vhost-user: our device as a vhost-user-vsock backend for QEMU. */
#include "cli/cli.h"
#include "vhostuser/vhostuser.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct vu_cmd_opts {
    const char *socket;
    const char *uds_path;
    const char *control;      /* the guest target's control channel, or NULL */
    uint64_t cid;
    bool cid_given;
    bool verbose;
    bool no_seqpacket;
    bool no_reply_ack;
    enum vsock_linux linux_ver;
    uint64_t deviate;
    uint64_t max_connections; /* 0: serve forever */
};

static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    fprintf(stderr, "[%5lld.%03ld] vhost-user: %s\n", (long long)ts.tv_sec, ts.tv_nsec / 1000000,
            line);
}

static int needs_value(const char *opt, int argc, int i)
{
    if (i + 1 < argc)
        return 0;
    return usage_error("vhost-user", "%s needs a value", opt);
}

/* 1 took it, 0 not ours, -1 usage error printed. */
static int parse_one(int argc, char **argv, int *i, struct vu_cmd_opts *o)
{
    const char *a = argv[*i];
    if (strcmp(a, "--verbose") == 0)
        return o->verbose = true, 1;
    if (strcmp(a, "--no-seqpacket") == 0)
        return o->no_seqpacket = true, 1;
    if (strcmp(a, "--no-reply-ack") == 0)
        return o->no_reply_ack = true, 1;
    if (strcmp(a, "--socket") && strcmp(a, "--cid") && strcmp(a, "--uds-path") &&
        strcmp(a, "--max-connections") && strcmp(a, "--control") && strcmp(a, "--linux") &&
        strcmp(a, "--deviate"))
        return 0;
    if (needs_value(a, argc, *i) != 0)
        return -1;
    const char *v = argv[++*i];
    if (strcmp(a, "--socket") == 0)
        o->socket = v;
    else if (strcmp(a, "--uds-path") == 0)
        o->uds_path = v;
    else if (strcmp(a, "--control") == 0)
        o->control = v;
    else if (strcmp(a, "--linux") == 0) {
        if (vsock_linux_parse(v, &o->linux_ver) != 0)
            return usage_error("vhost-user", "--linux: '%s' is not a profile (6.1 or 6.12)", v), -1;
    }
    else if (strcmp(a, "--deviate") == 0) {
        char err[256];
        if (vsock_deviations_parse(v, &o->deviate, err, sizeof(err)) != 0)
            return usage_error("vhost-user", "--deviate: %s", err), -1;
    }
    else if (strcmp(a, "--cid") == 0) {
        if (parse_u64(v, &o->cid) != 0)
            return usage_error("vhost-user", "--cid wants a number, not '%s'", v), -1;
        o->cid_given = true;
    } else if (parse_u64(v, &o->max_connections) != 0)
        return usage_error("vhost-user", "--max-connections wants a number, not '%s'", v), -1;
    return 1;
}

static int parse_opts(int argc, char **argv, struct vu_cmd_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        int r = parse_one(argc, argv, &i, o);
        if (r < 0)
            return -1;
        if (r == 0)
            return usage_error("vhost-user", "unknown option '%s'", argv[i]), -1;
    }
    if (o->socket == NULL || !o->cid_given)
        return usage_error("vhost-user", "--socket PATH and --cid N are required"), -1;
    if (o->cid <= 2 || o->cid >= 0xffffffffu)
        return usage_error("vhost-user", "--cid %" PRIu64 " is reserved (use 3..4294967294)",
                           o->cid), -1;
    return 0;
}

static void print_stats(const struct vu_stats *s)
{
    fprintf(stderr,
            "vhost-user: %" PRIu64 " connections, %" PRIu64 " messages (%" PRIu64 " malformed, %" PRIu64
            " refused, %" PRIu64 " unknown), %" PRIu64 " device starts, %" PRIu64 " kicks, %" PRIu64
            " calls, %" PRIu64 " bridged, %" PRIu64 " bytes to guest, %" PRIu64 " to host, %" PRIu64
            " control requests (%" PRIu64 " malformed)\n",
            s->connections, s->msgs, s->bad_msgs, s->failed_msgs, s->unknown_msgs,
            s->device_starts, s->kicks, s->calls, s->bridged, s->bytes_to_guest,
            s->bytes_to_host, s->ctl_msgs, s->ctl_bad);
}

static int serve(struct vu_backend *b, const struct vu_cmd_opts *o)
{
    for (;;) {
        int r = vu_step(b, 1000);
        if (r < 0) {
            fprintf(stderr, "vsocksim vhost-user: poll: %s\n", strerror(-r));
            return EXIT_IO;
        }
        const struct vu_stats *s = vu_stats(b);
        if (o->max_connections != 0 && s->disconnects >= o->max_connections && !vu_attached(b))
            return EXIT_RUN_OK;
    }
}

int cmd_vhost_user(int argc, char **argv)
{
    struct vu_cmd_opts o;
    if (parse_opts(argc, argv, &o) != 0)
        return EXIT_USAGE;
    struct vu_cfg cfg = {
        .guest_cid = o.cid,
        .uds_path = o.uds_path,
        .linux_ver = o.linux_ver,
        .deviate = o.deviate,
        .no_seqpacket = o.no_seqpacket,
        .no_reply_ack = o.no_reply_ack,
        .log = log_line,
        .verbose = o.verbose,
    };
    int err;
    struct vu_backend *b = vu_new(&cfg, &err);
    if (b == NULL) {
        fprintf(stderr, "vsocksim vhost-user: %s: %s\n", o.uds_path ? o.uds_path : "backend",
                strerror(-err));
        return EXIT_IO;
    }
    int lfd = vu_listen_unix(o.socket);
    if (lfd < 0) {
        fprintf(stderr, "vsocksim vhost-user: %s: %s\n", o.socket, strerror(-lfd));
        vu_free(b);
        return EXIT_IO;
    }
    vu_set_listener(b, lfd);
    int cfd = -1;
    if (o.control != NULL && ((cfd = vu_listen_unix(o.control)) < 0 ||
                              vu_set_control(b, cfd) != 0)) {
        fprintf(stderr, "vsocksim vhost-user: %s: %s\n", o.control,
                strerror(cfd < 0 ? -cfd : ENOMEM));
        if (cfd >= 0)
            close(cfd);
        vu_free(b);
        close(lfd);
        return EXIT_IO;
    }
    fprintf(stderr, "vsocksim vhost-user: listening on %s, guest cid %" PRIu64 "%s%s\n", o.socket,
            o.cid, o.uds_path ? ", host sockets at " : "", o.uds_path ? o.uds_path : "");
    int status = serve(b, &o);
    print_stats(vu_stats(b));
    vu_free(b);
    close(lfd);
    unlink(o.socket);
    if (cfd >= 0) {
        close(cfd);
        unlink(o.control);
    }
    return status;
}
