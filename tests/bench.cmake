# A smoke run of the benchmark programs (bench/bench.cmake) at tiny sizes, so
# they keep compiling and running. It asserts that every measurement runs and
# prints its figures, never how fast they are: speed is `make bench`'s job.
if(LP_BUILD_BENCH)
  set(LP_BENCH_SMOKE ${CMAKE_CURRENT_LIST_DIR}/bench-smoke.sh)
  set(peers $<TARGET_FILE:bench-lambdapool>)
  pkg_check_modules(LP_BENCH_SMOKE_GLIB QUIET glib-2.0)
  if(LP_BENCH_SMOKE_GLIB_FOUND)
    list(APPEND peers $<TARGET_FILE:bench-glib>)
  endif()
  pkg_check_modules(LP_BENCH_SMOKE_LIBUV QUIET libuv)
  if(LP_BENCH_SMOKE_LIBUV_FOUND)
    list(APPEND peers $<TARGET_FILE:bench-libuv>)
  endif()
  add_test(NAME bench-smoke COMMAND ${LP_BENCH_SMOKE} ${peers})
  set_tests_properties(bench-smoke PROPERTIES TIMEOUT 60 LABELS bench)
  # `make bench` itself at tiny sizes: every ratio line is printed. It runs
  # every area's benchmark script (thread pool, process pool, HTTP, Lambda
  # runtime), so its limit allows for a heavily loaded machine.
  add_test(NAME bench-script-smoke
           COMMAND ${LP_BENCH_SMOKE} --script ${PROJECT_SOURCE_DIR}
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(bench-script-smoke PROPERTIES TIMEOUT 300 LABELS bench)
endif()
