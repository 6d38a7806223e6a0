/* A program built only from the installed headers and library. */
#include <lambdapool/lambdapool.h>
#include <stdio.h>

static void *answer(void *arg, lp_task *task)
{
    (void)task;
    return arg;
}

int main(void)
{
    static int token = 42;
    lp_executor *ex;
    lp_future *f;
    void *result = NULL;

    if (lp_thread_pool_create(NULL, &ex) != LP_OK ||
        lp_executor_submit(ex, answer, &token, &f) != LP_OK ||
        lp_future_result(f, LP_WAIT_FOREVER, &result) != LP_OK ||
        result != &token)
        return 1;
    lp_future_release(f);
    lp_executor_destroy(ex);
    puts("consumer: ok");
    return 0;
}
