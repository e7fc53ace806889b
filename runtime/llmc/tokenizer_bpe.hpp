// Part of llmc/tokenizer.hpp (include that one): BPE over merge ranks, byte-level (GPT-2 style) or
// SentencePiece style (HF tokenizer.json of Llama 2, Mistral, TinyLlama, Gemma).
//
// Vocabularies from HF tokenizer.json, GPT-2 encoder.json + vocab.bpe, or GGUF (tokenizer.ggml.model =
// "gpt2"). Encoding: the text is split at literal added/special tokens; each plain fragment is split by
// the pre-tokenizer (a sequence of regexes run with PCRE2 in Unicode mode, each splitting every piece
// the previous one produced, as HF's Split(..., "Isolated") and llama.cpp's regex lists); each piece is
// mapped byte -> printable character (GPT-2 bytes_to_unicode) and merged by rank (lowest first, leftmost
// on ties). Decoding maps the characters back to bytes.
//
// SentencePiece style (SpmStyle::on), as the Hugging Face tokenizers library runs such a tokenizer.json:
// each plain fragment is normalised (Prepend "▁" to a non-empty fragment, Replace " " by "▁"), or the
// Metaspace pre-tokenizer replaces the spaces and prepends "▁" (prepend_scheme always, first = only to
// the fragment at the start of the text, never) and optionally splits before each "▁"; the symbols are
// UTF-8 characters, and a character that is no token falls back to its <0xXX> byte tokens (byte_fallback)
// or <unk>. Decoding replaces "▁" by a space, turns byte tokens back into bytes and strips the leading
// space at the start of the text (Strip / Metaspace decoders).
//
// The generated binaries link PCRE2 statically (-Wl,-Bstatic -lpcre2-8 -Wl,-Bdynamic).
#pragma once
#ifndef LLMC_TOKENIZER_INTERNAL
#error "include llmc/tokenizer.hpp instead of its parts"
#endif

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <array>
#include <unordered_map>

namespace llmc {

namespace tok_detail {

// The GPT-2 pre-tokenizer regex (HF ByteLevel use_regex = true).
inline const char* kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// A compiled PCRE2 pattern (UTF + Unicode properties; invalid UTF-8 in the subject never matches).
class Regex {
 public:
  Regex(const std::string& pattern, const std::string& source) : pattern_(pattern) {
    int err = 0;
    PCRE2_SIZE off = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &err, &off, nullptr);
    if (!code_) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw Error("tokenizer '" + source + "': bad pre-tokenizer regex at offset " + std::to_string(off) + ": " +
                  reinterpret_cast<const char*>(msg) + " in /" + pattern + "/");
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // optional speed-up; falls back to the interpreter
  }
  ~Regex() {
    if (code_) pcre2_code_free(code_);
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls f(begin, end) for each non-empty match in s (left to right, non-overlapping).
  template <class F>
  void for_each_match(std::string_view s, F&& f) const {
    // per-call match data: encode() may run on several threads
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    if (!md) throw Error("tokenizer: out of memory for regex match data");
    size_t pos = 0;
    while (pos <= s.size()) {
      int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), pos, 0, md, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        pcre2_match_data_free(md);
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        throw Error(std::string("tokenizer: regex match failed: ") + reinterpret_cast<const char*>(msg));
      }
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      size_t b = ov[0], e = ov[1];
      if (e > b) {
        f(b, e);
        pos = e;
      } else {
        // empty match: step over one (possibly invalid) character
        if (b >= s.size()) break;
        size_t len = utf8_len(static_cast<unsigned char>(s[b]));
        pos = b + std::max<size_t>(1, std::min(len, s.size() - b));
      }
    }
    pcre2_match_data_free(md);
  }
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  pcre2_code* code_ = nullptr;
};

// GPT-2's reversible byte <-> printable character map.
struct ByteUnicode {
  std::array<std::string, 256> enc;                  // byte -> UTF-8 of its character
  std::unordered_map<uint32_t, unsigned char> dec;  // code point -> byte
  ByteUnicode() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      uint32_t cp = keep ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
      enc[b] = utf8_encode(cp);
      dec[cp] = static_cast<unsigned char>(b);
    }
  }
  static const ByteUnicode& get() {
    static const ByteUnicode t;
    return t;
  }
};

}  // namespace tok_detail

struct PreTokenizerStep {
  enum Behavior { Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous };
  std::string regex;
  Behavior behavior = Isolated;
  bool invert = false;
};

// What makes a tokenizer.json SentencePiece-like (see the top of this file). Read from its normalizer,
// pre_tokenizer, model and decoder.
struct SpmStyle {
  enum Prepend { never, first, always };
  struct Edit {  // one normalizer step: Prepend (from empty) or Replace (from -> to)
    std::string from, to;
    bool prepend = false;
  };
  bool on = false;
  std::vector<Edit> normalize;
  bool metaspace = false;  // Metaspace pre-tokenizer
  std::string replacement = "\xE2\x96\x81";
  Prepend scheme = always;
  bool byte_fallback = false, fuse_unk = false;
  // decoding
  std::vector<Edit> decode_replace;  // Replace decoders
  bool decode_bytes = false;          // ByteFallback decoder
  bool metaspace_decode = false;      // Metaspace decoder (its scheme in decode_scheme)
  Prepend decode_scheme = always;
  std::string strip;                  // Strip decoder: this character, up to strip_start times, at the start
  int strip_start = 0;
};

struct BpeVocab {
  std::vector<std::string> tokens;  // byte-level form ("Ġthe"); added tokens: their literal text
  std::vector<TokenType> types;     // Normal, Control (special), UserDefined (added, not special), ...
  std::vector<char> present;        // id has a token (HF vocabularies may have holes)
  std::vector<std::pair<std::string, std::string>> merges;  // rank order
  std::vector<PreTokenizerStep> pre;
  bool ignore_merges = false;    // a piece that is a whole token is taken as is (Llama 3)
  bool add_prefix_space = false;  // ByteLevel(add_prefix_space)
  bool add_bos = false;
  int bos = -1, eos = -1, unk = -1;
  SpmStyle spm;  // off: byte-level
};

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(BpeVocab v, const std::string& source) : v_(std::move(v)), source_(source) {
    const size_t n = v_.tokens.size();
    if (n == 0) throw Error("BPE vocabulary '" + source + "': no tokens");
    if (n > (1u << 30)) throw Error("BPE vocabulary '" + source + "': too many tokens");
    if (v_.types.empty()) v_.types.assign(n, TokenType::Normal);
    if (v_.present.empty()) v_.present.assign(n, 1);
    if (v_.types.size() != n || v_.present.size() != n)
      throw Error("BPE vocabulary '" + source + "': " + std::to_string(n) + " tokens but " +
                  std::to_string(v_.types.size()) + " token types");
    auto valid = [&](int id) { return id >= 0 && static_cast<size_t>(id) < n && v_.present[id] ? id : -1; };
    v_.bos = valid(v_.bos);
    v_.eos = valid(v_.eos);
    v_.unk = valid(v_.unk);
    const auto& bu = tok_detail::ByteUnicode::get();
    lookup_.reserve(n * 2);
    std::vector<tok_detail::SpecialMatcher::Entry> specials;
    for (size_t i = 0; i < n; ++i) {
      if (!v_.present[i]) continue;
      TokenType t = v_.types[i];
      if (t == TokenType::Control || t == TokenType::UserDefined) {
        if (!v_.tokens[i].empty()) specials.push_back({v_.tokens[i], static_cast<int>(i)});
      } else {
        lookup_.emplace(v_.tokens[i], static_cast<int>(i));
      }
    }
    specials_.build(std::move(specials));
    for (int b = 0; b < 256; ++b) {
      auto it = lookup_.find(v_.spm.on ? tok_detail::byte_piece_name(static_cast<unsigned char>(b)) : bu.enc[b]);
      byte_tok_[b] = it == lookup_.end() ? -1 : it->second;
    }
    merges_.reserve(v_.merges.size() * 2);
    for (size_t r = 0; r < v_.merges.size(); ++r) {
      const auto& [a, b] = v_.merges[r];
      auto ia = lookup_.find(a), ib = lookup_.find(b), ic = lookup_.find(a + b);
      if (ia == lookup_.end() || ib == lookup_.end() || ic == lookup_.end()) continue;  // unusable merge
      uint64_t key = (static_cast<uint64_t>(ia->second) << 32) | static_cast<uint32_t>(ib->second);
      merges_.emplace(key, std::make_pair(static_cast<int>(r), ic->second));  // first (lowest rank) wins
    }
    v_.merges.clear();
    v_.merges.shrink_to_fit();
    for (const auto& step : v_.pre) {
      regexes_.push_back(std::make_unique<tok_detail::Regex>(step.regex, source));
      steps_.push_back(step);
    }
  }

  int vocab_size() const override { return static_cast<int>(v_.tokens.size()); }
  int bos_id() const override { return v_.bos; }
  int eos_id() const override { return v_.eos; }
  std::string kind() const override { return "bpe"; }
  bool add_bos_default() const override { return v_.add_bos && v_.bos >= 0; }
  std::string piece(int id) const override {
    check(id);
    return v_.tokens[id];
  }

  std::vector<int> encode(std::string_view text, bool add_bos) const override { return encode_marked(text, {}, add_bos); }

  std::vector<int> encode_marked(std::string_view text, std::string_view from_data, bool add_bos) const override {
    std::vector<int> out;
    if (add_bos && v_.bos >= 0) out.push_back(v_.bos);
    bool first = true;
    for (const auto& frag : specials_.split(text, from_data)) {
      if (frag.id >= 0) {
        out.push_back(frag.id);
      } else if (v_.spm.on) {
        const std::string marked = mark_spaces(frag.text, frag.text.data() == text.data());
        for (const auto& piece : pre_tokenize(marked)) encode_word(piece, out);
      } else {
        std::string buf;
        std::string_view t = frag.text;
        if (v_.add_prefix_space && first && !t.empty() && t[0] != ' ') {
          buf = " ";
          buf += t;
          t = buf;
        }
        for (const auto& piece : pre_tokenize(t)) encode_word(piece, out);
      }
      first = false;
    }
    return out;
  }

  // The pieces the pre-tokenizer cuts a plain text fragment into (exposed for tests).
  std::vector<std::string_view> pre_tokenize(std::string_view text) const {
    std::vector<std::string_view> cur;
    if (text.empty()) return cur;
    cur.push_back(text);
    for (size_t k = 0; k < regexes_.size(); ++k) {
      std::vector<std::string_view> next;
      next.reserve(cur.size() * 2);
      const auto& step = steps_[k];
      for (std::string_view piece : cur) split(piece, *regexes_[k], step, next);
      cur.swap(next);
    }
    return cur;
  }

  std::string token_bytes(int prev, int id) const override {
    check(id);
    TokenType t = v_.types[id];
    if (t == TokenType::Control) return {};
    if (t == TokenType::UserDefined) return v_.tokens[id];
    if (v_.spm.on) return spm_token_text(prev, id);
    const auto& dec = tok_detail::ByteUnicode::get().dec;
    const std::string& s = v_.tokens[id];
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
      size_t start = i;
      int32_t cp = tok_detail::utf8_decode_at(s, i);
      auto it = cp >= 0 ? dec.find(static_cast<uint32_t>(cp)) : dec.end();
      if (it != dec.end())
        out += static_cast<char>(it->second);
      else
        out.append(s, start, i - start);  // not a byte character: keep it as text
    }
    return out;
  }

 private:
  void check(int id) const {
    tok_detail::check_id(id, vocab_size(), source_);
    if (!v_.present[id]) throw Error("tokenizer '" + source_ + "': token id " + std::to_string(id) + " is not assigned");
  }

  static void replace_all(std::string& s, const std::string& from, const std::string& to) {
    if (from.empty()) return;
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  }

  // A plain fragment as the SentencePiece-style normalizer and Metaspace pre-tokenizer leave it (spaces
  // marked with "▁", the dummy prefix prepended where the file says). at_text_start: the fragment begins
  // the text (no special token before it), which is what Metaspace's prepend_scheme "first" asks.
  std::string mark_spaces(std::string_view fragment, bool at_text_start) const {
    const SpmStyle& st = v_.spm;
    std::string s(fragment);
    for (const auto& e : st.normalize) {
      if (!e.prepend) replace_all(s, e.from, e.to);
      else if (!s.empty()) s.insert(0, e.to);
    }
    if (st.metaspace) {
      replace_all(s, " ", st.replacement);
      const bool prefixed = s.compare(0, st.replacement.size(), st.replacement) == 0;
      if (!prefixed && (st.scheme == SpmStyle::always || (st.scheme == SpmStyle::first && at_text_start)))
        s.insert(0, st.replacement);
    }
    return s;
  }

  // The text of a SentencePiece-style token: byte tokens are their byte, "▁" is a space, and at the start of
  // the text (nothing or only BOS before it) the decoders' Strip / Metaspace drop the dummy-prefix space.
  std::string spm_token_text(int prev, int id) const {
    const SpmStyle& st = v_.spm;
    const std::string& piece = v_.tokens[id];
    if (st.decode_bytes) {
      const int b = tok_detail::parse_byte_piece(piece);
      if (b >= 0) return std::string(1, static_cast<char>(b));
    }
    const bool at_start = prev < 0 || prev == v_.bos;
    std::string out = piece;
    for (const auto& e : st.decode_replace) replace_all(out, e.from, e.to);
    if (st.metaspace_decode)  // HF drops every "▁" of the first token, not only the leading one
      replace_all(out, st.replacement, at_start && st.decode_scheme != SpmStyle::never ? "" : " ");
    if (at_start && !st.strip.empty())
      for (int k = 0; k < st.strip_start && out.compare(0, st.strip.size(), st.strip) == 0; ++k) out.erase(0, st.strip.size());
    return out;
  }

  static void split(std::string_view s, const tok_detail::Regex& re, const PreTokenizerStep& step,
                    std::vector<std::string_view>& out) {
    // collect (begin, end, is_match) spans covering s
    struct Span {
      size_t b, e;
      bool m;
    };
    std::vector<Span> spans;
    size_t last = 0;
    re.for_each_match(s, [&](size_t b, size_t e) {
      if (b > last) spans.push_back({last, b, false});
      spans.push_back({b, e, true});
      last = e;
    });
    if (last < s.size()) spans.push_back({last, s.size(), false});
    if (step.invert)
      for (auto& sp : spans) sp.m = !sp.m;
    using B = PreTokenizerStep::Behavior;
    switch (step.behavior) {
      case B::Isolated:
        for (auto& sp : spans) out.push_back(s.substr(sp.b, sp.e - sp.b));
        break;
      case B::Removed:
        for (auto& sp : spans)
          if (!sp.m) out.push_back(s.substr(sp.b, sp.e - sp.b));
        break;
      case B::MergedWithPrevious: {
        // a delimiter is glued to the piece before it
        size_t start = 0;
        bool have = false;
        for (auto& sp : spans) {
          if (sp.m) {
            out.push_back(s.substr(start, sp.e - start));
            start = sp.e;
            have = false;
          } else {
            start = have ? start : sp.b;
            have = true;
          }
        }
        if (have) out.push_back(s.substr(start));
        break;
      }
      case B::MergedWithNext: {
        // as HF: a delimiter joins the piece after it when that piece is not a delimiter itself
        // ("▁a▁▁b" split at "▁" -> "▁a", "▁", "▁b")
        size_t start = 0;
        for (size_t k = 0; k < spans.size(); ++k) {
          if (spans[k].m && k + 1 < spans.size() && !spans[k + 1].m) continue;
          out.push_back(s.substr(start, spans[k].e - start));
          start = spans[k].e;
        }
        break;
      }
      case B::Contiguous: {
        size_t k = 0;
        while (k < spans.size()) {
          size_t j = k;
          while (j + 1 < spans.size() && spans[j + 1].m == spans[k].m && spans[k].m) ++j;
          out.push_back(s.substr(spans[k].b, spans[j].e - spans[k].b));
          k = j + 1;
        }
        break;
      }
    }
  }

  // The symbols BPE starts from: one per byte (byte-level), or one per UTF-8 character, a character that is
  // no token falling back to its byte tokens (SentencePiece style). -1: unknown.
  std::vector<int> initial_symbols(std::string_view word) const {
    std::vector<int> toks;
    toks.reserve(word.size());
    if (!v_.spm.on) {
      for (unsigned char c : word) toks.push_back(byte_tok_[c]);
      return toks;
    }
    for (std::string_view ch : tok_detail::utf8_chars(word)) {
      auto it = lookup_.find(ch);
      if (it != lookup_.end()) {
        toks.push_back(it->second);
        continue;
      }
      const bool bytes = v_.spm.byte_fallback &&
                         std::all_of(ch.begin(), ch.end(), [&](char c) { return byte_tok_[static_cast<unsigned char>(c)] >= 0; });
      if (!bytes) {
        toks.push_back(-1);
        continue;
      }
      for (unsigned char c : ch) toks.push_back(byte_tok_[c]);
    }
    return toks;
  }

  void encode_word(std::string_view word, std::vector<int>& out) const {
    if (word.empty()) return;
    const auto& bu = tok_detail::ByteUnicode::get();
    if (v_.ignore_merges) {
      std::string mapped;
      if (v_.spm.on) mapped = word;
      else
        for (unsigned char c : word) mapped += bu.enc[c];
      auto it = lookup_.find(mapped);
      if (it != lookup_.end()) {
        out.push_back(it->second);
        return;
      }
    }
    std::vector<int> toks = initial_symbols(word);
    const std::vector<int> nxt = tok_detail::merge_symbols(toks, [&](int l, int r, int& merged, double& priority) {
      if (l < 0 || r < 0) return false;  // a byte the vocabulary cannot express never merges
      const auto it = merges_.find((static_cast<uint64_t>(l) << 32) | static_cast<uint32_t>(r));
      if (it == merges_.end()) return false;
      priority = -static_cast<double>(it->second.first);  // the lowest rank merges first
      merged = it->second.second;
      return true;
    });
    bool unk_before = false;
    for (int i = 0; i >= 0; i = nxt[i]) {
      if (toks[i] >= 0) {
        out.push_back(toks[i]);
      } else if (v_.unk >= 0 && !(unk_before && v_.spm.fuse_unk)) {
        out.push_back(v_.unk);
      }  // else: a byte the vocabulary cannot express (e.g. 0xFE in Falcon) is dropped, as llama.cpp and HF do
      unk_before = toks[i] < 0;
    }
  }

  BpeVocab v_;
  std::string source_;
  tok_detail::StrMap<int> lookup_;                   // normal tokens
  std::unordered_map<uint64_t, std::pair<int, int>> merges_;      // (left id, right id) -> (rank, merged id)
  std::array<int, 256> byte_tok_{};
  std::vector<std::unique_ptr<tok_detail::Regex>> regexes_;
  std::vector<PreTokenizerStep> steps_;
  tok_detail::SpecialMatcher specials_;
};

namespace tok_detail {

// llama.cpp's pre-tokenizer regex lists, by the name in tokenizer.ggml.pre.
inline std::vector<std::string> gguf_pre_regexes(const std::string& pre, const std::string& source) {
  const std::string gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
  const std::string llama3 =
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  const std::string qwen2 =
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  auto is = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (pre == n) return true;
    return false;
  };
  if (pre.empty()) return {gpt2 + "|\\s+"};  // no pre-tokenizer named: plain GPT-2 (GPT-NeoX, MPT)
  if (is({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "dbrx",
          "smaug-bpe", "chatglm-bpe"}))
    return {llama3};
  if (is({"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2", "hunyuan", "grok-2"})) return {qwen2};
  if (is({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de",
          "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "trillion", "granite-docling"}))
    return {gpt2};
  if (is({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}))
    return {"\\p{N}", gpt2};
  if (pre == "falcon") return {"[\\p{P}\\$\\+<=>\\^~\\|`]+", gpt2, "[0-9][0-9][0-9]"};
  if (pre == "deepseek-coder")
    return {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
            "\\p{N}"};
  if (pre == "deepseek-llm")
    return {"[\\r\\n]",
            "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"
            "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"
            "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"
            "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
            "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"
            "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-"
            "\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}"
            "\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}"
            "\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}"
            "\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}"
            "\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}"
            "\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}"
            "\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}"
            "\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-"
            "\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
            "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+", "\\s+$", "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}+"};
  if (pre == "deepseek-v3")
    return {"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
            "?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
  if (is({"poro-chat", "bloom", "gpt3-finnish"})) return {" ?[^(\\s|.,!?…。，、।۔،)]+"};
  if (pre == "viking") return {" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"};
  if (pre == "seed-coder")
    return {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| "
            "?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
  if (is({"tekken"}))
    return {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}"
            "\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/"
            "]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
  if (is({"gpt-4o", "minimax-m2"}))
    return {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'"
            "m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'"
            "re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
  if (pre == "default")
    return {"[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
  throw Error("GGUF '" + source + "': unknown pre-tokenizer '" + pre + "' (tokenizer.ggml.pre)");
}

}  // namespace tok_detail
}  // namespace llmc
