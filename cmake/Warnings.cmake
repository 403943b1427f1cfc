# Strict warnings for our own targets only; third-party headers come in as SYSTEM.
function(peergate_strict_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Werror)
  # GCC 12 at -O2/-O3 reports impossible memcpy overlaps inside libstdc++'s std::string
  # operator+ (GCC bug 105651, fixed in GCC 13). It fires on ordinary concatenation, so it
  # stays a warning there instead of failing the release build.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-error=restrict)
  endif()
endfunction()
