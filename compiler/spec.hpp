// The architecture spec: what an arch YAML says, validated. See docs/spec.md for the schema.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace llmc {

enum class NormKind { rms, layer };
enum class NormWeight { plain, offset_one, none };  // x̂·w, x̂·(1+w) (Gemma), x̂ (OLMo)
enum class Residual { sequential, parallel, post_ln };  // post_ln: x = norm(x + branch(x)) (GPT-1, BERT)
enum class RopePairing { half, interleaved };       // (i, i+d/2) rotate_half, or (2i, 2i+1)
enum class PositionKind { rope, alibi, learned, none };
enum class Activation { silu, gelu, gelu_tanh, relu };
enum class MlpKind { gated, plain };
enum class QkvLayout { separate, fused, fused_per_head, fused_per_kv_group };
enum class QkNorm { none, per_head, whole };
enum class QkNormWeights { shared, per_head };      // per-head norm: one [head_dim] weight, or [heads, head_dim]
enum class TensorLayout { out_in, in_out };          // Linear [out, in] or Conv1D [in, out]

struct NormSpec {
  NormKind kind = NormKind::rms;
  NormWeight weight = NormWeight::plain;
  bool bias = false;
  double eps = 1e-5;
};

struct RopeScaling {
  std::string type = "none";  // none | linear | llama3 | longrope
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 1.0;
  int64_t original_max_positions = 0;
  std::vector<double> short_factor, long_factor;  // longrope: short below original_max_positions, long from there
  int64_t max_positions = 0;                       // longrope: the extended context the factors were fitted for
  std::optional<double> attention_factor;          // longrope: cos/sin × this; absent: from the context ratio
};

struct RopeSpec {
  double theta = 10000.0;
  RopePairing pairing = RopePairing::half;
  int64_t rotary_dim = 0;
  RopeScaling scaling;
};

struct AttentionSpec {
  std::vector<int64_t> heads, kv_heads;  // one entry per layer
  int64_t head_dim = 0;
  bool bias_q = false, bias_k = false, bias_v = false, bias_o = false;
  QkvLayout qkv = QkvLayout::separate;
  std::optional<double> scale;     // absent: 1/sqrt(head_dim)
  double softcap = 0.0;            // 0: off
  std::vector<int64_t> window;     // per layer, 0: global
  QkNorm qk_norm = QkNorm::none;
  std::optional<NormSpec> qk_norm_spec;
  QkNormWeights qk_norm_weights = QkNormWeights::shared;
  double clip_qkv = 0.0;           // 0: off
};

struct MlpSpec {
  MlpKind kind = MlpKind::gated;
  Activation activation = Activation::silu;
  std::vector<int64_t> intermediate;  // one entry per layer
  bool bias = false;
  bool fused_gate_up = false;        // one [gate; up] tensor
};

// Weight names; "{i}" stands for the layer index. Empty: the model has no such tensor.
struct WeightNames {
  std::string embed, pos_embed, final_norm, final_norm_bias, lm_head;  // lm_head empty: tied
  TensorLayout layout = TensorLayout::out_in;
  std::map<std::string, std::string> layer;  // role -> pattern
  std::vector<std::string> unused;           // checkpoint tensors deliberately ignored (patterns)
};

// The model's chat format: its Jinja chat template (tokenizer_config.json chat_template, GGUF
// tokenizer.chat_template) and the bos/eos text the template is rendered with.
struct ChatSpec {
  std::string template_text, bos_token, eos_token;  // template_text empty: none recorded
};

struct Spec {
  std::string file;     // where it was read from
  std::string text;     // the YAML text, for the hash
  std::string name, family;
  int64_t vocab_size = 0, hidden_size = 0, num_layers = 0, max_context = 0;
  bool tied_embeddings = false;
  double embedding_scale = 1.0;
  NormSpec norm;
  Residual residual = Residual::sequential;
  bool pre_norms = true;          // a norm on each branch's input (false: OLMo 2 norms only the outputs)
  bool post_norms = false;        // a norm on each branch's output (Gemma 2 sandwich)
  double residual_scale = 1.0;    // each branch output × this before it is added
  AttentionSpec attention;
  PositionKind positions = PositionKind::rope;
  RopeSpec rope;
  int64_t max_positions = 0;      // learned: rows of the position table
  double alibi_slope_scale = 1.0;  // alibi: slopes × this (Falcon in Hugging Face: 2/√head_dim, see import.cpp)
  MlpSpec mlp;
  double logit_scale = 1.0, logit_softcap = 0.0;
  bool norm_head = false;         // lm_head rows L2-normalised (Baichuan 2)
  int64_t bos = -1, eos = -1;
  bool add_bos = false;
  ChatSpec chat;
  WeightNames weights;
};

// Reads and validates a spec. Throws llmc::Error naming file, line, field and what was expected.
Spec load_spec(const std::string& path);
Spec parse_spec(const std::string& yaml_text, const std::string& file_name);

// 64-bit FNV-1a of the YAML text, as 16 hex digits.
std::string spec_hash(const Spec& spec);

const char* to_string(NormKind);
const char* to_string(RopePairing);
const char* to_string(Activation);
const char* to_string(QkvLayout);
const char* to_string(PositionKind);

}  // namespace llmc
