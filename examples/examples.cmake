# The seeds' programs in C, built in every tree and run by tests/examples.cmake
# and by `make demo` (scripts/demo.sh).
foreach(example count-high-frequency seed000-handler)
  add_executable(${example} ${CMAKE_CURRENT_LIST_DIR}/${example}.c)
  target_link_libraries(${example} PRIVATE lambdapool::lambdapool)
endforeach()
