# The benchmark programs run by `make bench` (scripts/bench.sh). The peers are
# built when their libraries are installed (scripts/install-deps.sh installs
# them); bench.sh reports a missing peer as skipped.
set(LP_BENCH_DIR ${CMAKE_CURRENT_LIST_DIR})

add_executable(bench-lambdapool ${LP_BENCH_DIR}/bench-lambdapool.c)
target_link_libraries(bench-lambdapool PRIVATE lambdapool::lambdapool
                      Threads::Threads)

# Not a peer: one thread per task, the floor for a cold fan-out.
add_executable(bench-pthread ${LP_BENCH_DIR}/bench-pthread.c)
target_link_libraries(bench-pthread PRIVATE Threads::Threads)

pkg_check_modules(LP_BENCH_GLIB IMPORTED_TARGET glib-2.0)
if(LP_BENCH_GLIB_FOUND)
  add_executable(bench-glib ${LP_BENCH_DIR}/bench-glib.c)
  target_link_libraries(bench-glib PRIVATE PkgConfig::LP_BENCH_GLIB
                        Threads::Threads)
else()
  message(STATUS "bench: glib-2.0 not found, GThreadPool peer not built")
endif()

pkg_check_modules(LP_BENCH_LIBUV IMPORTED_TARGET libuv)
if(LP_BENCH_LIBUV_FOUND)
  add_executable(bench-libuv ${LP_BENCH_DIR}/bench-libuv.c)
  target_link_libraries(bench-libuv PRIVATE PkgConfig::LP_BENCH_LIBUV
                        Threads::Threads)
else()
  message(STATUS "bench: libuv not found, uv_queue_work peer not built")
endif()
