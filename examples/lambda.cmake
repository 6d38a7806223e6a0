# Deployable Lambda functions (custom runtime, provided.al2023): seed 000's
# handler and seed 001's countHighFrequencyItem. Each executable is a
# `bootstrap`; <name>-zip packages it as function.zip (cmake/LambdaZip.cmake;
# `make lambda-zip FN=<name>` at the top level). Run one locally through the
# emulator: `make lambda-invoke FN=<name> EVENT='{...}'`.
include(${PROJECT_SOURCE_DIR}/cmake/LambdaZip.cmake)
# The functions link the static library: one shared object fewer for the
# dynamic loader to map and relocate at every cold start.
foreach(fn lambda-seed000 lambda-count-high-frequency)
  add_executable(${fn} ${CMAKE_CURRENT_LIST_DIR}/${fn}.c)
  target_link_libraries(${fn} PRIVATE lambdapool::lambdapool_static
                        CURL::libcurl PkgConfig::JANSSON)
  lp_add_lambda_zip(${fn})
endforeach()
