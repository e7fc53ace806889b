#include "spec.hpp"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "llmc/error.hpp"
#include "llmc/jinja.hpp"

namespace llmc {
namespace {

// A YAML mapping together with where it is, so that every error can name file, line and field.
class Section {
 public:
  Section(YAML::Node node, std::string path, const std::string& file)
      : node_(std::move(node)), path_(std::move(path)), file_(file) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& field, const std::string& what) const {
    const YAML::Mark mark = at.Mark();
    std::string where = file_;
    if (mark.line >= 0) where += fmt::format(":{}", mark.line + 1);
    throw Error(fmt::format("{}: field '{}': {}", where, field, what));
  }

  std::string field(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  bool has(const std::string& key) const { return node_[key].IsDefined() && !node_[key].IsNull(); }

  // Every key must be one of `allowed`.
  void only_keys(std::initializer_list<const char*> allowed) const {
    std::set<std::string> names(allowed.begin(), allowed.end());
    for (const auto& kv : node_) {
      const std::string key = kv.first.as<std::string>();
      if (!names.count(key))
        fail(kv.first, field(key), fmt::format("unknown key; expected one of: {}", fmt::join(names, ", ")));
    }
  }

  YAML::Node required_node(const std::string& key) const {
    if (!has(key)) fail(node_, field(key), "missing (required)");
    return node_[key];
  }

  Section section(const std::string& key) const {
    YAML::Node n = required_node(key);
    if (!n.IsMap()) fail(n, field(key), "expected a mapping");
    return Section(n, field(key), file_);
  }
  std::optional<Section> optional_section(const std::string& key) const {
    if (!has(key)) return std::nullopt;
    return section(key);
  }

  template <typename T>
  T get(const std::string& key) const {
    YAML::Node n = required_node(key);
    return convert<T>(n, key);
  }
  template <typename T>
  T get_or(const std::string& key, T fallback) const {
    return has(key) ? get<T>(key) : fallback;
  }

  // A size: 1 ≤ value ≤ max (bounded so that nothing sized by it is absurd; products are checked by the plan).
  int64_t positive(const std::string& key, int64_t max = kMaxSize) const {
    const int64_t v = get<int64_t>(key);
    if (v <= 0) fail(node_[key], field(key), fmt::format("expected a positive integer, found {}", v));
    if (v > max) fail(node_[key], field(key), fmt::format("expected at most {}, found {}", max, v));
    return v;
  }
  static constexpr int64_t kMaxSize = int64_t{1} << 24;

  // A value given once for all layers or as a list of one per layer.
  std::vector<int64_t> per_layer(const std::string& key, int64_t layers, int64_t min_value) const {
    YAML::Node n = required_node(key);
    std::vector<int64_t> values;
    if (n.IsSequence()) {
      if (static_cast<int64_t>(n.size()) != layers)
        fail(n, field(key), fmt::format("expected {} values (one per layer), found {}", layers, n.size()));
      for (const auto& item : n) values.push_back(convert<int64_t>(item, key));
    } else {
      values.assign(static_cast<size_t>(layers), convert<int64_t>(n, key));
    }
    for (int64_t v : values) {
      if (v < min_value) fail(n, field(key), fmt::format("expected values >= {}, found {}", min_value, v));
      if (v > kMaxSize) fail(n, field(key), fmt::format("expected values <= {}, found {}", kMaxSize, v));
    }
    return values;
  }

  template <typename E>
  E choice(const std::string& key, std::initializer_list<std::pair<const char*, E>> options) const {
    const std::string v = get<std::string>(key);
    std::vector<std::string> names;
    for (const auto& [name, value] : options) {
      if (v == name) return value;
      names.push_back(name);
    }
    fail(node_[key], field(key), fmt::format("'{}' is not one of: {}", v, fmt::join(names, ", ")));
  }
  template <typename E>
  E choice_or(const std::string& key, E fallback, std::initializer_list<std::pair<const char*, E>> options) const {
    return has(key) ? choice<E>(key, options) : fallback;
  }

  // Item i of the list under `key`.
  template <typename T>
  T element(const YAML::Node& n, const std::string& key, size_t i) const {
    return convert<T>(n, fmt::format("{}[{}]", key, i));
  }

  const YAML::Node& node() const { return node_; }
  const std::string& file() const { return file_; }

 private:
  template <typename T>
  T convert(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(n, field(key), fmt::format("expected {}", type_name<T>()));
    T value;
    try {
      value = n.as<T>();
    } catch (const YAML::Exception&) {
      fail(n, field(key), fmt::format("expected {}, found '{}'", type_name<T>(), n.Scalar()));
    }
    if constexpr (std::is_floating_point_v<T>)  // .nan / .inf parse as numbers but mean nothing in a spec
      if (!std::isfinite(value)) fail(n, field(key), fmt::format("expected a finite number, found '{}'", n.Scalar()));
    if constexpr (std::is_same_v<T, std::string>)
      if (value.empty()) fail(n, field(key), "expected a non-empty string");
    return value;
  }
  template <typename T>
  static const char* type_name() {
    if constexpr (std::is_same_v<T, bool>) return "true or false";
    else if constexpr (std::is_integral_v<T>) return "an integer";
    else if constexpr (std::is_floating_point_v<T>) return "a number";
    else return "a string";
  }

  YAML::Node node_;
  std::string path_;
  const std::string& file_;
};

NormSpec parse_norm(const Section& s) {
  s.only_keys({"kind", "weight", "bias", "eps"});
  NormSpec n;
  n.kind = s.choice<NormKind>("kind", {{"rmsnorm", NormKind::rmsnorm}, {"layernorm", NormKind::layernorm}});
  n.weight = s.choice_or<NormWeight>("weight", NormWeight::plain,
                                     {{"plain", NormWeight::plain}, {"offset_one", NormWeight::offset_one},
                                      {"none", NormWeight::none}});
  n.bias = s.get_or<bool>("bias", false);
  n.eps = s.get<double>("eps");
  if (n.eps <= 0) s.fail(s.node()["eps"], s.field("eps"), "expected a positive number");
  if (n.kind == NormKind::rmsnorm && n.bias) s.fail(s.node()["bias"], s.field("bias"), "rmsnorm has no bias");
  return n;
}

// A list of distinct layer indices of the model under `key`.
std::vector<int64_t> layer_indices(const Section& s, const std::string& key, int64_t num_layers) {
  const YAML::Node layers = s.required_node(key);
  if (!layers.IsSequence()) s.fail(layers, s.field(key), "expected a list of layer indices");
  std::vector<int64_t> out;
  for (size_t i = 0; i < layers.size(); ++i) {
    const int64_t layer = s.element<int64_t>(layers[i], key, i);
    if (layer < 0 || layer >= num_layers)
      s.fail(layers[i], s.field(key), fmt::format("layer {} is not one of the model's {} layers", layer, num_layers));
    if (std::find(out.begin(), out.end(), layer) != out.end())
      s.fail(layers[i], s.field(key), fmt::format("layer {} is listed twice", layer));
    out.push_back(layer);
  }
  return out;
}

void parse_attention(const Section& s, Spec& spec) {
  s.only_keys({"kind", "mla", "heads", "kv_heads", "head_dim", "qkv", "bias", "scale", "softcap", "window", "chunk",
               "qk_norm", "temperature_tuning", "clip_qkv", "localized_filtering", "prefix_lm", "mask"});
  AttentionSpec& a = spec.attention;
  a.kind = s.choice_or<AttentionKind>("kind", AttentionKind::standard,
                                      {{"standard", AttentionKind::standard}, {"mla", AttentionKind::mla}});
  if (a.kind == AttentionKind::mla) {
    Section m = s.section("mla");
    m.only_keys({"q_lora_rank", "kv_lora_rank", "v_head_dim", "norm_eps", "kv_b"});
    a.mla.q_lora_rank = m.has("q_lora_rank") ? m.positive("q_lora_rank") : 0;
    a.mla.kv_lora_rank = m.positive("kv_lora_rank");
    a.mla.v_head_dim = m.positive("v_head_dim");
    a.mla.norm_eps = m.get_or<double>("norm_eps", 1e-6);
    if (a.mla.norm_eps <= 0) m.fail(m.node()["norm_eps"], m.field("norm_eps"), "expected a positive number");
    a.mla.kv_b = m.choice_or<MlaKvB>("kv_b", MlaKvB::fused, {{"fused", MlaKvB::fused}, {"split", MlaKvB::split}});
  } else if (s.has("mla")) {
    s.fail(s.node()["mla"], s.field("mla"), "only used with kind: mla");
  }
  a.heads = s.per_layer("heads", spec.num_layers, 1);
  a.kv_heads = s.per_layer("kv_heads", spec.num_layers, 1);
  a.head_dim = s.positive("head_dim");
  for (int64_t i = 0; i < spec.num_layers; ++i)
    if (a.heads[i] % a.kv_heads[i] != 0)
      s.fail(s.node()["kv_heads"], s.field("kv_heads"),
             fmt::format("layer {}: {} kv heads do not divide {} query heads", i, a.kv_heads[i], a.heads[i]));
  a.qkv = s.choice_or<QkvLayout>("qkv", QkvLayout::separate,
                                 {{"separate", QkvLayout::separate}, {"fused", QkvLayout::fused},
                                  {"fused_per_head", QkvLayout::fused_per_head},
                                  {"fused_per_kv_group", QkvLayout::fused_per_kv_group}});
  if (auto b = s.optional_section("bias")) {
    b->only_keys({"q", "k", "v", "o"});
    a.bias_q = b->get<bool>("q");
    a.bias_k = b->get<bool>("k");
    a.bias_v = b->get<bool>("v");
    a.bias_o = b->get<bool>("o");
  }
  if (s.has("scale")) a.scale = s.get<double>("scale");
  a.softcap = s.get_or<double>("softcap", 0.0);
  a.window = s.has("window") ? s.per_layer("window", spec.num_layers, 0)
                             : std::vector<int64_t>(static_cast<size_t>(spec.num_layers), 0);
  a.chunk = s.has("chunk") ? s.per_layer("chunk", spec.num_layers, 0)
                           : std::vector<int64_t>(static_cast<size_t>(spec.num_layers), 0);
  for (int64_t i = 0; i < spec.num_layers; ++i)
    if (a.chunk[i] != 0 && a.window[i] != 0)
      s.fail(s.node()["chunk"], s.field("chunk"), fmt::format("layer {} has both a window and a chunk", i));
  if (auto t = s.optional_section("temperature_tuning")) {
    t->only_keys({"floor_scale", "scale"});
    a.temperature_tuning = TemperatureTuning{t->get<double>("floor_scale"), t->get<double>("scale")};
    if (!(a.temperature_tuning->floor_scale > 0))
      t->fail(t->node()["floor_scale"], t->field("floor_scale"), "expected a positive number");
  }
  if (auto q = s.optional_section("qk_norm")) {
    q->only_keys({"over", "norm", "weights", "after_rope"});
    a.qk_norm_after_rope = q->get_or<bool>("after_rope", false);
    a.qk_norm = q->choice<QkNorm>("over", {{"head", QkNorm::head}, {"projection", QkNorm::projection}});
    a.qk_norm_spec = parse_norm(q->section("norm"));
    a.qk_norm_weights = q->choice_or<QkNormWeights>("weights", QkNormWeights::shared,
                                                    {{"shared", QkNormWeights::shared},
                                                     {"per_head", QkNormWeights::per_head}});
    if (a.qk_norm_weights == QkNormWeights::per_head && a.qk_norm != QkNorm::head)
      q->fail(q->node()["weights"], q->field("weights"), "per_head weights need over: head");
    if (a.qk_norm_after_rope && (a.qk_norm != QkNorm::head || a.qk_norm_weights == QkNormWeights::per_head))
      q->fail(q->node()["after_rope"], q->field("after_rope"), "only with over: head and shared weights");
  }
  a.clip_qkv = s.get_or<double>("clip_qkv", 0.0);
  a.localized_filtering = s.get_or<bool>("localized_filtering", false);
  if (auto m = s.optional_section("prefix_lm")) {
    m->only_keys({"gmask", "mask"});
    a.prefix_lm = AttentionSpec::PrefixLm{m->get<int64_t>("gmask"), m->get<int64_t>("mask")};
  }
  // prefix_lm alone is the older spelling of mask: prefix, which needs its token ids.
  a.mask = s.choice_or<AttentionMask>("mask", a.prefix_lm ? AttentionMask::prefix : AttentionMask::causal,
                                      {{"causal", AttentionMask::causal},
                                       {"bidirectional", AttentionMask::bidirectional},
                                       {"prefix", AttentionMask::prefix}});
  const YAML::Node mask_at = s.has("mask") ? s.node()["mask"] : s.node();
  if ((a.mask == AttentionMask::prefix) != a.prefix_lm.has_value())
    s.fail(mask_at, s.field("mask"),
           a.prefix_lm ? "attention.prefix_lm is given, so the mask is prefix"
                       : "prefix needs attention.prefix_lm: {gmask, mask} (the ids of its mask tokens)");
  const bool encodes = spec.kind != ModelKind::causal_lm;
  if ((a.mask == AttentionMask::bidirectional) != encodes && spec.kind != ModelKind::encoder_decoder)
    s.fail(mask_at, s.field("mask"),
           encodes ? "model.kind encoder attends bidirectionally: expected mask: bidirectional"
                   : "a bidirectional mask is an encoder's: set model.kind: encoder");
}

RopeScaling parse_rope_scaling(const Section& s, int64_t rotary_dim);

void parse_positions(const Section& s, Spec& spec) {
  s.only_keys({"kind", "theta", "pairing", "rotary_dim", "scaling", "nope_layers", "max_positions", "slope_scale",
               "local", "two_d", "f16_frequencies", "offset", "buckets", "max_distance"});
  spec.positions = s.choice<PositionKind>("kind", {{"rope", PositionKind::rope}, {"alibi", PositionKind::alibi},
                                                   {"learned", PositionKind::learned}, {"relative", PositionKind::relative},
                                                   {"none", PositionKind::none}});
  for (const char* k : {"buckets", "max_distance"})
    if (spec.positions != PositionKind::relative && s.has(k)) s.fail(s.node()[k], s.field(k), "only used with kind: relative");
  if (spec.positions == PositionKind::relative) {
    spec.relative.buckets = s.positive("buckets", 4096);
    spec.relative.max_distance = s.positive("max_distance");
    if (spec.relative.buckets < 4)  // half for each direction, then exact and logarithmic halves of those
      s.fail(s.node()["buckets"], s.field("buckets"), fmt::format("expected at least 4, found {}", spec.relative.buckets));
  }
  if (spec.positions != PositionKind::rope)
    for (const char* k :
         {"theta", "pairing", "rotary_dim", "scaling", "nope_layers", "local", "two_d", "f16_frequencies"})
      if (s.has(k)) s.fail(s.node()[k], s.field(k), "only used with kind: rope");
  for (const char* k : {"max_positions", "offset"})
    if (spec.positions != PositionKind::learned && s.has(k)) s.fail(s.node()[k], s.field(k), "only used with kind: learned");
  if (spec.positions != PositionKind::alibi && s.has("slope_scale"))
    s.fail(s.node()["slope_scale"], s.field("slope_scale"), "only used with kind: alibi");
  if (spec.positions == PositionKind::learned) {
    spec.max_positions = s.positive("max_positions");
    spec.position_offset = s.get_or<int64_t>("offset", 0);
    if (spec.position_offset < 0 || spec.position_offset >= spec.max_positions)
      s.fail(s.node()["offset"], s.field("offset"),
             fmt::format("expected 0..{} (a row of the position table)", spec.max_positions - 1));
    if (spec.max_context > spec.max_positions - spec.position_offset)
      s.fail(s.node()["max_positions"], s.field("max_positions"),
             fmt::format("the position table has {} rows{}, fewer than model.max_context {}", spec.max_positions,
                         spec.position_offset ? fmt::format(" from offset {}", spec.position_offset) : "",
                         spec.max_context));
  }
  if (spec.positions == PositionKind::alibi) spec.alibi_slope_scale = s.get_or<double>("slope_scale", 1.0);
  if (spec.positions != PositionKind::rope) return;
  RopeSpec& r = spec.rope;
  r.theta = s.get<double>("theta");
  r.pairing = s.choice<RopePairing>("pairing", {{"half", RopePairing::half}, {"interleaved", RopePairing::interleaved}});
  r.rotary_dim = s.positive("rotary_dim");
  if (s.has("nope_layers")) r.nope_layers = layer_indices(s, "nope_layers", spec.num_layers);
  if (r.rotary_dim % 2 != 0 || r.rotary_dim > spec.attention.head_dim)
    s.fail(s.node()["rotary_dim"], s.field("rotary_dim"),
           fmt::format("expected an even number <= head_dim ({}), found {}", spec.attention.head_dim, r.rotary_dim));
  r.scaling = parse_rope_scaling(s, r.rotary_dim);
  r.two_d = s.get_or<bool>("two_d", false);
  r.f16_frequencies = s.get_or<bool>("f16_frequencies", false);
  if (r.two_d && (r.rotary_dim * 2 != spec.attention.head_dim || r.pairing != RopePairing::half ||
                  !spec.attention.prefix_lm || r.scaling.type != "none"))
    s.fail(s.node()["two_d"], s.field("two_d"),
           fmt::format("2D positions need attention.prefix_lm, pairing half, no scaling and rotary_dim = head_dim / 2 "
                       "({}), found {}", spec.attention.head_dim / 2, r.rotary_dim));
  if (auto local = s.optional_section("local")) {
    local->only_keys({"theta", "scaling"});
    RopeSpec l = r;
    l.theta = local->get<double>("theta");
    l.scaling = parse_rope_scaling(*local, r.rotary_dim);
    if (l.scaling.type == "longrope")
      local->fail(local->node()["scaling"], local->field("scaling"), "longrope is not supported for the local RoPE");
    bool windowed = false;
    for (int64_t w : spec.attention.window) windowed = windowed || w > 0;
    if (!windowed)
      s.fail(local->node(), s.field("local"), "is the RoPE of sliding-window layers, but attention.window sets none");
    spec.local_rope = l;
  }
}

// `scaling` of a RoPE section (positions, or positions.local): absent means none.
RopeScaling parse_rope_scaling(const Section& s, int64_t rotary_dim) {
  RopeScaling x;
  if (auto sc = s.optional_section("scaling")) {
    x.type = sc->get<std::string>("type");
    if (x.type == "linear") {
      sc->only_keys({"type", "factor"});
      x.factor = sc->get<double>("factor");
    } else if (x.type == "llama3") {
      sc->only_keys({"type", "factor", "low_freq_factor", "high_freq_factor", "original_max_positions"});
      x.factor = sc->get<double>("factor");
      x.low_freq_factor = sc->get<double>("low_freq_factor");
      x.high_freq_factor = sc->get<double>("high_freq_factor");
      x.original_max_positions = sc->positive("original_max_positions");
    } else if (x.type == "longrope") {
      sc->only_keys({"type", "short_factor", "long_factor", "original_max_positions", "max_positions",
                     "attention_factor"});
      x.original_max_positions = sc->positive("original_max_positions");
      x.max_positions = sc->positive("max_positions");
      if (sc->has("attention_factor")) x.attention_factor = sc->get<double>("attention_factor");
      for (auto [key, out] : {std::pair{"short_factor", &x.short_factor}, std::pair{"long_factor", &x.long_factor}}) {
        YAML::Node n = sc->required_node(key);
        if (!n.IsSequence() || static_cast<int64_t>(n.size()) != rotary_dim / 2)
          sc->fail(n, sc->field(key), fmt::format("expected a list of rotary_dim/2 = {} numbers", rotary_dim / 2));
        for (size_t i = 0; i < n.size(); ++i) out->push_back(sc->element<double>(n[i], key, i));
      }
    } else if (x.type == "yarn") {
      sc->only_keys({"type", "factor", "original_max_positions", "beta_fast", "beta_slow", "mscale", "mscale_all_dim"});
      x.factor = sc->get<double>("factor");
      if (x.factor <= 0) sc->fail(sc->node()["factor"], sc->field("factor"), "expected a positive number");
      x.original_max_positions = sc->positive("original_max_positions");
      x.beta_fast = sc->get_or<double>("beta_fast", 32.0);
      x.beta_slow = sc->get_or<double>("beta_slow", 1.0);
      if (x.beta_slow <= 0 || x.beta_fast <= x.beta_slow)
        sc->fail(sc->node()["beta_fast"], sc->field("beta_fast"),
                 fmt::format("expected beta_fast > beta_slow > 0, found {} and {}", x.beta_fast, x.beta_slow));
      x.mscale = sc->get_or<double>("mscale", 1.0);
      x.mscale_all_dim = sc->get_or<double>("mscale_all_dim", 0.0);
    } else if (x.type != "none") {
      sc->fail(sc->node()["type"], sc->field("type"),
               fmt::format("'{}' is not one of: none, linear, llama3, longrope, yarn", x.type));
    }
  }
  return x;
}

constexpr std::initializer_list<std::pair<const char*, Routing>> kRoutings = {
    {"softmax_topk", Routing::softmax_topk}, {"topk_softmax", Routing::topk_softmax},
    {"topk_sigmoid", Routing::topk_sigmoid}, {"sparsemixer", Routing::sparsemixer},
    {"group_limited_greedy", Routing::group_limited_greedy}, {"noaux_tc", Routing::noaux_tc}};

// experts.groups / top_groups of DeepSeek's group-limited routings.
void parse_expert_groups(const Section& e, MoeSpec& m) {
  const bool grouped = m.routing == Routing::group_limited_greedy || m.routing == Routing::noaux_tc;
  if (!grouped) {
    for (const char* key : {"groups", "top_groups"})
      if (e.has(key)) e.fail(e.node()[key], e.field(key), "only used with routing: group_limited_greedy or noaux_tc");
    return;
  }
  m.groups = e.get_or<int64_t>("groups", 1);
  if (m.groups <= 0 || m.experts % m.groups != 0)
    e.fail(e.node()["groups"], e.field("groups"),
           fmt::format("{} groups do not divide the {} experts into equal groups", m.groups, m.experts));
  m.top_groups = e.get_or<int64_t>("top_groups", m.groups);
  if (m.top_groups <= 0 || m.top_groups > m.groups)
    e.fail(e.node()["top_groups"], e.field("top_groups"),
           fmt::format("expected 1 to groups ({}) groups kept, found {}", m.groups, m.top_groups));
  if (m.routing == Routing::noaux_tc && m.experts / m.groups < 2)
    e.fail(e.node()["groups"], e.field("groups"),
           fmt::format("noaux_tc scores a group by its two best experts, but {} groups of {} experts leave {} per "
                       "group",
                       m.groups, m.experts, m.experts / m.groups));
  if (m.top_k > m.top_groups * (m.experts / m.groups))
    e.fail(e.node()["top_k"], e.field("top_k"),
           fmt::format("{} experts per token, but the {} kept groups hold only {}", m.top_k, m.top_groups,
                       m.top_groups * (m.experts / m.groups)));
}

// mlp.experts, mlp.shared_expert and mlp.dense_layers of a mixture of experts.
void parse_moe(const Section& s, Spec& spec) {
  MoeSpec& m = spec.mlp.moe;
  Section e = s.section("experts");
  e.only_keys({"count", "top_k", "routing", "renormalize", "scale", "jitter_eps", "weighted_input", "groups",
               "top_groups"});
  m.experts = e.positive("count", 1 << 16);
  m.top_k = e.positive("top_k", m.experts);
  m.routing = e.choice<Routing>("routing", kRoutings);
  parse_expert_groups(e, m);
  m.renormalize = e.get_or<bool>("renormalize", false);
  m.scale = e.get_or<double>("scale", 1.0);
  m.jitter_eps = e.get_or<double>("jitter_eps", 0.0);
  if (m.routing != Routing::sparsemixer && e.has("jitter_eps"))
    e.fail(e.node()["jitter_eps"], e.field("jitter_eps"), "only used with routing: sparsemixer");
  m.weighted_input = e.get_or<bool>("weighted_input", false);
  if (auto shared = s.optional_section("shared_expert")) {
    shared->only_keys({"intermediate_size", "gate"});
    m.shared_intermediate = shared->positive("intermediate_size");
    m.shared_gate = shared->get_or<bool>("gate", false);
  }
  if (auto dense = s.optional_section("dense_layers")) {
    dense->only_keys({"layers", "intermediate_size"});
    m.dense_layers = layer_indices(*dense, "layers", spec.num_layers);
    m.dense_intermediate = dense->positive("intermediate_size");
  }
}

void parse_mlp(const Section& s, Spec& spec) {
  s.only_keys({"kind", "activation", "intermediate_size", "bias", "fused_gate_up", "experts", "shared_expert",
               "dense_layers"});
  MlpSpec& m = spec.mlp;
  m.kind = s.choice<MlpKind>("kind", {{"gated", MlpKind::gated}, {"plain", MlpKind::plain}, {"moe", MlpKind::moe},
                                      {"channel_mix", MlpKind::channel_mix}, {"none", MlpKind::none}});
  if (m.kind == MlpKind::none) {  // a layer of the mixer alone (Mamba)
    s.only_keys({"kind"});
    m.intermediate.assign(static_cast<size_t>(spec.num_layers), 0);
    return;
  }
  if (m.kind == MlpKind::moe) {
    parse_moe(s, spec);
  } else {
    for (const char* key : {"experts", "shared_expert", "dense_layers"})
      if (s.has(key)) s.fail(s.node()[key], s.field(key), "only used with kind: moe");
  }
  m.activation = s.choice<Activation>("activation", {{"silu", Activation::silu}, {"gelu", Activation::gelu},
                                                     {"gelu_tanh", Activation::gelu_tanh}, {"relu", Activation::relu}});
  m.intermediate = s.per_layer("intermediate_size", spec.num_layers, 1);
  m.bias = s.get_or<bool>("bias", false);
  m.fused_gate_up = s.get_or<bool>("fused_gate_up", false);
  if (m.kind == MlpKind::channel_mix && (m.activation != Activation::relu || m.bias || m.fused_gate_up))
    s.fail(s.node()["kind"], s.field("kind"), "channel_mix squares a relu and has no biases or fused projections: "
                                              "expected activation relu, bias false, fused_gate_up false");
  if (m.fused_gate_up && m.kind == MlpKind::plain)
    s.fail(s.node()["fused_gate_up"], s.field("fused_gate_up"), "only a gated MLP has a gate and an up projection");
  if (m.bias && m.kind == MlpKind::moe) s.fail(s.node()["bias"], s.field("bias"), "experts with biases are not supported");
}

void parse_weights(const Section& s, Spec& spec) {
  s.only_keys({"layout", "expert_layout", "embed", "embed_norm", "embed_norm_bias", "positions", "final_norm",
               "final_norm_bias", "lm_head", "lm_head_bias", "token_types", "head_transform", "head_transform_bias",
               "head_norm", "head_norm_bias", "pooler", "pooler_bias", "layer", "unused", "relative_bias", "encoder_layer",
               "encoder_relative_bias", "encoder_final_norm"});
  WeightNames& w = spec.weights;
  w.layout = s.choice_or<TensorLayout>("layout", TensorLayout::linear,
                                       {{"linear", TensorLayout::linear}, {"conv1d", TensorLayout::conv1d}});
  w.expert_layout = s.choice_or<TensorLayout>("expert_layout", TensorLayout::linear,
                                              {{"linear", TensorLayout::linear}, {"conv1d", TensorLayout::conv1d}});
  if (s.has("expert_layout") && spec.mlp.kind != MlpKind::moe)
    s.fail(s.node()["expert_layout"], s.field("expert_layout"), "only used with mlp.kind: moe");
  w.embed = s.get<std::string>("embed");
  w.embed_norm = s.get_or<std::string>("embed_norm", "");
  w.embed_norm_bias = s.get_or<std::string>("embed_norm_bias", "");
  w.pos_embed = s.get_or<std::string>("positions", "");
  w.final_norm = s.get_or<std::string>("final_norm", "");
  w.final_norm_bias = s.get_or<std::string>("final_norm_bias", "");
  w.lm_head_bias = s.get_or<std::string>("lm_head_bias", "");
  for (const char* role : {"token_types", "head_transform", "head_transform_bias", "head_norm", "head_norm_bias",
                           "pooler", "pooler_bias"})
    w.global(role) = s.get_or<std::string>(role, "");
  w.lm_head = s.get<std::string>("lm_head");
  if (w.lm_head == "tied") w.lm_head.clear();
  if (w.lm_head.empty() != spec.tied_embeddings)
    s.fail(s.node()["lm_head"], s.field("lm_head"),
           spec.tied_embeddings ? "model.tied_embeddings is true, so lm_head must be 'tied'"
                                : "model.tied_embeddings is false, so lm_head must name a tensor");
  const auto read_layer = [&](const char* key, std::map<std::string, std::string>& out) {
    Section layer = s.section(key);
    for (const auto& kv : layer.node()) {
      const std::string role = kv.first.as<std::string>();
      if (!kv.second.IsScalar()) layer.fail(kv.second, layer.field(role), "expected a tensor name");
      out[role] = kv.second.as<std::string>();
    }
  };
  read_layer("layer", w.layer);
  // Relative position tables: one per stack; an encoder–decoder's encoder has its own layers and final norm.
  if (spec.positions == PositionKind::relative) w.relative_bias = s.get<std::string>("relative_bias");
  else if (s.has("relative_bias")) s.fail(s.node()["relative_bias"], s.field("relative_bias"), "only used with positions.kind: relative");
  for (const char* key : {"encoder_layer", "encoder_relative_bias", "encoder_final_norm"})
    if (!spec.encoder && s.has(key)) s.fail(s.node()[key], s.field(key), "only used with an encoder section");
  if (spec.encoder) {
    read_layer("encoder_layer", w.encoder_layer);
    w.encoder_relative_bias = s.get<std::string>("encoder_relative_bias");
    if (spec.norm.weight != NormWeight::none) w.encoder_final_norm = s.get<std::string>("encoder_final_norm");
  }
  if (s.has("unused")) {
    YAML::Node n = s.node()["unused"];
    if (!n.IsSequence()) s.fail(n, s.field("unused"), "expected a list of tensor names");
    for (const auto& v : n) w.unused.push_back(v.as<std::string>());
  }
}

// The state-space mixers' keys: state_size and conv_kernel for both Mamba kinds, dt_rank for Mamba, heads, groups
// and dt_min for Mamba 2. A key the kind does not use is refused.
void parse_ssm_keys(const Section& m, Spec& spec) {
  const bool mamba = spec.mixer == MixerKind::mamba, mamba2 = spec.mixer == MixerKind::mamba2;
  for (auto [key, value, used, kinds] :
       {std::tuple{"state_size", &spec.ssm_state, mamba || mamba2, "kind: mamba or mamba2"},
        std::tuple{"conv_kernel", &spec.conv_kernel, mamba || mamba2, "kind: mamba or mamba2"},
        std::tuple{"dt_rank", &spec.dt_rank, mamba, "kind: mamba"},
        std::tuple{"heads", &spec.ssm_heads, mamba2, "kind: mamba2"},
        std::tuple{"groups", &spec.ssm_groups, mamba2, "kind: mamba2"}}) {
    if (used) *value = m.positive(key, 4096);
    else if (m.has(key)) m.fail(m.node()[key], m.field(key), fmt::format("only used with {}", kinds));
  }
  if (!mamba2 && m.has("dt_min")) m.fail(m.node()["dt_min"], m.field("dt_min"), "only used with kind: mamba2");
  if (!mamba && !mamba2 && m.has("layout"))
    m.fail(m.node()["layout"], m.field("layout"), "only used with kind: mamba or mamba2");
  spec.ssm_layout = m.choice_or<SsmLayout>("layout", SsmLayout::huggingface,
                                           {{"huggingface", SsmLayout::huggingface}, {"gguf", SsmLayout::gguf}});
  spec.dt_min = m.get_or<double>("dt_min", 0.0);
  if (!(spec.dt_min >= 0.0)) m.fail(m.node()["dt_min"], m.field("dt_min"), "expected a number >= 0");
  if (mamba2 && spec.mixer_size % spec.ssm_heads != 0)
    m.fail(m.node()["heads"], m.field("heads"),
           fmt::format("size {} is not a multiple of {} heads", spec.mixer_size, spec.ssm_heads));
  if (mamba2 && spec.ssm_heads % spec.ssm_groups != 0)
    m.fail(m.node()["groups"], m.field("groups"),
           fmt::format("{} heads do not split into {} groups", spec.ssm_heads, spec.ssm_groups));
}

// What the encoder–decoder layout supports: attention layers alike in every layer (an encoder layer takes the
// decoder's sizes), a dense MLP, pre-norm sequential blocks, relative positions.
void check_encoder_decoder(const Section& top, const YAML::Node& root, const Spec& spec) {
  const auto uniform = [](const std::vector<int64_t>& v) { return std::all_of(v.begin(), v.end(), [&](int64_t x) { return x == v.front(); }); };
  const AttentionSpec& a = spec.attention;
  if (spec.mixer != MixerKind::attention || a.kind != AttentionKind::standard || a.prefix_lm || a.localized_filtering)
    top.fail(root["encoder"], "encoder", "an encoder–decoder needs standard attention (mixer attention, no mla, prefix_lm or localized_filtering)");
  if (!uniform(a.heads) || !uniform(a.kv_heads) || !uniform(spec.mlp.intermediate))
    top.fail(root["encoder"], "encoder", "an encoder–decoder's layers are alike: give attention.heads, kv_heads and mlp.intermediate_size one value each");
  for (int64_t w : a.window)
    if (w != 0) top.fail(root["encoder"], "encoder", "an encoder–decoder has no sliding windows");
  if (spec.mlp.kind != MlpKind::gated && spec.mlp.kind != MlpKind::plain)
    top.fail(root["encoder"], "encoder", "an encoder–decoder needs mlp.kind gated or plain");
  if (spec.residual != Residual::sequential || !spec.pre_norms || spec.post_norms || spec.residual_normed)
    top.fail(root["encoder"], "encoder", "an encoder–decoder needs pre-norm sequential blocks");
  if (spec.positions != PositionKind::relative)
    top.fail(root["positions"], "positions.kind", "an encoder–decoder's positions are kind: relative (T5)");
}

Spec parse_root(const YAML::Node& root, const std::string& file) {
  if (!root.IsMap()) throw Error(fmt::format("{}: expected a YAML mapping at the top level", file));
  Spec spec;
  spec.file = file;
  Section top(root, "", file);
  top.only_keys({"llmc", "name", "family", "model", "encoder", "norm", "block", "mixer", "attention", "positions",
                 "mlp", "logits", "tokens", "chat", "weights"});
  if (top.get<int>("llmc") != 1) top.fail(root["llmc"], "llmc", "this llmc reads schema version 1");
  spec.name = top.get<std::string>("name");
  spec.family = top.get<std::string>("family");

  Section model = top.section("model");
  model.only_keys({"kind", "vocab_size", "hidden_size", "num_layers", "max_context", "tied_embeddings",
                    "embedding_scale", "embedding_norm", "token_types", "pooler"});
  spec.kind = model.choice_or<ModelKind>("kind", ModelKind::causal_lm,
                                         {{"causal_lm", ModelKind::causal_lm}, {"encoder", ModelKind::encoder},
                                          {"encoder_decoder", ModelKind::encoder_decoder}});
  spec.vocab_size = model.positive("vocab_size");
  spec.hidden_size = model.positive("hidden_size");
  spec.num_layers = model.positive("num_layers", kMaxLayers);
  spec.max_context = model.positive("max_context");
  spec.tied_embeddings = model.get<bool>("tied_embeddings");
  spec.embedding_scale = model.get_or<double>("embedding_scale", 1.0);
  spec.embedding_norm = model.get_or<bool>("embedding_norm", false);
  spec.token_types = model.has("token_types") ? model.positive("token_types", 1 << 20) : 0;
  spec.pooler = model.get_or<bool>("pooler", false);
  for (const char* key : {"token_types", "pooler"})
    if (model.has(key) && spec.kind != ModelKind::encoder)
      model.fail(model.node()[key], model.field(key), "only used with kind: encoder");

  spec.norm = parse_norm(top.section("norm"));
  if (auto b = top.optional_section("block")) {
    b->only_keys({"residual", "pre_norms", "post_norms", "residual_scale", "residual_input", "residual_alpha"});
    spec.residual = b->choice_or<Residual>("residual", Residual::sequential,
                                          {{"sequential", Residual::sequential}, {"parallel", Residual::parallel},
                                           {"post_ln", Residual::post_ln}});
    spec.pre_norms = b->get_or<bool>("pre_norms", true);
    spec.post_norms = b->get_or<bool>("post_norms", false);
    if (!spec.pre_norms && spec.residual == Residual::parallel)
      b->fail(b->node()["pre_norms"], b->field("pre_norms"), "a parallel block needs its input norm");
    if (spec.residual == Residual::post_ln && (!spec.pre_norms || spec.post_norms))
      b->fail(b->node()["residual"], b->field("residual"),
              "post_ln places the block's two norms itself; leave pre_norms and post_norms at their defaults");
    spec.residual_scale = b->get_or<double>("residual_scale", 1.0);
    spec.residual_normed = b->choice_or<bool>("residual_input", false, {{"stream", false}, {"normed", true}});
    spec.residual_alpha = b->get_or<double>("residual_alpha", 1.0);
    if (spec.residual_normed && (spec.residual != Residual::sequential || !spec.pre_norms || spec.post_norms))
      b->fail(b->node()["residual_input"], b->field("residual_input"),
              "normed needs residual sequential, pre_norms and no post_norms");
    if (!spec.residual_normed && b->has("residual_alpha"))
      b->fail(b->node()["residual_alpha"], b->field("residual_alpha"), "only used with residual_input: normed");
  }
  if (auto m = top.optional_section("mixer")) {
    m->only_keys({"kind", "size", "state_size", "conv_kernel", "dt_rank", "heads", "groups", "dt_min", "layout"});
    spec.mixer = m->choice<MixerKind>("kind", {{"attention", MixerKind::attention}, {"rwkv4", MixerKind::rwkv4},
                                               {"mamba", MixerKind::mamba}, {"mamba2", MixerKind::mamba2}});
    if (spec.mixer != MixerKind::attention) spec.mixer_size = m->positive("size");
    else if (m->has("size")) m->fail(m->node()["size"], m->field("size"), "only used with a recurrent mixer");
    parse_ssm_keys(*m, spec);
  }
  if (spec.mixer == MixerKind::attention) {
    parse_attention(top.section("attention"), spec);
  } else {
    if (spec.kind != ModelKind::causal_lm)
      model.fail(model.node(), model.field("kind"), "an encoder attends: expected mixer.kind attention");
    if (top.has("attention")) top.fail(root["attention"], "attention", "not used with a recurrent mixer (no attention)");
    spec.attention.heads.assign(static_cast<size_t>(spec.num_layers), 0);
    spec.attention.kv_heads = spec.attention.heads;
    spec.attention.window = spec.attention.heads;
  }
  parse_positions(top.section("positions"), spec);
  if (spec.mixer != MixerKind::attention && spec.positions != PositionKind::none)
    top.fail(root["positions"], "positions.kind", "a recurrent mixer has no positional encoding: expected none");
  parse_mlp(top.section("mlp"), spec);
  if (auto l = top.optional_section("logits")) {
    l->only_keys({"scale", "softcap", "norm_head", "bias", "transform", "classifier"});
    spec.logit_scale = l->get_or<double>("scale", 1.0);
    spec.logit_softcap = l->get_or<double>("softcap", 0.0);
    spec.norm_head = l->get_or<bool>("norm_head", false);
    spec.logit_bias = l->get_or<bool>("bias", false);
    if (l->has("transform"))
      spec.logit_transform = l->choice<Activation>("transform", {{"silu", Activation::silu}, {"gelu", Activation::gelu},
                                                                 {"gelu_tanh", Activation::gelu_tanh},
                                                                 {"relu", Activation::relu}});
    spec.classifier = l->get_or<bool>("classifier", true);
    if (!spec.classifier && spec.kind != ModelKind::encoder)
      l->fail(l->node()["classifier"], l->field("classifier"), "only an encoder may have no classifier");
  }
  Section tokens = top.section("tokens");
  tokens.only_keys({"bos", "eos", "add_bos", "tokenizer"});
  if (tokens.has("tokenizer"))
    spec.tokenizer_kind = tokens.choice<std::string>(
        "tokenizer", {{"unigram", "unigram"}, {"bpe", "bpe"}, {"spm", "spm"}, {"wordpiece", "wordpiece"}, {"llama2c", "llama2c"}});
  spec.bos = tokens.get<int64_t>("bos");
  spec.eos = tokens.get<int64_t>("eos");
  spec.add_bos = tokens.get<bool>("add_bos");
  for (auto [key, id] : {std::pair{"bos", spec.bos}, std::pair{"eos", spec.eos}})
    if (id < -1 || id >= spec.vocab_size)
      tokens.fail(tokens.node()[key], tokens.field(key),
                  fmt::format("expected -1 (none) or a token id below vocab_size {}, found {}", spec.vocab_size, id));
  if (spec.add_bos && spec.bos < 0) tokens.fail(tokens.node()["add_bos"], tokens.field("add_bos"), "no bos id is set");

  if (auto chat = top.optional_section("chat")) {
    chat->only_keys({"template", "bos_token", "eos_token"});
    spec.chat.template_text = chat->get<std::string>("template");
    if (spec.chat.template_text.empty()) chat->fail(chat->node()["template"], chat->field("template"), "is empty");
    try {  // the binary renders it: a template its Jinja engine cannot read is refused now, not at serve time
      jinja::Template check(spec.chat.template_text);
    } catch (const jinja::Error& e) {
      chat->fail(chat->node()["template"], chat->field("template"), std::string("is not a template llmc can render: ") + e.what());
    }
    spec.chat.bos_token = chat->get_or<std::string>("bos_token", "");
    spec.chat.eos_token = chat->get_or<std::string>("eos_token", "");
  }
  if (auto e = top.optional_section("encoder")) {
    e->only_keys({"num_layers", "decoder_start", "add_eos"});
    EncoderSpec& enc = spec.encoder.emplace();
    enc.num_layers = e->positive("num_layers", kMaxLayers);
    enc.decoder_start = e->get<int64_t>("decoder_start");
    if (enc.decoder_start < 0 || enc.decoder_start >= spec.vocab_size)
      e->fail(e->node()["decoder_start"], e->field("decoder_start"),
              fmt::format("expected a token id below vocab_size {}, found {}", spec.vocab_size, enc.decoder_start));
    enc.add_eos = e->get_or<bool>("add_eos", false);
    if (enc.add_eos && spec.eos < 0) e->fail(e->node()["add_eos"], e->field("add_eos"), "no eos id is set (tokens.eos)");
    check_encoder_decoder(top, root, spec);
  }
  if (spec.encoder.has_value() != (spec.kind == ModelKind::encoder_decoder))
    top.fail(root["model"], "model.kind",
             spec.encoder ? "an encoder section makes an encoder–decoder: expected kind: encoder_decoder"
                          : "an encoder_decoder needs an encoder section (its encoder stack)");
  parse_weights(top.section("weights"), spec);
  if ((spec.positions == PositionKind::learned) != !spec.weights.pos_embed.empty())
    top.fail(root["weights"], "weights.positions",
             "a learned position table is named exactly when positions.kind is learned");
  return spec;
}

}  // namespace

Spec parse_spec(const std::string& yaml_text, const std::string& file_name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw Error(fmt::format("{}:{}:{}: malformed YAML: {}", file_name, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  Spec spec;
  try {
    spec = parse_root(root, file_name);
  } catch (const YAML::Exception& e) {
    throw Error(fmt::format("{}:{}: {}", file_name, e.mark.line + 1, e.msg));
  }
  spec.text = yaml_text;
  return spec;
}

Spec load_spec(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot open the spec file", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_spec(ss.str(), path);
}

std::string spec_hash(const Spec& spec) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : spec.text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

const char* to_string(NormKind k) { return k == NormKind::rmsnorm ? "rmsnorm" : "layernorm"; }
const char* to_string(RopePairing p) { return p == RopePairing::half ? "half" : "interleaved"; }
const char* to_string(Activation a) {
  switch (a) {
    case Activation::silu: return "silu";
    case Activation::gelu: return "gelu";
    case Activation::gelu_tanh: return "gelu_tanh";
    case Activation::relu: return "relu";
  }
  return "?";
}
const char* to_string(QkvLayout q) {
  switch (q) {
    case QkvLayout::separate: return "separate";
    case QkvLayout::fused: return "fused";
    case QkvLayout::fused_per_head: return "fused_per_head";
    case QkvLayout::fused_per_kv_group: return "fused_per_kv_group";
  }
  return "?";
}
const char* to_string(PositionKind p) {
  switch (p) {
    case PositionKind::rope: return "rope";
    case PositionKind::alibi: return "alibi";
    case PositionKind::learned: return "learned";
    case PositionKind::none: return "none";
    case PositionKind::relative: return "relative";
  }
  return "?";
}

const char* to_string(Routing r) {
  for (const auto& [name, value] : kRoutings)
    if (value == r) return name;
  return "?";
}

bool RopeSpec::rotates(int64_t layer) const {
  return std::find(nope_layers.begin(), nope_layers.end(), layer) == nope_layers.end();
}

bool MoeSpec::is_dense(int64_t layer) const {
  return std::find(dense_layers.begin(), dense_layers.end(), layer) != dense_layers.end();
}

std::string& WeightNames::global(const std::string& role) {
  if (role == "embed") return embed;
  if (role == "embed_norm") return embed_norm;
  if (role == "embed_norm_bias") return embed_norm_bias;
  if (role == "pos_embed") return pos_embed;
  if (role == "final_norm") return final_norm;
  if (role == "final_norm_bias") return final_norm_bias;
  if (role == "lm_head") return lm_head;
  if (role == "lm_head_bias") return lm_head_bias;
  if (role == "relative_bias") return relative_bias;
  if (role == "encoder_relative_bias") return encoder_relative_bias;
  if (role == "encoder_final_norm") return encoder_final_norm;
  if (role == "token_types") return token_types;
  if (role == "head_transform") return head_transform;
  if (role == "head_transform_bias") return head_transform_bias;
  if (role == "head_norm") return head_norm;
  if (role == "head_norm_bias") return head_norm_bias;
  if (role == "pooler") return pooler;
  if (role == "pooler_bias") return pooler_bias;
  throw Error("internal error: '" + role + "' is not a model-wide tensor role");
}

}  // namespace llmc
