#include "emit.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "blocks/layer.hpp"
#include "code.hpp"
#include "llmc/error.hpp"
#include "llmc/weights.hpp"

namespace llmc {
namespace {

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

// What an encoder takes and gives beyond hidden states (ModelInfo::token_types, has_logits, has_pooler).
int64_t encoder_token_types(const Spec& s) { return s.token_types; }
bool encoder_has_logits(const Spec& s) { return s.classifier; }
bool encoder_has_pooler(const Spec& s) { return s.pooler; }

std::string summary(const Plan& p) {
  const Spec& s = *p.spec;
  const LayerPlan& l0 = p.layers.front();
  bool uniform = true;
  for (const auto& l : p.layers)
    uniform = uniform && l.heads == l0.heads && l.kv_heads == l0.kv_heads && l.ffn == l0.ffn;
  // A recurrent mixer's layers are all alike: their blocks say what they are.
  std::string shape = s.mixer != MixerKind::attention
                          ? fmt::format("{}, {}", mixer_of(s).describe(l0), feed_forward_of(s, 0).describe(l0))
                      : uniform ? fmt::format("{} heads ({} kv) of {}, FFN {}", l0.heads, l0.kv_heads, l0.head_dim, l0.ffn)
                              : "per-layer heads and FFN widths";
  const std::string context = p.unbounded_positions() ? "context unbounded" : fmt::format("context {}", s.max_context);
  return fmt::format("{} layers, hidden {}, {}, vocab {}, {}, {:.2f}M parameters", s.num_layers, s.hidden_size, shape,
                     s.vocab_size, context, static_cast<double>(p.parameter_count) / 1e6);
}

std::string constants(const Plan& p, const EmitOptions& options) {
  const std::string& dtype = options.dtype;
  const Spec& s = *p.spec;
  Code c(0);
  c.line("constexpr int kVocab = {};", s.vocab_size);
  c.line("constexpr int kHidden = {};", s.hidden_size);
  if (s.encoder)
    c.line("constexpr int kLayers = {};  // {} decoder layers, then {} encoder layers", p.layers.size(), s.num_layers,
           s.encoder->num_layers);
  else
    c.line("constexpr int kLayers = {};", s.num_layers);
  c.line("constexpr int kContext = {};", s.max_context);
  c.line("constexpr int kChunk = {};  // tokens per forward pass during prefill", p.chunk);
  if (p.unbounded_positions())
    c.line("constexpr int kPositionLimit = 2147483647;  // no per-position state: a sequence may grow without limit");
  else
    c.line("constexpr int kPositionLimit = kContext;  // positions a sequence may reach");
  c.line("constexpr llmc::MatrixStorage kMatrixStorage = llmc::MatrixStorage::{};  // llmc --dtype {}",
         dtype == "as-stored" ? "as_stored" : dtype, dtype);
  c.line("constexpr float kNormEps = {};", flt(s.norm.eps));
  if (s.attention.qk_norm_spec) c.line("constexpr float kQkNormEps = {};", flt(s.attention.qk_norm_spec->eps));
  c.line("constexpr float kAttentionScale = {};", flt(p.attention_scale));
  if (const auto& m = s.attention.prefix_lm; s.attention.mask == AttentionMask::prefix) {
    c.line("// Prefix-LM: [gMASK], [MASK] and BOS ids; where a sequence's layout state is in its fixed state.");
    c.line("constexpr llmc::PrefixLmTokens kPrefixLmTokens = {{{}, {}, {}}};", m->gmask, m->mask, s.bos);
    c.line("constexpr size_t kPrefixLmState = {};", p.prefix_lm_state_offset);
  }
  if (s.kind == ModelKind::encoder) {
    c.line("// The encoder's inputs and heads: token types (0: none; every input is then type 0), masked-LM logits, pooler.");
    c.line("constexpr int kTokenTypes = {};", encoder_token_types(s));
    c.line("constexpr bool kHasLogits = {}, kHasPooler = {};", encoder_has_logits(s), encoder_has_pooler(s));
  }
  if (s.embedding_scale != 1.0) c.line("constexpr float kEmbeddingScale = {};", flt(s.embedding_scale));
  if (s.residual_scale != 1.0) c.line("constexpr float kResidualScale = {};", flt(s.residual_scale));
  if (s.residual_normed) c.line("constexpr float kResidualAlpha = {};", flt(s.residual_alpha));
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
    if (!p.rope_inv_freq_local.empty()) {
      c.line("// The sliding-window layers' RoPE: theta {}, scaling {}.", s.local_rope->theta, s.local_rope->scaling.type);
      c.line("constexpr float kRopeInvFreqLocal[kRotaryDim / 2] = {{{}}};", floats(p.rope_inv_freq_local));
    }
    if (!p.rope_inv_freq_long.empty()) {
      c.line("// LongRoPE: positions from kRopeOriginalContext on use the long factors; cos and sin × kRopeFactor.");
      c.line("constexpr int kRopeOriginalContext = {};", s.rope.scaling.original_max_positions);
      c.line("constexpr float kRopeInvFreqLong[kRotaryDim / 2] = {{{}}};", floats(p.rope_inv_freq_long));
      c.line("constexpr float kRopeFactor = {};", flt(p.rope_attention_factor));
    } else if (p.rope_attention_factor != 1.0f) {
      c.line("constexpr float kRopeFactor = {};  // cos and sin × this (YaRN)", flt(p.rope_attention_factor));
    }
  }
  if (s.positions == PositionKind::relative) {
    c.line("// Relative position bias (T5): {} buckets per direction set, one shared from distance {} on.",
           s.relative.buckets, s.relative.max_distance);
    c.line("constexpr int kRelativeBuckets = {}, kRelativeMaxDistance = {}, kRelativeHeads = {};", s.relative.buckets,
           s.relative.max_distance, s.attention.heads.front());
  }
  if (s.positions == PositionKind::alibi) {
    c.line("// ALiBi slope per head (× {}).", s.alibi_slope_scale);
    c.line("constexpr float kAlibiSlopes[{}] = {{{}}};", p.alibi_slopes.size(), floats(p.alibi_slopes));
  }
  for (const Block* block : blocks_of(s)) block->emit_model_constants(c, p);
  c.blank();
  c.line("// Buffer sizes, fixed by the plan.");
  const bool kv_f16 = options.kv_cache == "f16";
  c.line("using KvElement = {};  // llmc --kv-cache {}", kv_f16 ? "uint16_t" : "float",
         kv_f16 ? "f16: IEEE half, rounded as stored" : "f32");
  c.line("// A sequence's state (llmc::State, owned by the caller) holds one row per position: every layer's keys and");
  c.line("// then values for it, so a short context touches little memory, in few pages.");
  c.line("constexpr int kKvRow = {};", p.state_row);
  c.line("constexpr size_t kStateRowBytes = kKvRow * sizeof(KvElement);  // {:.1f} MiB for kContext rows",
         static_cast<double>(p.state_elements() * (kv_f16 ? 2 : 4)) / (1 << 20));
  c.line("constexpr size_t kStateFixedBytes = {};", p.state_fixed_bytes);
  if (s.encoder)
    c.line("constexpr bool kStateRowsHoldSource = true;  // row i also holds source position i's cross-attention K/V");
  else
    c.line("constexpr bool kStateRowsHoldSource = false;");
  c.line("constexpr size_t kThreadScratchFloats = {};  // per thread", p.thread_scratch.empty() ? "0" : p.thread_scratch);
  c.line("constexpr size_t kActivationFloats = {};  // {:.1f} MiB", p.activation_floats,
         static_cast<double>(p.activation_floats) * 4 / (1 << 20));
  return c.str();
}

// How a tensor is bound: the call that returns it. ref: the arguments that name it and give its shape, a
// TensorRef of a table or the name and shape.
std::string bind_call(const TensorPlan& t, const std::string& ref) {
  std::string value;
  if (t.normalize_rows) {
    value = fmt::format("llmc::normalize_rows(store.get_copy({}), {}, {})", ref, t.shape[0], t.shape[1]);
  } else if (binds_as_matrix(t)) {
    value = fmt::format("store.get_matrix({}, kMatrixStorage)", ref);
  } else {
    value = fmt::format("store.get({}{})", ref, t.transpose ? ", true" : "");
  }
  if (is_matrix_role(t.role) && !binds_as_matrix(t)) value = fmt::format("llmc::Matrix{{llmc::WFormat::f32, {}}}", value);
  return value;
}

// A TensorRef literal: {"name", {rows, columns}, 2}.
std::string tensor_ref(const TensorPlan& t) {
  return fmt::format("{{\"{}\", {{{}}}, {}}}", t.name, fmt::join(t.shape, ", "), t.shape.size());
}

// Per-head tensors stacked into one array (StableLM's norms): one line per tensor.
std::string stacked_value(const TensorPlan& t) {
  std::vector<std::string> parts;
  for (const auto& name : t.parts) parts.push_back(fmt::format("store.get(\"{}\", {{{}}})", name, t.shape[1]));
  return fmt::format("stack({{{}}}, {})", fmt::join(parts, ", "), t.shape[1]);
}

// How the layers bind a role's tensors: from a table of TensorRefs indexed by layer (experts: by layer and
// expert when stored one tensor per expert), with gaps where a layer has no such tensor (a dense layer of a
// mixture of experts). Per-head tensors stacked from parts (StableLM's norms) are bound one line each.
struct RoleTable {
  Role role;
  bool every_layer = true;   // no gaps
  bool expert_parts = false; // [kLayers][kExperts], one tensor per expert
  bool transposed = false;   // stored [in, out]
  const TensorPlan* first = nullptr;  // the tensor of the first layer that has the role
};

std::vector<RoleTable> role_tables(const Plan& p) {
  std::vector<RoleTable> tables;
  for (Role role : p.layer_roles) {
    RoleTable t{role};
    for (const auto& l : p.layers) {
      if (!l.has(role)) t.every_layer = false;
      else if (!t.first) t.first = &l.tensor(role);
    }
    if (!t.first->parts.empty() && !is_expert_role(role)) continue;
    t.expert_parts = !t.first->parts.empty();
    t.transposed = t.first->transpose;
    tables.push_back(t);
  }
  return tables;
}

// The checkpoint names and shapes of the layers' tensors: a constexpr table per role, indexed by layer.
std::string tensor_tables(const Plan& p) {
  Code c(0);
  c.line("// The layers' checkpoint tensors (names and shapes as stored), a table per role indexed by layer.");
  c.line("namespace layer_tensors {{");
  for (const RoleTable& table : role_tables(p)) {
    const char* name = role_name(table.role);
    if (!table.expert_parts) {
      c.line("constexpr llmc::TensorRef {}[kLayers] = {{", name);
      for (const auto& l : p.layers) c.line("    {},", l.has(table.role) ? tensor_ref(l.tensor(table.role)) : "{}");
      c.line("}};");
      continue;
    }
    c.line("constexpr llmc::TensorRef {}[kLayers][kExperts] = {{", name);
    for (const auto& l : p.layers) {
      if (!l.has(table.role)) {
        c.line("    {{}},");
        continue;
      }
      const TensorPlan& t = l.tensor(table.role);
      c.line("    {{");
      for (const auto& part : t.parts) c.line("        {{\"{}\", {{{}, {}}}, 2}},", part, t.shape[1], t.shape[2]);
      c.line("    }},");
    }
    c.line("}};");
  }
  c.line("}}  // namespace layer_tensors");
  return c.str();
}

// The call that binds expert e of a layer's table entry `ref`.
std::string bind_expert_call(const RoleTable& table, const std::string& ref) {
  if (table.expert_parts) return fmt::format("store.get_matrix({}[e], kMatrixStorage)", ref);
  return fmt::format("store.get_expert_matrix({}, e, kMatrixStorage{})", ref, table.transposed ? ", true" : "");
}

std::string bind_weights(const Plan& p) {
  Code c(4);
  for (const auto& t : p.globals)
    c.line("w_.{} = {};", role_name(t.role), bind_call(t, fmt::format("\"{}\", {{{}}}", t.name, fmt::join(t.shape, ", "))));
  c.line("for (int i = 0; i < kLayers; ++i) {{");
  c.line("  LayerWeights& w = w_.layer[i];");
  for (const RoleTable& table : role_tables(p)) {
    const char* name = role_name(table.role);
    const std::string ref = fmt::format("layer_tensors::{}[i]", name);
    const std::string guard =
        table.every_layer ? "" : fmt::format("if ({}{}.name) ", ref, table.expert_parts ? "[0]" : "");
    if (is_expert_role(table.role)) {
      c.line("  {}for (int e = 0; e < kExperts; ++e) w.{}[e] = {};", guard, name, bind_expert_call(table, ref));
      continue;
    }
    std::string call = bind_call(*table.first, ref);
    for (const Block* block : blocks_of(*p.spec))
      if (std::string own = block->bind(p, table.role, ref); !own.empty()) call = own;
    c.line("  {}w.{} = {};", guard, name, call);
  }
  c.line("}}");
  for (const auto& l : p.layers)
    for (const auto& t : l.tensors)
      if (!t.parts.empty() && !is_expert_role(t.role))
        c.line("w_.layer[{}].{} = {};", l.index, role_name(t.role), stacked_value(t));
  return c.str();
}

// The members <prefix>cos_ and <prefix>sin_ and the code that fills them from the frequencies `inv_freq`
// (longrope: kRopeInvFreqLong from kRopeOriginalContext on).
// scaled: cos and sin × kRopeFactor (LongRoPE's attention factor, YaRN's mscale ratio).
void emit_rope_table(Code& tables, Code& init, const std::string& prefix, const std::string& inv_freq, bool longrope,
                     bool scaled) {
  tables.line("std::unique_ptr<float[]> {}cos_{{new float[kContext * kRotaryDim / 2]}};", prefix);
  tables.line("std::unique_ptr<float[]> {}sin_{{new float[kContext * kRotaryDim / 2]}};", prefix);
  init.line("for (int p = 0; p < kContext; ++p) {{");
  if (longrope) init.line("  const float* inv_freq = p < kRopeOriginalContext ? {} : kRopeInvFreqLong;", inv_freq);
  init.line("  for (int i = 0; i < kRotaryDim / 2; ++i) {{");
  init.line("    const float angle = static_cast<float>(p) * {}[i];", longrope ? "inv_freq" : inv_freq);
  const char* factor = scaled ? " * kRopeFactor" : "";
  init.line("    {}cos_[p * kRotaryDim / 2 + i] = static_cast<float>(std::cos(static_cast<double>(angle))){};", prefix, factor);
  init.line("    {}sin_[p * kRotaryDim / 2 + i] = static_cast<float>(std::sin(static_cast<double>(angle))){};", prefix, factor);
  init.line("  }}");
  init.line("}}");
}

std::string forward_body(const Plan& p) {
  const Spec& s = *p.spec;
  Code c(4);
  if (s.attention.mask == AttentionMask::prefix) {
    c.line("for (const Sequence& s : sequences)  // the context's end and the mask token's position, once seen");
    c.line("  llmc::prefix_lm_scan(reinterpret_cast<int32_t*>(s.state->fixed() + kPrefixLmState), tokens + s.first, "
           "s.count,");
    c.line("                       s.pos, kPrefixLmTokens);");
  }
  if (s.encoder) {
    c.line("for (const Sequence& s : sequences)");
    c.line("  if (source_length(*s.state) == 0)");
    c.line("    throw llmc::Error(\"an encoder–decoder decodes after encode_source(): this sequence has no encoder input\");");
  }
  c.line("llmc::embed_rows<kVocab, kHidden>(x_, w_.embed, tokens, T);");
  if (s.token_types > 0) {
    c.line("for (int t = 0; t < T; ++t)  // the token type's (segment's) row, added first as BERT does");
    c.line("  llmc::add_scaled<kHidden>(x_ + static_cast<size_t>(t) * kHidden,");
    c.line("                            w_.token_types + static_cast<size_t>(token_types[t]) * kHidden, 1.0f, 1);");
  }
  if (s.positions == PositionKind::learned) {
    c.line("for (const Sequence& s : sequences) {{");
    c.line("  for (int t = 0; t < s.count; ++t) {{");
    c.line("    const float* position = w_.pos_embed + static_cast<size_t>(s.pos + t{}) * kHidden;",
           s.position_offset ? fmt::format(" + {}", s.position_offset) : "");
    c.line("    llmc::add_scaled<kHidden>(x_ + static_cast<size_t>(s.first + t) * kHidden, position, 1.0f, 1);");
    c.line("  }}");
    c.line("}}");
  }
  if (s.embedding_scale != 1.0) c.line("llmc::scale<kHidden>(x_, kEmbeddingScale, T);");
  if (s.embedding_norm) c.line("{}", norm_call(s.norm, "x_", "x_", "w_", Role::embed_norm, "kHidden", "kNormEps", "T"));
  for (const auto& l : p.layers)
    if (!l.encoder) c.line("layer_{}(T, sequences);", l.index);
  return c.str();
}

// An encoder–decoder's encode_source(): the source through the encoder layers and final norm, then every
// decoder layer's cross-attention keys and values of it into the state.
std::string encoder_methods(const Plan& p) {
  const Spec& s = *p.spec;
  if (!s.encoder) return "";
  Code b(4);  // the body
  b.line("check_state(state);");
  b.line("if (n < 1 || n > kContext)");
  b.line("  throw llmc::Error(\"the encoder input has \" + std::to_string(n) + \" tokens; expected 1..\" + std::to_string(kContext));");
  b.line("check_tokens(tokens, n);");
  b.line("state.reset();  // a new source: the decoder starts over");
  b.line("const int T = n;  // the whole source in one step (kChunk = kContext): its attention is bidirectional");
  b.line("const Sequence sequence{{&state, 0, T, 0}};");
  b.line("const std::span<const Sequence> sequences{{&sequence, 1}};");
  b.line("llmc::embed_rows<kVocab, kHidden>(x_, w_.embed, tokens, T);");
  if (s.embedding_scale != 1.0) b.line("llmc::scale<kHidden>(x_, kEmbeddingScale, T);");
  for (const auto& l : p.layers)
    if (l.encoder) b.line("layer_{}(T, sequences);", l.index);
  std::string source = "x_";
  if (s.norm.weight != NormWeight::none || s.norm.bias) {
    b.line("{}", norm_call(s.norm, "xn_", "x_", "w_", Role::encoder_final_norm, "kHidden", "kNormEps", "T"));
    source = "xn_";
  }
  b.line("// Each decoder layer's cross-attention keys and values of the encoder output, kept in the state.");
  for (const auto& l : p.layers)
    if (l.cross_attention) emit_source_kv(b, l, source);
  b.line("*reinterpret_cast<int32_t*>(state.fixed() + kSourceLengthState) = n;");
  Code c(2);
  c.line("void encode_source(llmc::State& state, const int* tokens, int n) override {{");
  const std::string text = c.str() + "\n" + b.str() + "\n";
  Code tail(2);
  tail.line("}}");
  tail.blank();
  tail.line("// The source length encode_source() stored; 0 before it ran.");
  tail.line("static int source_length(const llmc::State& state) {{");
  tail.line("  return *reinterpret_cast<const int32_t*>(state.fixed() + kSourceLengthState);");
  tail.line("}}");
  return text + tail.str();
}

// The last layer's output of row t: post-LN layers end normalised, others take the final norm (into xn_).
std::string hidden_body(const Plan& p) {
  const Spec& s = *p.spec;
  Code c(4);
  if (s.residual == Residual::post_ln) {
    c.line("return x_ + static_cast<size_t>(t) * kHidden;");
  } else {
    c.line("float* const row = xn_ + static_cast<size_t>(t) * kHidden;");
    c.line("{}", norm_call(s.norm, "row", "x_ + static_cast<size_t>(t) * kHidden", "w_", Role::final_norm, "kHidden",
                           "kNormEps", "1"));
    c.line("return row;");
  }
  return c.str();
}

// BERT's pooler: tanh(dense(hidden(t))), into head_row_.
std::string pooled_body(const Plan& p) {
  Code c(4);
  if (!encoder_has_pooler(*p.spec)) {
    c.line("return nullptr;  // no pooler: encode() refuses to give pooled rows");
    return c.str();
  }
  c.line("llmc::matmul<kHidden, kHidden>(head_row_.get(), hidden(t), w_.pooler, w_.pooler_bias, 1);");
  c.line("for (int i = 0; i < kHidden; ++i) head_row_[i] = std::tanh(head_row_[i]);");
  c.line("return head_row_.get();");
  return c.str();
}

// The entry points of the model's kind (templates/causal_lm.cpp.tmpl, encoder.cpp.tmpl): the public methods and
// the private members they use.
std::pair<std::string, std::string> entry_points(const Plan& p) {
  switch (p.spec->kind) {
    case ModelKind::causal_lm: return {std::string(template_text("causal_lm.cpp.tmpl")), ""};
    case ModelKind::encoder: {
      const std::map<std::string, std::string> v = {{"hidden_body", hidden_body(p)}, {"pooled_body", pooled_body(p)}};
      return {std::string(template_text("encoder.cpp.tmpl")),
              "\n" + render_template(template_text("encoder_private.cpp.tmpl"), v)};
    }
    case ModelKind::encoder_decoder:  // the decoder's causal-LM entry points after encode_source()
      return {std::string(template_text("causal_lm.cpp.tmpl")) + "\n" + encoder_methods(p), ""};
  }
  throw Error(fmt::format("{}: field 'model.kind': unknown kind", p.spec->file));
}

std::string logits_body(const Plan& p) {
  const Spec& s = *p.spec;
  Code c(4);
  if (s.kind == ModelKind::encoder && !s.classifier) {
    c.line("(void)t;  // no classifier: encode() refuses to give logits");
    return c.str();
  }
  if (s.kind == ModelKind::encoder) {
    c.line("const float* row = hidden(t);");
  } else if (s.residual == Residual::post_ln) {  // the last block already normalised x
    c.line("const float* row = x_ + static_cast<size_t>(t) * kHidden;");
  } else {
    c.line("float* const row = xn_ + static_cast<size_t>(t) * kHidden;");
    c.line("{}", norm_call(s.norm, "row", "x_ + static_cast<size_t>(t) * kHidden", "w_", Role::final_norm, "kHidden",
                           "kNormEps", "1"));
  }
  if (s.logit_transform) {  // BERT's MLM head: the classifier reads norm(activation(dense(row)))
    c.line("llmc::matmul<kHidden, kHidden>(head_row_.get(), row, w_.head_transform, w_.head_transform_bias, 1);");
    c.line("llmc::activation<kHidden, {}>(head_row_.get(), 1);", act_name(*s.logit_transform));
    c.line("{}", norm_call(s.norm, "head_row_.get()", "head_row_.get()", "w_", Role::head_norm, "kHidden", "kNormEps", "1"));
    c.line("row = head_row_.get();");
  }
  c.line("llmc::matmul<kVocab, kHidden>(logits_.get(), row, {}, {}, 1);",
         s.tied_embeddings ? "w_.embed" : "w_.lm_head", s.logit_bias ? "w_.lm_head_bias" : "nullptr");
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

namespace {

// The grouped format `llmc build --formats` calls `name`, if any.
std::optional<WFormat> kernel_format(const std::string& name) {
  using enum WFormat;
  for (WFormat f : {f32_g16, f16_g16, bf16_g16, q8_0, q4_0, q4_k, q5_k, q6_k})
    if (kernel_format_name(f) == name) return f;
  return std::nullopt;
}

// The #define that limits the binary's kernels to `--formats` (see kKernelFormats in llmc/weights.hpp), or ""
// for all of them. The --dtype's format must be among them: a K-quant dtype keeps rows that are not whole
// super-blocks as q8_0, so it needs q8_0 too.
std::string kernel_formats(const EmitOptions& o) {
  if (o.formats == "all") return "";
  uint32_t mask = 1u << static_cast<unsigned>(WFormat::f32_g16);
  std::stringstream list(o.formats);
  for (std::string name; std::getline(list, name, ',');) {
    const std::optional<WFormat> f = kernel_format(name);
    if (!f) throw Error(fmt::format("--formats: '{}' is not one of: all, f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k", name));
    mask |= 1u << static_cast<unsigned>(*f);
  }
  std::vector<std::string> needed;
  if (o.dtype != "f32" && o.dtype != "as-stored") needed.push_back(o.dtype);
  if (o.dtype == "q4_k" || o.dtype == "q5_k" || o.dtype == "q6_k") needed.push_back("q8_0");
  for (const std::string& name : needed)
    if (!has_kernels(mask, *kernel_format(name)))
      throw Error(fmt::format("--formats {} leaves out {}, which --dtype {} keeps matrices in", o.formats, name, o.dtype));
  return fmt::format("// Kernels for these matrix formats only (llmc build --formats {}): a matrix kept in another is\n"
                     "// refused at load. Without this line the binary has kernels for every format.\n"
                     "#define LLMC_KERNEL_FORMATS 0x{:x}u\n\n",
                     o.formats, mask);
}

}  // namespace

std::string emit_model(const Plan& p, const EmitOptions& options) {
  const Spec& s = *p.spec;
  static const std::set<std::string> kDtypes = {"f32", "as-stored", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k"};
  if (!kDtypes.count(options.dtype))
    throw Error(fmt::format("--dtype: '{}' is not one of: f32, as-stored, q8_0, q4_0, q4_k, q5_k, q6_k", options.dtype));
  std::map<std::string, std::string> v;
  v["version"] = LLMC_VERSION;
  v["spec_file"] = s.file;
  v["spec_hash"] = spec_hash(s);
  v["command"] = options.command_line;
  v["kernel_formats"] = kernel_formats(options);
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
  v["kind"] = to_string(s.kind);
  v["token_types"] = std::to_string(encoder_token_types(s));
  v["has_logits"] = encoder_has_logits(s) ? "true" : "false";
  v["has_pooler"] = encoder_has_pooler(s) ? "true" : "false";
  std::tie(v["entry_points"], v["private_entry_point_members"]) = entry_points(p);
  v["chat_template"] = c_string(s.chat.template_text);
  v["chat_bos_token"] = c_string(s.chat.bos_token);
  v["chat_eos_token"] = c_string(s.chat.eos_token);

  Code layer_members(2), global_members(2), decls(2), tables(2), buffers(2), init(4);
  auto member = [&](Role role) {
    for (const Block* block : blocks_of(s))
      if (std::string own = block->member(role); !own.empty()) return own;
    if (is_expert_role(role)) return fmt::format("llmc::Matrix {}[kExperts];", role_name(role));
    return is_matrix_role(role) ? fmt::format("llmc::Matrix {};", role_name(role))
                                : fmt::format("const float* {} = nullptr;", role_name(role));
  };
  for (const auto& role : p.layer_roles) layer_members.line("{}", member(role));
  for (const auto& t : p.globals) global_members.line("{}", member(t.role));
  for (const auto& l : p.layers) decls.line("void layer_{}(int T, std::span<const Sequence> sequences);", l.index);
  if (s.positions == PositionKind::rope) {
    tables.line("// cos and sin of every position × frequency, [kContext][kRotaryDim / 2].");
    const bool longrope = !p.rope_inv_freq_long.empty();
    emit_rope_table(tables, init, "rope_", "kRopeInvFreq", longrope, longrope || p.rope_attention_factor != 1.0f);
    if (!p.rope_inv_freq_local.empty()) emit_rope_table(tables, init, "rope_local_", "kRopeInvFreqLocal", false, false);
  }
  if (s.positions == PositionKind::relative) {  // per head, the bias of every distance −(kContext−1)..kContext−1
    std::vector<std::pair<std::string, bool>> stacks = {{"relative_bias", false}};  // the decoder's is causal
    if (s.encoder) stacks.push_back({"encoder_relative_bias", true});
    tables.line("// Relative position bias per head and distance, [kRelativeHeads][2 * kContext - 1].");
    for (const auto& [name, bidirectional] : stacks) {
      tables.line("std::unique_ptr<float[]> {}_{{new float[kRelativeHeads * (2 * kContext - 1)]}};", name);
      init.line("llmc::relative_position_bias({}_.get(), w_.{}, kRelativeHeads, kContext, kRelativeBuckets,", name, name);
      init.line("                             kRelativeMaxDistance, /*bidirectional=*/{});", bidirectional);
    }
  }
  for (const Block* block : blocks_of(s)) block->emit_members(tables, p);
  if (s.logit_transform || s.pooler)
    tables.line("llmc::AlignedFloats head_row_ = llmc::aligned_floats(kHidden);  // the MLM head's transform, the pooler's row");
  int64_t offset = 0;
  for (const BufferPlan& b : p.buffers) {
    buffers.line("float* const {} = activations_.get() + {};  // [kChunk][{}]", b.name, offset, b.row_floats);
    offset += p.chunk * b.row_floats;
  }

  std::vector<std::string> unused;
  for (const auto& u : p.unused_weights) unused.push_back(fmt::format("\"{}\"", u));
  v["unused_weights"] = fmt::format("{}", fmt::join(unused, ", "));
  v["layer_members"] = layer_members.str();
  v["global_members"] = global_members.str();
  v["tensor_tables"] = tensor_tables(p);
  v["bind_weights"] = bind_weights(p);
  v["init_tables"] = init.str();
  v["forward_body"] = forward_body(p);
  v["decoder_start"] = std::to_string(s.encoder ? s.encoder->decoder_start : -1);
  v["add_eos"] = s.encoder && s.encoder->add_eos ? "true" : "false";
  v["tokenizer_kind"] = c_string(s.tokenizer_kind);
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
