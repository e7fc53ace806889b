// `llmc import` for encoders: BERT (modeling_bert.py) and RoBERTa (modeling_roberta.py), which differs only in data
// (its names, a position offset, one token type).
#include <filesystem>
#include <fstream>

#include "import_config.hpp"

namespace llmc::import_detail {
namespace {

namespace fs = std::filesystem;

// BERT's names under a prefix ("bert." in BertForMaskedLM / BertForPreTraining checkpoints, "" in BertModel ones)
// and the MLM head's names (cls.predictions.*; RoBERTa's lm_head.*).
NameTable bert_names(const std::string& prefix, const std::string& head) {
  const bool roberta = head == "lm_head.";
  return NameTable{{{"embed", prefix + "embeddings.word_embeddings.weight"},
                    {"pos_embed", prefix + "embeddings.position_embeddings.weight"},
                    {"token_types", prefix + "embeddings.token_type_embeddings.weight"},
                    {"embed_norm", prefix + "embeddings.LayerNorm.weight"},
                    {"embed_norm_bias", prefix + "embeddings.LayerNorm.bias"},
                    {"head_transform", head + (roberta ? "dense.weight" : "transform.dense.weight")},
                    {"head_transform_bias", head + (roberta ? "dense.bias" : "transform.dense.bias")},
                    {"head_norm", head + (roberta ? "layer_norm.weight" : "transform.LayerNorm.weight")},
                    {"head_norm_bias", head + (roberta ? "layer_norm.bias" : "transform.LayerNorm.bias")},
                    {"lm_head_bias", head + "bias"},
                    {"pooler", prefix + "pooler.dense.weight"},
                    {"pooler_bias", prefix + "pooler.dense.bias"}},
                   prefix + "encoder.layer.{i}.",
                   {{"q", "attention.self.query.weight"},         {"q_bias", "attention.self.query.bias"},
                    {"k", "attention.self.key.weight"},           {"k_bias", "attention.self.key.bias"},
                    {"v", "attention.self.value.weight"},         {"v_bias", "attention.self.value.bias"},
                    {"o", "attention.output.dense.weight"},       {"o_bias", "attention.output.dense.bias"},
                    {"attn_norm", "attention.output.LayerNorm.weight"},
                    {"attn_norm_bias", "attention.output.LayerNorm.bias"},
                    {"up", "intermediate.dense.weight"},          {"up_bias", "intermediate.dense.bias"},
                    {"down", "output.dense.weight"},              {"down_bias", "output.dense.bias"},
                    {"ffn_norm", "output.LayerNorm.weight"},      {"ffn_norm_bias", "output.LayerNorm.bias"}},
                   // The tied decoder's copies, the next-sentence head, the position_ids buffer of older checkpoints.
                   {head + "decoder.weight", head + "decoder.bias", "cls.seq_relationship.weight",
                    "cls.seq_relationship.bias", prefix + "embeddings.position_ids"}};
}

// Whether the config's architectures name a class with this suffix (BertForMaskedLM: "ForMaskedLM").
bool architecture_has(const Config& c, const std::string& suffix) {
  if (!c.has("architectures")) return false;
  for (const auto& a : c.raw("architectures"))
    if (a.is_string() && a.get<std::string>().find(suffix) != std::string::npos) return true;
  return false;
}

// The ids of [CLS] and [SEP] from the tokenizer beside config.json (vocab.txt, else tokenizer.json), else BERT's
// usual 101 and 102 where the vocabulary is that large, else none.
std::pair<int64_t, int64_t> cls_and_sep(const Config& c, int64_t vocab) {
  const fs::path dir = fs::path(c.file()).parent_path();
  int64_t cls = -1, sep = -1;
  if (std::ifstream in(dir / "vocab.txt"); in) {
    std::string line;
    for (int64_t id = 0; std::getline(in, line); ++id) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line == "[CLS]") cls = id;
      if (line == "[SEP]") sep = id;
    }
  } else if (fs::exists(dir / "tokenizer.json")) {
    std::ifstream file(dir / "tokenizer.json");
    const json j = json::parse(file, nullptr, false);
    if (!j.is_discarded() && j.contains("model") && j["model"].contains("vocab") && j["model"]["vocab"].is_object()) {
      const json& v = j["model"]["vocab"];
      if (v.contains("[CLS]")) cls = v["[CLS]"].get<int64_t>();
      if (v.contains("[SEP]")) sep = v["[SEP]"].get<int64_t>();
    }
  }
  if (cls < 0 && sep < 0 && vocab > 102) return {101, 102};
  return {cls, sep};
}

// What BERT and RoBERTa share: a post-LN encoder with learned absolute positions, token types, an embedding
// LayerNorm, biases everywhere, an erf-GELU MLP; the MLM head (dense -> GELU -> LayerNorm -> the tied decoder +
// bias) and the pooler where the checkpoint (else the config's architectures) has them.
void bert_like(const Config& c, Spec& s, const ImportOptions& o, const std::string& prefix, const std::string& head,
               int64_t position_offset) {
  s.kind = ModelKind::encoder;
  s.vocab_size = c.req<int64_t>("vocab_size");
  s.hidden_size = c.req<int64_t>("hidden_size");
  s.num_layers = c.req<int64_t>("num_hidden_layers");
  const int64_t positions = c.req<int64_t>("max_position_embeddings");
  if (positions - position_offset < 1)
    c.fail("max_position_embeddings", fmt::format("{} positions leave none after the offset {}", positions, position_offset));
  s.max_context = context_for(positions - position_offset, o);
  s.positions = PositionKind::learned;
  s.max_positions = positions;
  s.position_offset = position_offset;
  if (c.get<std::string>("position_embedding_type", "absolute") != "absolute")
    c.fail("position_embedding_type", "only absolute position embeddings are supported");
  if (c.get<bool>("is_decoder", false)) c.fail("is_decoder", "a BERT decoder is not supported (an encoder is)");
  s.token_types = c.get<int64_t>("type_vocab_size", 2);
  s.tied_embeddings = c.get<bool>("tie_word_embeddings", true);
  if (!s.tied_embeddings) c.fail("tie_word_embeddings", "an untied MLM decoder is not supported");
  s.embedding_norm = true;
  s.norm = {NormKind::layernorm, NormWeight::plain, true, c.get<double>("layer_norm_eps", 1e-12)};
  s.residual = Residual::post_ln;
  const int64_t heads = c.req<int64_t>("num_attention_heads");
  if (heads <= 0 || s.hidden_size % heads != 0)
    c.fail("num_attention_heads", fmt::format("{} heads do not divide hidden_size {}", heads, s.hidden_size));
  AttentionSpec& a = s.attention;
  a.mask = AttentionMask::bidirectional;
  a.heads.assign(static_cast<size_t>(s.num_layers), heads);
  a.kv_heads = a.heads;
  a.head_dim = s.hidden_size / heads;
  a.window.assign(static_cast<size_t>(s.num_layers), 0);
  a.bias_q = a.bias_k = a.bias_v = a.bias_o = true;
  s.mlp.kind = MlpKind::plain;
  s.mlp.activation = activation_from(c, "hidden_act", c.get<std::string>("hidden_act", "gelu"));
  s.mlp.intermediate.assign(static_cast<size_t>(s.num_layers), c.req<int64_t>("intermediate_size"));
  s.mlp.bias = true;
  const std::set<std::string> names = checkpoint_names(c.file());
  const bool known = !names.empty();
  s.classifier = known ? names.count(head + (head == "lm_head." ? "dense.weight" : "transform.dense.weight")) > 0
                       : architecture_has(c, "ForMaskedLM") || architecture_has(c, "ForPreTraining");
  s.pooler = known ? names.count(prefix + "pooler.dense.weight") > 0
                   : !s.classifier || architecture_has(c, "ForPreTraining");
  if (s.classifier) {
    s.logit_transform = s.mlp.activation;  // BertPredictionHeadTransform uses hidden_act too
    s.logit_bias = true;
  }
}

// A checkpoint may hold a head the spec does not read (BertForPreTraining's pooler beside its MLM head when the
// config names BertForMaskedLM): those tensors are listed unused.
void ignore_absent_heads(Spec& s, const std::string& prefix, const std::string& head) {
  if (!s.pooler) s.weights.unused.insert(s.weights.unused.end(), {prefix + "pooler.dense.weight", prefix + "pooler.dense.bias"});
  if (!s.classifier) s.weights.unused.push_back(head + "*");
}

void import_bert(const Config& c, Spec& s, const ImportOptions& o) {
  const std::set<std::string> names = checkpoint_names(c.file());
  const bool prefixed = names.empty() ? architecture_has(c, "For") : names.count("bert.embeddings.word_embeddings.weight") > 0;
  const std::string prefix = prefixed ? "bert." : "";
  bert_like(c, s, o, prefix, "cls.predictions.", 0);
  // Inputs are [CLS] text [SEP], as BERT's tokenizer wraps them.
  const auto [cls, sep] = cls_and_sep(c, s.vocab_size);
  s.bos = cls;
  s.eos = sep;
  s.add_bos = cls >= 0;
  name_tensors(s, bert_names(prefix, "cls.predictions."));
  ignore_absent_heads(s, prefix, "cls.predictions.");
}

// RoBERTa: BERT with position ids counted from pad_token_id + 1, one token type, <s> text </s>.
void import_roberta(const Config& c, Spec& s, const ImportOptions& o) {
  const std::set<std::string> names = checkpoint_names(c.file());
  const bool prefixed = names.empty() ? architecture_has(c, "For") : names.count("roberta.embeddings.word_embeddings.weight") > 0;
  const std::string prefix = prefixed ? "roberta." : "";
  bert_like(c, s, o, prefix, "lm_head.", c.get<int64_t>("pad_token_id", 1) + 1);
  s.bos = c.token("bos_token_id");
  s.eos = c.token("eos_token_id");
  s.add_bos = s.bos >= 0;
  name_tensors(s, bert_names(prefix, "lm_head."));
  ignore_absent_heads(s, prefix, "lm_head.");
}

}  // namespace

const std::map<std::string, FamilyImporter>& encoder_importers() {
  static const std::map<std::string, FamilyImporter> table = {{"bert", import_bert}, {"roberta", import_roberta}};
  return table;
}

}  // namespace llmc::import_detail
