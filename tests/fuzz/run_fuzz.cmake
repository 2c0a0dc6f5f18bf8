# ctest driver for one fuzz target: copies the seed corpus into a fresh work
# directory, fuzzes it for SECONDS (or $ENV{FUZZ_SECONDS}), and fails if the
# target found a crash or an oracle failure (the crash file is kept in WORK
# and its reproducer command printed).
# Variables: TARGET NAME SEEDS DICT WORK SECONDS.
if(DEFINED ENV{FUZZ_SECONDS} AND NOT "$ENV{FUZZ_SECONDS}" STREQUAL "")
  set(SECONDS $ENV{FUZZ_SECONDS})
endif()
file(REMOVE_RECURSE ${WORK}/corpus)
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
file(GLOB seeds ${SEEDS}/*)
if(seeds)
  file(COPY ${seeds} DESTINATION ${WORK}/corpus)
endif()
set(args -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
         -artifact_prefix=${WORK}/artifacts/)
if(EXISTS ${DICT})
  list(APPEND args -dict=${DICT})
endif()
execute_process(COMMAND ${TARGET} ${args} ${WORK}/corpus
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
string(REGEX MATCH "stat::number_of_executed_units: *[0-9]+" runs "${out}")
string(REGEX MATCH "stat::average_exec_per_sec: *[0-9]+" speed "${out}")
if(NOT rc EQUAL 0)
  message("${out}")
  file(GLOB crashes ${WORK}/artifacts/*)
  foreach(c ${crashes})
    message("reproduce with: ${TARGET} ${c}")
  endforeach()
  message(FATAL_ERROR "${NAME}: the fuzzer failed (exit ${rc}); ${runs}")
endif()
message("${NAME}: ${runs}, ${speed}")
