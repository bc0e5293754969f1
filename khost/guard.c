/* The guard every khost entry point passes first: are we inside the
 * throwaway QEMU guest? Two independent proofs, both needed: the marker file
 * only the guest's initramfs has, and the kernel command-line token only
 * ci/qemu-run.sh passes. */
#include "khost/khost.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Reads at most cap-1 bytes of path into buf, NUL-terminated; -1 on error. */
static ssize_t slurp(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

static bool marker_ok(const char *path)
{
    char buf[256];
    ssize_t n = slurp(path, buf, sizeof(buf));
    if (n < 0)
        return false;
    size_t want = strlen(KHOST_MARKER_TEXT);
    if ((size_t)n == want + 1 && buf[want] == '\n')
        buf[want] = '\0';
    else if ((size_t)n != want)
        return false;
    return strcmp(buf, KHOST_MARKER_TEXT) == 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\0';
}

static bool cmdline_ok(const char *path)
{
    char buf[4096];
    if (slurp(path, buf, sizeof(buf)) < 0)
        return false;
    size_t tl = strlen(KHOST_CMDLINE_TOKEN);
    for (const char *p = buf; (p = strstr(p, KHOST_CMDLINE_TOKEN)) != NULL; p += tl) {
        bool starts = p == buf || is_space(p[-1]);
        if (starts && is_space(p[tl]))
            return true;
    }
    return false;
}

int khost_marker_check(const char *marker_path, const char *cmdline_path)
{
    if (marker_path == NULL || cmdline_path == NULL)
        return -EPERM;
    return marker_ok(marker_path) && cmdline_ok(cmdline_path) ? 0 : -EPERM;
}

int khost_guest_check(void)
{
    return khost_marker_check(KHOST_MARKER_PATH, KHOST_CMDLINE_PATH);
}

const char *khost_refusal(void)
{
    return "refusing to run: not inside the vsocksim QEMU test guest (no " KHOST_MARKER_PATH
           " marker or no " KHOST_CMDLINE_TOKEN " on the kernel command line); "
           "the vsock targets run only through make check-kernel (kernel) and make check-guest (guest)";
}

uint64_t khost_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
