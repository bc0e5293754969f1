/*
 * Packet scripts: conformance cases written as the packets on the wire, in
 * the spirit of packetdrill. The script speaks for the guest (raw packets
 * through our driver) and drives host sockets; every target runs it
 * unchanged.
 *
 *   # One line of description (the first plain comment).
 *   # covers: VS-S1 VS-11
 *   # targets: sim kernel            (default: every target)
 *   host listen 5000
 *   > REQUEST $guest:1024 -> $host:5000 buf_alloc=65536
 *   < RESPONSE $host:5000 -> $guest:1024 type=STREAM fwd_cnt=0
 *   host send 5000 "abc"
 *   < RW $host:5000 -> $guest:1024 len=3 "abc"
 *   > REQUEST $guest:1025 -> $host:5999
 *   < RST $host:5999 -> $guest:1025 buf_alloc=0 fwd_cnt=0
 *   < none 50ms
 *
 * Lines (blanks separate words; # starts a comment outside quotes):
 *   > OP SRC -> DST [field=value ...] [PAYLOAD]
 *       sends a packet from the guest. OP is a name (REQUEST, RESPONSE, RST,
 *       SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST) or a number. SRC and
 *       DST are CID:PORT; CID is $guest, $host or a number. Fields:
 *       type=STREAM|SEQPACKET|N (default STREAM), flags=NAMES|N (RCV, SEND,
 *       EOM, EOR joined by |; default 0), buf_alloc=N (default 262144),
 *       fwd_cnt=N (default 0), len=N (default: the payload's size; another
 *       value sends a hand-made chain, which needs CONF_CAP_RAW_RING).
 *   < OP SRC -> DST [field=value ...] [PAYLOAD] [timeout=DURATION]
 *       the next packet the device places on rx must match (within 1 s by
 *       default). A field left out, or given as *, matches anything; OP
 *       may be * too.
 *   < none DURATION            no packet comes within DURATION
 *   PAYLOAD is "text" (C escapes \n \t \\ \" \xHH) or bytes=N (N bytes of
 *   the pattern abc...zabc...).
 *   Numbers are decimal or 0x hex; $name (not guest or host) is a variable:
 *   in a < line an unbound one takes the received value, a bound one must
 *   match it; a > line or host command may only use bound ones.
 *   DURATION is N followed by ns, us, ms or s.
 *
 *   host listen PORT [type=T] [backlog=N] [buf=N]    a host listener
 *   host connect PORT [type=T] [from=PORT]           host socket to $guest:PORT
 *   host connected PORT                              waits for it to connect
 *   host accept PORT                                 waits for a connection
 *   host send PORT PAYLOAD [eor] [ret=N|ERRNAME]     all of it (waits for credit),
 *                                                    or one call with that result
 *   host recv PORT PAYLOAD [eor] | eof | ret=N|ERRNAME
 *   host shutdown PORT rd|wr|rdwr
 *   host close PORT
 *   host error PORT ERRNAME|0                        SO_ERROR (waits for it)
 *   host bufsize PORT N                              SO_VM_SOCKETS_BUFFER_SIZE
 *   host bufmax PORT N                               SO_VM_SOCKETS_BUFFER_MAX_SIZE
 *   host bufmin PORT N                               SO_VM_SOCKETS_BUFFER_MIN_SIZE
 *   wait DURATION
 *   reset                                            TRANSPORT_RESET (CONF_CAP_RESET)
 *   queue-error rx|tx                                the device signalled a queue error
 *                                                    on that queue since the script began
 *                                                    or the last queue-error line
 * A > line may carry any payload size: a script whose largest is beyond our
 * driver's 64 KiB packets runs with tx_max_payload that large, so the
 * packet goes on the ring whole (script_opts).
 *
 * Where Linux 6.1 and 6.12 differ, a line may start with a profile
 * condition: [6.1], [6.12] or [6.1,6.12]. It runs only when the run's
 * profile (conf_linux: the Kyua variable `linux`, the kernel a real target
 * boots) is one of those; other lines run under every profile. A variable a
 * > line uses must be bound by < lines under every profile that line runs
 * under. Example:
 *   [6.1]  host send 5000 bytes=2049 ret=ENOMEM
 *   [6.12] host send 5000 bytes=2049 ret=EMSGSIZE
 * A host PORT names the connection made by `host connect PORT`, or the one
 * accepted on `host listen PORT` (send and recv accept it when needed);
 * close, bufsize, bufmax and bufmin fall back to the listener when there is
 * no connection.
 *
 * Header comments: "# covers: ID ..." (requirement IDs), "# targets: sim
 * kernel guest". Errors in a script name file:line; a failing script names
 * file:line, what was expected and what came.
 */
#ifndef VSOCKSIM_SCRIPT_H
#define VSOCKSIM_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conformance/conf.h"

struct script;

/* Parses text (len bytes, NUL not needed); name is used in messages. NULL
 * with "name:line: message" in err. */
struct script *script_parse(const char *text, size_t len, const char *name, char *err,
                            size_t errlen);
/* Reads and parses a file. */
struct script *script_load(const char *path, char *err, size_t errlen);
void script_free(struct script *s);

const char *script_name(const struct script *s);
const char *script_descr(const struct script *s);   /* "" when none */
const char *script_covers(const struct script *s);  /* "VS-S1 VS-11", "" when none */
unsigned script_targets(const struct script *s);    /* CONF_* mask */
unsigned script_caps(const struct script *s);       /* CONF_CAP_* it needs */
unsigned script_lines(const struct script *s);      /* commands */
/* The options the script needs: a > line sending more than our driver's
 * 64 KiB packets asks for tx_max_payload that large (CONF_CAP_CONFIG), so
 * the packet goes on the ring whole. */
void script_opts(const struct script *s, struct conf_opts *o);

/* Runs the script against c; a mismatch fails the case (conf_fail) with
 * file:line, the expected and the received packet. */
void script_run(const struct script *s, struct conf *c);

#endif
