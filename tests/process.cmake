# Process pool tests (issue area: process). test-process-pool*.c are
# registered by the glob in tests/CMakeLists.txt; here they get their labels,
# and the frame codec's fuzz target is replayed over its stored corpus (every
# prefix of every file) in each tree. With clang, a libFuzzer binary is also
# built (not a test): fuzz-frame tests/fuzz/corpus/frame
foreach(t test-process-pool test-process-pool-fail test-process-pool-edges
          test-process-frame)
  if(TARGET ${t})
    set_tests_properties(${t} PROPERTIES LABELS "process")
  endif()
endforeach()

lp_add_test(fuzz-frame-replay
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-frame.c
          ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay.c
  ARGS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/frame
  TIMEOUT 60 LABELS "process;fuzz")
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz-frame ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-frame.c)
  target_compile_options(fuzz-frame PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz-frame PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz-frame PRIVATE lambdapool_internal)
endif()
