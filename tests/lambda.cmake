# Lambda runtime tests (issue area: lambda). The test-lambda-*.c files are
# registered by the glob in tests/CMakeLists.txt; here they get the Runtime
# API stub, their labels, and the fuzz replay and emulator tests are added.
foreach(t test-lambda-runtime test-lambda-pool test-lambda-stream)
  if(TARGET ${t})
    target_sources(${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/lambda-stub.c)
    set_tests_properties(${t} PROPERTIES LABELS "lambda")
  endif()
endforeach()

# Fuzz target over everything GET next sends: replayed over the stored corpus
# (every prefix of every file) in each tree; with clang, also a libFuzzer
# binary (not a test): build-fuzz/tests/fuzz-runtime-next tests/fuzz/corpus/runtime-next
lp_add_test(fuzz-runtime-next-replay
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-runtime-next.c
          ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay.c
  ARGS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/runtime-next
  TIMEOUT 60 LABELS "lambda;fuzz")
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz-runtime-next ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-runtime-next.c)
  target_compile_options(fuzz-runtime-next PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz-runtime-next PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz-runtime-next PRIVATE lambdapool_internal)
endif()

# Through a real Lambda emulator (@vercel/fun, from tools/node). Fails with
# the install command when node or the emulator is missing; exclude with
# `ctest -LE emulator` when working offline.
add_executable(lambda-test-function ${CMAKE_CURRENT_SOURCE_DIR}/lambda-test-function.c)
target_link_libraries(lambda-test-function PRIVATE lambdapool::lambdapool PkgConfig::JANSSON)
find_program(LP_NODE node)
if(NOT LP_NODE)
  set(LP_NODE node) # the test then fails loudly: node not found
endif()
add_test(NAME lambda-emulator
  COMMAND ${LP_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/lambda-emulator.test.js
          $<TARGET_FILE:lambda-test-function> $<TARGET_FILE:lambda-seed000>
          $<TARGET_FILE:lambda-count-high-frequency>)
math(EXPR _lp_emu_timeout "120 * ${LP_TIMEOUT_SCALE}")
set_tests_properties(lambda-emulator PROPERTIES LABELS "lambda;emulator"
  TIMEOUT ${_lp_emu_timeout})

# function.zip: built from an example, unzipped into an empty directory,
# checked with the bundled loader's --list and readelf, run through the
# emulator (label "emulator" too: it needs node and @vercel/fun).
add_test(NAME lambda-package
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/lambda-package-test.sh
          ${PROJECT_SOURCE_DIR}/tools/lambda/package.sh
          $<TARGET_FILE:lambda-seed000>
          ${PROJECT_SOURCE_DIR}/tools/lambda/lp-invoke.js)
math(EXPR _lp_pkg_timeout "60 * ${LP_TIMEOUT_SCALE}")
set_tests_properties(lambda-package PROPERTIES LABELS "lambda;emulator"
  TIMEOUT ${_lp_pkg_timeout})

# The whole runtime against arbitrary bytes as GET next's answer (through
# libcurl): each stored input once; libFuzzer binary with clang.
lp_add_test(fuzz-runtime-wire-replay
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-runtime-wire.c
          ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay.c
          ${CMAKE_CURRENT_SOURCE_DIR}/lambda-stub.c
  ARGS -whole ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/runtime-wire
  TIMEOUT 60 LABELS "lambda;fuzz")
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz-runtime-wire ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-runtime-wire.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/lambda-stub.c)
  target_include_directories(fuzz-runtime-wire PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_options(fuzz-runtime-wire PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz-runtime-wire PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz-runtime-wire PRIVATE lambdapool_internal)
endif()
