// llmc quantize: a checkpoint rewritten as the safetensors file a model's binary maps without conversion.
// The matrices the model binds with get_matrix are stored in their grouped format (q8_0 / q4_0 / q4_k / q5_k /
// q6_k, or f32/f16/bf16 grouped), as U8 tensors described in the metadata (weights_loader.hpp: grouped_entries);
// every other tensor the model reads is copied as stored (a GGUF block-quantised one as F32, dequantised).
// Tensors the model does not read are left out.
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "llmc/error.hpp"
#include "llmc/weights_loader.hpp"

namespace llmc {
namespace {

MatrixStorage storage_of(const std::string& dtype) {
  if (dtype == "as-stored") return MatrixStorage::as_stored;
  if (dtype == "f32") return MatrixStorage::f32;
  if (dtype == "q8_0") return MatrixStorage::q8_0;
  if (dtype == "q4_0") return MatrixStorage::q4_0;
  if (dtype == "q4_k") return MatrixStorage::q4_k;
  if (dtype == "q5_k") return MatrixStorage::q5_k;
  if (dtype == "q6_k") return MatrixStorage::q6_k;
  throw Error(fmt::format("--dtype {}: expected as-stored, f32, q8_0, q4_0, q4_k, q5_k or q6_k", dtype));
}

// One tensor of the output: a stored tensor copied as it is (or dequantised to F32), or a matrix written grouped.
struct OutputTensor {
  std::string name;
  const TensorInfo* source = nullptr;
  WFormat format = WFormat::f32;  // grouped format, or f32 for a copy
  size_t bytes = 0, offset = 0;
};

constexpr size_t kAlign = 64;  // the binary maps grouped matrices in place when they are 64-byte aligned

size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

size_t element_count(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

}  // namespace

void run_quantize(const QuantizeOptions& o) {
  if (o.output.size() < 12 || o.output.compare(o.output.size() - 12, 12, ".safetensors") != 0)
    throw Error(fmt::format("{}: the output must be a .safetensors file", o.output));
  const Spec spec = load_spec(o.spec_path);
  const Plan plan = make_plan(spec);
  const MatrixStorage storage = storage_of(o.dtype);
  WeightStore store = WeightStore::open(o.weights);

  std::vector<OutputTensor> out;
  std::map<std::string, bool> seen;  // name → written grouped
  auto add = [&](const std::string& name, const std::vector<int64_t>& shape, bool matrix) {
    const TensorInfo& t = store.checked(name, shape);
    if (is_grouped(t.grouped))
      throw Error(fmt::format("{}: tensor '{}' is already grouped by llmc quantize; quantize the original checkpoint",
                              t.file, name));
    matrix = matrix && shape.size() == 2;
    if (const auto s = seen.find(name); s != seen.end()) {
      if (s->second != matrix)
        throw Error(fmt::format("tensor '{}' is read both as a matrix and as a plain tensor; it cannot be grouped", name));
      return;
    }
    seen[name] = matrix;
    store.mark_used(name);
    OutputTensor e{name, &t};
    if (matrix) {
      e.format = WeightStore::grouped_format(t, storage);
      e.bytes = WeightStore::grouped_bytes(t, e.format);
    } else {
      e.bytes = t.block_quantised() ? element_count(t.shape) * 4 : t.bytes;
    }
    out.push_back(e);
  };
  auto add_plan = [&](const TensorPlan& t) {
    if (t.parts.empty()) return add(t.name, t.shape, binds_as_matrix(t));
    for (const auto& part : t.parts) {
      if (is_expert_role(t.role)) add(part, {t.shape[1], t.shape[2]}, true);  // one matrix per expert
      else add(part, {t.shape[1]}, false);                                   // a head's norm weights
    }
  };
  for (const auto& t : plan.globals) add_plan(t);
  for (const auto& l : plan.layers)
    for (const auto& t : l.tensors) add_plan(t);
  store.finish(plan.unused_weights);  // a checkpoint of another model fails here, as in the binary

  nlohmann::json header = nlohmann::json::object();
  nlohmann::json meta = {{"llmc.grouped_layout", std::to_string(kGroupedLayoutVersion)},
                         {"llmc.dtype", o.dtype},
                         {"llmc.spec", spec.name}};
  size_t offset = 0;
  for (auto& e : out) {
    e.offset = offset;
    const bool grouped = is_grouped(e.format);
    const char* dtype = e.source->block_quantised() ? "F32" : dtype_name(e.source->dtype);
    header[e.name] = {{"dtype", grouped ? "U8" : dtype},
                      {"shape", grouped ? std::vector<int64_t>{static_cast<int64_t>(e.bytes)} : e.source->shape},
                      {"data_offsets", {offset, offset + e.bytes}}};
    if (grouped)
      meta["llmc.grouped." + e.name] =
          fmt::format("{} {} {}", grouped_format_name(e.format), e.source->shape[0], e.source->shape[1]);
    offset = round_up(offset + e.bytes);
  }
  header["__metadata__"] = meta;
  std::string text = header.dump();
  text.append(round_up(8 + text.size()) - 8 - text.size(), ' ');  // the data starts 64-byte aligned

  const std::string tmp = o.output + ".tmp" + std::to_string(::getpid());
  std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
  if (!file) throw Error(fmt::format("{}: cannot write ({})", o.output, std::strerror(errno)));
  try {
    const uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) file.put(static_cast<char>((n >> (8 * i)) & 0xff));
    file << text;
    size_t written = 0;
    const std::string zeros(kAlign, '\0');
    for (const auto& e : out) {
      file.write(zeros.data(), static_cast<std::streamsize>(e.offset - written));
      if (is_grouped(e.format)) {
        const AlignedBytes buffer = aligned_bytes(e.bytes);
        WeightStore::to_grouped(*e.source, e.format, buffer.get());
        file.write(reinterpret_cast<const char*>(buffer.get()), static_cast<std::streamsize>(e.bytes));
      } else if (e.source->block_quantised()) {
        std::vector<float> values(e.bytes / 4);
        ggml_dequantize(e.source->blocks, e.source->data, values.size(), values.data());
        file.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(e.bytes));
      } else {
        file.write(reinterpret_cast<const char*>(e.source->data), static_cast<std::streamsize>(e.bytes));
      }
      written = e.offset + e.bytes;
      if (!file) throw Error(fmt::format("{}: write failed ({})", o.output, std::strerror(errno)));
    }
    file.close();
    if (!file) throw Error(fmt::format("{}: write failed ({})", o.output, std::strerror(errno)));
    if (std::rename(tmp.c_str(), o.output.c_str()) != 0)
      throw Error(fmt::format("{}: cannot move the output into place ({})", o.output, std::strerror(errno)));
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  std::map<std::string, int> formats;
  size_t bytes = 8 + text.size();
  for (const auto& e : out) {
    if (is_grouped(e.format)) ++formats[grouped_format_name(e.format)];
    bytes = 8 + text.size() + e.offset + e.bytes;
  }
  std::string counts;
  for (const auto& [name, n] : formats) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, name);
  std::fprintf(stderr, "llmc: wrote %s: %zu tensors, matrices grouped: %s; %.1f MiB\n", o.output.c_str(), out.size(),
               counts.empty() ? "none" : counts.c_str(), static_cast<double>(bytes) / (1 << 20));
}

}  // namespace llmc
