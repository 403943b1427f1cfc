#!/usr/bin/env bash
# Builds the image and runs it: `peergate --version`, then `peergate check` on two examples
# (one clean: exit 0; one refused: exit 79). Without a Docker engine it says so and exits 0.
# Usage: scripts/docker-smoke.sh [IMAGE_TAG]   (default peergate:smoke)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v docker >/dev/null 2>&1; then
  echo "docker-smoke: skipped: no docker command on this machine"
  exit 0
fi
if ! docker info >/dev/null 2>&1; then
  echo "docker-smoke: skipped: the docker command cannot reach a Docker engine"
  exit 0
fi

image=${1:-peergate:smoke}
examples=manifests/examples

# Concatenates the YAML files of a folder into one multi-document stream for `check -f -`.
documents() {
  local file
  for file in "$@"; do
    cat "$file"
    printf '\n---\n'
  done
}

echo "== docker build -t $image ."
docker build -t "$image" .

echo "== peergate --version"
docker run --rm --read-only "$image" --version

echo "== peergate check (secure-apps: expect exit 0)"
documents "$examples"/secure-apps/*.yaml | docker run --rm -i --read-only "$image" check -f -

echo "== peergate check (foo-bar-legacy + mesh-strict: expect exit 79)"
set +e
documents "$examples"/foo-bar-legacy/*.yaml "$examples"/mesh-strict/*.yaml |
  docker run --rm -i --read-only "$image" check -f -
status=$?
set -e
if [ "$status" -ne 79 ]; then
  echo "docker-smoke: expected exit 79 (refused), got $status" >&2
  exit 1
fi
echo "docker-smoke: ok"
