// Part of llmc/tokenizer.hpp (include that one): format detection and the JSON / GGUF front ends.
#pragma once
#ifndef LLMC_TOKENIZER_INTERNAL
#error "include llmc/tokenizer.hpp instead of its parts"
#endif

#include <cctype>
#include <cmath>
#include <functional>
#include <limits>

#include <nlohmann/json.hpp>

namespace llmc {
namespace tok_detail {

inline std::string dir_of(const std::string& path) {
  size_t k = path.find_last_of('/');
  return k == std::string::npos ? std::string(".") : path.substr(0, k);
}

// ---------------------------------------------------------------------------------------------- GGUF
inline std::unique_ptr<Tokenizer> load_gguf(const std::string& path) {
  GgufReader r(path);
  auto kv = r.read([](const std::string& k) { return k.rfind("tokenizer.ggml.", 0) == 0; });
  auto get = [&](const char* k) -> const GgufValue* {
    auto it = kv.find(k);
    return it == kv.end() ? nullptr : &it->second;
  };
  auto str = [&](const char* k) -> std::string {
    auto* v = get(k);
    if (!v) return {};
    if (v->type != 8) r.fail(std::string(k) + " is not a string");
    return v->s;
  };
  auto id = [&](const char* k) -> int {
    auto* v = get(k);
    if (!v) return -1;
    if (v->type == 8 || v->type == 9 || v->type == 6 || v->type == 12) r.fail(std::string(k) + " is not an integer");
    return v->i < 0 || v->i > (1 << 30) ? -1 : static_cast<int>(v->i);
  };
  auto flag = [&](const char* k, bool dflt) -> bool {
    auto* v = get(k);
    if (!v) return dflt;
    if (v->type != 7) r.fail(std::string(k) + " is not a bool");
    return v->b;
  };
  std::string model = str("tokenizer.ggml.model");
  if (model.empty()) r.fail("no tokenizer.ggml.model (not a model or vocabulary file?)");
  auto* toks = get("tokenizer.ggml.tokens");
  if (!toks || toks->type != 9 || toks->item_type != 8) r.fail("tokenizer.ggml.tokens missing or not a string array");
  const size_t n = toks->strs.size();
  std::vector<TokenType> types;
  if (auto* t = get("tokenizer.ggml.token_type")) {
    if (t->type != 9 || t->item_type == 8 || t->nums.size() != n)
      r.fail("tokenizer.ggml.token_type has " + std::to_string(t->nums.size()) + " entries for " + std::to_string(n) +
             " tokens");
    types.reserve(n);
    for (double d : t->nums)  // compared as a double: an out-of-range or NaN value must not reach an int
      types.push_back(d >= 0 && d <= 6 ? static_cast<TokenType>(static_cast<int>(d)) : TokenType::Normal);
  }
  if (model == "llama") {
    SpmVocab v;
    v.pieces = std::move(kv["tokenizer.ggml.tokens"].strs);
    if (auto* s = get("tokenizer.ggml.scores")) {
      if (s->type != 9 || s->item_type == 8 || s->nums.size() != n)
        r.fail("tokenizer.ggml.scores has " + std::to_string(s->nums.size()) + " entries for " + std::to_string(n) +
               " tokens");
      v.scores.reserve(n);
      for (double d : s->nums) {
        if (!(std::fabs(d) <= std::numeric_limits<float>::max())) r.fail("tokenizer.ggml.scores holds a value that is not a finite float");
        v.scores.push_back(static_cast<float>(d));
      }
    }
    v.types = std::move(types);
    v.bos = id("tokenizer.ggml.bos_token_id");
    v.eos = id("tokenizer.ggml.eos_token_id");
    v.unk = id("tokenizer.ggml.unknown_token_id");
    v.add_space_prefix = flag("tokenizer.ggml.add_space_prefix", true);
    v.add_bos = flag("tokenizer.ggml.add_bos_token", true);
    return std::make_unique<SpmTokenizer>(std::move(v), path);
  }
  if (model == "t5") return load_unigram_gguf(r, kv, path);
  if (model == "bert")
    return load_wordpiece_gguf(path, std::move(kv["tokenizer.ggml.tokens"].strs), std::move(types),
                               id("tokenizer.ggml.unknown_token_id"), id("tokenizer.ggml.cls_token_id"),
                               id("tokenizer.ggml.seperator_token_id"));
  if (model == "gpt2") {
    BpeVocab v;
    v.tokens = std::move(kv["tokenizer.ggml.tokens"].strs);
    v.types = std::move(types);
    auto* m = get("tokenizer.ggml.merges");
    if (!m || m->type != 9 || m->item_type != 8) r.fail("tokenizer.ggml.merges missing or not a string array");
    v.merges.reserve(m->strs.size());
    for (const auto& s : m->strs) {
      size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) r.fail("merge '" + s + "' has no space");
      v.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    }
    std::string pre = str("tokenizer.ggml.pre");
    for (auto& re : gguf_pre_regexes(pre, path)) v.pre.push_back({re});
    v.ignore_merges = pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" ||
                      pre == "falcon-h1" || pre == "pixtral" || pre == "midm-2.0" || pre == "lfm2";
    v.bos = id("tokenizer.ggml.bos_token_id");
    v.eos = id("tokenizer.ggml.eos_token_id");
    v.unk = id("tokenizer.ggml.unknown_token_id");
    v.add_bos = flag("tokenizer.ggml.add_bos_token", false);
    return std::make_unique<BpeTokenizer>(std::move(v), path);
  }
  r.fail("tokenizer model '" + model + "' is not supported (supported: llama = SentencePiece BPE, gpt2 = byte-level BPE, "
         "bert = WordPiece, t5 = SentencePiece Unigram)");
}

// ------------------------------------------------------------------------------------ HF tokenizer.json
inline std::string regex_quote(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (std::strchr("\\^$.|?*+()[]{}", c) && c != '\0') r += '\\';
    r += c;
  }
  return r;
}

inline PreTokenizerStep::Behavior parse_behavior(const nlohmann::json& j, const std::string& source) {
  std::string b = j.is_string() ? j.get<std::string>() : "Isolated";
  if (b == "Isolated") return PreTokenizerStep::Isolated;
  if (b == "Removed") return PreTokenizerStep::Removed;
  if (b == "MergedWithPrevious") return PreTokenizerStep::MergedWithPrevious;
  if (b == "MergedWithNext") return PreTokenizerStep::MergedWithNext;
  if (b == "Contiguous") return PreTokenizerStep::Contiguous;
  throw Error("tokenizer.json '" + source + "': unknown split behavior '" + b + "'");
}

inline std::string metaspace_replacement(const nlohmann::json& j, const std::string& source) {
  const std::string r = j.value("replacement", std::string("\xE2\x96\x81"));
  if (r.empty() || utf8_chars(r).size() != 1)
    throw Error("tokenizer.json '" + source + "': Metaspace replacement '" + r + "' is not one character");
  return r;
}

// Metaspace's prepend_scheme; files written before it existed say add_prefix_space (false = never).
inline SpmStyle::Prepend prepend_scheme(const nlohmann::json& j, const std::string& source) {
  const std::string s = j.value("prepend_scheme", std::string("always"));
  SpmStyle::Prepend p;
  if (s == "always") p = SpmStyle::always;
  else if (s == "first") p = SpmStyle::first;
  else if (s == "never") p = SpmStyle::never;
  else throw Error("tokenizer.json '" + source + "': unknown Metaspace prepend_scheme '" + s + "' (always, first, never)");
  if (j.contains("add_prefix_space") && j["add_prefix_space"] == false) {
    if (p != SpmStyle::never && j.contains("prepend_scheme"))
      throw Error("tokenizer.json '" + source + "': Metaspace add_prefix_space false contradicts prepend_scheme '" + s + "'");
    p = SpmStyle::never;
  }
  return p;
}

// A Replace normalizer or decoder: only literal (String) patterns.
inline SpmStyle::Edit parse_replace(const nlohmann::json& j, const char* what, const std::string& source) {
  const auto& pat = j.at("pattern");
  if (!pat.is_object() || !pat.contains("String") || !pat["String"].is_string())
    throw Error("tokenizer.json '" + source + "': " + what + " Replace with a regex pattern is not supported (only String)");
  SpmStyle::Edit e{pat["String"].get<std::string>(), j.at("content").get<std::string>()};
  if (e.from.empty()) throw Error("tokenizer.json '" + source + "': " + what + " Replace of an empty string");
  return e;
}

// Normalizers: NFC is accepted but not applied (input text is assumed to be NFC already); Prepend and
// Replace are the SentencePiece-style ones (Llama 2, Mistral: Prepend "▁" then Replace " " -> "▁").
inline void parse_normalizer(const nlohmann::json& j, SpmStyle& st, const std::string& source) {
  if (j.is_null()) return;
  if (!j.is_object()) throw Error("tokenizer.json '" + source + "': bad normalizer");
  const std::string type = j.value("type", std::string());
  if (type == "Sequence") {
    for (const auto& n : j.at("normalizers")) parse_normalizer(n, st, source);
  } else if (type == "Prepend") {
    st.normalize.push_back({"", j.at("prepend").get<std::string>(), true});
  } else if (type == "Replace") {
    st.normalize.push_back(parse_replace(j, "normalizer", source));
  } else if (type != "NFC") {
    throw Error("tokenizer.json '" + source + "': normalizer '" + type + "' is not supported");
  }
}

// Decoders of a SentencePiece-style file (Fuse only joins the pieces, which decoding does anyway).
inline void parse_decoder(const nlohmann::json& j, SpmStyle& st, const std::string& source) {
  if (j.is_null()) return;
  if (!j.is_object()) throw Error("tokenizer.json '" + source + "': bad decoder");
  const std::string type = j.value("type", std::string());
  if (type == "Sequence") {
    for (const auto& d : j.at("decoders")) parse_decoder(d, st, source);
  } else if (type == "Replace") {
    st.decode_replace.push_back(parse_replace(j, "decoder", source));
  } else if (type == "ByteFallback") {
    st.decode_bytes = true;
  } else if (type == "Metaspace") {
    st.metaspace_decode = true;
    st.replacement = metaspace_replacement(j, source);
    st.decode_scheme = prepend_scheme(j, source);
  } else if (type == "Strip") {
    st.strip = j.value("content", std::string(" "));
    const int64_t start = j.value("start", int64_t{0}), stop = j.value("stop", int64_t{0});
    if (start < 0 || start > 64 || stop != 0)
      throw Error("tokenizer.json '" + source + "': Strip decoder with start " + std::to_string(start) + ", stop " +
                  std::to_string(stop) + " is not supported (only stop 0)");
    st.strip_start = static_cast<int>(start);
  } else if (type != "Fuse") {
    throw Error("tokenizer.json '" + source + "': decoder '" + type + "' is not supported");
  }
}

inline void parse_pre_tokenizer(const nlohmann::json& j, BpeVocab& v, bool& byte_level, const std::string& source) {
  if (j.is_null()) return;
  if (!j.is_object() || !j.contains("type")) throw Error("tokenizer.json '" + source + "': bad pre_tokenizer");
  std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    for (const auto& p : j.at("pretokenizers")) parse_pre_tokenizer(p, v, byte_level, source);
  } else if (type == "Split") {
    const auto& pat = j.at("pattern");
    PreTokenizerStep s;
    if (pat.contains("Regex"))
      s.regex = pat["Regex"].get<std::string>();
    else if (pat.contains("String"))
      s.regex = regex_quote(pat["String"].get<std::string>());
    else
      throw Error("tokenizer.json '" + source + "': Split pattern is neither Regex nor String");
    s.behavior = parse_behavior(j.value("behavior", nlohmann::json("Isolated")), source);
    s.invert = j.value("invert", false);
    v.pre.push_back(s);
  } else if (type == "Metaspace") {
    // replaces the spaces before any other step runs (mark_spaces), so it must come first
    if (!v.pre.empty() || v.spm.metaspace)
      throw Error("tokenizer.json '" + source + "': a Metaspace pre-tokenizer after another one is not supported");
    v.spm.on = v.spm.metaspace = true;
    v.spm.replacement = metaspace_replacement(j, source);
    v.spm.scheme = prepend_scheme(j, source);
    if (j.value("split", true)) v.pre.push_back({regex_quote(v.spm.replacement), PreTokenizerStep::MergedWithNext});
  } else if (type == "ByteLevel") {
    byte_level = true;
    if (j.value("add_prefix_space", false)) v.add_prefix_space = true;
    if (j.value("use_regex", true)) v.pre.push_back({kGpt2Regex});
  } else if (type == "Digits") {
    v.pre.push_back({j.value("individual_digits", false) ? "\\p{N}" : "\\p{N}+"});
  } else if (type == "Punctuation") {
    v.pre.push_back({"[\\p{P}!-/:-@\\[-`{-~]", parse_behavior(j.value("behavior", nlohmann::json("Isolated")), source)});
  } else if (type == "WhitespaceSplit") {
    v.pre.push_back({"\\s+", PreTokenizerStep::Removed});
  } else {
    throw Error("tokenizer.json '" + source + "': pre-tokenizer '" + type + "' is not supported");
  }
}

inline std::string token_content(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return {};
}

inline std::unique_ptr<Tokenizer> load_hf_json(const std::string& path, const nlohmann::json& j) {
  const auto& model = j.at("model");
  std::string mtype = model.value("type", std::string("BPE"));
  if (mtype == "WordPiece") return load_wordpiece_json(path, j);
  if (mtype == "Unigram") return load_unigram_json(path, j);
  if (mtype != "BPE") throw Error("tokenizer.json '" + path + "': model type '" + mtype + "' is not supported (only BPE, WordPiece, Unigram)");
  BpeVocab v;
  bool byte_level = false;
  parse_pre_tokenizer(j.value("pre_tokenizer", nlohmann::json()), v, byte_level, path);
  const nlohmann::json decoder = j.value("decoder", nlohmann::json());
  if (decoder.is_object() && decoder.value("type", std::string()) == "ByteLevel") byte_level = true;
  if (byte_level && v.spm.metaspace)
    throw Error("tokenizer.json '" + path + "': both ByteLevel and Metaspace: not a layout llmc knows");
  // not byte-level: SentencePiece style (characters, "▁" for spaces, byte fallback)
  v.spm.on = !byte_level;
  parse_normalizer(j.value("normalizer", nlohmann::json()), v.spm, path);
  if (byte_level && !v.spm.normalize.empty())
    throw Error("tokenizer.json '" + path + "': a Prepend/Replace normalizer in a byte-level tokenizer is not supported");
  if (v.spm.on) {
    parse_decoder(decoder, v.spm, path);
    v.spm.byte_fallback = model.value("byte_fallback", false);
    v.spm.fuse_unk = model.value("fuse_unk", false);
    for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (model.contains(affix) && model[affix].is_string() && !model[affix].get<std::string>().empty())
        throw Error("tokenizer.json '" + path + "': BPE with a " + affix + " is not supported");
  }
  const auto& vocab = model.at("vocab");
  if (!vocab.is_object()) throw Error("tokenizer.json '" + path + "': model.vocab is not an object");
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) throw Error("tokenizer.json '" + path + "': vocab id of '" + it.key() + "' is not an integer");
    max_id = std::max<int64_t>(max_id, it.value().get<int64_t>());
  }
  const auto added = j.value("added_tokens", nlohmann::json::array());
  for (const auto& a : added) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer())
      throw Error("tokenizer.json '" + path + "': an added_tokens entry has no integer id");
    max_id = std::max<int64_t>(max_id, a["id"].get<int64_t>());
  }
  if (max_id < 0 || max_id > (1 << 24)) throw Error("tokenizer.json '" + path + "': bad vocabulary ids");
  // ids are (nearly) dense: a table is not sized by one id the file merely claims
  if (max_id >= 2 * static_cast<int64_t>(vocab.size() + added.size()) + 1024)
    throw Error("tokenizer.json '" + path + "': vocabulary id " + std::to_string(max_id) + " for only " +
                std::to_string(vocab.size() + added.size()) + " tokens");
  const size_t n = static_cast<size_t>(max_id + 1);
  v.tokens.assign(n, {});
  v.types.assign(n, TokenType::Normal);
  v.present.assign(n, 0);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    int64_t id = it.value().get<int64_t>();
    if (id < 0) throw Error("tokenizer.json '" + path + "': negative id for '" + it.key() + "'");
    v.tokens[id] = it.key();
    v.present[id] = 1;
  }
  for (const auto& a : added) {
    int64_t id = a.at("id").get<int64_t>();
    if (id < 0) throw Error("tokenizer.json '" + path + "': negative added token id");
    v.tokens[id] = a.at("content").get<std::string>();
    v.types[id] = a.value("special", false) ? TokenType::Control : TokenType::UserDefined;
    v.present[id] = 1;
  }
  const auto& merges = model.at("merges");
  v.merges.reserve(merges.size());
  for (const auto& m : merges) {
    if (m.is_string()) {
      std::string s = m.get<std::string>();
      size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) throw Error("tokenizer.json '" + path + "': merge '" + s + "' has no space");
      v.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (m.is_array() && m.size() == 2) {
      v.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      throw Error("tokenizer.json '" + path + "': bad merge entry");
    }
  }
  v.ignore_merges = model.value("ignore_merges", false);
  auto find_token = [&](const std::string& s) -> int {
    if (s.empty()) return -1;
    for (size_t i = 0; i < n; ++i)
      if (v.present[i] && v.tokens[i] == s) return static_cast<int>(i);
    return -1;
  };
  if (model.contains("unk_token") && model["unk_token"].is_string()) v.unk = find_token(model["unk_token"].get<std::string>());
  // BOS/EOS from tokenizer_config.json beside the file, else from the post-processor template
  std::string cfg_path = dir_of(path) + "/tokenizer_config.json";
  bool have_cfg = false;
  if (exists(cfg_path)) {
    try {
      auto cfg = nlohmann::json::parse(read_file(cfg_path, 64u << 20));
      have_cfg = true;
      if (cfg.contains("bos_token")) v.bos = find_token(token_content(cfg["bos_token"]));
      if (cfg.contains("eos_token")) v.eos = find_token(token_content(cfg["eos_token"]));
      if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean())
        v.add_bos = cfg["add_bos_token"].get<bool>();
      else
        v.add_bos = v.bos >= 0;
    } catch (const nlohmann::json::exception& e) {
      throw Error("tokenizer config '" + cfg_path + "': " + e.what());
    }
  }
  if (!have_cfg) {
    std::function<void(const nlohmann::json&)> scan = [&](const nlohmann::json& p) {
      if (!p.is_object()) return;
      if (p.value("type", std::string()) == "Sequence" && p.contains("processors"))
        for (const auto& q : p["processors"]) scan(q);
      if (p.value("type", std::string()) == "TemplateProcessing" && p.contains("single") && p["single"].is_array() &&
          !p["single"].empty() && p["single"][0].contains("SpecialToken")) {
        v.bos = find_token(p["single"][0]["SpecialToken"].value("id", std::string()));
        v.add_bos = v.bos >= 0;
      }
    };
    scan(j.value("post_processor", nlohmann::json()));
    for (const char* e : {"<|endoftext|>", "<|end_of_text|>", "</s>", "<|im_end|>"}) {
      if (v.eos >= 0) break;
      v.eos = find_token(e);
    }
  }
  return std::make_unique<BpeTokenizer>(std::move(v), path);
}

// ------------------------------------------------------------------------- GPT-2 encoder.json + vocab.bpe
inline std::unique_ptr<Tokenizer> load_gpt2_encoder(const std::string& path, const nlohmann::json& j) {
  std::string bpe_path = dir_of(path) + "/vocab.bpe";
  if (!exists(bpe_path)) throw Error("GPT-2 encoder '" + path + "': vocab.bpe (the merges) not found beside it");
  BpeVocab v;
  int64_t max_id = -1;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number_integer()) throw Error("GPT-2 encoder '" + path + "': id of '" + it.key() + "' is not an integer");
    int64_t id = it.value().get<int64_t>();
    if (id < 0 || id > (1 << 24)) throw Error("GPT-2 encoder '" + path + "': bad id " + std::to_string(id));
    max_id = std::max(max_id, id);
  }
  if (max_id >= 2 * static_cast<int64_t>(j.size()) + 1024)  // ids are (nearly) dense
    throw Error("GPT-2 encoder '" + path + "': id " + std::to_string(max_id) + " for only " + std::to_string(j.size()) +
                " tokens");
  const size_t n = static_cast<size_t>(max_id + 1);
  v.tokens.assign(n, {});
  v.types.assign(n, TokenType::Normal);
  v.present.assign(n, 0);
  for (auto it = j.begin(); it != j.end(); ++it) {
    int id = static_cast<int>(it.value().get<int64_t>());
    v.tokens[id] = it.key();
    v.present[id] = 1;
    if (it.key() == "<|endoftext|>") {
      v.types[id] = TokenType::Control;
      v.bos = v.eos = id;
    }
  }
  std::string bpe = read_file(bpe_path, 256u << 20);
  size_t pos = 0;
  while (pos < bpe.size()) {
    size_t e = bpe.find('\n', pos);
    if (e == std::string::npos) e = bpe.size();
    std::string line = bpe.substr(pos, e - pos);
    pos = e + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    size_t sp = line.find(' ', 1);
    if (sp == std::string::npos) throw Error("GPT-2 merges '" + bpe_path + "': line '" + line + "' has no space");
    v.merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  v.pre.push_back({kGpt2Regex});
  v.add_bos = false;
  return std::make_unique<BpeTokenizer>(std::move(v), path);
}

}  // namespace tok_detail

inline std::string Tokenizer::resolve(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return path;
  for (const char* name : {"tokenizer.json", "tokenizer.model", "vocab.txt"}) {
    const std::string file = path + (path.empty() || path.back() == '/' ? "" : "/") + name;
    if (tok_detail::exists(file)) return file;
  }
  throw Error("tokenizer: folder '" + path + "' has neither tokenizer.json nor tokenizer.model (nor vocab.txt)");
}

inline Tokenizer::Files Tokenizer::collect_files(const std::string& path) {
  const std::string file = resolve(path);
  std::set<std::string> read;
  auto& hooks = tok_detail::FileHooks::get();
  hooks.log = &read;
  try {
    load(file);
  } catch (...) {
    hooks.log = nullptr;
    throw;
  }
  hooks.log = nullptr;
  Files out;
  const std::string dir = tok_detail::dir_of(file);
  auto base = [](const std::string& p) { return p.substr(p.find_last_of('/') + 1); };
  out.main = base(file);
  for (const auto& p : read) {
    if (tok_detail::dir_of(p) != dir)  // the loaders only read beside the main file
      throw Error("tokenizer '" + file + "': reads '" + p + "', which is not in its folder");
    out.files[base(p)] = tok_detail::read_file(p);
  }
  if (!out.files.count(out.main)) throw Error("tokenizer '" + file + "': the loader did not read it");
  return out;
}

inline std::unique_ptr<Tokenizer> Tokenizer::load(const Files& files) {
  // served under a folder of their own, so the loaders' "beside the main file" finds the others
  const std::string dir = "/llmc-embedded-tokenizer/";
  std::map<std::string, std::string> memory;
  for (const auto& [name, data] : files.files) memory[dir + name] = data;
  auto& hooks = tok_detail::FileHooks::get();
  const auto* before = hooks.memory;
  hooks.memory = &memory;
  try {
    auto tok = load(dir + files.main);
    hooks.memory = before;
    return tok;
  } catch (...) {
    hooks.memory = before;
    throw;
  }
}

inline std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& given) {
  const std::string path = resolve(given);
  std::string head = tok_detail::read_head(path, 64);
  if (head.size() >= 4 && head.compare(0, 4, "GGUF") == 0) return tok_detail::load_gguf(path);
  size_t k = 0;
  while (k < head.size() && std::isspace(static_cast<unsigned char>(head[k]))) ++k;
  if (k < head.size() && head[k] == '{') {
    std::string data = tok_detail::read_file(path);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(data);
    } catch (const nlohmann::json::exception& e) {
      throw Error("tokenizer '" + path + "': invalid JSON: " + e.what());
    }
    try {
      if (j.is_object() && j.contains("model") && j["model"].is_object()) return tok_detail::load_hf_json(path, j);
      if (j.is_object()) return tok_detail::load_gpt2_encoder(path, j);
    } catch (const nlohmann::json::exception& e) {
      throw Error("tokenizer '" + path + "': unexpected JSON structure: " + e.what());
    }
    throw Error("tokenizer '" + path + "': JSON is neither a tokenizer.json nor a GPT-2 encoder.json");
  }
  std::string data = tok_detail::read_file(path);
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".txt") == 0)  // BERT vocab.txt
    return tok_detail::load_wordpiece_vocab_txt(path, data);
  // llama2.c tokenizer.bin: int32 max_token_length then {float, int32 len, bytes}* exactly to the end
  std::string bin_error;
  try {
    return std::make_unique<Llama2cTokenizer>(data, path);
  } catch (const Error& e) {
    bin_error = e.what();
  }
  // SentencePiece ModelProto: starts with field 1 (pieces), length-delimited
  if (!data.empty() && static_cast<unsigned char>(data[0]) == 0x0A) {
    if (auto unigram = UnigramTokenizer::from_model_proto(data, path)) return unigram;
    return SpmTokenizer::from_model_proto(data, path);
  }
  throw Error("tokenizer '" + path + "': unknown format (not GGUF, JSON or SentencePiece; as llama2.c tokenizer.bin: " +
              bin_error + ")");
}

}  // namespace llmc
