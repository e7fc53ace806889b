#!/usr/bin/env bash
# ASan + UBSan build and run of the tests of everything that reads untrusted input: the runtime-level
# unit tests (tokenizers, checkpoint loaders), llmc itself (spec parser, import) and a generated binary
# (tests/errors), plus a replay of the fuzz corpora. A separate build dir; about 8 minutes on 2 cores.
#   scripts/sanitize.sh              build + run
# Env: LLMC_SANITIZE_BUILD (default <repo>/build-asan), LLMC_SANITIZE_JOBS (default 2),
#      LLMC_SANITIZE_CXX (C++ compiler, default c++), LLMC_SANITIZE_LLMC=0 to skip llmc and its CLI tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${LLMC_SANITIZE_BUILD:-$ROOT/build-asan}"
JOBS="${LLMC_SANITIZE_JOBS:-2}"
CXX_BIN="${LLMC_SANITIZE_CXX:-c++}"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0}"

# -g1: line tables, all a report's stack needs (full -g made the build a third slower).
start=$(date +%s)
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DCMAKE_CXX_COMPILER="$CXX_BIN" \
  -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_EXE_LINKER_FLAGS="$SAN" \
  -DLLMC_ERRORS_CXX="$CXX_BIN $SAN -g1" -DLLMC_ERRORS_OPT=-O1 >/dev/null
targets=(tokenizer_tests errors_unit)
tests='^(tokenizer\.(llama2c|vocab|unigram|errors|stream)|errors\.unit)'
if [ "${LLMC_SANITIZE_LLMC:-1}" != 0 ]; then
  targets+=(llmc)
  tests='^(tokenizer\.|errors\.)'
fi
nice cmake --build "$BUILD" -j"$JOBS" --target "${targets[@]}"
echo "sanitize: built in $(( $(date +%s) - start )) s"

# Error cases that build models of their own (recurrent, MoE, ChatGLM, T5, BERT) compile those binaries with
# the default compiler, unsanitized, so here they would only repeat the plain run (a third of this run's time);
# the sanitized binary is the stories260k one of errors.build_binary, which the other cases use.
own_binaries='^errors\.(recurrent_wrong_state_sizes|mamba2_and_yuan_wrong_sizes|chatglm_prompt_without_gmask|'
own_binaries+='gen_moe_checkpoint_disagrees|gen_encoder_decoder_inputs|gen_encoder_decoder_tokenizer_kind|'
own_binaries+='encoder_bad_inputs|encoder_pooler|build_formats_refuses_other_weights)$'
# The fuzz corpora replayed through the sanitized loaders (errors_unit reads fuzz/corpus).
ctest --test-dir "$BUILD" -R "$tests" -E "$own_binaries" -j"$JOBS" --output-on-failure --timeout 900
echo "sanitize: done in $(( $(date +%s) - start )) s"
