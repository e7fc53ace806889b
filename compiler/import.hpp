// `llmc import`: arch specs from existing checkpoints (llama2.c headers, Hugging Face config.json).
#pragma once
#include <string>
#include <vector>

#include "spec.hpp"

namespace llmc {

struct ImportOptions {
  int64_t max_context = 0;  // 0: the checkpoint's own, capped at kDefaultContextCap
};
inline constexpr int64_t kDefaultContextCap = 4096;

// A spec from a llama2.c checkpoint header (legacy version 0).
Spec import_llama2c(const std::string& path, const ImportOptions& options);

// A spec from a Hugging Face model folder or its config.json.
Spec import_hf(const std::string& path, const ImportOptions& options);

// A spec from a GGUF file's metadata and tensor directory (compiler/import_gguf.cpp): a file, or bytes held by
// a MappedFile (llmc/weights_loader.hpp; the fuzz target).
Spec import_gguf(const std::string& path, const ImportOptions& options);
class MappedFile;
Spec import_gguf(const MappedFile& file, const ImportOptions& options);

// Chooses by what `path` is: a folder or .json → Hugging Face, a file starting "GGUF" → GGUF, else a
// llama2.c checkpoint.
Spec import_any(const std::string& path, const ImportOptions& options);

std::vector<std::string> supported_model_types();

// The chat template (and its bos/eos text) of a Hugging Face model folder: chat_template.jinja or
// tokenizer_config.json chat_template; empty when it has none.
ChatSpec import_chat_template(const std::string& model_folder);

std::string spec_to_yaml(const Spec& spec, const std::string& comment);

}  // namespace llmc
