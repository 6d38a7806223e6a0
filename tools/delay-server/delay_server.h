/*
 * A loopback HTTP/1.1 server for tests and benchmarks, not part of
 * liblambdapool.
 *
 * One thread runs an epoll loop and a min-heap of response times, so it holds
 * tens of thousands of delayed connections at once (starting it raises the
 * soft RLIMIT_NOFILE to the hard limit). Connections are kept alive unless the
 * client asks otherwise. Requests:
 *
 *   GET /delay/<ms>     200 with a short body after <ms> milliseconds
 *   GET /bytes/<n>      200 with a body of <n> bytes
 *   GET /close          headers announcing 1 MiB, part of it, then a close
 *   GET /close-headers  a status line and half a header line, then a close
 *   GET /status/<code>  that status with a short body
 *   GET /headers        200 echoing the request's header block
 *   GET /redirect/<n>   302 to /redirect/<n-1>; /redirect/0 is 200
 *   POST, PUT or DELETE <any path>
 *                       200 echoing the request body (after <ms> if the path
 *                       is /delay/<ms>), with an X-Method header naming the
 *                       method
 *   HEAD <any path>     the GET response's status and headers, no body
 *
 * Anything else gets 404.
 */
#ifndef LP_DELAY_SERVER_H
#define LP_DELAY_SERVER_H

#ifdef __cplusplus
extern "C" {
#endif

struct delay_server;

/*
 * Listens on `host` (an IPv4 or IPv6 literal; NULL means 127.0.0.1) and
 * `port` (0: an ephemeral port, see delay_server_port) and starts serving on
 * a thread of its own. Returns 0 with *out set, or an errno value with *out
 * NULL.
 */
int delay_server_start(const char *host, int port, struct delay_server **out);

/* The port the server listens on. */
int delay_server_port(const struct delay_server *s);

/*
 * Connections open on the server side right now: accepted and not yet
 * closed (by either peer; a peer's close counts once the server thread has
 * read its EOF). Any thread may call this.
 */
int delay_server_connections(const struct delay_server *s);

/*
 * Stops the thread, closes every connection and frees `s`. NULL is a no-op.
 */
void delay_server_stop(struct delay_server *s);

#ifdef __cplusplus
}
#endif

#endif
