// Fuzz target: the safetensors header parser and loader (WeightStore on bytes in memory), then every
// tensor read back as fp32 (and transposed when 2-D) and, when 2-D, as a grouped / quantised matrix (or
// mapped as `llmc quantize` grouped it), every value read, then finish().
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
      try {
        const float* p = store.get(name, shape, shape.size() == 2);
        for (size_t i = 0; i < n; ++i) sum += p[i] == p[i] ? 0.0 : 1.0;
      } catch (const llmc::Error&) {  // e.g. a matrix grouped by llmc quantize
      }
      try {
        store.get(name, {7, 7, 7});
        llmc_fuzz::check(shape == std::vector<int64_t>{7, 7, 7}, "a wrong shape was accepted");
      } catch (const llmc::Error&) {
      }
      if (shape.size() != 2 || n > (1u << 12)) continue;
      const size_t rows = static_cast<size_t>(shape[0]), cols = static_cast<size_t>(shape[1]);
      for (auto storage : {llmc::MatrixStorage::as_stored, llmc::MatrixStorage::q4_0}) {
        try {
          const llmc::Matrix m = store.get_matrix(name, shape, storage);
          for (size_t r = 0; r < rows; ++r)
            for (size_t i = 0; i < cols; ++i)
              sum += llmc::matrix_value(m.format, static_cast<const uint8_t*>(m.data), rows, cols, r, i) == 0.0f;
        } catch (const llmc::Error&) {
        }
      }
    }
    store.finish({});
    (void)sum;
  } catch (const llmc::Error&) {
  }
  return 0;
}
