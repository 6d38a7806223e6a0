/*
 * lambdapool: executors, futures and a Lambda runtime for C services that
 * spend their time waiting on the network. Include this umbrella header, or
 * the module headers it pulls in.
 */
#ifndef LAMBDAPOOL_H
#define LAMBDAPOOL_H

#include "executor.h"
#include "future.h"
#include "http.h"
#include "lambda.h"
#include "status.h"

#define LP_VERSION_MAJOR 0
#define LP_VERSION_MINOR 1
#define LP_VERSION_PATCH 0

#endif
