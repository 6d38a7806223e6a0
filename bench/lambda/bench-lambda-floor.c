/*
 * The floors the Lambda runtime benchmark prints as reference lines: a
 * process that links nothing but libc and speaks just enough HTTP/1.1 to
 * the Runtime API stub over one kept-alive connection.
 *
 *   bench-lambda-floor          connects, sends GET next, reads the first
 *                               bytes of the answer: the cold-start floor
 *                               (exec + connect). What a runtime needs above
 *                               it is its own start (dynamic loading of
 *                               libcurl and its TLS stack, curl_global_init).
 *   bench-lambda-floor loop     GET next, POST "null" to .../response, again,
 *                               until the stub closes: the per-invocation
 *                               floor, i.e. what the stub and the loopback
 *                               TCP round trips cost. What a runtime needs
 *                               above it is its own per-invocation work.
 *
 * It is a measuring stick, not a runtime: it parses only what the stub
 * sends (Content-Length bodies, a request id of at most 200 bytes).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_api(const char *api)
{
    const char *colon = api ? strchr(api, ':') : NULL;
    struct sockaddr_in sa = { 0 };
    int fd, one = 1;

    if (colon == NULL)
        return -1;
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)strtol(colon + 1, NULL, 10));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One answer: headers and a Content-Length body. */
struct answer {
    char buf[65536];
    size_t len;
    char id[201];
};

static const char *find_header(const char *head, const char *name)
{
    size_t nl = strlen(name);

    for (const char *p = strstr(head, "\r\n"); p != NULL;
         p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':')
            return p + 3 + nl + strspn(p + 3 + nl, " ");
    }
    return NULL;
}

/* Reads one answer into a->buf; 0 on success, -1 when closed. */
static int read_answer(int fd, struct answer *a)
{
    char *end = NULL;
    size_t want;
    const char *v;

    a->len = 0;
    for (;;) {
        ssize_t n = recv(fd, a->buf + a->len, sizeof(a->buf) - 1 - a->len, 0);
        if (n <= 0)
            return -1;
        a->len += (size_t)n;
        a->buf[a->len] = '\0';
        if (end == NULL && (end = strstr(a->buf, "\r\n\r\n")) != NULL) {
            end[2] = '\0'; /* headers only, for find_header */
            v = find_header(a->buf, "Content-Length");
            want = (size_t)(end + 4 - a->buf) + (v ? strtoul(v, NULL, 10) : 0);
            v = find_header(a->buf, "Lambda-Runtime-Aws-Request-Id");
            a->id[0] = '\0';
            if (v != NULL)
                snprintf(a->id, sizeof(a->id), "%.*s", (int)strcspn(v, "\r"),
                         v);
        }
        if (end != NULL && a->len >= want)
            return 0;
        if (a->len + 1 >= sizeof(a->buf))
            return -1;
    }
}

static int loop(const char *api, int fd)
{
    static struct answer a;
    char req[512];
    int n;

    for (;;) {
        n = snprintf(req, sizeof(req),
                     "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"
                     "Host: %s\r\n\r\n",
                     api);
        if (send_all(fd, req, (size_t)n) != 0 || read_answer(fd, &a) != 0)
            return 0; /* the stub closed: done */
        n = snprintf(req, sizeof(req),
                     "POST /2018-06-01/runtime/invocation/%s/response "
                     "HTTP/1.1\r\nHost: %s\r\nContent-Length: 4\r\n\r\nnull",
                     a.id, api);
        if (send_all(fd, req, (size_t)n) != 0 || read_answer(fd, &a) != 0)
            return 0;
    }
}

int main(int argc, char **argv)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    char req[256], buf[4096];
    int fd = connect_api(api), n;

    if (fd < 0)
        return 1;
    if (argc > 1 && strcmp(argv[1], "loop") == 0)
        return loop(api, fd);
    n = snprintf(req, sizeof(req),
                 "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"
                 "Host: %s\r\n\r\n",
                 api);
    if (write(fd, req, (size_t)n) != n)
        return 1;
    /* The first bytes of the answer are enough. */
    return read(fd, buf, sizeof(buf)) > 0 ? 0 : 1;
}
