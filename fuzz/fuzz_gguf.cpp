// Fuzz target: the GGUF parser (metadata with every array kept, tensor directory) and the loader on it
// (WeightStore on bytes in memory): every tensor read back as fp32 and, when 2-D, as a grouped matrix kept
// as stored (repacked or dequantised) and quantised to q4_0, every value read, then finish().
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_common.hpp"
#include "llmc/weights_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4 || std::memcmp(data, "GGUF", 4) != 0) return 0;  // other bytes go to the llama2.c parser
  try {
    const llmc::gguf::File f = llmc::gguf::parse("fuzz.gguf", data, size, [](const std::string&) { return true; });
    for (const auto& t : f.tensors)
      llmc_fuzz::check(t.data >= data && t.bytes <= size && t.data - data <= static_cast<ptrdiff_t>(size - t.bytes),
                       "a tensor lies outside the file");
  } catch (const llmc::Error&) {
  }
  try {
    llmc::WeightStore store =
        llmc::WeightStore::from_bytes("fuzz.gguf", std::string(reinterpret_cast<const char*>(data), size));
    std::vector<std::pair<std::string, std::vector<int64_t>>> all;
    for (const auto& [name, t] : store.tensors()) all.emplace_back(name, t.shape);
    double sum = 0;
    for (const auto& [name, shape] : all) {
      size_t n = 1;
      for (int64_t d : shape) n *= static_cast<size_t>(d);
      if (n > (1u << 20)) continue;  // keep executions fast
      const float* p = store.get(name, shape, shape.size() == 2);
      for (size_t i = 0; i < n; ++i) sum += p[i] == p[i] ? 0.0 : 1.0;
      if (shape.size() != 2 || n > (1u << 12)) continue;
      const size_t rows = static_cast<size_t>(shape[0]), cols = static_cast<size_t>(shape[1]);
      for (auto storage : {llmc::MatrixStorage::as_stored, llmc::MatrixStorage::q4_0}) {
        const llmc::Matrix m = store.get_matrix(name, shape, storage);
        for (size_t r = 0; r < rows; ++r)
          for (size_t i = 0; i < cols; ++i)
            sum += llmc::matrix_value(m.format, static_cast<const uint8_t*>(m.data), rows, cols, r, i) == 0.0f;
      }
    }
    store.finish({});
    (void)sum;
  } catch (const llmc::Error&) {
  }
  return 0;
}
