#include "emit.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>

#include "llmc/error.hpp"

namespace llmc {
namespace {

// A float as a C++ literal that round-trips: 1e-05f, 10000.0f, 0.125f.
std::string flt(double v) {
  std::string s = fmt::format("{}", static_cast<float>(v));  // shortest text that round-trips
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s + "f";
}

// Text safe inside a C++ string literal and a // comment.
std::string c_escape(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch == '\n' ? ' ' : ch;
  }
  return out;
}

// The contents of a C++ string literal holding `text` exactly (newlines and control bytes escaped; octal
// escapes have 3 digits so a following digit cannot extend them).
std::string c_string(const std::string& text) {
  std::string out;
  for (char ch : text) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') out += std::string("\\") + ch;
    else if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += "\\t";
    else if (u < 0x20 || u == 0x7f || ch == '?') out += fmt::format("\\{:03o}", u);  // '?': no trigraph-like text
    else out += ch;
  }
  return out;
}

// Lines of code at a fixed indent.
class Code {
 public:
  explicit Code(int indent) : pad_(static_cast<size_t>(indent), ' ') {}
  template <typename... Args>
  void line(fmt::format_string<Args...> f, Args&&... args) {
    text_ += pad_ + fmt::format(f, std::forward<Args>(args)...) + "\n";
  }
  void blank() { text_ += "\n"; }
  std::string str() const {
    std::string s = text_;
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

 private:
  std::string pad_, text_;
};

const char* weighting(NormWeight w) {
  switch (w) {
    case NormWeight::plain: return "llmc::Weighting::plain";
    case NormWeight::offset_one: return "llmc::Weighting::offset_one";
    case NormWeight::none: return "llmc::Weighting::none";
  }
  return "";
}

const char* act_name(Activation a) {
  switch (a) {
    case Activation::silu: return "llmc::Act::silu";
    case Activation::gelu: return "llmc::Act::gelu";
    case Activation::gelu_tanh: return "llmc::Act::gelu_tanh";
    case Activation::relu: return "llmc::Act::relu";
  }
  return "";
}

// A norm call. weights: expression of the weight struct ("w" or "w_"); role names its tensors.
std::string norm_call(const NormSpec& n, const std::string& out, const std::string& in, const std::string& weights,
                      const std::string& role, const std::string& size, const std::string& eps,
                      const std::string& rows) {
  const std::string weight = n.weight == NormWeight::none ? "nullptr" : weights + "." + role;
  if (n.kind == NormKind::rms)
    return fmt::format("llmc::rms_norm<{}, {}>({}, {}, {}, {}, {});", size, weighting(n.weight), out, in, weight, eps,
                       rows);
  const std::string bias = n.bias ? weights + "." + role + "_bias" : "nullptr";
  return fmt::format("llmc::layer_norm<{}, {}>({}, {}, {}, {}, {}, {});", size, weighting(n.weight), out, in, weight,
                     bias, eps, rows);
}

// A per-head norm where every head has its own weights ([heads, head_dim]).
std::string per_head_norm_call(const NormSpec& n, const std::string& x, const std::string& role,
                               const std::string& heads) {
  const std::string weight = n.weight == NormWeight::none ? "nullptr" : "w." + role;
  if (n.kind == NormKind::rms)
    return fmt::format("llmc::rms_norm_heads<{}, kHeadDim, {}>({}, {}, kQkNormEps, T);", heads, weighting(n.weight), x,
                       weight);
  const std::string bias = n.bias ? "w." + role + "_bias" : "nullptr";
  return fmt::format("llmc::layer_norm_heads<{}, kHeadDim, {}>({}, {}, {}, kQkNormEps, T);", heads,
                     weighting(n.weight), x, weight, bias);
}

std::string bias_of(const LayerPlan& l, const std::string& role) {
  return l.has(role + "_bias") ? "w." + role + "_bias" : "nullptr";
}

std::string summary(const Plan& p) {
  const Spec& s = *p.spec;
  const LayerPlan& l0 = p.layers.front();
  bool uniform = true;
  for (const auto& l : p.layers)
    uniform = uniform && l.heads == l0.heads && l.kv_heads == l0.kv_heads && l.ffn == l0.ffn;
  std::string shape = uniform ? fmt::format("{} heads ({} kv) of {}, FFN {}", l0.heads, l0.kv_heads, l0.head_dim, l0.ffn)
                              : "per-layer heads and FFN widths";
  return fmt::format("{} layers, hidden {}, {}, vocab {}, context {}, {:.2f}M parameters", s.num_layers, s.hidden_size,
                     shape, s.vocab_size, s.max_context, static_cast<double>(p.parameter_count) / 1e6);
}

std::string constants(const Plan& p, const EmitOptions& options) {
  const std::string& dtype = options.dtype;
  const Spec& s = *p.spec;
  Code c(0);
  c.line("constexpr int kVocab = {};", s.vocab_size);
  c.line("constexpr int kHidden = {};", s.hidden_size);
  c.line("constexpr int kLayers = {};", s.num_layers);
  c.line("constexpr int kContext = {};", s.max_context);
  c.line("constexpr int kChunk = {};  // tokens per forward pass during prefill", p.chunk);
  c.line("constexpr llmc::MatrixStorage kMatrixStorage = llmc::MatrixStorage::{};  // llmc --dtype {}",
         dtype == "as-stored" ? "as_stored" : dtype, dtype);
  c.line("constexpr float kNormEps = {};", flt(s.norm.eps));
  if (s.attention.qk_norm_spec) c.line("constexpr float kQkNormEps = {};", flt(s.attention.qk_norm_spec->eps));
  c.line("constexpr float kAttentionScale = {};", flt(p.attention_scale));
  if (s.embedding_scale != 1.0) c.line("constexpr float kEmbeddingScale = {};", flt(s.embedding_scale));
  if (s.residual_scale != 1.0) c.line("constexpr float kResidualScale = {};", flt(s.residual_scale));
  if (s.logit_scale != 1.0) c.line("constexpr float kLogitScale = {};", flt(s.logit_scale));
  if (s.logit_softcap != 0.0) c.line("constexpr float kLogitSoftcap = {};", flt(s.logit_softcap));
  if (s.attention.softcap != 0.0) c.line("constexpr float kAttentionSoftcap = {};", flt(s.attention.softcap));
  if (s.attention.clip_qkv != 0.0) c.line("constexpr float kClipQkv = {};", flt(s.attention.clip_qkv));
  auto floats = [](const std::vector<float>& values) {
    std::vector<std::string> f;
    for (float v : values) f.push_back(flt(v));
    return fmt::format("{}", fmt::join(f, ", "));
  };
  if (s.positions == PositionKind::rope) {
    c.line("constexpr int kRotaryDim = {};", s.rope.rotary_dim);
    c.line("// RoPE inverse frequencies: theta {}, scaling {}.", s.rope.theta, s.rope.scaling.type);
    c.line("constexpr float kRopeInvFreq[kRotaryDim / 2] = {{{}}};", floats(p.rope_inv_freq));
    if (!p.rope_inv_freq_long.empty()) {
      c.line("// LongRoPE: positions from kRopeOriginalContext on use the long factors; cos and sin × kRopeFactor.");
      c.line("constexpr int kRopeOriginalContext = {};", s.rope.scaling.original_max_positions);
      c.line("constexpr float kRopeInvFreqLong[kRotaryDim / 2] = {{{}}};", floats(p.rope_inv_freq_long));
      c.line("constexpr float kRopeFactor = {};", flt(p.rope_attention_factor));
    }
  }
  if (s.positions == PositionKind::alibi) {
    c.line("// ALiBi slope per head (× {}).", s.alibi_slope_scale);
    c.line("constexpr float kAlibiSlopes[{}] = {{{}}};", p.alibi_slopes.size(), floats(p.alibi_slopes));
  }
  c.blank();
  c.line("// Buffer sizes, fixed by the plan.");
  const bool kv_f16 = options.kv_cache == "f16";
  c.line("using KvElement = {};  // llmc --kv-cache {}", kv_f16 ? "uint16_t" : "float",
         kv_f16 ? "f16: IEEE half, rounded as stored" : "f32");
  c.line("// A sequence's state (llmc::State, owned by the caller) holds one row per position: every layer's keys and");
  c.line("// then values for it, so a short context touches little memory, in few pages.");
  c.line("constexpr int kKvRow = {};", p.kv_row);
  c.line("constexpr size_t kStateRowBytes = kKvRow * sizeof(KvElement);  // {:.1f} MiB for kContext rows",
         static_cast<double>(p.kv_cache_floats * (kv_f16 ? 2 : 4)) / (1 << 20));
  c.line("constexpr size_t kStateFixedBytes = 0;");
  c.line("// This chunk's keys and values in fp32, before they are stored (rounded, for an f16 cache) into their rows.");
  c.line("constexpr size_t kKvStagingFloats = {};", 2 * p.chunk * p.max_kv_dim);
  c.line("constexpr size_t kAttentionScratchFloats = llmc::attention_scratch_floats({}, {}, kContext);  // per thread",
         p.max_heads, p.max_head_dim);
  c.line("constexpr size_t kActivationFloats = {};  // {:.1f} MiB", p.activation_floats,
         static_cast<double>(p.activation_floats) * 4 / (1 << 20));
  return c.str();
}

std::string bind_weights(const Plan& p) {
  Code c(4);
  auto bind = [&](const std::string& target, const TensorPlan& t) {
    std::vector<std::string> dims;
    for (int64_t d : t.shape) dims.push_back(std::to_string(d));
    std::string value;
    if (!t.parts.empty()) {  // one tensor per head, stacked into one array
      std::vector<std::string> parts;
      for (const auto& name : t.parts) parts.push_back(fmt::format("store.get(\"{}\", {{{}}})", name, t.shape[1]));
      value = fmt::format("stack({{{}}}, {})", fmt::join(parts, ", "), t.shape[1]);
    } else if (t.normalize_rows) {
      value = fmt::format("llmc::normalize_rows(store.get_copy(\"{}\", {{{}}}), {}, {})", t.name,
                          fmt::join(dims, ", "), t.shape[0], t.shape[1]);
    } else if (binds_as_matrix(t)) {
      value = fmt::format("store.get_matrix(\"{}\", {{{}}}, kMatrixStorage)", t.name, fmt::join(dims, ", "));
    } else {
      value = fmt::format("store.get(\"{}\", {{{}}}{})", t.name, fmt::join(dims, ", "), t.transpose ? ", true" : "");
    }
    if (is_matrix_role(t.role) && !binds_as_matrix(t)) value = fmt::format("llmc::Matrix{{llmc::WFormat::f32, {}}}", value);
    c.line("{} = {};", target, value);
  };
  for (const auto& t : p.globals) bind("w_." + t.role, t);
  for (const auto& l : p.layers)
    for (const auto& t : l.tensors) bind(fmt::format("w_.layer[{}].{}", l.index, t.role), t);
  return c.str();
}

std::string layer_definition(const Plan& p, const LayerPlan& l) {
  const Spec& s = *p.spec;
  const AttentionSpec& a = s.attention;
  Code c(2);
  const std::string rs = s.residual_scale != 1.0 ? "kResidualScale" : "1.0f";
  const std::string eps = "kNormEps";
  c.line("constexpr int kHeads = {}, kKvHeads = {}, kHeadDim = {};", l.heads, l.kv_heads, l.head_dim);
  c.line("constexpr int kQDim = kHeads * kHeadDim, kKvDim = kKvHeads * kHeadDim, kFfn = {};", l.ffn);
  c.line("const LayerWeights& w = w_.layer[{}];", l.index);
  c.line("// This step's keys and values in fp32, before they are stored into each sequence's state.");
  c.line("float* const k_new = kv_staging_.get();");
  c.line("float* const v_new = kv_staging_.get() + kChunk * kKvDim;");
  c.blank();
  c.line("// Attention");
  const bool post_ln = s.residual == Residual::post_ln;
  const bool norm_first = s.pre_norms && !post_ln;
  const std::string in = norm_first ? "xn_" : "x_";  // without input norms the branches read the residual stream
  if (norm_first) c.line("{}", norm_call(s.norm, "xn_", "x_", "w", "attn_norm", "kHidden", eps, "T"));
  if (a.qkv == QkvLayout::separate) {
    c.line("llmc::matmuls<kHidden, kQDim, kKvDim, kKvDim>({}, T, {{{{q_, w.q, {}}}, {{k_new, w.k, {}}}, {{v_new, w.v, {}}}}});",
           in, bias_of(l, "q"), bias_of(l, "k"), bias_of(l, "v"));
  } else {
    const char* layout = a.qkv == QkvLayout::fused            ? "llmc::QkvLayout::fused"
                         : a.qkv == QkvLayout::fused_per_head ? "llmc::QkvLayout::per_head"
                                                              : "llmc::QkvLayout::per_kv_group";
    c.line("llmc::matmul<kQDim + 2 * kKvDim, kHidden>(qkv_, {}, w.qkv, {}, T);", in, bias_of(l, "qkv"));
    c.line("llmc::split_qkv<kHeads, kKvHeads, kHeadDim, {}>(q_, k_new, v_new, qkv_, T);", layout);
  }
  if (a.clip_qkv != 0.0) {
    c.line("llmc::clamp(q_, static_cast<size_t>(T) * kQDim, kClipQkv);");
    c.line("llmc::clamp(k_new, static_cast<size_t>(T) * kKvDim, kClipQkv);");
    c.line("llmc::clamp(v_new, static_cast<size_t>(T) * kKvDim, kClipQkv);");
  }
  if (a.qk_norm == QkNorm::per_head && a.qk_norm_weights == QkNormWeights::per_head) {
    c.line("{}", per_head_norm_call(*a.qk_norm_spec, "q_", "q_norm", "kHeads"));
    c.line("{}", per_head_norm_call(*a.qk_norm_spec, "k_new", "k_norm", "kKvHeads"));
  } else if (a.qk_norm == QkNorm::per_head) {
    c.line("{}", norm_call(*a.qk_norm_spec, "q_", "q_", "w", "q_norm", "kHeadDim", "kQkNormEps", "T * kHeads"));
    c.line("{}", norm_call(*a.qk_norm_spec, "k_new", "k_new", "w", "k_norm", "kHeadDim", "kQkNormEps", "T * kKvHeads"));
  } else if (a.qk_norm == QkNorm::whole) {
    c.line("{}", norm_call(*a.qk_norm_spec, "q_", "q_", "w", "q_norm", "kQDim", "kQkNormEps", "T"));
    c.line("{}", norm_call(*a.qk_norm_spec, "k_new", "k_new", "w", "k_norm", "kKvDim", "kQkNormEps", "T"));
  }
  c.line("for (const Sequence& s : sequences) {{");
  c.line("  // Its rows of this step, and this layer's keys and values in each row of its state (kKvRow apart).");
  c.line("  float* const q = q_ + static_cast<size_t>(s.first) * kQDim;");
  c.line("  float* const k = k_new + static_cast<size_t>(s.first) * kKvDim;");
  c.line("  const float* const v = v_new + static_cast<size_t>(s.first) * kKvDim;");
  c.line("  KvElement* const k_cache = reinterpret_cast<KvElement*>(s.state->rows()) + {};", l.kv_offset);
  c.line("  KvElement* const v_cache = k_cache + kKvDim;");
  if (s.positions == PositionKind::rope) {
    const char* pairing = s.rope.pairing == RopePairing::half ? "llmc::Pairing::half" : "llmc::Pairing::interleaved";
    c.line("  llmc::rope<kHeads, kHeadDim, kRotaryDim, {}>(q, kQDim, s.count, s.pos, rope_cos_.get(), rope_sin_.get());",
           pairing);
    c.line("  llmc::rope<kKvHeads, kHeadDim, kRotaryDim, {}>(k, kKvDim, s.count, s.pos, rope_cos_.get(), rope_sin_.get());",
           pairing);
  }
  c.line("  llmc::store_kv<kKvDim, kKvRow>(k_cache, s.pos, k, s.count);");
  c.line("  llmc::store_kv<kKvDim, kKvRow>(v_cache, s.pos, v, s.count);");
  c.line("  llmc::attention<kHeads, kKvHeads, kHeadDim, kContext, kKvRow>(att_ + static_cast<size_t>(s.first) * kQDim, q,");
  c.line("      kQDim, k_cache, v_cache, s.count, s.pos, {{kAttentionScale, {}, {}, {}}}, scratch_.get());",
         a.softcap != 0.0 ? "kAttentionSoftcap" : "0.0f", l.window,
         s.positions == PositionKind::alibi ? "kAlibiSlopes" : "nullptr");
  c.line("}}");
  c.line("llmc::matmul<kHidden, kQDim>(branch_, att_, w.o, {}, T);", bias_of(l, "o"));
  if (s.post_norms) c.line("{}", norm_call(s.norm, "branch_", "branch_", "w", "post_attn_norm", "kHidden", eps, "T"));
  if (s.residual != Residual::parallel) c.line("llmc::add_scaled<kHidden>(x_, branch_, {}, T);", rs);
  if (post_ln) c.line("{}", norm_call(s.norm, "x_", "x_", "w", "attn_norm", "kHidden", eps, "T"));
  c.blank();
  c.line("// Feed-forward");
  if (norm_first && l.separate_ffn_norm)
    c.line("{}", norm_call(s.norm, "xn_", "x_", "w", "ffn_norm", "kHidden", eps, "T"));
  const MlpSpec& m = s.mlp;
  if (m.kind == MlpKind::gated && m.fused_gate_up) {
    c.line("llmc::matmul<2 * kFfn, kHidden>(gate_up_, {}, w.gate_up, {}, T);", in, bias_of(l, "gate_up"));
    c.line("llmc::gated_activation<kFfn, {}>(h_, gate_up_, 2 * kFfn, gate_up_ + kFfn, 2 * kFfn, T);",
           act_name(m.activation));
  } else if (m.kind == MlpKind::gated) {
    c.line("llmc::matmuls<kHidden, kFfn, kFfn>({}, T, {{{{h_, w.gate, {}}}, {{gate_up_, w.up, {}}}}});", in,
           bias_of(l, "gate"), bias_of(l, "up"));
    c.line("llmc::gated_activation<kFfn, {}>(h_, h_, kFfn, gate_up_, kFfn, T);", act_name(m.activation));
  } else {
    c.line("llmc::matmul<kFfn, kHidden>(h_, {}, w.up, {}, T);", in, bias_of(l, "up"));
    c.line("llmc::activation<kFfn, {}>(h_, T);", act_name(m.activation));
  }
  c.line("llmc::matmul<kHidden, kFfn>(ffn_out_, h_, w.down, {}, T);", bias_of(l, "down"));
  if (s.post_norms) c.line("{}", norm_call(s.norm, "ffn_out_", "ffn_out_", "w", "post_ffn_norm", "kHidden", eps, "T"));
  if (s.residual == Residual::parallel) c.line("llmc::add_scaled<kHidden>(x_, branch_, {}, T);", rs);
  c.line("llmc::add_scaled<kHidden>(x_, ffn_out_, {}, T);", rs);
  if (post_ln) c.line("{}", norm_call(s.norm, "x_", "x_", "w", "ffn_norm", "kHidden", eps, "T"));

  std::string window = l.window ? fmt::format(", sliding window {}", l.window) : "";
  return fmt::format("// Layer {}: {} query heads, {} kv heads of {}, FFN {}{}.\nvoid Model::layer_{}(int T, std::span<const Sequence> sequences) {{\n{}\n}}\n",
                     l.index, l.heads, l.kv_heads, l.head_dim, l.ffn, window, l.index, c.str());
}

std::string forward_body(const Plan& p) {
  const Spec& s = *p.spec;
  Code c(4);
  c.line("llmc::embed_rows<kHidden>(x_, w_.embed, tokens, T);");
  if (s.positions == PositionKind::learned) {
    c.line("for (const Sequence& s : sequences) {{");
    c.line("  for (int t = 0; t < s.count; ++t) {{");
    c.line("    const float* position = w_.pos_embed + static_cast<size_t>(s.pos + t) * kHidden;");
    c.line("    llmc::add_scaled<kHidden>(x_ + static_cast<size_t>(s.first + t) * kHidden, position, 1.0f, 1);");
    c.line("  }}");
    c.line("}}");
  }
  if (s.embedding_scale != 1.0) c.line("llmc::scale<kHidden>(x_, kEmbeddingScale, T);");
  for (const auto& l : p.layers) c.line("layer_{}(T, sequences);", l.index);
  return c.str();
}

std::string logits_body(const Plan& p) {
  const Spec& s = *p.spec;
  Code c(4);
  if (s.residual == Residual::post_ln) {  // the last block already normalised x
    c.line("const float* const row = x_ + static_cast<size_t>(t) * kHidden;");
  } else {
    c.line("float* const row = xn_ + static_cast<size_t>(t) * kHidden;");
    c.line("{}", norm_call(s.norm, "row", "x_ + static_cast<size_t>(t) * kHidden", "w_", "final_norm", "kHidden",
                           "kNormEps", "1"));
  }
  c.line("llmc::matmul<kVocab, kHidden>(logits_.get(), row, {}, nullptr, 1);",
         s.tied_embeddings ? "w_.embed" : "w_.lm_head");
  if (s.logit_scale != 1.0) c.line("llmc::scale<kVocab>(logits_.get(), kLogitScale, 1);");
  if (s.logit_softcap != 0.0) c.line("llmc::softcap(logits_.get(), kVocab, kLogitSoftcap);");
  return c.str();
}

}  // namespace

std::string render_template(std::string_view text, const std::map<std::string, std::string>& values) {
  std::string out;
  size_t at = 0;
  while (true) {
    const size_t open = text.find("{{", at);
    if (open == std::string_view::npos) break;
    const size_t close = text.find("}}", open);
    if (close == std::string_view::npos) throw Error("internal error: unclosed {{ in a template");
    const std::string key(text.substr(open + 2, close - open - 2));
    auto it = values.find(key);
    if (it == values.end()) throw Error("internal error: template key '" + key + "' has no value");
    out.append(text.substr(at, open - at));
    out += it->second;
    at = close + 2;
  }
  out.append(text.substr(at));
  return out;
}

std::string emit_model(const Plan& p, const EmitOptions& options) {
  const Spec& s = *p.spec;
  if (options.dtype != "f32" && options.dtype != "as-stored" && options.dtype != "q8_0" && options.dtype != "q4_0")
    throw Error(fmt::format("--dtype: '{}' is not one of: f32, as-stored, q8_0, q4_0", options.dtype));
  std::map<std::string, std::string> v;
  v["version"] = LLMC_VERSION;
  v["spec_file"] = s.file;
  v["spec_hash"] = spec_hash(s);
  v["command"] = options.command_line;
  v["name"] = c_escape(s.name);
  v["family"] = c_escape(s.family);
  v["summary"] = c_escape(summary(p));
  std::string ns = "llmc_model";
  v["namespace"] = ns;
  if (options.kv_cache != "f32" && options.kv_cache != "f16")
    throw Error(fmt::format("--kv-cache: '{}' is not one of: f32, f16", options.kv_cache));
  v["constants"] = constants(p, options);
  v["bos"] = std::to_string(s.bos);
  v["eos"] = std::to_string(s.eos);
  v["add_bos"] = s.add_bos ? "true" : "false";
  v["chat_template"] = c_string(s.chat.template_text);
  v["chat_bos_token"] = c_string(s.chat.bos_token);
  v["chat_eos_token"] = c_string(s.chat.eos_token);

  Code layer_members(2), global_members(2), decls(2), tables(2), buffers(2), init(4);
  auto member = [](const std::string& role) {
    return is_matrix_role(role) ? fmt::format("llmc::Matrix {};", role) : fmt::format("const float* {} = nullptr;", role);
  };
  for (const auto& role : p.layer_roles) layer_members.line("{}", member(role));
  for (const auto& t : p.globals) global_members.line("{}", member(t.role));
  for (const auto& l : p.layers) decls.line("void layer_{}(int T, std::span<const Sequence> sequences);", l.index);
  if (s.positions == PositionKind::rope) {
    tables.line("// cos and sin of every position × frequency, [kContext][kRotaryDim / 2].");
    tables.line("std::unique_ptr<float[]> rope_cos_{{new float[kContext * kRotaryDim / 2]}};");
    tables.line("std::unique_ptr<float[]> rope_sin_{{new float[kContext * kRotaryDim / 2]}};");
    const bool longrope = !p.rope_inv_freq_long.empty();
    init.line("for (int p = 0; p < kContext; ++p) {{");
    if (longrope) init.line("  const float* inv_freq = p < kRopeOriginalContext ? kRopeInvFreq : kRopeInvFreqLong;");
    init.line("  for (int i = 0; i < kRotaryDim / 2; ++i) {{");
    init.line("    const float angle = static_cast<float>(p) * {}[i];", longrope ? "inv_freq" : "kRopeInvFreq");
    const char* factor = longrope ? " * kRopeFactor" : "";
    init.line("    rope_cos_[p * kRotaryDim / 2 + i] = static_cast<float>(std::cos(static_cast<double>(angle))){};", factor);
    init.line("    rope_sin_[p * kRotaryDim / 2 + i] = static_cast<float>(std::sin(static_cast<double>(angle))){};", factor);
    init.line("  }}");
    init.line("}}");
  }
  // Activation buffers: name, floats per prefill row.
  const int64_t H = s.hidden_size;
  const std::vector<std::pair<std::string, int64_t>> bufs = {
      {"x_", H}, {"xn_", H}, {"qkv_", p.max_qkv_dim}, {"q_", p.max_q_dim}, {"att_", p.max_q_dim},
      {"branch_", H}, {"ffn_out_", H}, {"h_", p.max_ffn}, {"gate_up_", 2 * p.max_ffn}};
  int64_t offset = 0;
  for (const auto& [name, width] : bufs) {
    buffers.line("float* const {} = activations_.get() + {};  // [kChunk][{}]", name, offset, width);
    offset += p.chunk * width;
  }
  if (offset > p.activation_floats) throw Error("internal error: activation buffers exceed the planned size");

  std::vector<std::string> unused;
  for (const auto& u : p.unused_weights) unused.push_back(fmt::format("\"{}\"", u));
  v["unused_weights"] = fmt::format("{}", fmt::join(unused, ", "));
  v["layer_members"] = layer_members.str();
  v["global_members"] = global_members.str();
  v["bind_weights"] = bind_weights(p);
  v["init_tables"] = init.str();
  v["forward_body"] = forward_body(p);
  v["logits_body"] = logits_body(p);
  v["layer_declarations"] = decls.str();
  v["tables"] = tables.str();
  v["buffers"] = buffers.str();
  std::string layers;
  for (const auto& l : p.layers) layers += (layers.empty() ? "" : "\n") + layer_definition(p, l);
  v["layer_definitions"] = layers;
  return render_template(template_text("model.cpp.tmpl"), v);
}

}  // namespace llmc
