// The checkpoint loader on small files written here (errors for hostile files are in tests/errors).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "llmc/mla.hpp"
#include "llmc/weights_loader.hpp"

using namespace llmc;
namespace fs = std::filesystem;

namespace {

struct Tensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

fs::path write_safetensors(const std::string& file, const std::vector<Tensor>& tensors) {
  std::string header = "{", data;
  for (const auto& t : tensors) {
    std::string shape;
    for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? "," : "") + std::to_string(t.shape[i]);
    header += (header.size() > 1 ? "," : "") + std::string("\"") + t.name + "\":{\"dtype\":\"" + t.dtype +
              "\",\"shape\":[" + shape + "],\"data_offsets\":[" + std::to_string(data.size()) + "," +
              std::to_string(data.size() + t.bytes.size()) + "]}";
    data += t.bytes;
  }
  header += "}";
  const fs::path path = fs::temp_directory_path() / file;
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header << data;
  return path;
}

template <typename T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

}  // namespace

TEST_SUITE("weights") {
  TEST_CASE("f32 is read as stored, f16 and bf16 are converted, conv1d is transposed") {
    const std::vector<float> a = {1, 2, 3, 4, 5, 6};
    const std::vector<uint16_t> h = {0x3c00, 0xc000, 0x3800, 0x0001};   // 1, -2, 0.5, smallest subnormal
    const std::vector<uint16_t> b = {0x3f80, 0x4040};                   // 1, 3
    const fs::path p = write_safetensors("llmc_unit_a.safetensors", {{"a", "F32", {2, 3}, raw(a)},
                                                                     {"h", "F16", {4}, raw(h)},
                                                                     {"b", "BF16", {2}, raw(b)}});
    WeightStore s = WeightStore::open(p.string());
    const float* pa = s.get("a", {2, 3});
    CHECK(pa[5] == 6.0f);
    const float* ph = s.get("h", {4});
    CHECK(ph[0] == 1.0f);
    CHECK(ph[1] == -2.0f);
    CHECK(ph[2] == 0.5f);
    CHECK(ph[3] == doctest::Approx(5.96046448e-8f));
    const float* pb = s.get("b", {2});
    CHECK(pb[1] == 3.0f);
    const float* at = s.get("a", {2, 3}, true);  // [3, 2]
    CHECK(at[0] == 1.0f);
    CHECK(at[1] == 4.0f);
    CHECK(at[2] == 2.0f);
    CHECK_NOTHROW(s.finish({}));
    fs::remove(p);
  }

  TEST_CASE("MLA's kv_b as per-head matrices (key parts transposed), from a mapped file and from memory") {
    // 20 KB, so that reading it releases whole pages of the source: the second mla_projections, reading the same
    // tensor again, must still find its values (in memory: never released, as MADV_DONTNEED would zero them).
    constexpr int kHeads = 2, kNope = 3, kV = 2, kLatent = 512;
    std::vector<float> kv_b(size_t(kHeads) * (kNope + kV) * kLatent);
    for (size_t i = 0; i < kv_b.size(); ++i) kv_b[i] = float(i % 97) * 0.25f - 7.0f;
    const fs::path p = write_safetensors("llmc_unit_kv_b.safetensors", {{"kv_b", "F32", {kHeads * (kNope + kV), kLatent}, raw(kv_b)}});
    std::ifstream in(p, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const TensorRef ref{"kv_b", {kHeads * (kNope + kV), kLatent}, 2};
    auto at = [&](int h, int row, int c) { return kv_b[(size_t(h) * (kNope + kV) + row) * kLatent + c]; };
    for (bool mapped : {true, false}) {
      INFO(std::string(mapped ? "mapped" : "in memory"));
      WeightStore s = mapped ? WeightStore::open(p.string()) : WeightStore::from_bytes("kv_b.safetensors", bytes);
      const MlaProjections f32 = mla_projections<kNope, kV, kLatent>(s, ref, MatrixStorage::f32);
      REQUIRE(f32.keys.format == WFormat::f32_g16);
      REQUIRE(f32.values.format == WFormat::f32_g16);
      const auto* keys = static_cast<const uint8_t*>(f32.keys.data);
      const auto* values = static_cast<const uint8_t*>(f32.values.data);
      const size_t key_bytes = matrix_stride(WFormat::f32_g16, kLatent, kNope);
      const size_t value_bytes = matrix_stride(WFormat::f32_g16, kV, kLatent);
      int wrong = 0;
      for (int h = 0; h < kHeads; ++h)
        for (int c = 0; c < kLatent; ++c) {
          for (int i = 0; i < kNope; ++i)
            wrong += matrix_value(WFormat::f32_g16, keys + h * key_bytes, kLatent, kNope, c, i) != at(h, i, c);
          for (int j = 0; j < kV; ++j)
            wrong += matrix_value(WFormat::f32_g16, values + h * value_bytes, kV, kLatent, j, c) != at(h, kNope + j, c);
        }
      CHECK(wrong == 0);
      // Quantised storage: the value parts (rows of 512) in q8_0, the key parts (rows of 3) stay fp32.
      const MlaProjections q8 = mla_projections<kNope, kV, kLatent>(s, ref, MatrixStorage::q8_0);
      CHECK(q8.keys.format == WFormat::f32_g16);
      REQUIRE(q8.values.format == WFormat::q8_0);
      const auto* q8_values = static_cast<const uint8_t*>(q8.values.data);
      const size_t q8_bytes = matrix_stride(WFormat::q8_0, kV, kLatent);
      for (int h = 0; h < kHeads; ++h)
        for (int c = 0; c < kLatent; c += 37)
          CHECK(matrix_value(WFormat::q8_0, q8_values + h * q8_bytes, kV, kLatent, 1, c) ==
                doctest::Approx(at(h, kNope + 1, c)).epsilon(0.01));
      CHECK_NOTHROW(s.finish({}));
    }
    fs::remove(p);
  }

  TEST_CASE("a matrix kept in a format the binary has no kernels for is refused, naming tensor and format") {
    const std::vector<float> m(64 * 32, 0.5f);
    const std::vector<uint16_t> h(64 * 32, 0x3c00);
    const fs::path p = write_safetensors("llmc_unit_kernels.safetensors",
                                         {{"m", "F32", {64, 32}, raw(m)}, {"h", "F16", {64, 32}, raw(h)}});
    WeightStore s = WeightStore::open(p.string());
    s.set_kernel_formats(1u << static_cast<unsigned>(WFormat::f32_g16));  // llmc build --formats f32
    CHECK(s.get_matrix("m", {64, 32}, MatrixStorage::f32).format == WFormat::f32_g16);
    try {
      s.get_matrix("h", {64, 32}, MatrixStorage::as_stored);  // f16 kept as stored
      FAIL("no error");
    } catch (const KernelFormatError& e) {
      CHECK(std::string(e.what()).find("tensor 'h' is kept as f16, a format this binary has no kernels for") !=
            std::string::npos);
    }
    CHECK_THROWS_AS(s.get_matrix("m", {64, 32}, MatrixStorage::q8_0), KernelFormatError);
    s.set_kernel_formats(kKernelFormats);  // this test binary's: every format
    CHECK(s.get_matrix("m", {64, 32}, MatrixStorage::q8_0).format == WFormat::q8_0);
    fs::remove(p);
  }

  TEST_CASE("small tensors are copied with pread: the map's pages around them stay unmapped") {
    // 8 MB of a matrix, then a norm: reading the norm through the map would map the folio around it.
    const std::vector<float> big(2 << 20, 0.5f), norm = {1, 2, 3, 4};
    const fs::path p = write_safetensors("llmc_unit_small.safetensors", {{"m", "F32", {2048, 1024}, raw(big)},
                                                                         {"norm", "F32", {4}, raw(norm)}});
    WeightStore s = WeightStore::open(p.string());
    const uint8_t* in_map = s.tensors().at("norm").data;
    const float* v = s.get("norm", {4});
    CHECK(v[0] == 1.0f);
    CHECK(v[3] == 4.0f);
    // /proc/self/pagemap: one 64-bit entry per virtual page, bit 63 set if the page is mapped.
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const int pagemap = ::open("/proc/self/pagemap", O_RDONLY);
    REQUIRE(pagemap >= 0);
    uint64_t entry = 0;
    const ssize_t got = ::pread(pagemap, &entry, 8, static_cast<off_t>(reinterpret_cast<uintptr_t>(in_map) / page * 8));
    ::close(pagemap);
    REQUIRE(got == 8);
    CHECK((entry >> 63) == 0);
    fs::remove(p);
  }

  TEST_CASE("shape mismatch, missing tensor and unexplained tensors are errors naming them") {
    const std::vector<float> a = {1, 2, 3, 4};
    const fs::path p = write_safetensors("llmc_unit_b.safetensors",
                                         {{"w", "F32", {2, 2}, raw(a)}, {"extra.3.bias", "F32", {1}, raw(std::vector<float>{0})}});
    WeightStore s = WeightStore::open(p.string());
    CHECK_THROWS_WITH_AS(s.get("w", {4}), doctest::Contains("'w' has shape [2, 2], expected [4]"), Error);
    CHECK_THROWS_WITH_AS(s.get("nope", {1}), doctest::Contains("'nope' is missing"), Error);
    s.get("w", {2, 2});
    CHECK_THROWS_WITH_AS(s.finish({}), doctest::Contains("extra.3.bias"), Error);
    CHECK_NOTHROW(s.finish({"extra.{i}.bias"}));
    fs::remove(p);
  }

  TEST_CASE("name patterns") {
    CHECK(name_matches("a.{i}.b", "a.12.b"));
    CHECK(!name_matches("a.{i}.b", "a..b"));
    CHECK(name_matches("rotary.*", "rotary.inv_freq"));
    CHECK(!name_matches("a.b", "a.bc"));
  }

  TEST_CASE("bf16_g16 layout: per column pair, 16 rows of (column 2p, column 2p+1); an odd count padded") {
    constexpr size_t rows = 3, cols = 5;
    std::vector<float> x(rows * cols);
    for (size_t r = 0; r < rows; ++r)
      for (size_t i = 0; i < cols; ++i) x[r * cols + i] = bf16_to_f32(uint16_t(0x3f80 + r * 16 + i));
    CHECK(group_bytes(WFormat::bf16_g16, cols) == 3 * 64);
    CHECK(grouped_matrix_bytes(WFormat::bf16_g16, 17, cols) == 2 * 3 * 64);
    std::vector<uint8_t> group(group_bytes(WFormat::bf16_g16, cols), 0xaa);
    write_group(WFormat::bf16_g16, x.data(), rows, cols, group.data());
    for (size_t p = 0; p < 3; ++p)
      for (size_t r = 0; r < 16; ++r)
        for (size_t k = 0; k < 2; ++k) {
          const size_t i = 2 * p + k;
          uint16_t h;
          std::memcpy(&h, &group[p * 64 + r * 4 + k * 2], 2);
          CHECK(h == (r < rows && i < cols ? 0x3f80 + r * 16 + i : 0));  // zero padding rows and column
        }
    for (size_t r = 0; r < rows; ++r)
      for (size_t i = 0; i < cols; ++i) CHECK(matrix_value(WFormat::bf16_g16, group.data(), rows, cols, r, i) == x[r * cols + i]);
  }

  TEST_CASE("f16_g16 / bf16_g16 groups copied from stored bits equal those written from the widened values") {
    constexpr size_t rows = 13, cols = 7;
    for (const WFormat f : {WFormat::f16_g16, WFormat::bf16_g16}) {
      std::vector<uint16_t> bits(rows * cols);
      std::vector<float> x(rows * cols);
      for (size_t i = 0; i < bits.size(); ++i) {
        bits[i] = static_cast<uint16_t>((i * 2654435761u) >> 7);
        if ((bits[i] & 0x7c00) == 0x7c00 && f == WFormat::f16_g16) bits[i] &= 0xbfff;  // no inf / NaN
        if ((bits[i] & 0x7f80) == 0x7f80 && f == WFormat::bf16_g16) bits[i] &= 0xbfff;
        x[i] = f == WFormat::f16_g16 ? f16_to_f32(bits[i]) : bf16_to_f32(bits[i]);
      }
      bits[3] = 0x0001;  // subnormals, and a negative zero
      bits[4] = 0x8000;
      x[3] = f == WFormat::f16_g16 ? f16_to_f32(bits[3]) : bf16_to_f32(bits[3]);
      x[4] = -0.0f;
      std::vector<uint8_t> from_floats(group_bytes(f, cols), 0xaa), from_bits(group_bytes(f, cols), 0x55);
      write_group(f, x.data(), rows, cols, from_floats.data());
      write_group_bits16(f, reinterpret_cast<const uint8_t*>(bits.data()), rows, cols, from_bits.data());
      CHECK(from_floats == from_bits);
    }
  }

  TEST_CASE("llama2.c checkpoints appear under Hugging Face names") {
    WeightStore s = WeightStore::open(LLMC_SOURCE_DIR "/tests/data/stories260k/stories260K.bin");
    CHECK(s.has("model.layers.4.mlp.down_proj.weight"));
    CHECK(!s.has("lm_head.weight"));  // shared classifier
    CHECK(s.get("model.layers.0.self_attn.k_proj.weight", {32, 64}) != nullptr);
  }
}
