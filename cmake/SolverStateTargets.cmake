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

# solver_state_target(TARGET): our build options on any target (tests,
# benchmarks, executables).
function(solver_state_target target)
  target_link_libraries(${target} PRIVATE
    $<BUILD_INTERFACE:solver_state_build_options>)
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
