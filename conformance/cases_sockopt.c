/* Socket options as Linux's af_vsock.c applies them: what an accepted socket
 * takes from its listener, and the buffer-size options' clamping. */
#include "conformance/conf_case.h"

CONF_CASE(sockopt_rcvlowat_not_inherited, "VS-S1", CONF_ALL, 0,
          "SO_RCVLOWAT set on a listener is not inherited by the sockets it accepts (Linux: "
          "__vsock_create starts every socket at 1): one byte makes the accepted socket "
          "readable, on either side")
{
    for (int dir = 0; dir < 2; dir++) {
        enum conf_side srv = dir == 0 ? CONF_HOST : CONF_GUEST;
        uint32_t port = 9300 + (uint32_t)dir;
        int l = conf_socket(c, srv, VSOCK_TYPE_STREAM);
        CONF_REQUIRE(c, l >= 0);
        CONF_REQUIRE_RET(c, conf_bind(c, srv, l, port), 0);
        CONF_REQUIRE_RET(c, conf_set_rcvlowat(c, srv, l, 128), 0);
        CONF_REQUIRE_RET(c, conf_listen(c, srv, l, 4), 0);
        int cl;
        CONF_REQUIRE_RET(c, CONF_CONNECT(c, conf_other(srv), VSOCK_TYPE_STREAM, port, &cl), 0);
        int a = CONF_ACCEPT(c, srv, l);
        CONF_SEND_ALL(c, conf_other(srv), cl, "1", 1);
        CONF_WAIT_POLL(c, srv, a, VEP_POLLIN);
        uint8_t b;
        CONF_REQUIRE_RET(c, conf_recv(c, srv, a, &b, 1, 0, NULL), 1);
        CONF_REQUIRE_EQ(c, b, '1');
    }
}
