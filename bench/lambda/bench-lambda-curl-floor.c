/*
 * The libcurl floors for the Lambda runtime's cold start, printed by
 * scripts/bench-lambda.sh as reference lines beside the runtime's figure:
 *
 *   bench-lambda-curl-floor         an empty main linked with -lcurl: exec,
 *                                   dynamic loading and relocation of
 *                                   Debian's libcurl and every library it
 *                                   needs, their constructors; then the same
 *                                   libc-only GET next as bench-lambda-floor
 *                                   (so that the benchmark sees a request).
 *   bench-lambda-curl-floor get     the least any runtime over libcurl does
 *                                   before its first GET next: the above,
 *                                   curl_global_init, one easy handle, one
 *                                   GET next to $AWS_LAMBDA_RUNTIME_API.
 *
 * What lp_lambda_run needs above the second is the runtime's own start.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

/* The libc-only GET next of bench-lambda-floor. */
static int raw_get(const char *api)
{
    const char *colon = strchr(api, ':');
    struct sockaddr_in sa = { 0 };
    char req[256], buf[4096];
    int fd, n;

    if (colon == NULL)
        return 1;
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)strtol(colon + 1, NULL, 10));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return 1;
    n = snprintf(req, sizeof(req),
                 "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"
                 "Host: %s\r\n\r\n",
                 api);
    if (write(fd, req, (size_t)n) != n)
        return 1;
    return read(fd, buf, sizeof(buf)) > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    char url[512];
    CURL *curl;
    CURLcode rc;

    if (api == NULL)
        return 1;
    if (argc < 2 || strcmp(argv[1], "get") != 0) {
        /* Keeps libcurl a needed library even under --as-needed. */
        if (argc > 99)
            return curl_version()[0];
        return raw_get(api);
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    curl = curl_easy_init();
    if (curl == NULL)
        return 1;
    snprintf(url, sizeof(url), "http://%s/2018-06-01/runtime/invocation/next",
             api);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    rc = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    return rc == CURLE_OK ? 0 : 1;
}
