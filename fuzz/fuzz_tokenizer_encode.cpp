// Fuzz target: the encode path of every tokenizer kind on arbitrary (also invalid UTF-8) text.
// Input: one selector byte (tokenizer, add_bos), then the text. The tokenizers come from tests/data
// and are loaded once (LLMC_FUZZ_DATA points at tests/data/tokenizers; set by CMake at build time).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "llmc/tokenizer.hpp"

#ifndef LLMC_FUZZ_DATA
#error "define LLMC_FUZZ_DATA"
#endif

namespace {
std::vector<std::unique_ptr<llmc::Tokenizer>>& tokenizers() {
  static std::vector<std::unique_ptr<llmc::Tokenizer>> all = [] {
    std::vector<std::unique_ptr<llmc::Tokenizer>> v;
    for (const char* f : {"llama2c/tok512.bin", "gguf/ggml-vocab-llama-spm.gguf", "gguf/ggml-vocab-gpt-2.gguf",
                          "hf/llama3/tokenizer.json", "llama2c/tokenizer.model", "gguf/ggml-vocab-deepseek-llm.gguf",
                          "gguf/ggml-vocab-falcon.gguf", "hf/qwen3/tokenizer.json", "hf/mistral/tokenizer.json",
                          "unigram/nfkc.model", "unigram/plain.model", "gguf/ggml-vocab-bert-bge.gguf"})
      v.push_back(llmc::Tokenizer::load(std::string(LLMC_FUZZ_DATA) + "/" + f));
    return v;
  }();
  return all;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto& all = tokenizers();
  const llmc::Tokenizer& tok = *all[data[0] % all.size()];
  const bool bos = (data[0] / all.size()) & 1;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<int> ids;
  try {
    ids = tok.encode(text, bos);
  } catch (const llmc::Error&) {
    return 0;
  }
  const int n = tok.vocab_size();
  for (int id : ids) llmc_fuzz::check(id >= 0 && id < n, "encode produced an id outside the vocabulary");
  // NFKC (unigram models) expands text up to 11x in bytes (U+FDFA: 3 bytes -> 33), each byte at most a token
  const size_t per_byte = tok.kind() == "unigram" ? 12 : 4;
  llmc_fuzz::check(ids.size() <= text.size() * per_byte + 4, "more tokens than bytes");
  const std::string back = tok.decode(ids);
  llmc::TextStream stream(tok);
  std::string streamed;
  for (int id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  return 0;
}
