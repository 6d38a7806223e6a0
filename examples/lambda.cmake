# Deployable Lambda functions (custom runtime, provided.al2023): seed 000's
# handler and seed 001's countHighFrequencyItem. Each is a `bootstrap`:
# package with lp_add_lambda_zip (cmake/LambdaZip.cmake), e.g.
# `cmake --build build --target lambda-seed000-zip`.
foreach(fn lambda-seed000 lambda-count-high-frequency)
  add_executable(${fn} ${CMAKE_CURRENT_LIST_DIR}/${fn}.c)
  target_link_libraries(${fn} PRIVATE lambdapool::lambdapool CURL::libcurl
                        PkgConfig::JANSSON)
endforeach()
