# HTTP client tests (issue area: http). The test-http*.c files are registered
# by the glob in tests/CMakeLists.txt; here they get the loopback delay server
# (tools/delay-server), a label, and room for their load.
foreach(t test-http test-http-load test-http2)
  if(TARGET ${t})
    target_link_libraries(${t} PRIVATE lp_delay_server)
    set_tests_properties(${t} PROPERTIES LABELS "http")
  endif()
endforeach()
