# Runs the examples (examples/examples.cmake) with known inputs and short
# delays, checking what they print through check-example.sh.
set(LP_CHECK_EXAMPLE ${CMAKE_CURRENT_LIST_DIR}/check-example.sh)

function(lp_add_example_test name)
  add_test(NAME ${name} COMMAND ${LP_CHECK_EXAMPLE} ${ARGN})
  math(EXPR t "20 * ${LP_TIMEOUT_SCALE}")
  set_tests_properties(${name} PROPERTIES TIMEOUT ${t} LABELS example)
endfunction()

set(count $<TARGET_FILE:count-high-frequency>)
lp_add_example_test(example-count-builtin
  output "count: 6 of 12 items (frequency > 10)" ${count})
lp_add_example_test(example-count-given
  output "count: 4 of 8 items (frequency > 10)"
  ${count} 3 12 10 11 0 42 -5 11)
# Item i has frequency i % 20: 9 of every 20 exceed 10.
lp_add_example_test(example-count-generated
  output "count: 4500 of 10000 items (frequency > 10)" ${count} -n 10000)
lp_add_example_test(example-count-empty
  output "count: 0 of 0 items (frequency > 10)" ${count} -n 0)
lp_add_example_test(example-count-bad-input fails ${count} 3 x 5)
lp_add_example_test(example-count-n-without-count fails ${count} -n)
lp_add_example_test(example-count-help
  output "       count-high-frequency -n COUNT        COUNT generated items (item i has frequency i % 20)"
  ${count} --help)
lp_add_example_test(example-seed000-help
  output "usage: seed000-handler [--http] [DELAY_MS]"
  $<TARGET_FILE:seed000-handler> --help)
lp_add_example_test(example-seed000-speedup
  speedup 200 $<TARGET_FILE:seed000-handler>)
lp_add_example_test(example-seed000-bad-delay
  fails $<TARGET_FILE:seed000-handler> -1)
# Real GETs of the delay server the example starts on loopback: sequential,
# thread pool and event loop.
lp_add_example_test(example-seed000-http-speedup
  speedup-http 200 $<TARGET_FILE:seed000-handler>)
lp_add_example_test(example-seed000-http-bad-delay
  fails $<TARGET_FILE:seed000-handler> --http -1)
lp_add_example_test(example-seed000-http-bad-option
  fails $<TARGET_FILE:seed000-handler> --htp 200)
lp_add_example_test(example-seed000-http-extra-argument
  fails $<TARGET_FILE:seed000-handler> --http 200 300)
