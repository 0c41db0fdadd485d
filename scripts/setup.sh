#!/usr/bin/env bash
# Installs the Debian 12 packages OmniRelay needs to build and test.
# Idempotent: asks dpkg what is missing and installs only that, so a second
# run on a prepared machine takes well under a second.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache clang clang-format
  # clang's sanitizer and libFuzzer runtimes: a recommends of clang, which
  # --no-install-recommends below leaves out
  libclang-rt-14-dev
  # llvm-symbolizer (also a recommends): the asan tests' LeakSanitizer
  # suppressions name functions, which match only in symbolized stacks; on a
  # bare machine without it the known libpqxx 6.4 leak failed a store test
  llvm-14
  # APIs
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # documents, crypto, storage
  nlohmann-json3-dev libsimdjson-dev libssl-dev libsqlite3-dev sqlite3
  libpqxx-dev libpq-dev
  # the throwaway Postgres server of the store tests (scripts/pg-server.sh)
  postgresql-15 postgresql-client-15
  # buses, REST, logs, CLI
  librdkafka-dev libhiredis-dev libcpp-httplib-dev libspdlog-dev libfmt-dev libcli11-dev
  # the event-driven HTTP server (Boost.Beast on Asio, header-only)
  libboost-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  # tools the test scripts use
  curl python3 procps openssl
  # servers the adapter tests start on loopback ports: the Redis Streams bus,
  # and the JVM that runs the Kafka broker (scripts/kafka-server.sh fetches
  # Apache Kafka's jars; Debian ships no broker)
  redis-server openjdk-17-jre-headless
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "setup: installing ${#missing[@]} missing package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
