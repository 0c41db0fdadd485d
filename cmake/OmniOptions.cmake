# The one place for language level, warnings, sanitizers and build caching.

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)

option(OMNI_BUILD_TESTS "Build the test suites" ON)
option(OMNI_BUILD_BENCH "Build the benchmarks" ON)
option(OMNI_WERROR "Treat warnings as errors" OFF)
set(OMNI_SANITIZE "" CACHE STRING "Sanitizers to build with: '', 'address,undefined' or 'thread'")

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()

find_program(OMNI_CCACHE ccache)
if(OMNI_CCACHE)
  set(CMAKE_C_COMPILER_LAUNCHER "${OMNI_CCACHE}")
  set(CMAKE_CXX_COMPILER_LAUNCHER "${OMNI_CCACHE}")
endif()

if(OMNI_SANITIZE)
  add_compile_options(-fsanitize=${OMNI_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${OMNI_SANITIZE})
endif()

# Applied to every first-party target through omni_target_defaults().
function(omni_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wnon-virtual-dtor
                                           -Wimplicit-fallthrough)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wshadow=local)
  else()
    # clang checks the lock annotations of omnirelay/config/mutex.h; with
    # OMNI_WERROR (every preset) a missing lock fails the clang builds.
    target_compile_options(${target} PRIVATE -Wshadow-uncaptured-local -Wthread-safety)
  endif()
  if(OMNI_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# A libFuzzer target exists only when the compiler is clang.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  set(OMNI_HAVE_LIBFUZZER ON)
else()
  set(OMNI_HAVE_LIBFUZZER OFF)
endif()
