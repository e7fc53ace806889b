// GGUF checkpoints: the block types' dequantisation against ggml's own output (tests/data/ggml_dequant),
// ggml's K-quantisers against their output (tests/data/ggml_quant), files written here read back through
// WeightStore (plain, grouped, repacked), and the loader's refusals.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "../common/gguf_writer.hpp"
#include "import.hpp"
#include "llmc/matmul_grouped.hpp"
#include "llmc/weights_loader.hpp"

using namespace llmc;
using llmc_test::GgufWriter;

namespace {

// tests/data/ggml_dequant/blocks.bin: per type, u32 ggml type, u32 block count, the blocks, then the values
// ggml's dequantize_row_* made of them (see the README there).
struct RefBlocks {
  GgmlType type;
  uint32_t blocks;
  std::string bytes;
  std::vector<float> values;
};

std::vector<RefBlocks> reference_blocks() {
  std::ifstream in(std::string(LLMC_SOURCE_DIR) + "/tests/data/ggml_dequant/blocks.bin", std::ios::binary);
  REQUIRE(in);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<RefBlocks> out;
  for (size_t at = 0; at < all.size();) {
    uint32_t head[2];
    REQUIRE(at + 8 <= all.size());
    std::memcpy(head, all.data() + at, 8);
    const GgmlTypeInfo* info = ggml_type_info(head[0]);
    REQUIRE(info != nullptr);
    RefBlocks r{static_cast<GgmlType>(head[0]), head[1], {}, {}};
    const size_t bytes = size_t{head[1]} * info->block_bytes, values = size_t{head[1]} * info->block_values;
    REQUIRE(at + 8 + bytes + 4 * values <= all.size());
    r.bytes = all.substr(at + 8, bytes);
    r.values.resize(values);
    std::memcpy(r.values.data(), all.data() + at + 8 + bytes, 4 * values);
    out.push_back(std::move(r));
    at += 8 + bytes + 4 * values;
  }
  return out;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

size_t bit_mismatches(const float* got, const std::vector<float>& want) {
  size_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i) bad += !same_bits(got[i], want[i]);
  return bad;
}

std::string f32_bytes(const std::vector<float>& v) { return std::string(reinterpret_cast<const char*>(v.data()), 4 * v.size()); }

WeightStore load(const GgufWriter& w) { return WeightStore::from_bytes("test.gguf", w.bytes()); }

std::string error_of(const std::string& bytes) {
  try {
    WeightStore s = WeightStore::from_bytes("bad.gguf", bytes);
    for (const auto& [name, t] : s.tensors()) s.get(name, t.shape);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("gguf") {
  TEST_CASE("every block type dequantises bit for bit as ggml's dequantize_row_*") {
    const auto refs = reference_blocks();
    CHECK(refs.size() == 11);
    for (const RefBlocks& r : refs) {
      CAPTURE(ggml_type_info(static_cast<uint32_t>(r.type))->name);
      std::vector<float> got(r.values.size());
      ggml_dequantize(r.type, reinterpret_cast<const uint8_t*>(r.bytes.data()), got.size(), got.data());
      CHECK(bit_mismatches(got.data(), r.values) == 0);
    }
  }

  TEST_CASE("q4_k / q6_k / q8_K quantisation bit for bit as ggml's quantize_row_*_ref") {
    std::ifstream in(std::string(LLMC_SOURCE_DIR) + "/tests/data/ggml_quant/kquants.bin", std::ios::binary);
    REQUIRE(in);
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    uint32_t head[2];
    REQUIRE(all.size() >= 8);
    std::memcpy(head, all.data(), 8);
    constexpr int kCols = 512;
    const size_t rows = head[0], blocks = kCols / 256;
    REQUIRE(head[1] == kCols);
    REQUIRE(all.size() == 8 + rows * kCols * 4 + rows * blocks * (144 + 210 + 292));
    std::vector<float> x(rows * kCols);
    std::memcpy(x.data(), all.data() + 8, x.size() * 4);
    const char* q4 = all.data() + 8 + x.size() * 4;
    const char* q6 = q4 + rows * blocks * 144;
    const char* q8 = q6 + rows * blocks * 210;
    int q4_bad = 0, q6_bad = 0, q8_bad = 0;
    for (size_t r = 0; r < rows; ++r) {
      for (size_t b = 0; b < blocks; ++b) {
        uint8_t got4[144], got6[210];
        ggml_quantize_q4_k(&x[r * kCols + b * 256], got4);
        ggml_quantize_q6_k(&x[r * kCols + b * 256], got6);
        q4_bad += std::memcmp(got4, q4 + (r * blocks + b) * 144, 144) != 0;
        q6_bad += std::memcmp(got6, q6 + (r * blocks + b) * 210, 210) != 0;
      }
      // q8_K: fp32 d, 256 int8, 16 int16 sums a block; llmc keeps the quants, then the d's, then the sums.
      std::vector<uint8_t> acts(mm::kKActBytes<WFormat::q6_k, kCols>);
      mm::quantize_acts_k_ref<WFormat::q6_k, kCols>(&x[r * kCols], acts.data());
      for (size_t b = 0; b < blocks; ++b) {
        const char* want = q8 + (r * blocks + b) * 292;
        q8_bad += std::memcmp(acts.data() + kCols + b * 4, want, 4) != 0;
        q8_bad += std::memcmp(acts.data() + b * 256, want + 4, 256) != 0;
        q8_bad += std::memcmp(acts.data() + kCols + blocks * 4 + b * 32, want + 260, 32) != 0;
      }
    }
    CHECK(q4_bad == 0);
    CHECK(q6_bad == 0);
    CHECK(q8_bad == 0);
  }

  TEST_CASE("q5_k: ggml's quantize_row_q5_K_ref bit for bit, and its blocks repacked read back as ggml's values") {
    auto read = [](const char* name) {
      std::ifstream in(std::string(LLMC_SOURCE_DIR) + "/tests/data/ggml_quant/" + name, std::ios::binary);
      REQUIRE(in);
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    const std::string inputs = read("kquants.bin"), q5 = read("q5k.bin");
    constexpr size_t kCols = 512, kBlock = 176;
    uint32_t head[2];
    REQUIRE(q5.size() >= 8);
    std::memcpy(head, q5.data(), 8);
    const size_t rows = head[0], blocks = rows * kCols / 256;
    REQUIRE(head[1] == kCols);
    REQUIRE(q5.size() == 8 + blocks * kBlock + rows * kCols * 4);
    REQUIRE(inputs.size() >= 8 + rows * kCols * 4);
    std::vector<float> x(rows * kCols), want(rows * kCols);
    std::memcpy(x.data(), inputs.data() + 8, x.size() * 4);
    const auto* gguf = reinterpret_cast<const uint8_t*>(q5.data() + 8);
    std::memcpy(want.data(), gguf + blocks * kBlock, want.size() * 4);
    int bad = 0;
    for (size_t b = 0; b < blocks; ++b) {
      uint8_t got[kBlock];
      ggml_quantize_q5_k(&x[b * 256], got);
      bad += std::memcmp(got, gguf + b * kBlock, kBlock) != 0;
    }
    CHECK(bad == 0);
    std::vector<float> values(want.size());
    ggml_dequantize(GgmlType::q5_k, gguf, values.size(), values.data());
    CHECK(bit_mismatches(values.data(), want) == 0);
    // Repacked into groups of 16 rows (a group of 16 and one of 8), read back value for value.
    std::vector<uint8_t> grouped(grouped_matrix_bytes(WFormat::q5_k, rows, kCols));
    for (size_t r0 = 0; r0 < rows; r0 += 16)
      repack_gguf_kgroup(WFormat::q5_k, gguf + r0 * (kCols / 256) * kBlock, std::min<size_t>(16, rows - r0), kCols,
                         grouped.data() + r0 / 16 * group_bytes(WFormat::q5_k, kCols));
    for (size_t r = 0; r < rows; ++r)
      for (size_t i = 0; i < kCols; ++i)
        values[r * kCols + i] = matrix_value(WFormat::q5_k, grouped.data(), rows, kCols, r, i);
    CHECK(bit_mismatches(values.data(), want) == 0);
  }

  TEST_CASE("block tensors in a GGUF file read back as ggml's values: plain, grouped and repacked") {
    for (const RefBlocks& r : reference_blocks()) {
      const GgmlTypeInfo& info = *ggml_type_info(static_cast<uint32_t>(r.type));
      CAPTURE(info.name);
      // Two rows of half the blocks each: GGUF ne = {cols, rows}, the store's shape {rows, cols}.
      const int64_t cols = static_cast<int64_t>(r.values.size() / 2);
      GgufWriter w;
      w.str("general.architecture", "llama");
      w.tensor("m", {static_cast<uint64_t>(cols), 2}, static_cast<uint32_t>(r.type), r.bytes);
      WeightStore s = load(w);
      REQUIRE(s.tensors().at("m").shape == std::vector<int64_t>{2, cols});
      CHECK(bit_mismatches(s.get("m", {2, cols}), r.values) == 0);
      const Matrix m = s.get_matrix("m", {2, cols}, MatrixStorage::as_stored);
      // Q8_0, Q4_0, Q4_K, Q5_K and Q6_K keep their quants and scales (llmc's q8_0 / q4_0 / q4_k / q5_k / q6_k are GGUF's
      // numerics, repacked); the others are held as fp32.
      const WFormat want = r.type == GgmlType::q8_0   ? WFormat::q8_0
                           : r.type == GgmlType::q4_0 ? WFormat::q4_0
                           : r.type == GgmlType::q4_k ? WFormat::q4_k
                           : r.type == GgmlType::q5_k ? WFormat::q5_k
                           : r.type == GgmlType::q6_k ? WFormat::q6_k
                                                      : WFormat::f32_g16;
      CHECK(m.format == want);
      std::vector<float> back(r.values.size());
      for (int64_t row = 0; row < 2; ++row)
        for (int64_t i = 0; i < cols; ++i)
          back[static_cast<size_t>(row * cols + i)] =
              matrix_value(m.format, static_cast<const uint8_t*>(m.data), 2, static_cast<size_t>(cols), row, i);
      CHECK(bit_mismatches(back.data(), r.values) == 0);
      s.finish({});
    }
  }

  TEST_CASE("F32, F16 and BF16 tensors, shapes reversed from GGUF's ne, metadata alignment honoured") {
    GgufWriter w;
    w.alignment = 64;
    w.u32("general.alignment", 64);
    const std::vector<float> a = {1, 2, 3, 4, 5, 6};
    const std::vector<uint16_t> h = {0x3c00, 0xc000}, b = {0x3f80, 0x4040};
    w.tensor("a", {3, 2}, 0, f32_bytes(a));
    w.tensor("h", {2}, 1, std::string(reinterpret_cast<const char*>(h.data()), 4));
    w.tensor("b", {1, 1, 2}, 30, std::string(reinterpret_cast<const char*>(b.data()), 4));
    WeightStore s = load(w);
    CHECK(s.tensors().at("a").shape == std::vector<int64_t>{2, 3});
    CHECK(s.tensors().at("b").shape == std::vector<int64_t>{2, 1, 1});
    const float* pa = s.get("a", {2, 3});
    CHECK(std::vector<float>(pa, pa + 6) == a);
    const float* ph = s.get("h", {2});
    CHECK(ph[0] == 1.0f);
    CHECK(ph[1] == -2.0f);
    const float* pb = s.get("b", {2, 1, 1});
    CHECK(pb[1] == 3.0f);
    const std::string bytes = w.bytes();
    const gguf::File f = gguf::parse("a.gguf", reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    CHECK(f.alignment == 64);
    CHECK(f.data_offset % 64 == 0);
    CHECK(f.tensors[1].offset == 64);
  }

  TEST_CASE("q8_0 / q4_0 matrices load in tiles of 8 groups, as write_matrix lays them out") {
    constexpr size_t kRows = 300, kCols = 64;  // 19 groups: two whole tiles and one of 3
    std::vector<float> x(kRows * kCols);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) * (1.0f + static_cast<float>(i % 7));
    std::string bytes(x.size() * 4, '\0');
    std::memcpy(bytes.data(), x.data(), bytes.size());
    GgufWriter w;
    w.tensor("m", {kCols, kRows}, 0, bytes);
    for (auto [storage, f] : {std::pair{MatrixStorage::q8_0, WFormat::q8_0}, std::pair{MatrixStorage::q4_0, WFormat::q4_0}}) {
      WeightStore s = load(w);
      const Matrix m = s.get_matrix("m", {kRows, kCols}, storage);
      REQUIRE(m.format == f);
      std::vector<uint8_t> want(grouped_matrix_bytes(f, kRows, kCols));
      write_matrix(f, x.data(), kRows, kCols, want.data());
      size_t first_diff = 0;
      while (first_diff < want.size() && static_cast<const uint8_t*>(m.data)[first_diff] == want[first_diff]) ++first_diff;
      CAPTURE(grouped_format_name(f));
      CHECK(first_diff == want.size());
      // Row 290, value 0: the last tile (3 groups) holds per block slice 0 of each group side by side.
      const auto* tile = static_cast<const uint8_t*>(m.data) + 16 * quant_group_bytes(f, kCols);
      const uint8_t byte = tile[2 * 64 + (290 % 16) * 4];
      CHECK(quant_int(f, static_cast<const uint8_t*>(m.data), kRows, kCols, 290, 0) ==
            (f == WFormat::q8_0 ? byte - 128 : (byte & 0x0f) - 8));
    }
  }

  TEST_CASE("a Q4_0 matrix asked for as q8_0 is dequantised and requantised; as f32 it is exact") {
    const auto refs = reference_blocks();
    const RefBlocks& q4 = refs[0];
    REQUIRE(q4.type == GgmlType::q4_0);
    GgufWriter w;
    w.tensor("m", {256, 2}, 2, q4.bytes);
    WeightStore s = load(w);
    const Matrix f = s.get_matrix("m", {2, 256}, MatrixStorage::f32);
    CHECK(f.format == WFormat::f32_g16);
    CHECK(same_bits(matrix_value(f.format, static_cast<const uint8_t*>(f.data), 2, 256, 1, 7), q4.values[256 + 7]));
    const Matrix q = s.get_matrix("m", {2, 256}, MatrixStorage::q8_0);
    CHECK(q.format == WFormat::q8_0);
    for (int i = 0; i < 256; ++i) {
      const float v = matrix_value(q.format, static_cast<const uint8_t*>(q.data), 2, 256, 0, i);
      CHECK(std::fabs(v - q4.values[i]) <= std::fabs(quant_scale(q.format, static_cast<const uint8_t*>(q.data), 2, 256, 0, i)));
    }
  }

  TEST_CASE("malformed files are refused with the tensor, field and numbers named") {
    const std::string q4k(144, '\0');
    auto with = [](auto edit) {
      GgufWriter w;
      edit(w);
      return w.bytes();
    };
    // An unsupported type names tensor and type.
    CHECK(error_of(with([&](GgufWriter& w) { w.tensor("blk.0.ffn_down.weight", {256}, 23, std::string(136, '\0')); }))
              .find("tensor 'blk.0.ffn_down.weight' has tensor type IQ4_XS, which llmc does not read") != std::string::npos);
    CHECK(error_of(with([&](GgufWriter& w) { w.tensor("t", {256}, 99, ""); })).find("tensor 't' has unknown tensor type 99") !=
          std::string::npos);
    // Rows that are not whole blocks.
    CHECK(error_of(with([&](GgufWriter& w) { w.tensor("t", {100, 2}, 12, q4k); }))
              .find("rows of 100 values are not whole Q4_K blocks of 256") != std::string::npos);
    // Overlapping tensors.
    CHECK(error_of(with([&](GgufWriter& w) {
            w.tensor("a", {256}, 12, q4k, 0);
            w.tensor("b", {256}, 12, q4k, 128);
          })).find("tensors 'a' and 'b' overlap") != std::string::npos);
    // Misaligned offset, duplicate names, data past the end.
    CHECK(error_of(with([&](GgufWriter& w) { w.tensor("a", {4}, 0, std::string(16, '\0'), 8); }))
              .find("offset 8 is not a multiple of the alignment 32") != std::string::npos);
    CHECK(error_of(with([&](GgufWriter& w) {
            w.tensor("a", {4}, 0, std::string(16, '\0'));
            w.tensor("a", {4}, 0, std::string(16, '\0'));
          })).find("tensor 'a' appears twice") != std::string::npos);
    std::string truncated = with([&](GgufWriter& w) { w.tensor("a", {1024}, 0, std::string(4096, '\0')); });
    truncated.resize(truncated.size() - 1);
    CHECK(error_of(truncated).find("truncated: tensor 'a' needs bytes [0, 4096) of a data section of 4095 bytes") !=
          std::string::npos);
    // Absurd counts and sizes.
    std::string counts = with([](GgufWriter& w) { w.str("k", "v"); });
    const uint64_t huge = uint64_t{1} << 60;
    std::memcpy(counts.data() + 8, &huge, 8);
    CHECK(error_of(counts).find("tensor count 1152921504606846976 is larger than the file allows") != std::string::npos);
    counts = with([](GgufWriter& w) { w.str("k", "v"); });
    std::memcpy(counts.data() + 16, &huge, 8);
    CHECK(error_of(counts).find("metadata count") != std::string::npos);
    CHECK(error_of(with([](GgufWriter& w) { w.tensor("a", {uint64_t{1} << 40, uint64_t{1} << 20}, 0, ""); }))
              .find("dimension 1 is 1048576, too large") != std::string::npos);
    CHECK(error_of(with([](GgufWriter& w) { w.tensor("a", {0}, 0, ""); })).find("(empty tensor)") != std::string::npos);
    CHECK(error_of(with([](GgufWriter& w) { w.u32("general.alignment", 24); })).find("general.alignment") !=
          std::string::npos);
    CHECK(error_of(with([](GgufWriter& w) { w.str("k", "v"), w.str("k", "w"); })).find("metadata key 'k' appears twice") !=
          std::string::npos);
    // Every prefix of a valid file is refused cleanly (the loader never reads past the end).
    const std::string whole = with([&](GgufWriter& w) {
      w.strs("tokenizer.ggml.tokens", {"a", "bc"});
      w.f32s("s", {1, 2});
      w.tensor("t", {256}, 14, std::string(210, '\x11'));
    });
    for (size_t n = 0; n < whole.size(); ++n) CHECK(error_of(whole.substr(0, n)) != "");
    CHECK(error_of(whole) == "");
  }

  TEST_CASE("metadata values of every kind are parsed; arrays kept only when asked") {
    GgufWriter w;
    w.str("general.architecture", "llama");
    w.u32("llama.block_count", 12);
    w.i32("i", -5);
    w.f32("llama.rope.freq_base", 10000.0f);
    w.boolean("b", true);
    w.strs("tokenizer.ggml.tokens", {"<s>", "x"});
    w.i32s("n", {3, -4});
    const std::string bytes = w.bytes();
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    const gguf::File f = gguf::parse("m.gguf", p, bytes.size(), [](const std::string& k) { return k != "n"; });
    CHECK(f.meta.at("general.architecture").s == "llama");
    CHECK(f.meta.at("llama.block_count").i == 12);
    CHECK(f.meta.at("i").i == -5);
    CHECK(f.meta.at("llama.rope.freq_base").f == 10000.0);
    CHECK(f.meta.at("b").i == 1);
    CHECK(f.meta.at("tokenizer.ggml.tokens").strs == std::vector<std::string>{"<s>", "x"});
    CHECK(f.meta.at("n").length == 2);
    CHECK(f.meta.at("n").nums.empty());
  }

  TEST_CASE("import: a spec from GGUF metadata, llama.cpp's names, llama's rope pairs adjacent") {
    auto write = [](const std::string& arch, bool biases, bool qk_norm, bool tied, const std::string& drop = "") {
      GgufWriter w;
      w.str("general.architecture", arch);
      for (const auto& [k, v] : std::vector<std::pair<std::string, uint32_t>>{
               {"block_count", 2}, {"context_length", 8192}, {"embedding_length", 64}, {"feed_forward_length", 96},
               {"attention.head_count", 4}, {"attention.head_count_kv", 2}})
        if (k != drop) w.u32(arch + "." + k, v);
      w.f32(arch + ".attention.layer_norm_rms_epsilon", 1e-6f);
      w.f32(arch + ".rope.freq_base", 500000.0f);
      w.u32("tokenizer.ggml.bos_token_id", 1);
      w.u32("tokenizer.ggml.eos_token_id", 2);
      w.str("tokenizer.ggml.model", "llama");
      const std::string f32(4, '\0');
      w.tensor("token_embd.weight", {64, 100}, 0, std::string(64 * 100 * 4, '\0'));
      w.tensor("output_norm.weight", {64}, 0, std::string(64 * 4, '\0'));
      if (!tied) w.tensor("output.weight", {64, 100}, 0, std::string(64 * 100 * 4, '\0'));
      for (const char* t : {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                            "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"})
        w.tensor(std::string("blk.0.") + t, {1}, 0, f32);
      if (biases)
        for (const char* t : {"attn_q.bias", "attn_k.bias", "attn_v.bias"}) w.tensor(std::string("blk.0.") + t, {1}, 0, f32);
      if (qk_norm)
        for (const char* t : {"attn_q_norm.weight", "attn_k_norm.weight"}) w.tensor(std::string("blk.0.") + t, {1}, 0, f32);
      const std::string path = (std::filesystem::temp_directory_path() / ("llmc_unit_" + arch + ".gguf")).string();
      std::ofstream(path, std::ios::binary) << w.bytes();
      return path;
    };
    const Spec llama = import_any(write("llama", false, false, false), {});
    CHECK(llama.family == "llama");
    CHECK(llama.vocab_size == 100);
    CHECK(llama.hidden_size == 64);
    CHECK(llama.num_layers == 2);
    CHECK(llama.max_context == kDefaultContextCap);
    CHECK(llama.attention.head_dim == 16);
    CHECK(llama.attention.kv_heads == std::vector<int64_t>{2, 2});
    CHECK(llama.mlp.intermediate == std::vector<int64_t>{96, 96});
    CHECK(llama.rope.pairing == RopePairing::interleaved);
    CHECK(llama.rope.theta == 500000.0);
    CHECK(llama.norm.eps == 1e-6);  // the f32 value's shortest decimal
    CHECK(!llama.tied_embeddings);
    CHECK(llama.weights.lm_head == "output.weight");
    CHECK(llama.weights.layer.at("o") == "blk.{i}.attn_output.weight");
    CHECK(llama.add_bos);
    CHECK(!llama.attention.bias_q);
    const Spec qwen2 = import_any(write("qwen2", true, false, true), {});
    CHECK(qwen2.rope.pairing == RopePairing::half);
    CHECK(qwen2.tied_embeddings);
    CHECK(qwen2.attention.bias_q);
    CHECK(!qwen2.attention.bias_o);
    CHECK(qwen2.weights.layer.at("k_bias") == "blk.{i}.attn_k.bias");
    const Spec qwen3 = import_any(write("qwen3", false, true, true), {});
    CHECK(qwen3.attention.qk_norm == QkNorm::per_head);
    CHECK(qwen3.weights.layer.at("q_norm") == "blk.{i}.attn_q_norm.weight");
    auto error = [](const std::string& path) {
      try {
        import_any(path, {});
      } catch (const Error& e) {
        return std::string(e.what());
      }
      return std::string();
    };
    CHECK(error(write("llama", false, false, false, "block_count")).find("GGUF metadata 'llama.block_count' is missing") !=
          std::string::npos);
    CHECK(error(write("rwkv6", false, false, false)).find("GGUF architecture 'rwkv6' is not supported for import") !=
          std::string::npos);
    // The tensors a family reads are looked up at import: a file without them is refused naming the first.
    CHECK(error(write("gemma", false, false, true)).find("tensor 'blk.0.attn_norm.weight'") == std::string::npos);
    CHECK(error(write("qwen2", false, false, true)).find("tensor 'blk.0.attn_k.bias' (k_bias of the qwen2 architecture) "
                                                         "is missing") != std::string::npos);
  }

  TEST_CASE("import: a T5 GGUF, encoder and decoder stacks, tied classifier stored or not") {
    // head: "none" (tied), "copy" (output.weight a copy of token_embd: tied), "own" (untied); gated: Flan's wi_0.
    auto write = [](const std::string& head, bool gated) {
      GgufWriter w;
      w.str("general.architecture", "t5");
      for (const auto& [k, v] : std::vector<std::pair<std::string, uint32_t>>{
               {"block_count", 3}, {"decoder_block_count", 2}, {"context_length", 512}, {"embedding_length", 16},
               {"feed_forward_length", 32}, {"attention.head_count", 2}, {"attention.key_length", 4},
               {"attention.value_length", 4}, {"attention.relative_buckets_count", 32}, {"decoder_start_token_id", 0}})
        w.u32("t5." + k, v);
      w.f32("t5.attention.layer_norm_rms_epsilon", 1e-6f);
      w.u32("tokenizer.ggml.eos_token_id", 1);
      const std::string embed(16 * 10 * 4, '\1'), other(16 * 10 * 4, '\2'), one(4, '\0');
      w.tensor("token_embd.weight", {16, 10}, 0, embed);
      if (head != "none") w.tensor("output.weight", {16, 10}, 0, head == "copy" ? embed : other);
      for (const char* t : {"enc.output_norm.weight", "dec.output_norm.weight", "enc.blk.0.attn_rel_b.weight",
                            "dec.blk.0.attn_rel_b.weight"})
        w.tensor(t, {1}, 0, one);
      std::vector<std::string> layer = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_o", "ffn_norm", "ffn_up",
                                        "ffn_down"};
      if (gated) layer.push_back("ffn_gate");
      for (const std::string& t : layer) w.tensor("enc.blk.0." + t + ".weight", {1}, 0, one);
      for (const char* t : {"cross_attn_norm", "cross_attn_q", "cross_attn_k", "cross_attn_v", "cross_attn_o"})
        layer.push_back(t);
      for (const std::string& t : layer) w.tensor("dec.blk.0." + t + ".weight", {1}, 0, one);
      const std::string path = (std::filesystem::temp_directory_path() / ("llmc_unit_t5_" + head + ".gguf")).string();
      std::ofstream(path, std::ios::binary) << w.bytes();
      return path;
    };
    const Spec t5 = import_any(write("none", false), {});
    CHECK(t5.kind == ModelKind::encoder_decoder);
    CHECK(t5.num_layers == 2);
    REQUIRE(t5.encoder);
    CHECK(t5.encoder->num_layers == 3);
    CHECK(t5.encoder->decoder_start == 0);
    CHECK(t5.attention.head_dim == 4);
    CHECK(t5.relative.buckets == 32);
    CHECK(t5.relative.max_distance == 128);
    CHECK(t5.mlp.kind == MlpKind::plain);
    CHECK(t5.mlp.activation == Activation::relu);
    CHECK(t5.tied_embeddings);
    CHECK(t5.logit_scale == 0.25);  // d_model^-1/2
    CHECK(t5.weights.layer.at("o") == "dec.blk.{i}.attn_o.weight");
    CHECK(t5.weights.layer.at("cross_v") == "dec.blk.{i}.cross_attn_v.weight");
    CHECK(t5.weights.encoder_layer.at("ffn_norm") == "enc.blk.{i}.ffn_norm.weight");
    CHECK(t5.weights.relative_bias == "dec.blk.0.attn_rel_b.weight");
    CHECK(t5.weights.encoder_final_norm == "enc.output_norm.weight");
    const Spec copy = import_any(write("copy", false), {});
    CHECK(copy.tied_embeddings);
    CHECK(copy.logit_scale == 0.25);
    CHECK(copy.weights.unused == std::vector<std::string>{"output.weight"});
    const Spec flan = import_any(write("own", true), {});
    CHECK(!flan.tied_embeddings);
    CHECK(flan.logit_scale == 1.0);
    CHECK(flan.weights.lm_head == "output.weight");
    CHECK(flan.mlp.kind == MlpKind::gated);
    CHECK(flan.mlp.activation == Activation::gelu_tanh);
    CHECK(flan.weights.encoder_layer.at("gate") == "enc.blk.{i}.ffn_gate.weight");
  }
}
