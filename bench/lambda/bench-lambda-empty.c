/*
 * The benchmark's function: an empty handler (it replies JSON null) on
 * lp_lambda_run, so what bench-lambda measures is the runtime alone. With
 * an argument N it returns after N invocations (for counting the
 * instructions of a whole cold start under valgrind).
 */
#include <stdlib.h>

#include "lambdapool/lambdapool.h"

static void empty(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                  const char *event, size_t len, void *arg)
{
    (void)inv, (void)ctx, (void)event, (void)len, (void)arg;
}

int main(int argc, char **argv)
{
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;

    if (argc > 1)
        o.max_invocations = strtoull(argv[1], NULL, 10);
    return lp_lambda_run_with(empty, NULL, &o) == LP_OK ? 0 : 1;
}
