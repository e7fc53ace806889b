// Fuzz target: the llama2.c checkpoint loader (WeightStore on bytes in memory), then every tensor read.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "llmc/weights_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Bytes that start with GGUF's magic are read as GGUF (the gguf target's business), whatever the name says.
  if (size >= 4 && std::string(reinterpret_cast<const char*>(data), 4) == "GGUF") return 0;
  try {
    llmc::WeightStore store =
        llmc::WeightStore::from_bytes("fuzz.bin", std::string(reinterpret_cast<const char*>(data), size));
    llmc_fuzz::check(store.tensor_count() > 0, "a checkpoint without tensors was accepted");
    size_t total = 0;
    std::vector<std::pair<std::string, std::vector<int64_t>>> all;
    for (const auto& [name, t] : store.tensors()) {
      all.emplace_back(name, t.shape);
      total += t.bytes;
    }
    llmc_fuzz::check(total + 28 == size, "tensors do not cover the file exactly");
    for (const auto& [name, shape] : all) {
      const float* p = store.get(name, shape);
      size_t n = 1;
      for (int64_t d : shape) n *= static_cast<size_t>(d);
      volatile float x = 0;
      if (n) x = p[0] + p[n - 1];
      (void)x;
    }
    store.finish({});
  } catch (const llmc::Error&) {
  }
  return 0;
}
