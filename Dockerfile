# syntax=docker/dockerfile:1
# bidlake's image: one binary, `bidlake`, on Debian 12 (bookworm).
#   docker build -t bidlake .            # or: docker compose build
#   docker run --rm bidlake --help
# The binary is built by scripts/build.sh, the same script (same apt packages, same lockfile)
# that scripts/test.sh builds the test suite with; crates/bidlake/tests/deploy.rs checks that this
# file keeps to it. A cold build compiles ~590 crates with optimisation: expect an hour or more on
# 2 cores (the dev build alone took 36 min there) and several GB of memory; on a bigger machine
# pass --build-arg CARGO_BUILD_JOBS=$(nproc).

# The workspace's rust-version (Cargo.toml); bookworm, like the runtime stage, so the binary's glibc
# and OpenSSL match what it runs on.
FROM rust:1.94.0-bookworm AS builder
ARG CARGO_BUILD_JOBS=2
WORKDIR /src
COPY scripts/build.sh scripts/build.sh
RUN scripts/build.sh --install-deps
COPY . .
ENV CARGO_TARGET_DIR=/src/target
# Cache mounts keep the crate registry and the build directory between image builds; the binary
# is copied out of the cache within the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    scripts/build.sh --release \
    && install -m 0755 /src/target/release/bidlake /usr/local/bin/bidlake

FROM debian:bookworm-slim
# libssl3: librdkafka's TLS (and SASL SCRAM); zlib1g, libgcc-s1 and libc6 are already in the base.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/bidlake bidlake
COPY --from=builder /usr/local/bin/bidlake /usr/local/bin/bidlake
USER bidlake
WORKDIR /var/lib/bidlake
# The embedded defaults (SQLite catalog, local warehouse) land here unless CATALOG_URI and
# WAREHOUSE point elsewhere; mount a volume on it to keep them.
ENV BIDLAKE_DATA_DIR=/var/lib/bidlake/data
ENTRYPOINT ["bidlake"]
CMD ["--help"]
