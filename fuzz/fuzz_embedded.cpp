// Fuzz target: the payload of a one-file binary (llmc/embedded.hpp) at the end of a file: its trailer, the
// checksum, the tokenizer section (then the tokenizer it holds, loaded from memory) and the weights
// (safetensors mapped from the middle of the file).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "llmc/embedded.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = llmc_fuzz::write_scratch("onefile", data, size);
  std::optional<llmc::EmbeddedPayload> p;
  try {
    p = llmc::find_payload(path, path);
  } catch (const llmc::Error&) {
    return 0;
  }
  if (!p) return 0;
  llmc_fuzz::check(p->weights_offset + p->weights_size <= size && p->tokenizer_offset + p->tokenizer_size <= size,
                   "a payload past the end of the file was accepted");
  try {
    if (auto files = llmc::payload_tokenizer(path, *p, path)) {
      llmc_fuzz::check(files->files.count(files->main) == 1, "the main tokenizer file is missing");
      auto tok = llmc::Tokenizer::load(*files);
      (void)tok->encode("Hello world", true);
    }
  } catch (const llmc::Error&) {
  }
  try {
    llmc::WeightStore store = llmc::WeightStore::open_part(path, p->weights_offset, p->weights_size, "embedded");
    (void)store.has("a");
  } catch (const llmc::Error&) {
  }
  return 0;
}
