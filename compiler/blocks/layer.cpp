#include "blocks/layer.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace llmc {
namespace {

// Where the skeleton puts its norms and adds.
struct Skeleton {
  bool input_norms;   // attn_norm / ffn_norm on each branch's input (pre-norm)
  bool post_ln;       // attn_norm / ffn_norm on the residual stream after each add (GPT-1, BERT)
  bool output_norms;  // post_attn_norm / post_ffn_norm on each branch's output (Gemma 2 sandwich)
  bool parallel;      // both branches read the same input; their outputs are added together
  bool ffn_norm;      // the feed-forward branch has a norm of its own (parallel blocks may share the mixer's)
  bool ffn;           // the layer has a feed-forward branch (mlp.kind none: Mamba's layers are the mixer alone)
};

Skeleton skeleton(const Spec& s, const LayerPlan& l) {
  const bool post_ln = s.residual == Residual::post_ln;
  const bool ffn = s.mlp.kind != MlpKind::none;
  return {s.pre_norms && !post_ln, post_ln, s.post_norms, s.residual == Residual::parallel,
          ffn && s.pre_norms && l.separate_ffn_norm, ffn};
}

// block.residual_input normed (GLM): the branch adds to its normalised input × alpha instead of the stream.
void emit_normed_residual(Code& c) {
  c.line("llmc::copy_rows<kHidden>(x_, kHidden, xn_, kHidden, T);  // the residual: the branch's normalised input");
  c.line("llmc::scale<kHidden>(x_, kResidualAlpha, T);");
}

void add_norm(std::vector<RoleShape>& roles, Role role, const NormSpec& n, int64_t size) {
  if (n.weight != NormWeight::none) roles.push_back({role, {size}});
  if (n.bias) roles.push_back({*bias_role(role), {size}});
}

}  // namespace

std::vector<const Block*> blocks_of(const Spec& s) {
  std::vector<const Block*> blocks = {&mixer_of(s)};
  if (s.encoder) blocks.push_back(&cross_attention_block());
  for (int64_t i = 0; i < s.num_layers; ++i)
    if (std::find(blocks.begin(), blocks.end(), &feed_forward_of(s, i)) == blocks.end())
      blocks.push_back(&feed_forward_of(s, i));
  return blocks;
}

void check_layers(const Spec& s) {
  mixer_of(s).check(s);
  for (int64_t i = 0; i < s.num_layers; ++i) feed_forward_of(s, i).check(s);
}

void size_layer(const Spec& s, LayerPlan& l) {
  mixer_of(s).size(s, l);
  feed_forward_of(s, l.index).size(s, l);
  l.separate_ffn_norm = s.residual != Residual::parallel || s.weights.layer.count("ffn_norm") > 0;
}

std::vector<RoleShape> layer_roles(const Spec& s, const LayerPlan& l) {
  const Skeleton k = skeleton(s, l);
  const int64_t H = s.hidden_size;
  std::vector<RoleShape> roles;
  auto append = [&](const std::vector<RoleShape>& more) { roles.insert(roles.end(), more.begin(), more.end()); };
  if (s.pre_norms) add_norm(roles, Role::attn_norm, s.norm, H);  // post-LN: the norm after the mixer's add
  append(mixer_of(s).roles(s, l));
  if (k.output_norms) add_norm(roles, Role::post_attn_norm, s.norm, H);
  if (l.cross_attention) {
    add_norm(roles, Role::cross_norm, s.norm, H);
    append(cross_attention_block().roles(s, l));
  }
  if (k.ffn_norm) add_norm(roles, Role::ffn_norm, s.norm, H);
  append(feed_forward_of(s, l.index).roles(s, l));
  if (k.output_norms && k.ffn) add_norm(roles, Role::post_ffn_norm, s.norm, H);
  return roles;
}

std::vector<BufferPlan> layer_buffers(const Plan& p) {
  const Spec& s = *p.spec;
  const int64_t H = s.hidden_size;
  // x: the residual stream; xn: a branch's normalised input; branch, ffn_out: the mixer's and the
  // feed-forward block's outputs.
  std::vector<BufferPlan> buffers = {{"x_", H}, {"xn_", H}};
  for (const BufferPlan& b : mixer_of(s).buffers(p)) buffers.push_back(b);
  buffers.push_back({"branch_", H});
  buffers.push_back({"ffn_out_", H});
  // Layers with different feed-forward blocks share buffers of the same name, as wide as the widest asks.
  for (int64_t i = 0; i < s.num_layers; ++i)
    for (const BufferPlan& b : feed_forward_of(s, i).buffers(p)) {
      auto same = std::find_if(buffers.begin(), buffers.end(), [&](const BufferPlan& x) { return x.name == b.name; });
      if (same == buffers.end()) buffers.push_back(b);
      else same->row_floats = std::max(same->row_floats, b.row_floats);
    }
  return buffers;
}

int64_t layer_state_row(const Spec& s, const LayerPlan& l) {
  if (l.encoder) return 0;  // the source is encoded in one step: its keys and values live in that step's buffers
  const int64_t cross = l.cross_attention ? cross_attention_block().state_row(l) : 0;
  return mixer_of(s).state_row(l) + cross + feed_forward_of(s, l.index).state_row(l);
}

int64_t layer_state_fixed_bytes(const Spec& s, const LayerPlan& l) {
  return mixer_of(s).state_fixed_bytes(l) + feed_forward_of(s, l.index).state_fixed_bytes(l);
}

std::string layer_definition(const Plan& p, const LayerPlan& l) {
  const Spec& s = *p.spec;
  const Block& mixer = mixer_of(s);
  const Block& ffn = feed_forward_of(s, l.index);
  const Skeleton k = skeleton(s, l);
  Code c(2);
  const std::string rs = s.residual_scale != 1.0 ? "kResidualScale" : "1.0f";
  const std::string eps = "kNormEps";
  const std::string in = k.input_norms ? "xn_" : "x_";  // without input norms the branches read the residual stream
  mixer.emit_constants(c, l);
  ffn.emit_constants(c, l);
  c.line("const LayerWeights& w = w_.layer[{}];", l.index);
  c.blank();
  c.line("// {}", mixer.title());
  if (k.input_norms) c.line("{}", norm_call(s.norm, "xn_", "x_", "w", Role::attn_norm, "kHidden", eps, "T"));
  mixer.emit(c, p, l, in, "branch_");
  if (k.output_norms)
    c.line("{}", norm_call(s.norm, "branch_", "branch_", "w", Role::post_attn_norm, "kHidden", eps, "T"));
  if (s.residual_normed) emit_normed_residual(c);
  if (!k.parallel) c.line("llmc::add_scaled<kHidden>(x_, branch_, {}, T);", rs);
  if (k.post_ln) c.line("{}", norm_call(s.norm, "x_", "x_", "w", Role::attn_norm, "kHidden", eps, "T"));
  if (l.cross_attention) {
    const Block& cross = cross_attention_block();
    c.blank();
    c.line("// {}", cross.title());
    c.line("{}", norm_call(s.norm, "xn_", "x_", "w", Role::cross_norm, "kHidden", eps, "T"));
    cross.emit(c, p, l, "xn_", "branch_");
    c.line("llmc::add_scaled<kHidden>(x_, branch_, {}, T);", rs);
  }
  if (!k.ffn)
    return fmt::format("// Layer {}: {}.\nvoid Model::layer_{}(int T, std::span<const Sequence> sequences) {{\n{}\n}}\n",
                       l.index, mixer.describe(l), l.index, c.str());
  c.blank();
  c.line("// {}", ffn.title());
  if (k.input_norms && k.ffn_norm)
    c.line("{}", norm_call(s.norm, "xn_", "x_", "w", Role::ffn_norm, "kHidden", eps, "T"));
  ffn.emit(c, p, l, in, "ffn_out_");
  if (k.output_norms)
    c.line("{}", norm_call(s.norm, "ffn_out_", "ffn_out_", "w", Role::post_ffn_norm, "kHidden", eps, "T"));
  if (k.parallel) c.line("llmc::add_scaled<kHidden>(x_, branch_, {}, T);", rs);
  if (s.residual_normed) emit_normed_residual(c);
  c.line("llmc::add_scaled<kHidden>(x_, ffn_out_, {}, T);", rs);
  if (k.post_ln) c.line("{}", norm_call(s.norm, "x_", "x_", "w", Role::ffn_norm, "kHidden", eps, "T"));
  const std::string what = l.encoder           ? fmt::format("encoder layer {}: ", l.stack_index)
                           : l.cross_attention ? fmt::format("decoder layer {}: ", l.stack_index)
                                               : "";
  const std::string cross = l.cross_attention ? ", " + cross_attention_block().describe(l) : "";
  return fmt::format("// Layer {}: {}{}{}, {}.\nvoid Model::layer_{}(int T, std::span<const Sequence> sequences) {{\n{}\n}}\n",
                     l.index, what, mixer.describe(l), cross, ffn.describe(l), l.index, c.str());
}

}  // namespace llmc
