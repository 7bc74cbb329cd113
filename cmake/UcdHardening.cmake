# Hardening flags for every binary the build makes (the daemon, the shim,
# the plugins, ucd-layers.so, the tools and tests), as Debian builds its
# packages: what Debian 12's `dpkg-buildflags` gives with
# DEB_BUILD_MAINT_OPTIONS=hardening=+all (fortify, stackprotectorstrong,
# relro, bindnow, pie; format is -Wformat=2 -Werror in CMakeLists.txt), plus
# what dpkg 1.22 (Debian 13) added to it: -fstack-clash-protection and, on
# x86, -fcf-protection. docs/security.md and docs/testing.md say why each
# is there; tests/packaging/test_hardening.py reads the installed files
# and fails when one is lost.
#
#   UCD_HARDEN=OFF           none of it (a build for a debugger session)
#   UCD_HARDEN_SKIP=a;b      turn single features off, by dpkg's names:
#                            fortify stackprotector stackclash relro bindnow
#                            pie noexecstack cet; off even where the
#                            toolchain's default has it on (Debian's gcc
#                            makes PIEs, its ld relro and noexecstack). The
#                            readelf test still expects every one: this is
#                            how one sees it fail.
#
# _FORTIFY_SOURCE needs optimisation (glibc warns, and -Werror stops the
# build, at -O0), so Debug builds go without it; so do sanitizer and fuzz
# builds, whose AddressSanitizer checks every access already and whose
# interceptors the __*_chk variants would bypass. A -D_FORTIFY_SOURCE the
# packager put into CFLAGS/CPPFLAGS (dpkg-buildflags does) is left alone.
option(UCD_HARDEN "Build with the hardening flags of Debian's dpkg-buildflags (hardening=+all)" ON)
set(UCD_HARDEN_SKIP "" CACHE STRING "Hardening features to leave out (fortify;stackprotector;stackclash;relro;bindnow;pie;noexecstack;cet)")

include(CheckCCompilerFlag)
include(CheckPIESupported)

function(ucd_hardening)
  if(NOT UCD_HARDEN)
    message(STATUS "hardening: off (UCD_HARDEN=OFF)")
    return()
  endif()
  set(known fortify stackprotector stackclash relro bindnow pie noexecstack cet)
  foreach(f IN LISTS UCD_HARDEN_SKIP)
    if(NOT f IN_LIST known)
      message(FATAL_ERROR "UCD_HARDEN_SKIP: unknown feature `${f}` (known: ${known})")
    endif()
  endforeach()
  set(on "")
  macro(want feature)
    if(NOT "${feature}" IN_LIST UCD_HARDEN_SKIP)
      list(APPEND on ${feature})
    endif()
  endmacro()
  # What UCD_HARDEN_SKIP puts in place of each feature.
  set(off_fortify_compile -U_FORTIFY_SOURCE)
  set(off_stackprotector_compile -fno-stack-protector)
  set(off_stackclash_compile -fno-stack-clash-protection)
  set(off_cet_compile -fcf-protection=none)
  set(off_relro_link -Wl,-z,norelro)
  set(off_bindnow_link -Wl,-z,lazy)
  set(off_noexecstack_link -Wl,-z,execstack)
  foreach(f IN LISTS UCD_HARDEN_SKIP)
    if(off_${f}_compile)
      add_compile_options(${off_${f}_compile})
    endif()
    if(off_${f}_link)
      add_link_options(${off_${f}_link})
    endif()
  endforeach()

  want(fortify)
  if(fortify IN_LIST on)
    if(UCD_SANITIZE OR UCD_FUZZ)
      list(REMOVE_ITEM on fortify)
    elseif("${CMAKE_C_FLAGS} $ENV{CPPFLAGS}" MATCHES "_FORTIFY_SOURCE")
      message(STATUS "hardening: _FORTIFY_SOURCE comes from CFLAGS/CPPFLAGS")
    else()
      # -U first: some compilers (Ubuntu's gcc) predefine it, and a
      # redefinition is a warning, which -Werror makes fatal.
      add_compile_options("$<$<CONFIG:Release,RelWithDebInfo,MinSizeRel>:-U_FORTIFY_SOURCE;-D_FORTIFY_SOURCE=2>")
    endif()
  endif()

  want(stackprotector)
  if(stackprotector IN_LIST on)
    add_compile_options(-fstack-protector-strong)
  endif()

  want(stackclash)
  if(stackclash IN_LIST on)
    check_c_compiler_flag(-fstack-clash-protection UCD_HAVE_STACK_CLASH)
    if(UCD_HAVE_STACK_CLASH)
      add_compile_options(-fstack-clash-protection)
    endif()
  endif()

  want(cet)
  if(cet IN_LIST on AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i.86)$")
    check_c_compiler_flag(-fcf-protection UCD_HAVE_CF_PROTECTION)
    if(UCD_HAVE_CF_PROTECTION)
      add_compile_options(-fcf-protection)
    endif()
  endif()

  want(relro)
  if(relro IN_LIST on)
    add_link_options(-Wl,-z,relro)
  endif()
  want(bindnow)
  if(bindnow IN_LIST on)
    add_link_options(-Wl,-z,now)
  endif()
  want(noexecstack)
  if(noexecstack IN_LIST on)
    add_link_options(-Wl,-z,noexecstack)
  endif()

  # PIE: every target is position-independent (CMAKE_POSITION_INDEPENDENT_CODE
  # in CMakeLists.txt); with policy CMP0083 and this check CMake also links
  # executables with -pie rather than relying on the compiler's default.
  want(pie)
  if(pie IN_LIST on)
    check_pie_supported(OUTPUT_VARIABLE pie_out LANGUAGES C)
    if(NOT CMAKE_C_LINK_PIE_SUPPORTED)
      message(WARNING "hardening: the linker cannot make PIE executables: ${pie_out}")
    endif()
  else()
    # The code stays PIC (plugins link the static libraries); only the
    # executables are linked at a fixed address. As a link "library": it
    # must come after the -pie CMake adds once it knows PIE works (from an
    # earlier configure of this build directory), and gcc obeys the last.
    link_libraries("$<$<STREQUAL:$<TARGET_PROPERTY:TYPE>,EXECUTABLE>:-no-pie>")
  endif()
  set(UCD_HARDEN_FEATURES ${on} PARENT_SCOPE)
  message(STATUS "hardening: ${on}")
endfunction()
