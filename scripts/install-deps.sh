#!/usr/bin/env bash
# Installs the Debian packages llmc needs to build and test. Safe to re-run.
set -euo pipefail
PACKAGES=(
  cmake g++ make
  clang-19 libclang-cpp19-dev llvm-19-dev libclang-19-dev libclang-rt-19-dev
  libyaml-cpp-dev libfmt-dev libxsimd-dev xtl-dev doctest-dev
  nlohmann-json3-dev libcli11-dev libpcre2-dev python3
  libcpp-httplib-dev   # --serve's HTTP layer
  python3-jinja2 curl nodejs  # tests: chat templates vs jinja2; the server with curl and the openai npm package
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm: Debian's package, unless the installed nodejs brings its own (NodeSource's does, and conflicts with it)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
