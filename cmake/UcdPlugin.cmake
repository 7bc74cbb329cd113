# ucd_add_plugin(<target> URI <io.containerd.kind.vN.id> SOURCES ...)
#
# Builds one plugin as a shared object named by its URI, exactly as the
# registry expects to find it, into the build tree's plugin directory and
# installs it into the plugin directory of the prefix. Plugins see only the
# SDK headers, export only the entry symbol and must resolve every symbol at
# link time (-z defs): they link against no symbol of the daemon.
function(ucd_add_plugin target)
  cmake_parse_arguments(P "" "URI;OUTPUT_DIR" "SOURCES;LIBS" ${ARGN})
  add_library(${target} MODULE ${P_SOURCES})
  target_link_libraries(${target} PRIVATE ucd_sdk ${P_LIBS})
  if(NOT P_OUTPUT_DIR)
    set(P_OUTPUT_DIR "${UCD_BUILD_PLUGIN_DIR}")
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX "" OUTPUT_NAME "${P_URI}" SUFFIX ".so"
    LIBRARY_OUTPUT_DIRECTORY "${P_OUTPUT_DIR}"
    C_VISIBILITY_PRESET hidden)
  if(NOT UCD_SANITIZE AND NOT UCD_FUZZ)
    # Under ASan the runtime lives in the executable, so -z defs cannot hold.
    target_link_options(${target} PRIVATE -Wl,-z,defs)
  endif()
  if(NOT P_OUTPUT_DIR STREQUAL "${UCD_BUILD_PLUGIN_DIR}")
    return()            # fixtures and examples are not installed
  endif()
  install(TARGETS ${target} LIBRARY DESTINATION "${UCD_PLUGIN_INSTALL_DIR}")
endfunction()
