// Part of llmc/tokenizer.hpp (include that one): format detection.
#pragma once
#ifndef LLMC_TOKENIZER_INTERNAL
#error "include llmc/tokenizer.hpp instead of its parts"
#endif

namespace llmc {

inline std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  std::string head = tok_detail::read_head(path, 16);
  if (head.size() >= 4 && head.compare(0, 4, "GGUF") == 0)
    throw Error("tokenizer '" + path + "': GGUF vocabularies are not supported yet");
  std::string data = tok_detail::read_file(path);
  return std::make_unique<Llama2cTokenizer>(data, path);
}

}  // namespace llmc
