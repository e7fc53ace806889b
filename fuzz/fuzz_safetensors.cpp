// Fuzz target: the safetensors header parser and loader (WeightStore on bytes in memory), then every
// tensor read back as fp32 (and transposed when 2-D), then finish().
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "llmc/weights_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    llmc::WeightStore store =
        llmc::WeightStore::from_bytes("fuzz.safetensors", std::string(reinterpret_cast<const char*>(data), size));
    std::vector<std::pair<std::string, std::vector<int64_t>>> all;
    for (const auto& [name, t] : store.tensors()) {
      all.emplace_back(name, t.shape);
    }
    double sum = 0;
    for (const auto& [name, shape] : all) {
      size_t n = 1;
      for (int64_t d : shape) n *= static_cast<size_t>(d);
      if (n > (1u << 20)) continue;  // reading is checked by ASan either way; keep executions fast
      const float* p = store.get(name, shape, shape.size() == 2);
      for (size_t i = 0; i < n; ++i) sum += p[i] == p[i] ? 0.0 : 1.0;
      try {
        store.get(name, {7, 7, 7});
        llmc_fuzz::check(shape == std::vector<int64_t>{7, 7, 7}, "a wrong shape was accepted");
      } catch (const llmc::Error&) {
      }
    }
    store.finish({});
    (void)sum;
  } catch (const llmc::Error&) {
  }
  return 0;
}
