# Build settings shared by every target of solver-state, applied per target
# (never globally) so an installed consumer inherits none of them.

# Warnings and sanitizers, linked PRIVATE into each target. Sanitizer reports
# stay recoverable so that UBSan can honour tests/support/ubsan.supp (a CAF
# header); the run halts on the first other report (halt_on_error=1).
add_library(solver_state_build_options INTERFACE)
target_compile_options(solver_state_build_options INTERFACE
  -Wall -Wextra -Wno-unused-parameter)
if(SOLVER_STATE_SANITIZE)
  target_compile_options(solver_state_build_options INTERFACE
    -fsanitize=${SOLVER_STATE_SANITIZE} -fno-omit-frame-pointer)
  target_link_options(solver_state_build_options INTERFACE
    -fsanitize=${SOLVER_STATE_SANITIZE})
endif()

# Debug info is most of a binary's size: every test executable links the whole
# store, and its CAF template names alone are ~200 MB of DWARF strings, so a
# build with tests needed >10 GB. Compressed at link time (gold, part of
# binutils, is also faster than the default linker here) it is ~6x smaller;
# gdb and the sanitizers read it as is. Only link options change, so ccache
# keeps every object.
option(SOLVER_STATE_COMPRESS_DEBUG_INFO
  "Link with gold and compress debug sections (zlib)" ON)
if(SOLVER_STATE_COMPRESS_DEBUG_INFO)
  include(CheckCXXSourceCompiles)
  set(CMAKE_REQUIRED_LINK_OPTIONS
    -fuse-ld=gold -Wl,--compress-debug-sections=zlib)
  check_cxx_source_compiles("int main() { return 0; }"
    SOLVER_STATE_HAVE_COMPRESSED_DEBUG_LINK)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
  if(SOLVER_STATE_HAVE_COMPRESSED_DEBUG_LINK)
    target_link_options(solver_state_build_options INTERFACE
      -fuse-ld=gold -Wl,--compress-debug-sections=zlib)
  endif()
endif()

# solver_state_target(TARGET): our build options on any target (tests,
# benchmarks, executables); executables also get the project's allocator
# (SolverStateAllocator.cmake).
function(solver_state_target target)
  target_link_libraries(${target} PRIVATE
    $<BUILD_INTERFACE:solver_state_build_options>)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    target_link_libraries(${target} PRIVATE solver_state_allocator)
  endif()
endfunction()

# solver_state_library(TARGET EXPORT_NAME [EXPORT_SET]): a library of the
# project, solver_state::EXPORT_NAME when installed, found by its headers at
# the paths the sources use ("messages/keys.hpp"). Its export set defaults to
# the core's; optional components have their own, so a consumer that does not
# ask for them needs none of their dependencies.
function(solver_state_library target export_name)
  set(export_set solver_stateTargets)
  if(ARGC GREATER 2)
    set(export_set ${ARGV2})
  endif()
  solver_state_target(${target})
  add_library(solver_state::${export_name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${export_name}
    POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:include>
    $<INSTALL_INTERFACE:include/solver_state>)
  include(GNUInstallDirs)
  install(TARGETS ${target} EXPORT ${export_set}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endfunction()
