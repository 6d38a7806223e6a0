# Lambda runtime tests (issue area: lambda). The test-lambda-*.c files are
# registered by the glob in tests/CMakeLists.txt; here they get the Runtime
# API stub, their labels, and the fuzz replay and emulator tests are added.
foreach(t test-lambda-runtime test-lambda-pool)
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
          ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/lambda-replay.c
  ARGS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/runtime-next
  TIMEOUT 60 LABELS "lambda;fuzz")
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz-runtime-next ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-runtime-next.c)
  target_compile_options(fuzz-runtime-next PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz-runtime-next PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz-runtime-next PRIVATE lambdapool_internal)
endif()
