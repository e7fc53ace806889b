// The llmc subcommands, as functions the CLI and the tests call.
#pragma once
#include <ostream>
#include <string>

#include "import.hpp"
#include "plan.hpp"

namespace llmc {

struct CompileOptions {
  std::string spec_path, output, command_line;
  bool skip_verify = false;
  // Weights of the matrices: "as-stored" (f32/f16/bf16 as in the checkpoint), "f32" (converted at load),
  // "q8_0" / "q4_0" / "q4_k" / "q5_k" / "q6_k" (GGUF block quantisation at load).
  std::string dtype = "as-stored";
  // Elements of the KV cache: "f32", or "f16" (half the memory and bytes read per token; keys and values
  // rounded to f16 as they are stored).
  std::string kv_cache = "f32";
  // The matrix formats the binary has kernels for (EmitOptions::formats): fewer build faster.
  std::string formats = "all";
};

struct BuildOptions {
  CompileOptions compile;
  std::string output, cxx, keep_source;
  std::string march = "native", opt_level = "-O2";
  bool no_openmp = false;
  // --embed: one executable that carries its weights (grouped as `llmc quantize` writes them, for
  // compile.dtype) and its tokenizer (optional; a file or a folder) after its ELF image (llmc/embedded.hpp).
  bool embed = false;
  std::string weights, tokenizer;
};

struct QuantizeOptions {
  std::string spec_path, weights, output;
  std::string dtype;  // as CompileOptions::dtype
};

// spec file → verified source text.
std::string compile_to_source(const CompileOptions& options);

void run_compile(const CompileOptions& options);
void run_build(const BuildOptions& options);
// The checkpoint rewritten with the model's matrices grouped (and quantised) as its binary keeps them, so
// that the binary maps them without conversion at load.
void run_quantize(const QuantizeOptions& options);
void run_inspect(const std::string& spec_path, std::ostream& out);
void run_import(const std::string& source, const std::string& output, const ImportOptions& options,
                const std::string& command_line);

// Writes text to path through a temporary file and a rename: never half-written.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace llmc
