# lp-tune tests (tools/lp-tune). The test-lptune-*.c files are registered by
# the glob in tests/CMakeLists.txt; here they get lp-tune's modules, the
# binary's path, the shipped price file and the delay server.
foreach(t test-lptune-cost test-lptune-throttle test-lptune-cli
          test-lptune-load test-lptune-eventloop)
  if(TARGET ${t} AND TARGET lp_tune_core)
    target_link_libraries(${t} PRIVATE lp_tune_core)
    set_tests_properties(${t} PROPERTIES LABELS "lptune" ENVIRONMENT
      "LP_TUNE_BIN=$<TARGET_FILE:lp-tune>;LP_TUNE_PRICES=${PROJECT_SOURCE_DIR}/tools/lp-tune/prices.conf")
    target_link_libraries(${t} PRIVATE lp_delay_server)
  endif()
endforeach()

# lp-tune's command line and price-file parsers: the fuzz target replayed
# over its stored corpus (every prefix of every file) in each tree; with
# clang, a libFuzzer binary too (not a test): fuzz-lptune tests/fuzz/corpus/lptune
if(TARGET lp_tune_core)
  lp_add_test(fuzz-lptune-replay
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-lptune.c
            ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay.c
    ARGS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/lptune
    LIBS lp_tune_core TIMEOUT 60 LABELS "lptune;fuzz")
  if(CMAKE_C_COMPILER_ID MATCHES "Clang")
    add_executable(fuzz-lptune ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-lptune.c)
    target_compile_options(fuzz-lptune PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz-lptune PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz-lptune PRIVATE lp_tune_core)
  endif()
endif()

# The CLI test runs lp-tune end to end about 20 times (some runs wait on
# purpose: interrupted 5 s tasks, timed-out ones); ~40 s alone, more on a
# loaded machine, so twice the default limit.
if(TARGET test-lptune-cli)
  math(EXPR _lp_cli_timeout "120 * ${LP_TIMEOUT_SCALE}")
  set_tests_properties(test-lptune-cli PROPERTIES TIMEOUT ${_lp_cli_timeout})
endif()
