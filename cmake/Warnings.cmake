# Strict warnings for our own targets only; third-party headers come in as SYSTEM.
function(peergate_strict_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Werror)
  # GCC 12 at -O2/-O3 reports impossible memcpy overlaps inside libstdc++'s std::string
  # operator+ (GCC bug 105651) and "maybe uninitialized" std::function members inside <regex>
  # (GCC bug 105562), both fixed in GCC 13. They fire on ordinary library use in the release and
  # sanitizer builds, so they stay warnings there instead of failing the build.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-error=restrict -Wno-error=maybe-uninitialized)
  endif()
endfunction()
