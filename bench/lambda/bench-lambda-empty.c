/*
 * The benchmark's function: an empty handler (it replies JSON null) on
 * lp_lambda_run, so what bench-lambda measures is the runtime alone.
 */
#include "lambdapool/lambdapool.h"

static void empty(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                  const char *event, size_t len, void *arg)
{
    (void)inv, (void)ctx, (void)event, (void)len, (void)arg;
}

int main(void)
{
    return lp_lambda_run(empty, NULL) == LP_OK ? 0 : 1;
}
