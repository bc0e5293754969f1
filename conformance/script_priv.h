/* Private to the packet scripts: the parsed form (script.c builds it,
 * script_run.c executes it). */
#ifndef VSOCKSIM_SCRIPT_PRIV_H
#define VSOCKSIM_SCRIPT_PRIV_H

#include "conformance/script.h"

#define SCRIPT_MAX_VARS 32u
#define SCRIPT_VAR_LEN 24u
#define SCRIPT_MAX_CONNS 16u
#define SCRIPT_DEFAULT_BUF_ALLOC 262144u
#define SCRIPT_DEFAULT_TX_MAX (64u * 1024u) /* our driver's largest packet by default */
#define SCRIPT_EXPECT_TIMEOUT_NS 1000000000ull
#define SCRIPT_HOST_TIMEOUT_NS 3000000000ull /* > the 2 s connect timeout */

/* A value in a packet line. */
enum sval_kind { SV_ANY, SV_NUM, SV_VAR, SV_GUEST, SV_HOST };
struct sval {
    enum sval_kind kind;
    uint64_t num;  /* SV_NUM */
    unsigned var;  /* SV_VAR: index into script.vars */
};

/* Bytes kept in the script's pool. */
struct sbytes {
    bool set;
    uint32_t off;
    uint32_t len;
};

struct spkt {
    struct sval op, src_cid, src_port, dst_cid, dst_port, type, len, flags, buf_alloc, fwd_cnt;
    struct sbytes payload;
};

enum cmd_kind { CMD_SEND, CMD_EXPECT, CMD_NONE, CMD_WAIT, CMD_RESET, CMD_HOST, CMD_QERR };

/* Every profile: a line without a condition. */
#define SCRIPT_ALL_LINUX ((1u << VSOCK_LINUX_COUNT) - 1u)

enum host_verb {
    HV_LISTEN,
    HV_CONNECT,
    HV_CONNECTED,
    HV_ACCEPT,
    HV_SEND,
    HV_RECV,
    HV_SHUTDOWN,
    HV_CLOSE,
    HV_ERROR,
    HV_BUFSIZE,
    HV_BUFMAX,
    HV_BUFMIN,
};

struct scmd {
    enum cmd_kind kind;
    unsigned line;
    unsigned linux_mask;   /* the profiles it runs under (bit per enum vsock_linux) */
    struct sbytes text;    /* the line as written, for messages */
    struct spkt pkt;       /* CMD_SEND, CMD_EXPECT */
    uint64_t ns;           /* CMD_NONE, CMD_WAIT; CMD_EXPECT's timeout */
    /* CMD_HOST */
    enum host_verb verb;
    uint32_t port;
    int type;              /* listen, connect */
    int backlog;           /* listen */
    uint32_t num;          /* listen buf=, connect from=, bufsize N */
    uint64_t bound;        /* bufmax, bufmin N */
    bool has_num;
    bool eor;              /* send, recv */
    bool eof;              /* recv */
    bool has_ret;          /* send, recv: one call with this result */
    int64_t ret;
    int how;               /* shutdown: VEP_SHUT_* */
    int err;               /* error: expected errno (positive), 0 for none */
    unsigned queue;        /* CMD_QERR: 0 rx, 1 tx */
    struct sbytes payload; /* send, recv */
};

struct script {
    char *name;
    char descr[160];
    char covers[256];
    unsigned targets;
    unsigned caps;
    uint32_t max_send;     /* the largest payload a > line sends as a packet */
    struct scmd *cmds;
    unsigned ncmds, capcmds;
    uint8_t *pool;
    size_t pool_len, pool_cap;
    char vars[SCRIPT_MAX_VARS][SCRIPT_VAR_LEN];
    unsigned var_mask[SCRIPT_MAX_VARS]; /* the profiles under which a < line binds it */
    unsigned nvars;
};

/* The pattern of bytes=N payloads. */
static inline uint8_t script_pattern(size_t i)
{
    return (uint8_t)('a' + i % 26);
}

#endif
