# lp_add_lambda_zip(<target> [OUTPUT <path>])
#
# Adds the target <target>-zip, which packages the executable <target> (a
# handler whose main() calls lp_lambda_run) as a Lambda function.zip for the
# provided.al2023 runtime: `bootstrap` plus every shared library it needs,
# glibc and the dynamic loader included (tools/lambda/package.sh). The zip
# goes to OUTPUT, by default <build>/lambda/<target>/function.zip.
#
#   cmake --build build --target lambda-seed000-zip
#
# find_package(lambdapool) defines it; from a source tree, include this file.
include_guard(GLOBAL)
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/lambdapool-package.sh)
  # installed beside the package's config files
  set(LP_LAMBDA_PACKAGE_SH ${CMAKE_CURRENT_LIST_DIR}/lambdapool-package.sh)
else()
  set(LP_LAMBDA_PACKAGE_SH ${CMAKE_CURRENT_LIST_DIR}/../tools/lambda/package.sh)
endif()

function(lp_add_lambda_zip target)
  cmake_parse_arguments(Z "" "OUTPUT" "" ${ARGN})
  if(NOT Z_OUTPUT)
    set(Z_OUTPUT ${CMAKE_BINARY_DIR}/lambda/${target}/function.zip)
  endif()
  set(deps ${target} ${LP_LAMBDA_PACKAGE_SH})
  if(TARGET lambdapool)
    list(APPEND deps lambdapool)
  endif()
  add_custom_command(OUTPUT ${Z_OUTPUT}
    COMMAND ${LP_LAMBDA_PACKAGE_SH} $<TARGET_FILE:${target}> ${Z_OUTPUT}
    DEPENDS ${deps}
    COMMENT "Packaging ${target} as ${Z_OUTPUT}" VERBATIM)
  add_custom_target(${target}-zip DEPENDS ${Z_OUTPUT})
endfunction()
