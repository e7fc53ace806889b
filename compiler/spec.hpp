// The architecture spec: what an arch YAML says, validated. See docs/spec.md for the schema.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "llmc/model_kind.hpp"

namespace llmc {

// Enumerators are named as the YAML words they stand for (docs/spec.md). The older names after them remain
// while compiler/import.cpp still uses them.
enum class NormKind { rmsnorm, layernorm, rms = rmsnorm, layer = layernorm };
enum class NormWeight { plain, offset_one, none };  // x̂·w, x̂·(1+w) (Gemma), x̂ (OLMo)
enum class Residual { sequential, parallel, post_ln };  // post_ln: x = norm(x + branch(x)) (GPT-1, BERT)
enum class RopePairing { half, interleaved };       // (i, i+d/2) rotate_half, or (2i, 2i+1)
// relative: T5's learned bias per head and bucket of the distance key − query (positions.buckets, max_distance).
enum class PositionKind { rope, alibi, learned, none, relative };
enum class Activation { silu, gelu, gelu_tanh, relu };
// channel_mix: RWKV-4's feed-forward (blocks/rwkv.cpp); none: a layer without one (Mamba).
enum class MlpKind { gated, plain, moe, channel_mix, none };
// rwkv4: RWKV-4 time mixing; mamba: Mamba's selective scan (blocks/mamba.cpp); mamba2: Mamba 2's multi-head scan
// (blocks/mamba2.cpp). All recurrences without positions.
enum class MixerKind { attention, rwkv4, mamba, mamba2 };
// See MoeSpec.
enum class Routing { softmax_topk, topk_softmax, topk_sigmoid, sparsemixer, group_limited_greedy, noaux_tc };
enum class AttentionKind { standard, mla };
// Which keys a query sees: causal: positions up to its own; bidirectional: every position of its sequence (an
// encoder: the whole input is one call); prefix: GLM's prefix-LM (attention.prefix_lm gives its token ids).
enum class AttentionMask { causal, bidirectional, prefix };  // mla: multi-head latent attention (DeepSeek-V2/V3)
enum class QkvLayout { separate, fused, fused_per_head, fused_per_kv_group };
enum class QkNorm { none, head, projection, per_head = head, whole = projection };  // over: head | projection
enum class QkNormWeights { shared, per_head };      // per-head norm: one [head_dim] weight, or [heads, head_dim]
enum class TensorLayout { linear, conv1d, out_in = linear, in_out = conv1d };  // [out, in], or [in, out] (Conv1D)

struct NormSpec {
  NormKind kind = NormKind::rmsnorm;
  NormWeight weight = NormWeight::plain;
  bool bias = false;
  double eps = 1e-5;
};

struct RopeScaling {
  std::string type = "none";  // none | linear | llama3 | longrope | yarn
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 1.0;
  int64_t original_max_positions = 0;
  std::vector<double> short_factor, long_factor;  // longrope: short below original_max_positions, long from there
  int64_t max_positions = 0;                       // longrope: the extended context the factors were fitted for
  std::optional<double> attention_factor;          // longrope: cos/sin × this; absent: from the context ratio
  // yarn: frequencies blended between interpolated and original by a ramp over the dims whose rotations in
  // original_max_positions lie between beta_slow and beta_fast; cos and sin × m(mscale) / m(mscale_all_dim) and
  // the softmax scale × m(mscale_all_dim)², where m(x) = 0.1·x·ln(factor) + 1 (1 for x = 0 or factor ≤ 1).
  double beta_fast = 32.0, beta_slow = 1.0, mscale = 1.0, mscale_all_dim = 0.0;
};

struct RopeSpec {
  double theta = 10000.0;
  RopePairing pairing = RopePairing::half;
  int64_t rotary_dim = 0;
  RopeScaling scaling;
  std::vector<int64_t> nope_layers;  // layers that rotate nothing (Llama 4's NoPE layers)
  // GLM's 2D positions (attention.prefix_lm): each head's first half rotated by the position, its second half by
  // the block position, each over rotary_dim = head_dim / 2 with half pairing.
  bool two_d = false;
  bool f16_frequencies = false;  // the frequencies rounded to IEEE half first (ChatGLM-6B's inv_freq.half())
  bool rotates(int64_t layer) const;
};

// Llama 4's attention temperature tuning (arXiv 2501.19399) on layers without RoPE: q × (log(⌊(pos + 1) /
// floor_scale⌋ + 1) · scale + 1).
struct TemperatureTuning {
  double floor_scale = 0.0, scale = 0.0;
};

// How a checkpoint stores the latent's per-head expansion: fused as Hugging Face's kv_b ([heads·(nope + v),
// latent]), or split as llama.cpp's GGUF files (k_b [heads, latent, nope], v_b [heads, v, latent]).
enum class MlaKvB { fused, split };

// How a checkpoint stores a Mamba mixer's small tensors: as Hugging Face's modules (A_log; conv [channels, 1, kernel];
// Mamba 2's A_log, D [heads], norm [size]), or as convert_hf_to_gguf.py writes them: A = −exp(A_log) itself (role
// `a`), conv squeezed to [channels, kernel], Mamba 2's A and D [heads, 1], its norm [groups, size / groups].
enum class SsmLayout { huggingface, gguf };

// Multi-head latent attention (attention.kind: mla): keys and values come from one compressed latent per position
// (kv_a → [latent | k_rope], latent normalised, kv_b → per head [k_nope | v]); head_dim is the q/k head width
// (nope + rope), positions.rotary_dim the rope part, whose key is shared by all heads.
struct MlaSpec {
  int64_t q_lora_rank = 0;   // 0: queries straight from the hidden state (q); else q_a → q_a_norm → q_b
  int64_t kv_lora_rank = 0;  // latent width
  int64_t v_head_dim = 0;
  double norm_eps = 1e-6;    // of q_a_norm and kv_a_norm (RMSNorm)
  MlaKvB kv_b = MlaKvB::fused;
};

struct AttentionSpec {
  AttentionKind kind = AttentionKind::standard;
  MlaSpec mla;                           // kind: mla
  std::vector<int64_t> heads, kv_heads;  // one entry per layer
  int64_t head_dim = 0;
  bool bias_q = false, bias_k = false, bias_v = false, bias_o = false;
  QkvLayout qkv = QkvLayout::separate;
  std::optional<double> scale;     // absent: 1/sqrt(head_dim)
  double softcap = 0.0;            // 0: off
  std::vector<int64_t> window;     // per layer, 0: global
  std::vector<int64_t> chunk;      // per layer, 0: none; else keys of the query's own chunk only (Llama 4)
  QkNorm qk_norm = QkNorm::none;
  std::optional<NormSpec> qk_norm_spec;
  QkNormWeights qk_norm_weights = QkNormWeights::shared;
  bool qk_norm_after_rope = false;  // norm the rotated q and k, in layers that rotate only (Llama 4)
  std::optional<TemperatureTuning> temperature_tuning;
  double clip_qkv = 0.0;           // 0: off
  // Yuan 2's localized filtering: q and k are projected from RMSNorm(x + conv2(conv1(x))), two causal convolutions
  // of width 2 over the sequence (hidden -> hidden/2 -> hidden); v from x. Query head i and key head i are the
  // two halves of block i of the concatenated [q | k] projections (blocks of 2·head_dim), as the reference pairs them.
  bool localized_filtering = false;
  // Prefix-LM (GLM): a prompt is a context, a mask token ([gMASK] `gmask`, else [MASK] `mask`), then BOS; the
  // context attends bidirectionally, BOS and what follows causally (see runtime/llmc/prefix_lm.hpp).
  struct PrefixLm {
    int64_t gmask = -1, mask = -1;
  };
  std::optional<PrefixLm> prefix_lm;  // set exactly when mask is prefix
  AttentionMask mask = AttentionMask::causal;
};

// A mixture of experts (mlp.kind: moe): a token's feed-forward is the weighted sum of the top_k experts its router
// picks (gated MLPs of mlp.intermediate_size with mlp.activation), plus an optional shared expert every token runs.
struct MoeSpec {
  int64_t experts = 0, top_k = 0;
  // softmax_topk: softmax over all experts, then the top k (Mixtral, Qwen-MoE, OLMoE, Grok-1); topk_softmax: the
  // top k logits, softmax over those (GraniteMoE); topk_sigmoid: sigmoid of the top k logits (Llama 4);
  // sparsemixer: PhiMoE's eval-mode routing; group_limited_greedy (DeepSeek-V2): softmax, the top_groups of
  // `groups` expert groups by their best score, then the top k inside them; noaux_tc (DeepSeek-V3): sigmoid,
  // groups ranked by the sum of their two best scores + router_bias, top k by score + router_bias, weights from
  // the unbiased scores.
  Routing routing = Routing::softmax_topk;
  int64_t groups = 1, top_groups = 1;  // group_limited_greedy, noaux_tc
  bool renormalize = false;      // the k weights divided by their sum (norm_topk_prob)
  double scale = 1.0;            // every routing weight × this (routed_scaling_factor)
  double jitter_eps = 0.0;       // sparsemixer: how near the best logit (relative) still shares the softmax
  bool weighted_input = false;   // the weight scales the expert's input, not its output (Llama 4)
  int64_t shared_intermediate = 0;  // width of the shared expert; 0: none
  bool shared_gate = false;         // the shared expert's output × sigmoid(shared_expert_gate · x) (Qwen2-MoE)
  std::vector<int64_t> dense_layers;  // layers whose feed-forward is a dense gated MLP instead
  int64_t dense_intermediate = 0;     // its width
  bool is_dense(int64_t layer) const;
};

// An encoder–decoder (T5): `encoder` sets up a second stack of layers that reads the source tokens. Its layers are
// the decoder's (model.num_layers) without cross-attention, with bidirectional attention, its own tensors
// (weights.encoder_layer), relative position table and final norm. Decoder layers add a cross-attention branch
// over the encoder output, whose keys and values are computed once per source and kept in the sequence's state.
struct EncoderSpec {
  int64_t num_layers = 0;
  int64_t decoder_start = 0;  // the token the decoder starts from (decoder_start_token_id)
  bool add_eos = false;       // a source prompt ends with tokens.eos (T5's tokenizer appends </s>)
};

// positions.kind relative: the buckets of T5's relative position bias and the distance from which all share one.
struct RelativePositions {
  int64_t buckets = 0, max_distance = 0;
};

struct MlpSpec {
  MlpKind kind = MlpKind::gated;
  Activation activation = Activation::silu;
  std::vector<int64_t> intermediate;  // one entry per layer
  bool bias = false;
  bool fused_gate_up = false;        // one [gate; up] tensor (per expert, for a mixture of experts)
  MoeSpec moe;                       // kind: moe
};

// Weight names; "{i}" stands for the layer index. Empty: the model has no such tensor.
struct WeightNames {
  std::string embed, pos_embed, final_norm, final_norm_bias, lm_head;  // lm_head empty: tied
  std::string embed_norm, embed_norm_bias;  // model.embedding_norm (BLOOM)
  std::string lm_head_bias;
  std::string token_types;                           // the token-type (segment) table (BERT)
  std::string head_transform, head_transform_bias;   // logits.transform: dense -> activation -> norm (BERT's MLM head)
  std::string head_norm, head_norm_bias;
  std::string pooler, pooler_bias;                   // model.pooler: tanh(dense(row 0)) (BERT)
  TensorLayout layout = TensorLayout::linear;
  TensorLayout expert_layout = TensorLayout::linear;  // conv1d: stacked experts stored [count, in, out] (Llama 4)
  std::map<std::string, std::string> layer;  // role -> pattern
  std::map<std::string, std::string> encoder_layer;  // an encoder–decoder's encoder layers: role -> pattern
  // Encoder–decoders: the relative position tables of the decoder and the encoder stack, the encoder's final norm.
  std::string relative_bias, encoder_relative_bias, encoder_final_norm;
  std::vector<std::string> unused;           // checkpoint tensors deliberately ignored (patterns)

  // The name of a model-wide role: "embed", "embed_norm", "embed_norm_bias", "pos_embed", "final_norm",
  // "final_norm_bias", "lm_head", "lm_head_bias", "token_types", "head_transform(_bias)", "head_norm(_bias)",
  // "pooler(_bias)".
  std::string& global(const std::string& role);
  const std::string& global(const std::string& role) const { return const_cast<WeightNames*>(this)->global(role); }
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
  ModelKind kind = ModelKind::causal_lm;  // model.kind
  int64_t vocab_size = 0, hidden_size = 0, num_layers = 0, max_context = 0;
  bool tied_embeddings = false;
  double embedding_scale = 1.0;
  bool embedding_norm = false;    // the embeddings pass through a norm of kind `norm` (BLOOM)
  NormSpec norm;
  Residual residual = Residual::sequential;
  bool pre_norms = true;          // a norm on each branch's input (false: OLMo 2 norms only the outputs)
  bool post_norms = false;        // a norm on each branch's output (Gemma 2 sandwich)
  double residual_scale = 1.0;    // each branch output × this before it is added
  // block.residual_input normed (GLM): a branch adds to its normalised input × residual_alpha, not to the stream:
  // x = norm(x)·alpha + branch(norm(x)).
  bool residual_normed = false;
  double residual_alpha = 1.0;
  MixerKind mixer = MixerKind::attention;
  // mixer.size: rwkv4: width of the time-mixing key / value / receptance (attention_hidden_size); mamba: the
  // inner width (intermediate_size). Mamba: state_size, conv_kernel, dt_rank.
  int64_t mixer_size = 0, ssm_state = 0, conv_kernel = 0, dt_rank = 0;
  // Mamba 2: scan heads (size / heads channels each), groups of heads sharing B and C, and the floor of dt.
  int64_t ssm_heads = 0, ssm_groups = 0;
  double dt_min = 0.0;
  SsmLayout ssm_layout = SsmLayout::huggingface;  // mixer.layout (mamba, mamba2)
  AttentionSpec attention;        // mixer attention only
  PositionKind positions = PositionKind::rope;
  RopeSpec rope;
  // positions.local: the RoPE of the sliding-window layers (Gemma 3 rope_local_base_freq): its own theta and
  // scaling, the rest as `rope`. Absent: every layer uses `rope`.
  std::optional<RopeSpec> local_rope;
  int64_t max_positions = 0;      // learned: rows of the position table
  RelativePositions relative;     // positions.kind relative
  std::optional<EncoderSpec> encoder;  // present: an encoder–decoder (T5)
  int64_t position_offset = 0;    // learned: position p reads row p + offset (RoBERTa: pad_token_id + 1)
  // model.token_types: rows of a token-type (segment) table added to the embeddings (BERT: 2); 0: none.
  int64_t token_types = 0;
  bool pooler = false;            // model.pooler: an encoder's pooled row, tanh(dense(hidden of position 0)) (BERT)
  double alibi_slope_scale = 1.0;  // alibi: slopes × this (Falcon in Hugging Face: 2/√head_dim, see import.cpp)
  MlpSpec mlp;
  double logit_scale = 1.0, logit_softcap = 0.0;
  bool norm_head = false;         // lm_head rows L2-normalised (Baichuan 2)
  bool logit_bias = false;        // the classifier has a bias (PhiMoE)
  // logits.transform: the classifier reads norm(activation(dense(hidden))) (BERT's MLM head), not the hidden state.
  std::optional<Activation> logit_transform;
  bool classifier = true;         // logits.classifier: false: no classifier (an encoder giving hidden states only)
  int64_t bos = -1, eos = -1;
  bool add_bos = false;
  // tokens.tokenizer: the kind of tokenizer the vocabulary belongs to (unigram, bpe, spm, wordpiece, llama2c); the
  // binary refuses a tokenizer of another kind. Empty: any.
  std::string tokenizer_kind;
  ChatSpec chat;
  WeightNames weights;
};

// The most layers a spec may have (model.num_layers, an encoder's num_layers); importers refuse more before
// sizing anything per layer.
inline constexpr int64_t kMaxLayers = 4096;

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
const char* to_string(Routing);

}  // namespace llmc
