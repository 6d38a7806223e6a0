# HTTP client tests (issue area: http). The test-http*.c files are registered
# by the glob in tests/CMakeLists.txt; here they get the loopback delay server
# (tools/delay-server), a label, and room for their load.
foreach(t test-http test-http-load test-http2 test-http-dns)
  if(TARGET ${t})
    target_link_libraries(${t} PRIVATE lp_delay_server)
    set_tests_properties(${t} PROPERTIES LABELS "http")
  endif()
endforeach()
# test-http-dns defines getaddrinfo to count libcurl's lookups: export it so
# that the dynamic linker binds libcurl's calls to it.
if(TARGET test-http-dns)
  target_link_options(test-http-dns PRIVATE
                      -Wl,--export-dynamic-symbol=getaddrinfo)
endif()
# test-http2 checks LP_HTTP_HTTP1_ONLY against the bench's HTTPS server,
# which offers HTTP/2 and HTTP/1.1 (nghttpd speaks only HTTP/2).
if(TARGET test-http2)
  target_compile_definitions(test-http2 PRIVATE
    LP_H2_DELAY_SERVER="${PROJECT_SOURCE_DIR}/bench/http/h2_delay_server.py")
endif()
