# The installed package (headers, CMake config, pkg-config) serves a consumer.
# Plain tree only: a sanitized library needs sanitized consumers.
if(LP_SANITIZE STREQUAL "")
  add_test(NAME check-install
           COMMAND ${PROJECT_SOURCE_DIR}/tests/check-install.sh
                   ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(check-install PROPERTIES TIMEOUT 120)
endif()
