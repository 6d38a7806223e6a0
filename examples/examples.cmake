# The seeds' programs in C, built in every tree and run by tests/examples.cmake
# and by `make demo` (scripts/demo.sh).
foreach(example count-high-frequency seed000-handler)
  add_executable(${example} ${CMAKE_CURRENT_LIST_DIR}/${example}.c)
  target_link_libraries(${example} PRIVATE lambdapool::lambdapool)
endforeach()
# seed000-handler --http fetches from the loopback delay server it starts
# itself. lp_delay_server is defined in tools/, which the top-level
# CMakeLists.txt adds after examples/: CMake resolves target names given to
# target_link_libraries when it generates, so the order does not matter
# (an if(TARGET) guard here would always be false).
target_link_libraries(seed000-handler PRIVATE lp_delay_server)
