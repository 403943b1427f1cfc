#!/usr/bin/env bash
# Installs every Debian package the build and the tests need. Idempotent and quiet:
# packages already present are skipped, apt runs only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  nlohmann-json3-dev libyaml-cpp-dev catch2 libcli11-dev libspdlog-dev libfmt-dev
  libcpp-httplib-dev libssl-dev libasio-dev
  clang libclang-rt-14-dev clang-format
  python3 time openssl curl
  iptables iproute2 tcpdump sslscan
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root, or: sudo $0)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
