# The malloc of the executables (the service, the benchmarks, the tests).
#
# jemalloc by default: CAF hands every message from the thread that allocates
# it to the thread that frees it, and glibc's malloc serialises such frees on
# the allocating thread's arena lock. Measured (bench/README.md, "The
# allocator"): 1.4-3.8x the single-key rates of the store actors in process;
# over HTTP, no change beyond the noise. Libraries never link it: a program
# that embeds the store picks its own allocator.
#
#   -DSOLVER_STATE_ALLOCATOR=system   glibc's malloc (no libjemalloc-dev needed)
#
# A sanitizer brings its own allocator, so a sanitized build uses that.
set(SOLVER_STATE_ALLOCATOR "jemalloc" CACHE STRING
  "malloc of the executables: jemalloc or system")
set_property(CACHE SOLVER_STATE_ALLOCATOR PROPERTY STRINGS jemalloc system)

add_library(solver_state_allocator INTERFACE)
set(SOLVER_STATE_USES_JEMALLOC OFF)
if(SOLVER_STATE_ALLOCATOR STREQUAL "jemalloc")
  if(SOLVER_STATE_SANITIZE)
    message(STATUS "allocator: the sanitizer's (SOLVER_STATE_SANITIZE is set)")
  else()
    pkg_check_modules(JEMALLOC IMPORTED_TARGET jemalloc)
    if(NOT JEMALLOC_FOUND)
      message(FATAL_ERROR "SOLVER_STATE_ALLOCATOR=jemalloc needs jemalloc "
        "(apt-get install libjemalloc-dev, or scripts/install-deps.sh); "
        "-DSOLVER_STATE_ALLOCATOR=system builds with glibc's malloc instead")
    endif()
    # No symbol of jemalloc is called by name: a linker run with --as-needed
    # (some distributions' default) would drop it.
    target_link_libraries(solver_state_allocator INTERFACE
      "-Wl,--push-state,--no-as-needed" PkgConfig::JEMALLOC "-Wl,--pop-state")
    # Its settings, compiled into each executable (util/jemalloc_conf.cpp).
    target_sources(solver_state_allocator INTERFACE
      ${PROJECT_SOURCE_DIR}/util/jemalloc_conf.cpp)
    set(SOLVER_STATE_USES_JEMALLOC ON)
    message(STATUS "allocator: jemalloc ${JEMALLOC_VERSION}")
  endif()
elseif(NOT SOLVER_STATE_ALLOCATOR STREQUAL "system")
  message(FATAL_ERROR "SOLVER_STATE_ALLOCATOR must be jemalloc or system, "
    "not '${SOLVER_STATE_ALLOCATOR}'")
endif()
