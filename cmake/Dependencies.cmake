# Every dependency comes from a Debian package (scripts/install-deps.sh installs them).
find_package(nlohmann_json 3.10 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Catch2 2 REQUIRED)
find_package(Threads REQUIRED)

# Standalone asio (Debian libasio-dev) is header-only and ships no CMake package.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
if(NOT TARGET peergate::asio)
  add_library(peergate::asio INTERFACE IMPORTED)
  target_include_directories(peergate::asio SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
  target_compile_definitions(peergate::asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED)
endif()
