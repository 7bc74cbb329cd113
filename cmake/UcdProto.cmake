# Code generation for the wire-contract .proto files under proto/.
#
# ucd_add_proto_library(<target>
#     PROTO_ROOT <dir>            # every *.proto below it is compiled
#     WELL_KNOWN <name>...        # google/protobuf/<name>.proto from the system includes
#     DESCRIPTOR_SET <file>)      # protoc --include_imports --descriptor_set_out
#
# Builds a static library <target> from the protoc-c output. Generated files
# keep the path of their .proto below the root, so code includes e.g.
#   #include "containerd/services/version/v1/version.pb-c.h"
#   #include "google/protobuf/empty.pb-c.h"
# and C names follow the package: Containerd__Services__Version__V1__VersionResponse.
# Everything is regenerated when any .proto changes (a single protoc-c run:
# the generated code of a file depends on the names in the files it imports).
# The descriptor set is built with the library (target <target>_descriptor)
# for the Python integration tests.

find_program(UCD_PROTOC protoc REQUIRED)
find_program(UCD_PROTOC_C protoc-c REQUIRED)
find_path(UCD_PROTOBUF_INCLUDE_DIR google/protobuf/any.proto
  PATHS /usr/include /usr/local/include REQUIRED
  DOC "directory holding google/protobuf/*.proto (libprotobuf-dev)")

# Known before any subdirectory is configured, so tests can use it wherever.
set(UCD_PROTO_DESCRIPTOR_SET "${CMAKE_BINARY_DIR}/proto/ucontainerd.pb"
  CACHE INTERNAL "FileDescriptorSet of all ucontainerd protos (with imports)")
set(UCD_CRI_PROTO_DESCRIPTOR_SET "${CMAKE_BINARY_DIR}/plugins/cri/cri.pb"
  CACHE INTERNAL "FileDescriptorSet of the CRI plugin's protos (runtime.v1), for its tests")
set(UCD_PROTO_GEN_DIR "${CMAKE_BINARY_DIR}/proto/gen"
  CACHE INTERNAL "Directory of the protoc-c output (include dir of ucd_proto)")

function(ucd_add_proto_library target)
  cmake_parse_arguments(P "" "PROTO_ROOT;DESCRIPTOR_SET;GEN_DIR" "WELL_KNOWN" ${ARGN})
  if(NOT P_GEN_DIR)
    set(P_GEN_DIR "${CMAKE_CURRENT_BINARY_DIR}/gen")
  endif()
  get_filename_component(root "${P_PROTO_ROOT}" ABSOLUTE)

  file(GLOB_RECURSE protos CONFIGURE_DEPENDS RELATIVE "${root}" "${root}/*.proto")
  list(SORT protos)
  if(NOT protos)
    message(FATAL_ERROR "ucd_add_proto_library: no .proto files under ${root}")
  endif()

  set(inputs "")        # absolute paths handed to protoc-c
  set(ours "")          # the project's own protos (for the descriptor set)
  set(depends "")
  set(sources "")
  set(headers "")
  foreach(rel IN LISTS protos)
    list(APPEND inputs "${root}/${rel}")
    list(APPEND ours "${root}/${rel}")
    list(APPEND depends "${root}/${rel}")
  endforeach()
  foreach(name IN LISTS P_WELL_KNOWN)
    set(wkt "${UCD_PROTOBUF_INCLUDE_DIR}/google/protobuf/${name}.proto")
    if(NOT EXISTS "${wkt}")
      message(FATAL_ERROR "ucd_add_proto_library: ${wkt} not found")
    endif()
    list(APPEND inputs "${wkt}")
    list(APPEND depends "${wkt}")
    list(APPEND protos "google/protobuf/${name}.proto")
  endforeach()
  foreach(rel IN LISTS protos)
    string(REGEX REPLACE "\\.proto$" "" stem "${rel}")
    list(APPEND sources "${P_GEN_DIR}/${stem}.pb-c.c")
    list(APPEND headers "${P_GEN_DIR}/${stem}.pb-c.h")
  endforeach()

  add_custom_command(
    OUTPUT ${sources} ${headers}
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${P_GEN_DIR}"
    COMMAND "${UCD_PROTOC_C}" "--c_out=${P_GEN_DIR}"
            "-I${root}" "-I${UCD_PROTOBUF_INCLUDE_DIR}" ${inputs}
    DEPENDS ${depends}
    COMMENT "protoc-c: generating C for ${target}"
    VERBATIM)

  add_library(${target} STATIC ${sources} ${headers})
  target_include_directories(${target} PUBLIC "${P_GEN_DIR}")
  target_link_libraries(${target} PUBLIC PkgConfig::PROTOBUFC)

  if(P_DESCRIPTOR_SET)
    get_filename_component(dsdir "${P_DESCRIPTOR_SET}" DIRECTORY)
    add_custom_command(
      OUTPUT "${P_DESCRIPTOR_SET}"
      COMMAND "${CMAKE_COMMAND}" -E make_directory "${dsdir}"
      COMMAND "${UCD_PROTOC}" --include_imports "--descriptor_set_out=${P_DESCRIPTOR_SET}"
              "-I${root}" "-I${UCD_PROTOBUF_INCLUDE_DIR}" ${ours}
      DEPENDS ${depends}
      COMMENT "protoc: writing descriptor set ${P_DESCRIPTOR_SET}"
      VERBATIM)
    add_custom_target(${target}_descriptor ALL DEPENDS "${P_DESCRIPTOR_SET}")
    add_dependencies(${target} ${target}_descriptor)
  endif()
endfunction()
