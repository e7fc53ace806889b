// Writes a random-weight Llama checkpoint (Hugging Face tensor names) as one .safetensors file; with EXPERTS > 0
// a Mixtral one (a router and EXPERTS experts of width FFN per layer, Mixtral's names). With --deepseek a
// DeepSeek-V2 one (modeling_deepseek.py's names): multi-head latent attention (q_proj to HEADS heads of
// [NOPE | ROPE], kv_a_proj_with_mqa to [KV_LORA | ROPE], kv_a_layernorm, kv_b_proj to HEADS heads of
// [NOPE | V_HEAD], o_proj from HEADS × V_HEAD; KV_HEADS is ignored), the first DENSE_LAYERS layers a dense MLP
// of width DENSE_FFN, the others EXPERTS routed experts of width FFN and SHARED shared experts (one MLP of
// width SHARED × FFN).
// With --list, the tensors of any other model (the recurrent shapes: Mamba, Mamba 2, RWKV-4), one per line of
// FILE: NAME INIT DIM..., INIT one of matrix, norm, a_log, dt_bias, mix (see init_value).
// usage: gen_weights OUT DTYPE(F32|F16|BF16) DIM LAYERS HEADS KV_HEADS FFN VOCAB [SEED [EXPERTS
//          [--deepseek KV_LORA NOPE ROPE V_HEAD SHARED DENSE_LAYERS DENSE_FFN]]]
//        gen_weights OUT DTYPE --list FILE [SEED]
// Values are uniform in ±1/sqrt(fan_in) (norm weights 1), so activations stay finite.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {
// How a tensor's values are drawn (u uniform in [-1, 1)).
enum class Init {
  matrix,   // u × 1.7 / sqrt(fan_in), fan_in the last dimension
  norm,     // 1 + 0.1 u
  a_log,    // log(A) of a state-space decay, A in [1, 16] (Mamba's init is log(1..d_state))
  dt_bias,  // softplus⁻¹(dt), dt log-uniform in [0.001, 0.1] (Mamba's dt_proj bias init)
  mix,      // in [0, 1]: RWKV's token-shift mixes
};

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  Init init;
};

uint64_t rng_state = 0x9E3779B97F4A7C15ull;
inline uint64_t next() {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

uint16_t to_bf16(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  b += 0x7fff + ((b >> 16) & 1);  // round to nearest even
  return static_cast<uint16_t>(b >> 16);
}

// DeepSeek-V2's sizes beyond the Llama ones (--deepseek).
struct DeepSeek {
  int64_t kv_lora, nope, rope, v_head, shared, dense_layers, dense_ffn;
};

// The tensors of one DeepSeek-V2 layer (layer i, names prefixed p).
void deepseek_layer(std::vector<Tensor>& ts, const std::string& p, int64_t i, const DeepSeek& d, int64_t dim,
                    int64_t heads, int64_t ffn, int64_t experts) {
  ts.push_back({p + "input_layernorm.weight", {dim}, Init::norm});
  ts.push_back({p + "self_attn.q_proj.weight", {heads * (d.nope + d.rope), dim}, Init::matrix});
  ts.push_back({p + "self_attn.kv_a_proj_with_mqa.weight", {d.kv_lora + d.rope, dim}, Init::matrix});
  ts.push_back({p + "self_attn.kv_a_layernorm.weight", {d.kv_lora}, Init::norm});
  ts.push_back({p + "self_attn.kv_b_proj.weight", {heads * (d.nope + d.v_head), d.kv_lora}, Init::matrix});
  ts.push_back({p + "self_attn.o_proj.weight", {dim, heads * d.v_head}, Init::matrix});
  ts.push_back({p + "post_attention_layernorm.weight", {dim}, Init::norm});
  if (i < d.dense_layers) {
    ts.push_back({p + "mlp.gate_proj.weight", {d.dense_ffn, dim}, Init::matrix});
    ts.push_back({p + "mlp.up_proj.weight", {d.dense_ffn, dim}, Init::matrix});
    ts.push_back({p + "mlp.down_proj.weight", {dim, d.dense_ffn}, Init::matrix});
    return;
  }
  ts.push_back({p + "mlp.gate.weight", {experts, dim}, Init::matrix});
  for (int64_t e = 0; e < experts; ++e) {
    const std::string x = p + "mlp.experts." + std::to_string(e) + ".";
    ts.push_back({x + "gate_proj.weight", {ffn, dim}, Init::matrix});
    ts.push_back({x + "up_proj.weight", {ffn, dim}, Init::matrix});
    ts.push_back({x + "down_proj.weight", {dim, ffn}, Init::matrix});
  }
  if (d.shared == 0) return;
  const int64_t shared = d.shared * ffn;
  ts.push_back({p + "mlp.shared_experts.gate_proj.weight", {shared, dim}, Init::matrix});
  ts.push_back({p + "mlp.shared_experts.up_proj.weight", {shared, dim}, Init::matrix});
  ts.push_back({p + "mlp.shared_experts.down_proj.weight", {dim, shared}, Init::matrix});
}

// The tensors named by a --list file, one per line: NAME INIT DIM...
bool read_list(const char* path, std::vector<Tensor>& ts) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "%s: cannot open\n", path);
    return false;
  }
  const std::map<std::string, Init> inits = {{"matrix", Init::matrix}, {"norm", Init::norm}, {"a_log", Init::a_log},
                                             {"dt_bias", Init::dt_bias}, {"mix", Init::mix}};
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::istringstream fields(line);
    std::string name, init;
    if (!(fields >> name)) continue;
    Tensor t{name, {}, Init::matrix};
    int64_t d;
    if (!(fields >> init) || !inits.count(init)) {
      std::fprintf(stderr, "%s:%d: expected NAME INIT DIM... with INIT one of matrix, norm, a_log, dt_bias, mix\n",
                   path, number);
      return false;
    }
    t.init = inits.at(init);
    while (fields >> d) t.shape.push_back(d);
    if (t.shape.empty() || !fields.eof() || *std::min_element(t.shape.begin(), t.shape.end()) <= 0) {
      std::fprintf(stderr, "%s:%d: tensor %s: dimensions must be positive integers\n", path, number, name.c_str());
      return false;
    }
    ts.push_back(t);
  }
  return !ts.empty();
}

// The tensors of a Llama, Mixtral or DeepSeek-V2 from the positional arguments (see usage).
bool llama_tensors(int argc, char** argv, std::vector<Tensor>& ts) {
  const bool deepseek = argc == 19 && std::string(argv[11]) == "--deepseek";
  if (argc < 9 || (argc > 11 && !deepseek)) return false;
  const int64_t dim = std::atoll(argv[3]), layers = std::atoll(argv[4]), heads = std::atoll(argv[5]),
                kv_heads = std::atoll(argv[6]), ffn = std::atoll(argv[7]), vocab = std::atoll(argv[8]);
  if (argc > 9) rng_state = std::strtoull(argv[9], nullptr, 10) * 2654435761ull + 1;
  const int64_t experts = argc > 10 ? std::atoll(argv[10]) : 0;
  const int64_t kv_dim = dim / heads * kv_heads;
  DeepSeek ds{};
  if (deepseek) {
    int64_t* fields[] = {&ds.kv_lora, &ds.nope, &ds.rope, &ds.v_head, &ds.shared, &ds.dense_layers, &ds.dense_ffn};
    for (int k = 0; k < 7; ++k) *fields[k] = std::atoll(argv[12 + k]);
    if (ds.kv_lora <= 0 || ds.nope <= 0 || ds.rope <= 0 || ds.v_head <= 0 || ds.shared < 0 || ds.dense_layers < 0 ||
        ds.dense_ffn <= 0 || (experts <= 0 && ds.dense_layers < layers)) {
      std::fprintf(stderr, "--deepseek: sizes must be positive (and EXPERTS > 0 unless every layer is dense)\n");
      std::exit(2);
    }
  }
  ts.push_back({"model.embed_tokens.weight", {vocab, dim}, Init::matrix});
  for (int64_t i = 0; i < layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    if (deepseek) {
      deepseek_layer(ts, p, i, ds, dim, heads, ffn, experts);
      continue;
    }
    ts.push_back({p + "input_layernorm.weight", {dim}, Init::norm});
    ts.push_back({p + "self_attn.q_proj.weight", {dim, dim}, Init::matrix});
    ts.push_back({p + "self_attn.k_proj.weight", {kv_dim, dim}, Init::matrix});
    ts.push_back({p + "self_attn.v_proj.weight", {kv_dim, dim}, Init::matrix});
    ts.push_back({p + "self_attn.o_proj.weight", {dim, dim}, Init::matrix});
    ts.push_back({p + "post_attention_layernorm.weight", {dim}, Init::norm});
    if (experts > 0) {
      ts.push_back({p + "block_sparse_moe.gate.weight", {experts, dim}, Init::matrix});
      for (int64_t e = 0; e < experts; ++e) {
        const std::string x = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
        ts.push_back({x + "w1.weight", {ffn, dim}, Init::matrix});
        ts.push_back({x + "w2.weight", {dim, ffn}, Init::matrix});
        ts.push_back({x + "w3.weight", {ffn, dim}, Init::matrix});
      }
      continue;
    }
    ts.push_back({p + "mlp.gate_proj.weight", {ffn, dim}, Init::matrix});
    ts.push_back({p + "mlp.up_proj.weight", {ffn, dim}, Init::matrix});
    ts.push_back({p + "mlp.down_proj.weight", {dim, ffn}, Init::matrix});
  }
  ts.push_back({"model.norm.weight", {dim}, Init::norm});
  ts.push_back({"lm_head.weight", {vocab, dim}, Init::matrix});

  return true;
}

// One value of a tensor: u uniform in [-1, 1), fan_in its last dimension.
float init_value(Init init, float u, int64_t fan_in) {
  switch (init) {
    case Init::matrix: return u * (1.0f / std::sqrt(static_cast<float>(fan_in))) * 1.7f;
    case Init::norm: return 1.0f + 0.1f * u;
    case Init::a_log: return std::log(1.0f + 7.5f * (u + 1.0f));
    case Init::dt_bias: {
      const float dt = std::exp(std::log(0.001f) + (u + 1.0f) * 0.5f * (std::log(0.1f) - std::log(0.001f)));
      return dt + std::log(-std::expm1(-dt));
    }
    case Init::mix: return 0.5f * (u + 1.0f);
  }
  return 0.0f;
}
}  // namespace

int main(int argc, char** argv) {
  const bool listed = argc >= 5 && std::string(argv[3]) == "--list";
  std::vector<Tensor> ts;
  if (listed && argc > 6) {
    std::fprintf(stderr, "usage: %s OUT F32|F16|BF16 --list FILE [SEED]\n", argv[0]);
    return 2;
  }
  if (listed && argc == 6) rng_state = std::strtoull(argv[5], nullptr, 10) * 2654435761ull + 1;
  if (listed ? !read_list(argv[4], ts) : !llama_tensors(argc, argv, ts)) {
    std::fprintf(stderr,
                 "usage: %s OUT F32|F16|BF16 DIM LAYERS HEADS KV_HEADS FFN VOCAB [SEED [EXPERTS\n"
                 "         [--deepseek KV_LORA NOPE ROPE V_HEAD SHARED DENSE_LAYERS DENSE_FFN]]]\n"
                 "       %s OUT F32|F16|BF16 --list FILE [SEED]\n",
                 argv[0], argv[0]);
    return 2;
  }
  const std::string out = argv[1], dtype = argv[2];
  const size_t esize = dtype == "F32" ? 4 : 2;
  if (dtype != "F32" && dtype != "F16" && dtype != "BF16") {
    std::fprintf(stderr, "dtype must be F32, F16 or BF16\n");
    return 2;
  }

  std::string header = "{";
  size_t offset = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    size_t n = 1;
    std::string shape;
    for (size_t d = 0; d < ts[i].shape.size(); ++d) {
      n *= static_cast<size_t>(ts[i].shape[d]);
      shape += (d ? "," : "") + std::to_string(ts[i].shape[d]);
    }
    header += (i ? ",\"" : "\"") + ts[i].name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":[" + shape +
              "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + n * esize) + "]}";
    offset += n * esize;
  }
  header += "}";
  while ((header.size() + 8) % 64) header += ' ';  // tensor data 64-byte aligned in the file
  FILE* f = std::fopen(out.c_str(), "wb");
  if (!f) {
    std::perror(out.c_str());
    return 1;
  }
  const uint64_t hlen = header.size();
  std::fwrite(&hlen, 8, 1, f);
  std::fwrite(header.data(), 1, header.size(), f);
  std::vector<float> buf;
  std::vector<uint8_t> bytes;
  for (const Tensor& t : ts) {
    size_t n = 1;
    for (int64_t d : t.shape) n *= static_cast<size_t>(d);
    buf.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const float u = static_cast<float>(next() >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;  // [-1, 1)
      buf[i] = init_value(t.init, u, t.shape.back());
    }
    bytes.resize(n * esize);
    if (dtype == "F32") {
      std::memcpy(bytes.data(), buf.data(), n * 4);
    } else {
      auto* h = reinterpret_cast<uint16_t*>(bytes.data());
      for (size_t i = 0; i < n; ++i)
        h[i] = dtype == "BF16" ? to_bf16(buf[i]) : _cvtss_sh(buf[i], _MM_FROUND_TO_NEAREST_INT);
    }
    std::fwrite(bytes.data(), 1, bytes.size(), f);
  }
  if (std::fclose(f) != 0) {
    std::perror(out.c_str());
    return 1;
  }
  return 0;
}
