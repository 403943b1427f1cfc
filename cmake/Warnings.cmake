# Strict warnings for our own targets only; third-party headers come in as SYSTEM.
function(peergate_strict_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Werror)
endfunction()
