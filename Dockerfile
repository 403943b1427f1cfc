# peergate: one image for `peergate webhook` (the admission gate), `peergate proxy` and
# `peergate iptables` (the injected sidecar and its init container), and the offline CLI.
#
#   docker build -t ghcr.io/peergate/peergate:0.1.0 .
#   docker build --build-arg RUN_TESTS=1 -t peergate:tested .   # also build and run every test
#   bash scripts/docker-smoke.sh                                  # build, then run the image
#
# The build stage runs exactly what scripts/demo.sh and scripts/test.sh run (the same
# install-deps script, the same CMake preset); tests/unit/manifests/manifests_test.cc checks that
# these lines do not drift, and that the runtime stage installs a package for every shared
# library the binary links.

# ---- build -----------------------------------------------------------------------------------
FROM debian:12 AS build
ARG RUN_TESTS=0
WORKDIR /src
COPY . .
RUN bash scripts/install-deps.sh
RUN cmake --preset release
RUN cmake --build --preset release --target peergate
# Optional: the whole test suite on the release build (slow; needs no network).
RUN if [ "$RUN_TESTS" = "1" ]; then \
      cmake --build --preset release && ctest --test-dir build/release --output-on-failure; \
    fi

# ---- runtime ---------------------------------------------------------------------------------
FROM debian:12-slim
# The shared libraries `ldd build/release/cli/peergate` lists, by Debian package, plus iptables
# for `peergate iptables` (the init container) and the CA roots for kubeconfigs without a CA.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libc6 libgcc-s1 libstdc++6 zlib1g libbrotli1 libssl3 libfmt9 libspdlog1.10 \
       libyaml-cpp0.7 libcpp-httplib0.11 \
       iptables ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/release/cli/peergate /usr/local/bin/peergate
# Non-root by default (the Deployment also sets runAsUser 65532 and a read-only root
# filesystem); the injected init container runs `peergate iptables` as root with NET_ADMIN.
USER 65532:65532
ENTRYPOINT ["peergate"]
CMD ["--help"]
