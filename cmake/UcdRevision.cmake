# Run at every build (cmake -P): writes the git revision into
# ${OUT} only when it changed, so `ctr version` always names the commit the
# daemon was built from without recompiling anything when it did not change.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY "${SRC}"
  OUTPUT_VARIABLE rev OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT rev)
  set(rev "unknown")
endif()
set(text "/* Generated at build time by cmake/UcdRevision.cmake. */\n#pragma once\n#define UCD_REVISION \"${rev}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
