// Part of llmc/tokenizer.hpp (include that one): WordPiece (BERT).
//
// Vocabulary from BERT's vocab.txt (one token per line, id = line number; tokenizer_config.json beside it
// may set do_lower_case / strip_accents / tokenize_chinese_chars), from a tokenizer.json whose model is
// WordPiece, or from GGUF metadata (tokenizer.ggml.model = "bert", whose tokens llama.cpp stores as
// "▁word" for word starts and "piece" for "##piece" continuations).
//
// Encoding, as HF tokenizers' BertNormalizer + BertPreTokenizer + WordPiece:
//   normalise: drop NUL, U+FFFD and control/format/unassigned characters (tab/newline/CR are whitespace),
//              whitespace -> ' ', CJK ideographs get a space on each side, accents stripped (NFD, then
//              marks dropped), lower-cased;
//   pre-tokenise: split at whitespace (dropped) and around every punctuation character (kept, alone);
//   WordPiece: each word greedily, longest vocabulary match first, continuations looked up with "##";
//              a word with any unmatched rest, or longer than max_input_chars_per_word, becomes [UNK].
// encode(text, add_bos) with add_bos wraps the ids as BERT's template does: [CLS] ... [SEP].
// Decoding (HF's WordPiece decoder): words joined by spaces, "##" continuations glued to the previous
// token, " ." " ," " !" " ?" (and the other cleanup rules) lose their space; special tokens give no text.
// ([UNK] is one of BERT's special tokens, so it decodes to nothing, as HF with skip_special_tokens.)
#pragma once
#ifndef LLMC_TOKENIZER_INTERNAL
#error "include llmc/tokenizer.hpp instead of its parts"
#endif

#include <nlohmann/json.hpp>

#include "llmc/tokenizer_unicode_data.hpp"

namespace llmc {
namespace tok_detail {

// defined in tokenizer_load.hpp
inline std::string dir_of(const std::string& path);
inline bool exists(const std::string& path);

enum class UniClass : uint8_t { None = 0, Other = 1, Mark = 2, Punct = 3, Cased = 4 };

inline UniClass unicode_class(uint32_t cp) {
  const auto* b = std::begin(kUniClassRanges);
  const auto* e = std::end(kUniClassRanges);
  const auto* it = std::upper_bound(b, e, cp, [](uint32_t c, const UniRange& r) { return c < r.first; });
  if (it == b) return UniClass::None;
  --it;
  return cp <= it->last ? static_cast<UniClass>(it->cls) : UniClass::None;
}

// Rust's char::is_whitespace (Unicode White_Space), which HF's BERT normaliser uses.
inline bool unicode_is_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Appends the canonical decomposition (NFD) of cp.
inline void unicode_nfd(uint32_t cp, std::u32string& out) {
  if (cp >= 0xAC00 && cp <= 0xD7A3) {  // Hangul syllable: L V (T), by the Unicode algorithm
    uint32_t s = cp - 0xAC00;
    out += static_cast<char32_t>(0x1100 + s / 588);
    out += static_cast<char32_t>(0x1161 + (s % 588) / 28);
    if (s % 28) out += static_cast<char32_t>(0x11A7 + s % 28);
    return;
  }
  const auto* b = std::begin(kUniDecomp);
  const auto* e = std::end(kUniDecomp);
  const auto* it = std::lower_bound(b, e, cp, [](const UniDecomp& d, uint32_t c) { return d.cp < c; });
  if (it == e || it->cp != cp) {
    out += static_cast<char32_t>(cp);
    return;
  }
  for (uint16_t k = 0; k < it->length; ++k) out += static_cast<char32_t>(kUniDecompData[it->offset + k]);
}

inline uint32_t unicode_lower(uint32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
  const auto* b = std::begin(kUniLower);
  const auto* e = std::end(kUniLower);
  const auto* it = std::lower_bound(b, e, cp, [](const UniLower& d, uint32_t c) { return d.cp < c; });
  return it != e && it->cp == cp ? it->lower : cp;
}

// UTF-8 -> code points; bytes that are not valid UTF-8 become U+FFFD.
inline std::u32string utf8_to_u32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    int32_t cp = utf8_decode_at(s, i);
    out += static_cast<char32_t>(cp < 0 ? 0xFFFD : cp);
  }
  return out;
}

inline std::string u32_to_utf8(std::u32string_view s) {
  std::string out;
  for (char32_t c : s) out += utf8_encode(c);
  return out;
}

inline bool is_cjk_ideograph(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

inline bool is_bert_punct(uint32_t c) {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return unicode_class(c) == UniClass::Punct;
}

struct BertNormalizer {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool strip_accents = true;
  bool lowercase = true;

  std::u32string operator()(std::u32string_view in) const {
    std::u32string a;
    a.reserve(in.size());
    for (char32_t c : in) {
      if (clean_text) {
        if (c == 0 || c == 0xFFFD) continue;
        bool ws = unicode_is_space(c);
        if (!ws && unicode_class(c) == UniClass::Other) continue;
        if (ws) c = ' ';
      }
      if (handle_chinese_chars && is_cjk_ideograph(c)) {
        a += U' ';
        a += c;
        a += U' ';
      } else {
        a += c;
      }
    }
    if (strip_accents) {
      std::u32string d;
      d.reserve(a.size());
      for (char32_t c : a) unicode_nfd(c, d);
      a.clear();
      for (char32_t c : d)
        if (unicode_class(c) != UniClass::Mark) a += c;
    }
    if (lowercase) lower_in_place(a);
    return a;
  }

 private:
  // Rust's str::to_lowercase: simple mappings, U+0130 -> "i̇", and Greek capital sigma -> final ς at the
  // end of a word (preceded by a cased letter, not followed by one; marks are skipped over).
  static void lower_in_place(std::u32string& s) {
    std::u32string out;
    out.reserve(s.size());
    auto cased = [](char32_t c) { return unicode_class(c) == UniClass::Cased; };
    auto ignorable = [](char32_t c) { return unicode_class(c) == UniClass::Mark; };
    for (size_t i = 0; i < s.size(); ++i) {
      char32_t c = s[i];
      if (c == 0x130) {
        out += U'i';
        out += static_cast<char32_t>(0x307);
      } else if (c == 0x3A3) {
        size_t k = i;
        while (k > 0 && ignorable(s[k - 1])) --k;
        bool after_cased = k > 0 && cased(s[k - 1]);
        k = i + 1;
        while (k < s.size() && ignorable(s[k])) ++k;
        bool before_cased = k < s.size() && cased(s[k]);
        out += static_cast<char32_t>(after_cased && !before_cased ? 0x3C2 : 0x3C3);
      } else {
        out += static_cast<char32_t>(unicode_lower(c));
      }
    }
    s.swap(out);
  }
};

// BertPreTokenizer: words between whitespace, every punctuation character a word of its own.
inline std::vector<std::u32string_view> bert_pre_tokenize(std::u32string_view s) {
  std::vector<std::u32string_view> words;
  size_t start = 0;
  auto flush = [&](size_t end) {
    if (end > start) words.push_back(s.substr(start, end - start));
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char32_t c = s[i];
    if (unicode_is_space(c)) {
      flush(i);
      start = i + 1;
    } else if (is_bert_punct(c)) {
      flush(i);
      words.push_back(s.substr(i, 1));
      start = i + 1;
    }
  }
  flush(s.size());
  return words;
}

}  // namespace tok_detail

struct WordPieceVocab {
  std::vector<std::string> tokens;  // continuations carry the prefix ("##ing"), as in vocab.txt
  std::vector<TokenType> types;     // Control for [CLS], [SEP], ...: matched literally, no decoded text
  int unk = -1, cls = -1, sep = -1;
  std::string continuing_prefix = "##";
  size_t max_input_chars_per_word = 100;
  tok_detail::BertNormalizer normalizer;
};

class WordPieceTokenizer final : public Tokenizer {
 public:
  WordPieceTokenizer(WordPieceVocab v, const std::string& source) : v_(std::move(v)), source_(source) {
    const size_t n = v_.tokens.size();
    if (n == 0) throw Error("WordPiece vocabulary '" + source + "': no tokens");
    if (n > (1u << 30)) throw Error("WordPiece vocabulary '" + source + "': too many tokens");
    if (v_.types.empty()) v_.types.assign(n, TokenType::Normal);
    if (v_.types.size() != n)
      throw Error("WordPiece vocabulary '" + source + "': " + std::to_string(n) + " tokens but " +
                  std::to_string(v_.types.size()) + " token types");
    auto valid = [&](int id) { return id >= 0 && static_cast<size_t>(id) < n ? id : -1; };
    v_.unk = valid(v_.unk);
    v_.cls = valid(v_.cls);
    v_.sep = valid(v_.sep);
    if (v_.unk < 0) throw Error("WordPiece vocabulary '" + source + "': no unknown token ([UNK])");
    std::vector<tok_detail::SpecialMatcher::Entry> specials;
    for (size_t i = 0; i < n; ++i) {
      lookup_.emplace(v_.tokens[i], static_cast<int>(i));  // first id wins for a duplicated token
      if (v_.types[i] == TokenType::Control || v_.types[i] == TokenType::UserDefined)
        specials.push_back({v_.tokens[i], static_cast<int>(i)});
    }
    specials_.build(std::move(specials));
  }

  int vocab_size() const override { return static_cast<int>(v_.tokens.size()); }
  int bos_id() const override { return v_.cls; }
  int eos_id() const override { return v_.sep; }
  std::string kind() const override { return "wordpiece"; }
  std::string piece(int id) const override {
    tok_detail::check_id(id, vocab_size(), source_);
    return v_.tokens[id];
  }

  std::vector<int> encode(std::string_view text, bool add_bos) const override {
    std::vector<int> out;
    if (add_bos && v_.cls >= 0) out.push_back(v_.cls);
    for (const auto& frag : specials_.split(text)) {
      if (frag.id >= 0) {
        out.push_back(frag.id);
        continue;
      }
      std::u32string norm = v_.normalizer(tok_detail::utf8_to_u32(frag.text));
      for (auto word : tok_detail::bert_pre_tokenize(norm)) encode_word(word, out);
    }
    if (add_bos && v_.sep >= 0) out.push_back(v_.sep);
    return out;
  }

  std::string token_bytes(int prev, int id) const override {
    tok_detail::check_id(id, vocab_size(), source_);
    if (v_.types[id] == TokenType::Control) return {};
    const std::string& t = v_.tokens[id];
    const std::string& pre = v_.continuing_prefix;
    if (!pre.empty() && t.compare(0, pre.size(), pre) == 0) return t.substr(pre.size());
    // a skipped [UNK] or [SEP] in the middle keeps the space before the next word (HF skips special
    // tokens before joining); only the text start and [CLS] don't
    bool at_start = prev < 0 || prev == v_.cls;
    return at_start ? t : cleanup(" " + t);
  }

 private:
  // HF's WordPiece decoder cleanup, applied to one token with its leading space.
  static std::string cleanup(std::string s) {
    static const std::pair<const char*, const char*> kRules[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kRules) {
      const size_t fl = std::strlen(from), tl = std::strlen(to);
      for (size_t k = s.find(from); k != std::string::npos; k = s.find(from, k + tl)) s.replace(k, fl, to);
    }
    return s;
  }

  int find(std::string_view s) const {
    auto it = lookup_.find(s);
    return it == lookup_.end() ? -1 : it->second;
  }

  // Greedy longest-match-first; the whole word is [UNK] if any part of it has no match.
  void encode_word(std::u32string_view word, std::vector<int>& out) const {
    if (word.size() > v_.max_input_chars_per_word) {
      out.push_back(v_.unk);
      return;
    }
    // byte offset of every character boundary
    std::string bytes;
    std::vector<size_t> at{0};
    for (char32_t c : word) {
      bytes += tok_detail::utf8_encode(c);
      at.push_back(bytes.size());
    }
    const size_t first = out.size();
    std::string candidate;
    for (size_t start = 0; start < word.size();) {
      int hit = -1;
      size_t end = word.size();
      for (; end > start; --end) {
        candidate.assign(start ? v_.continuing_prefix : std::string());
        candidate.append(bytes, at[start], at[end] - at[start]);
        hit = find(candidate);
        if (hit >= 0) break;
      }
      if (hit < 0) {
        out.resize(first);
        out.push_back(v_.unk);
        return;
      }
      out.push_back(hit);
      start = end;
    }
  }

  WordPieceVocab v_;
  std::string source_;
  tok_detail::StrMap<int> lookup_;
  tok_detail::SpecialMatcher specials_;
};

namespace tok_detail {

inline int find_token_id(const std::vector<std::string>& tokens, std::string_view s) {
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] == s) return static_cast<int>(i);
  return -1;
}

// BERT's special tokens, when a vocabulary does not mark them itself.
inline void mark_bert_specials(WordPieceVocab& v) {
  v.types.assign(v.tokens.size(), TokenType::Normal);
  for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}) {
    int id = find_token_id(v.tokens, s);
    if (id >= 0) v.types[id] = TokenType::Control;
  }
  v.unk = find_token_id(v.tokens, "[UNK]");
  v.cls = find_token_id(v.tokens, "[CLS]");
  v.sep = find_token_id(v.tokens, "[SEP]");
}

// BERT vocab.txt: one token per line, the line number is the id.
inline std::unique_ptr<Tokenizer> load_wordpiece_vocab_txt(const std::string& path, const std::string& data) {
  WordPieceVocab v;
  size_t pos = 0, line = 0;
  while (pos < data.size()) {
    size_t e = data.find('\n', pos);
    if (e == std::string::npos) e = data.size();
    std::string tok = data.substr(pos, e - pos);
    if (!tok.empty() && tok.back() == '\r') tok.pop_back();
    ++line;
    if (tok.find('\0') != std::string::npos)
      throw Error("WordPiece vocab.txt '" + path + "': line " + std::to_string(line) + " holds a NUL byte (not a text file?)");
    v.tokens.push_back(std::move(tok));
    pos = e + 1;
  }
  mark_bert_specials(v);
  if (v.unk < 0) throw Error("WordPiece vocab.txt '" + path + "': no [UNK] token in its " + std::to_string(line) + " lines");
  // tokenizer_config.json beside it: do_lower_case (BertTokenizer's default: true), strip_accents
  // (default: as do_lower_case), tokenize_chinese_chars (default: true)
  std::string cfg_path = dir_of(path) + "/tokenizer_config.json";
  if (exists(cfg_path)) {
    try {
      auto cfg = nlohmann::json::parse(read_file(cfg_path, 64u << 20));
      auto& n = v.normalizer;
      if (cfg.contains("do_lower_case") && cfg["do_lower_case"].is_boolean()) n.lowercase = cfg["do_lower_case"].get<bool>();
      n.strip_accents = n.lowercase;
      if (cfg.contains("strip_accents") && cfg["strip_accents"].is_boolean()) n.strip_accents = cfg["strip_accents"].get<bool>();
      if (cfg.contains("tokenize_chinese_chars") && cfg["tokenize_chinese_chars"].is_boolean())
        n.handle_chinese_chars = cfg["tokenize_chinese_chars"].get<bool>();
    } catch (const nlohmann::json::exception& e) {
      throw Error("tokenizer config '" + cfg_path + "': " + e.what());
    }
  }
  return std::make_unique<WordPieceTokenizer>(std::move(v), path);
}

// GGUF (llama.cpp's BERT conversion): "▁word" -> "word", "piece" -> "##piece", "[CLS]" etc. unchanged.
// GGUF keeps no casing flag; llama.cpp always lower-cases and strips accents, and so does this.
inline std::unique_ptr<Tokenizer> load_wordpiece_gguf(const std::string& path, std::vector<std::string> tokens,
                                                      std::vector<TokenType> types, int unk, int cls, int sep) {
  WordPieceVocab v;
  const std::string kSpace = "\xE2\x96\x81";
  for (auto& t : tokens) {
    bool bracketed = t.size() >= 2 && t.front() == '[' && t.back() == ']';
    if (t.compare(0, kSpace.size(), kSpace) == 0)
      t.erase(0, kSpace.size());
    else if (!bracketed)
      t = "##" + t;
  }
  v.tokens = std::move(tokens);
  if (types.empty()) {
    mark_bert_specials(v);
  } else {
    v.types = std::move(types);
    v.unk = unk >= 0 ? unk : find_token_id(v.tokens, "[UNK]");
    v.cls = cls >= 0 ? cls : find_token_id(v.tokens, "[CLS]");
    v.sep = sep >= 0 ? sep : find_token_id(v.tokens, "[SEP]");
  }
  return std::make_unique<WordPieceTokenizer>(std::move(v), path);
}

// tokenizer.json with model.type = "WordPiece" (BertNormalizer, BertPreTokenizer, WordPiece decoder).
inline std::unique_ptr<Tokenizer> load_wordpiece_json(const std::string& path, const nlohmann::json& j) {
  const auto& model = j.at("model");
  auto fail = [&](const std::string& what) -> Error { return Error("tokenizer.json '" + path + "': " + what); };
  const auto& vocab = model.at("vocab");
  if (!vocab.is_object()) throw fail("model.vocab is not an object");
  const size_t n = vocab.size();
  if (n == 0 || n > (1u << 24)) throw fail("model.vocab has " + std::to_string(n) + " tokens");
  WordPieceVocab v;
  v.tokens.assign(n, {});
  std::vector<char> seen(n, 0);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) throw fail("vocab id of '" + it.key() + "' is not an integer");
    int64_t id = it.value().get<int64_t>();
    if (id < 0 || static_cast<uint64_t>(id) >= n || seen[id])
      throw fail("vocab id " + std::to_string(id) + " of '" + it.key() + "' is not one of 0.." + std::to_string(n - 1) +
                 " used once");
    seen[id] = 1;
    v.tokens[id] = it.key();
  }
  v.types.assign(n, TokenType::Normal);
  for (const auto& a : j.value("added_tokens", nlohmann::json::array())) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content"))
      throw fail("an added_tokens entry has no integer id or no content");
    int64_t id = a["id"].get<int64_t>();
    if (id < 0 || static_cast<uint64_t>(id) >= n) throw fail("added token id " + std::to_string(id) + " is not in model.vocab");
    v.types[id] = a.value("special", false) ? TokenType::Control : TokenType::UserDefined;
  }
  if (model.contains("continuing_subword_prefix") && model["continuing_subword_prefix"].is_string())
    v.continuing_prefix = model["continuing_subword_prefix"].get<std::string>();
  if (model.contains("max_input_chars_per_word") && model["max_input_chars_per_word"].is_number_unsigned())
    v.max_input_chars_per_word = model["max_input_chars_per_word"].get<size_t>();
  v.unk = find_token_id(v.tokens, model.value("unk_token", std::string("[UNK]")));
  v.cls = find_token_id(v.tokens, "[CLS]");
  v.sep = find_token_id(v.tokens, "[SEP]");
  const auto post = j.value("post_processor", nlohmann::json());
  if (post.is_object() && post.value("type", std::string()) == "BertProcessing") {
    if (post.contains("cls") && post["cls"].is_array() && post["cls"].size() == 2 && post["cls"][1].is_number_integer())
      v.cls = post["cls"][1].get<int>();
    if (post.contains("sep") && post["sep"].is_array() && post["sep"].size() == 2 && post["sep"][1].is_number_integer())
      v.sep = post["sep"][1].get<int>();
  }
  const auto norm = j.value("normalizer", nlohmann::json());
  if (!norm.is_null()) {
    if (!norm.is_object() || norm.value("type", std::string()) != "BertNormalizer")
      throw fail("WordPiece with normalizer '" + (norm.is_object() ? norm.value("type", std::string()) : norm.dump()) +
                 "' is not supported (only BertNormalizer)");
    auto& nz = v.normalizer;
    nz.clean_text = norm.value("clean_text", true);
    nz.handle_chinese_chars = norm.value("handle_chinese_chars", true);
    nz.lowercase = norm.value("lowercase", true);
    nz.strip_accents = norm.contains("strip_accents") && norm["strip_accents"].is_boolean() ? norm["strip_accents"].get<bool>()
                                                                                           : nz.lowercase;
  } else {
    v.normalizer = {false, false, false, false};
  }
  const auto pre = j.value("pre_tokenizer", nlohmann::json());
  if (!pre.is_object() || pre.value("type", std::string()) != "BertPreTokenizer")
    throw fail("WordPiece with pre_tokenizer '" + (pre.is_object() ? pre.value("type", std::string()) : pre.dump()) +
               "' is not supported (only BertPreTokenizer)");
  return std::make_unique<WordPieceTokenizer>(std::move(v), path);
}

}  // namespace tok_detail
}  // namespace llmc
