// llmc: the command line. compile / build / quantize / inspect / import / tokenize / detokenize.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "llmc/error.hpp"
#include "tokenize_cmd.hpp"

int main(int argc, char** argv) {
  CLI::App app{"llmc: compiles an LLM architecture spec into one specialised C++ inference program"};
  app.set_version_flag("--version", LLMC_VERSION);
  app.require_subcommand(1);
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);

  llmc::CompileOptions compile;
  compile.command_line = command_line;
  auto* c = app.add_subcommand("compile", "emit the specialised C++ source of a spec");
  c->add_option("spec", compile.spec_path, "arch YAML")->required();
  c->add_option("-o,--output", compile.output, "output .cpp")->required();
  c->add_flag("--no-verify", compile.skip_verify, "skip the in-process Clang parse of the output");

  llmc::BuildOptions build;
  auto* b = app.add_subcommand("build", "emit the source and compile it into an executable");
  b->add_option("spec", build.compile.spec_path, "arch YAML")->required();
  b->add_option("-o,--output", build.output, "output executable")->required();
  b->add_option("--cxx", build.cxx, "C++ compiler (default: $CXX, else c++)");
  b->add_option("--march", build.march, "target architecture for -march")->capture_default_str();
  b->add_option("--opt", build.opt_level, "optimisation flag")->capture_default_str();
  b->add_option("--keep-source", build.keep_source, "also write the generated source here");
  b->add_flag("--no-openmp", build.no_openmp, "single-threaded binary without the OpenMP runtime");
  b->add_flag("--embed", build.embed,
              "one executable that carries its weights (grouped / quantised for --dtype, as llmc quantize writes "
              "them) and its tokenizer, and maps them from itself when it runs");
  b->add_option("--weights", build.weights, "with --embed: the checkpoint (as for llmc quantize)");
  b->add_option("--tokenizer", build.tokenizer, "with --embed: the tokenizer file, or a folder holding tokenizer.json "
                                                "or tokenizer.model (default: the one in the --weights folder)");
  for (auto [cmd, dtype] : {std::pair{c, &compile.dtype}, std::pair{b, &build.compile.dtype}})
    cmd->add_option("--dtype", *dtype,
                    "weights of the matrices: as-stored (f32/f16/bf16 as in the checkpoint), f32, q8_0, q4_0, "
                    "q4_k, q5_k, q6_k (quantised at load)")
        ->check(CLI::IsMember({"as-stored", "f32", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k"}))
        ->capture_default_str();
  for (auto [cmd, kv] : {std::pair{c, &compile.kv_cache}, std::pair{b, &build.compile.kv_cache}})
    cmd->add_option("--kv-cache", *kv,
                    "elements of the KV cache: f32, or f16 (half the memory and the bytes attention reads)")
        ->check(CLI::IsMember({"f32", "f16"}))
        ->capture_default_str();

  for (auto [cmd, formats] : {std::pair{c, &compile.formats}, std::pair{b, &build.compile.formats}})
    cmd->add_option("--formats", *formats,
                    "matrix formats the binary has kernels for: all, or a comma list of f32, f16, bf16, q8_0, q4_0, "
                    "q4_k, q5_k, q6_k (f32 always; --dtype's among them). Fewer compile faster; a checkpoint "
                    "needing another is refused at load")
        ->capture_default_str();

  llmc::QuantizeOptions quantize;
  auto* q = app.add_subcommand("quantize", "rewrite a checkpoint with the model's matrices in the layout its binary "
                                           "maps directly (q8_0 / q4_0 / q4_k / q5_k / q6_k quantised, or f32 / f16 / "
                                           "bf16 grouped)");
  q->add_option("spec", quantize.spec_path, "arch YAML")->required();
  q->add_option("--weights", quantize.weights, "model.safetensors, its index.json, a folder, or a llama2.c .bin")
      ->required();
  q->add_option("-o,--output", quantize.output, "output .safetensors")->required();
  q->add_option("--dtype", quantize.dtype, "weights of the matrices: as-stored, f32, q8_0, q4_0, q4_k, q5_k, q6_k")
      ->check(CLI::IsMember({"as-stored", "f32", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k"}))
      ->required();

  std::string inspect_spec;
  auto* i = app.add_subcommand("inspect", "per-layer shapes, parameter count and memory of a spec");
  i->add_option("spec", inspect_spec, "arch YAML")->required();

  std::string import_source, import_output;
  llmc::ImportOptions import_options;
  auto* im = app.add_subcommand("import", "write an arch YAML for a Hugging Face model folder, a GGUF file or a llama2.c .bin");
  im->add_option("source", import_source, "HF folder / config.json, GGUF file, or llama2.c checkpoint")->required();
  im->add_option("-o,--output", import_output, "output YAML")->required();
  im->add_option("--max-context", import_options.max_context,
                 fmt::format("context to compile for (default: the model's, at most {})", llmc::kDefaultContextCap));

  llmc::add_tokenizer_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    compile.command_line = build.compile.command_line = command_line;
    if (c->parsed()) llmc::run_compile(compile);
    if (b->parsed()) llmc::run_build(build);
    if (q->parsed()) llmc::run_quantize(quantize);
    if (i->parsed()) llmc::run_inspect(inspect_spec, std::cout);
    if (im->parsed()) llmc::run_import(import_source, import_output, import_options, command_line);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "llmc: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
