// Fuzz target: every tokenizer loader behind Tokenizer::load (format detected from the bytes: GGUF vocab,
// HF tokenizer.json, GPT-2 encoder.json (+ a fixed vocab.bpe beside it), llama2.c tokenizer.bin,
// SentencePiece .model (BPE and unigram), BERT vocab.txt (inputs starting with '['), then encode / decode /
// token_bytes on what loaded.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "llmc/tokenizer.hpp"

namespace {
const std::string& vocab_bpe() {
  static const std::string path = [] {
    const std::string merges = "#version: 0.2\na b\n\xC4\xA0 a\n\xC4\xA0" "a b\n";
    return llmc_fuzz::write_scratch("vocab.bpe", reinterpret_cast<const uint8_t*>(merges.data()), merges.size());
  }();
  return path;
}
}  // namespace

static void exercise(const std::string& path) {
  std::unique_ptr<llmc::Tokenizer> tok;
  try {
    tok = llmc::Tokenizer::load(path);
  } catch (const llmc::Error&) {
    return;
  }
  const int n = tok->vocab_size();
  llmc_fuzz::check(n > 0, "a tokenizer without tokens was accepted");
  llmc_fuzz::check(tok->bos_id() < n && tok->eos_id() < n, "bos/eos outside the vocabulary");
  for (const char* text : {"", "Hello world", " a ab abc\n\n\t 12345 \xC3\xA9\xF0\x9F\xA6\x99", "\xFF\xC3"}) {
    for (bool bos : {false, true}) {
      std::vector<int> ids;
      try {
        ids = tok->encode(text, bos);
      } catch (const llmc::Error&) {
        continue;
      }
      for (int id : ids) llmc_fuzz::check(id >= 0 && id < n, "encode produced an id outside the vocabulary");
      try {
        (void)tok->decode(ids);
      } catch (const llmc::Error&) {
      }
    }
  }
  llmc::TextStream stream(*tok);
  for (int id = 0; id < n && id < 2048; ++id) {
    try {
      (void)tok->piece(id);
      (void)tok->token_bytes(id ? id - 1 : -1, id);
      (void)stream.push(id);
    } catch (const llmc::Error&) {
    }
  }
  (void)stream.flush();
  for (int bad : {-1, n, n + 1000}) {
    try {
      (void)tok->token_bytes(-1, bad);
      llmc_fuzz::check(false, "token_bytes accepted an id outside the vocabulary");
    } catch (const llmc::Error&) {
    }
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vocab_bpe();
  exercise(llmc_fuzz::write_scratch("tok", data, size));
  // BERT vocab.txt is recognised by its name; its files start with "[PAD]"
  if (size > 0 && data[0] == '[') exercise(llmc_fuzz::write_scratch("vocab.txt", data, size));
  return 0;
}
