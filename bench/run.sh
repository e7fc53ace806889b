#!/usr/bin/env bash
# Runs the llmc speed bench (see bench/bench.py --help): builds the helpers, generates random weights,
# builds each model with llmc, measures, prints a markdown table and writes bench/results.md.
# Needs a built llmc (default build-perf/llmc; override with LLMC=path). Extra arguments go to bench.py,
# e.g. bench/run.sh --types f32,f16 --shapes stories110M,tinyllama1.1B
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 "$here/bench.py" "$@"
