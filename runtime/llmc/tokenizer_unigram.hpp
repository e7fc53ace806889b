// Part of llmc/tokenizer.hpp (include that one): SentencePiece Unigram (T5, ALBERT, XLNet, mT5, ...).
//
// Vocabulary (pieces, scores, types) and normaliser from a SentencePiece .model of unigram type, from
// GGUF metadata (tokenizer.ggml.model = "t5") or from a tokenizer.json whose model is Unigram.
// Encoding, as SentencePiece (normalizer.cc, unigram_model.cc EncodeOptimized):
//   normalise: at each position the longest rule of the model's precompiled charsmap (a darts-clone double
//     array over UTF-8 bytes + the replacement strings; this is how nmt_nfkc / nfkc / nmt_nfkc_cf ship, so
//     the full NFKC the model was trained with is applied, not a subset); user-defined pieces are kept as
//     they are; bytes that are not UTF-8 become U+FFFD; then, as the normalizer_spec says, leading,
//     trailing and repeated spaces are removed, "▁" is put in front (add_dummy_prefix) and spaces become "▁";
//   segment: Viterbi over all vocabulary pieces that match at each character (normal and user-defined
//     pieces; user-defined ones get a bonus so they always win), scores summed as SentencePiece sums them;
//     a character no piece covers is <unk> with score (lowest piece score - 10); runs of <unk> are merged;
//   byte fallback: with trainer_spec.byte_fallback an <unk> becomes the <0xXX> pieces of its UTF-8 bytes.
// Control pieces (<s>, </s>) written in the text are plain text, as in SentencePiece (a tokenizer.json's
// special added tokens are matched literally, as HF does).
// Decoding: "▁" -> ' ', the first piece of the text loses its leading space when the model adds the dummy
// prefix (or removes extra whitespace), control pieces give nothing, <unk> gives " ⁇ " (trainer_spec.unk_surface).
#pragma once
#ifndef LLMC_TOKENIZER_INTERNAL
#error "include llmc/tokenizer.hpp instead of its parts"
#endif

#include <cfloat>
#include <cmath>
#include <functional>
#include <map>

namespace llmc {
namespace tok_detail {

// SentencePiece's precompiled charsmap: u32 trie size, darts-clone double array (u32 units), then the
// NUL-terminated replacement strings that the trie's values point into. Every access is bounds-checked:
// a corrupt map throws llmc::Error naming the file, it never reads outside the blob.
class PrecompiledCharsmap {
 public:
  PrecompiledCharsmap() = default;
  PrecompiledCharsmap(const std::string& blob, const std::string& source) : source_(source) {
    if (blob.empty()) return;
    if (blob.size() < 8) fail("shorter than its header (" + std::to_string(blob.size()) + " bytes)");
    uint32_t trie_bytes;
    std::memcpy(&trie_bytes, blob.data(), 4);
    if (trie_bytes % 4 != 0 || trie_bytes == 0 || trie_bytes > blob.size() - 4)
      fail("trie size " + std::to_string(trie_bytes) + " does not fit the " + std::to_string(blob.size()) + " bytes");
    units_.resize(trie_bytes / 4);
    std::memcpy(units_.data(), blob.data() + 4, trie_bytes);
    strings_ = blob.substr(4 + static_cast<size_t>(trie_bytes));
  }
  bool empty() const { return units_.empty(); }

  // The longest rule matching a prefix of s: returns the bytes it consumes (0 if none) and sets out.
  size_t longest_match(std::string_view s, std::string_view& out) const {
    if (units_.empty()) return 0;
    size_t best_len = 0;
    uint32_t best_value = 0;
    uint32_t pos = 0;
    uint32_t unit = at(pos);
    pos ^= offset(unit);
    for (size_t i = 0; i < s.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      pos ^= c;
      unit = at(pos);
      if (label(unit) != c) break;
      pos ^= offset(unit);
      if (has_leaf(unit)) {
        best_len = i + 1;
        best_value = value(at(pos));
      }
    }
    if (best_len == 0) return 0;
    if (best_value >= strings_.size()) fail("rule points at offset " + std::to_string(best_value) + " of " +
                                            std::to_string(strings_.size()) + " bytes of replacements");
    size_t end = strings_.find('\0', best_value);
    if (end == std::string::npos) fail("replacement at offset " + std::to_string(best_value) + " is not terminated");
    out = std::string_view(strings_).substr(best_value, end - best_value);
    return best_len;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("SentencePiece normaliser of '" + source_ + "': corrupt precompiled_charsmap (" + what + ")");
  }
  uint32_t at(uint32_t pos) const {
    if (pos >= units_.size()) fail("trie index " + std::to_string(pos) + " past its " + std::to_string(units_.size()) + " units");
    return units_[pos];
  }
  // darts-clone unit layout
  static bool has_leaf(uint32_t u) { return (u >> 8) & 1; }
  static uint32_t value(uint32_t u) { return u & ((1u << 31) - 1); }
  static uint32_t label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
  static uint32_t offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

  std::vector<uint32_t> units_;
  std::string strings_;
  std::string source_;
};

// Byte trie of the pieces the Viterbi search may use: node -> child per byte, value = piece id or -1.
class PieceTrie {
 public:
  void insert(std::string_view s, int id) {
    int node = 0;
    for (unsigned char c : s) {
      auto [it, added] = children_.try_emplace(key(node, c), static_cast<int>(values_.size()));
      if (added) values_.push_back(-1);
      node = it->second;
    }
    if (values_[node] < 0) values_[node] = id;
  }
  int child(int node, unsigned char c) const {
    auto it = children_.find(key(node, c));
    return it == children_.end() ? -1 : it->second;
  }
  int value(int node) const { return values_[node]; }

 private:
  static uint64_t key(int node, unsigned char c) { return (static_cast<uint64_t>(node) << 8) | c; }
  std::unordered_map<uint64_t, int> children_;
  std::vector<int> values_ = {-1};  // node 0 is the root
};

}  // namespace tok_detail

struct UnigramVocab {
  std::vector<std::string> pieces;  // with U+2581 for spaces
  std::vector<float> scores;
  std::vector<TokenType> types;
  int bos = -1, eos = -1;  // -1: none (<unk> is the piece of type Unknown)
  bool byte_fallback = false;
  std::string precompiled_charsmap;  // empty: no character normalisation (the "identity" rule)
  bool add_dummy_prefix = true, remove_extra_whitespaces = true, escape_whitespaces = true;
  std::string unk_surface = " \xE2\x81\x87 ";
  bool match_control_literally = false;  // tokenizer.json: special added tokens in the text are tokens
};

class UnigramTokenizer final : public Tokenizer {
 public:
  UnigramTokenizer(UnigramVocab v, const std::string& source)
      : v_(std::move(v)), source_(source), charsmap_(v_.precompiled_charsmap, source) {
    const size_t n = v_.pieces.size();
    if (n == 0) throw Error("Unigram vocabulary '" + source + "': no pieces");
    if (n > (1u << 30)) throw Error("Unigram vocabulary '" + source + "': too many pieces");
    if (v_.scores.size() != n || v_.types.size() != n)
      throw Error("Unigram vocabulary '" + source + "': " + std::to_string(n) + " pieces but " +
                  std::to_string(v_.scores.size()) + " scores and " + std::to_string(v_.types.size()) + " types");
    auto control = [&](int id) { return id >= 0 && static_cast<size_t>(id) < n && v_.types[id] == TokenType::Control ? id : -1; };
    v_.bos = control(v_.bos);
    v_.eos = control(v_.eos);
    byte_tok_.fill(-1);
    tok_detail::StrMap<int> seen;
    std::vector<tok_detail::SpecialMatcher::Entry> literal, control_literal;
    for (size_t i = 0; i < n; ++i) {
      const std::string& p = v_.pieces[i];
      const TokenType t = v_.types[i];
      const int id = static_cast<int>(i);
      if (p.empty()) throw Error("Unigram vocabulary '" + source + "': piece " + std::to_string(i) + " is empty");
      if (!seen.emplace(p, id).second)
        throw Error("Unigram vocabulary '" + source + "': piece '" + p + "' is defined twice (ids " +
                    std::to_string(seen[p]) + " and " + std::to_string(i) + ")");
      if (!std::isfinite(v_.scores[i])) throw Error("Unigram vocabulary '" + source + "': score of piece '" + p + "' is not finite");
      if (t == TokenType::Normal) {
        min_score_ = std::min(min_score_, v_.scores[i]);
        max_score_ = std::max(max_score_, v_.scores[i]);
      }
      if (t == TokenType::Normal || t == TokenType::UserDefined) pieces_.insert(p, id);
      if (t == TokenType::UserDefined) literal.push_back({p, id});
      if (t == TokenType::Control && v_.match_control_literally) control_literal.push_back({p, id});
      if (t == TokenType::Unknown && unk_ < 0) unk_ = id;
      int b = tok_detail::parse_byte_piece(p);
      if (t == TokenType::Byte && b >= 0) byte_tok_[b] = id;
    }
    if (unk_ < 0) throw Error("Unigram vocabulary '" + source + "': no piece of type UNKNOWN (<unk>)");
    user_defined_.build(std::move(literal));
    specials_.build(std::move(control_literal));
  }

  // Parses a SentencePiece ModelProto of unigram type; nullptr if its model type is another one.
  static std::unique_ptr<UnigramTokenizer> from_model_proto(const std::string& data, const std::string& source);

  int vocab_size() const override { return static_cast<int>(v_.pieces.size()); }
  int bos_id() const override { return v_.bos; }
  int eos_id() const override { return v_.eos; }
  std::string kind() const override { return "unigram"; }
  std::string piece(int id) const override {
    tok_detail::check_id(id, vocab_size(), source_);
    return v_.pieces[id];
  }

  std::vector<int> encode(std::string_view text, bool add_bos) const override {
    std::vector<int> out;
    if (add_bos && v_.bos >= 0) out.push_back(v_.bos);
    for (const auto& frag : specials_.split(text)) {
      if (frag.id >= 0)
        out.push_back(frag.id);
      else
        encode_normalized(normalize(frag.text), out);
    }
    return out;
  }

  std::string token_bytes(int prev, int id) const override {
    tok_detail::check_id(id, vocab_size(), source_);
    const TokenType t = v_.types[id];
    if (t == TokenType::Control) return {};
    if (t == TokenType::Unknown) return v_.unk_surface;
    if (t == TokenType::Byte) {
      int b = tok_detail::parse_byte_piece(v_.pieces[id]);
      if (b >= 0) return std::string(1, static_cast<char>(b));
    }
    static const std::string kSpace = "\xE2\x96\x81";
    std::string_view p = v_.pieces[id];
    const bool at_start = prev < 0 || prev >= vocab_size() || v_.types[prev] == TokenType::Control;
    if (at_start && (v_.add_dummy_prefix || v_.remove_extra_whitespaces) && p.substr(0, 3) == kSpace) p.remove_prefix(3);
    std::string out;
    for (size_t i = 0; i < p.size();) {
      if (p.compare(i, 3, kSpace) == 0) {
        out += ' ';
        i += 3;
      } else {
        out += p[i++];
      }
    }
    return out;
  }

  // SentencePiece's normaliser (see the top of this file); exposed for tests.
  std::string normalize(std::string_view in) const {
    static const std::string kSpace = "\xE2\x96\x81";
    size_t i = 0;
    std::string repl;
    auto next = [&](std::string_view& piece) -> size_t {  // normalises one step at in[i]
      std::string_view rest = in.substr(i);
      for (int k = user_defined_.first_index[static_cast<unsigned char>(rest[0])];
           k < user_defined_.first_index[static_cast<unsigned char>(rest[0]) + 1]; ++k) {
        const auto& e = user_defined_.entries[k].text;  // longest first
        if (rest.substr(0, e.size()) == e) {
          piece = rest.substr(0, e.size());
          return e.size();
        }
      }
      if (size_t len = charsmap_.longest_match(rest, piece)) return len;
      size_t j = 0;
      if (tok_detail::utf8_decode_at(rest, j) < 0 || j == 0) {
        piece = "\xEF\xBF\xBD";
        return 1;
      }
      piece = rest.substr(0, j);
      return j;
    };
    std::string_view piece;
    if (v_.remove_extra_whitespaces) {  // leading whitespace
      while (i < in.size()) {
        size_t len = next(piece);
        if (piece != " ") break;
        i += len;
      }
    }
    std::string out;
    if (i >= in.size()) return out;
    if (v_.add_dummy_prefix) out += v_.escape_whitespaces ? kSpace : std::string(" ");
    bool prev_space = v_.remove_extra_whitespaces;
    while (i < in.size()) {
      i += next(piece);
      if (prev_space)
        while (!piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
      if (!piece.empty()) {
        for (char c : piece) {
          if (c == ' ' && v_.escape_whitespaces)
            out += kSpace;
          else
            out += c;
        }
        prev_space = piece.back() == ' ';
      }
      if (!v_.remove_extra_whitespaces) prev_space = false;
    }
    if (v_.remove_extra_whitespaces) {  // trailing whitespace
      const std::string space = v_.escape_whitespaces ? kSpace : std::string(" ");
      while (out.size() >= space.size() && out.compare(out.size() - space.size(), space.size(), space) == 0)
        out.resize(out.size() - space.size());
    }
    return out;
  }

 private:
  // Viterbi over the pieces that match at each character position (SentencePiece's EncodeOptimized,
  // including its arithmetic: a piece's score and the path score are summed in double, stored as float).
  void encode_normalized(const std::string& s, std::vector<int>& out) const {
    struct Best {
      int id = -1;
      float score = 0;
      int start = -1;
    };
    const size_t n = s.size();
    if (n == 0) return;
    const float unk_score = min_score_ - 10.0f;
    std::vector<Best> best(n + 1);
    for (size_t start = 0; start < n;) {
      const float here = best[start].score;
      const size_t char_len = std::min(one_char_len(static_cast<unsigned char>(s[start])), n - start);
      bool covered = false;
      int node = 0;
      for (size_t k = start; k < n; ++k) {
        node = pieces_.child(node, static_cast<unsigned char>(s[k]));
        if (node < 0) break;
        const int id = pieces_.value(node);
        if (id < 0) continue;
        const size_t len = k + 1 - start;
        const double score = v_.types[id] == TokenType::UserDefined ? static_cast<float>(len) * max_score_ - 0.1
                                                                     : static_cast<double>(v_.scores[id]);
        const double candidate = score + here;
        Best& target = best[k + 1];
        if (target.start < 0 || candidate > target.score) target = {id, static_cast<float>(candidate), static_cast<int>(start)};
        if (len == char_len) covered = true;
      }
      if (!covered) {
        const float candidate = unk_score + here;
        Best& target = best[start + char_len];
        if (target.start < 0 || candidate > target.score) target = {unk_, candidate, static_cast<int>(start)};
      }
      start += char_len;
    }
    // back from the end; runs of <unk> become one
    std::vector<std::pair<size_t, size_t>> spans;  // [start, end) per token, last first
    std::vector<int> ids;
    for (size_t end = n; end > 0;) {
      const Best& b = best[end];
      const size_t start = static_cast<size_t>(b.start);
      if (b.id == unk_ && !ids.empty() && ids.back() == unk_)
        spans.back().first = start;
      else {
        ids.push_back(b.id);
        spans.push_back({start, end});
      }
      end = start;
    }
    for (size_t k = ids.size(); k-- > 0;) {
      if (ids[k] != unk_ || !v_.byte_fallback) {
        out.push_back(ids[k]);
        continue;
      }
      for (size_t i = spans[k].first; i < spans[k].second; ++i) {
        const int b = byte_tok_[static_cast<unsigned char>(s[i])];
        out.push_back(b >= 0 ? b : unk_);
      }
    }
  }

  // SentencePiece's OneCharLen: the length a UTF-8 lead byte announces (1 for continuation bytes).
  static size_t one_char_len(unsigned char c) { return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

  UnigramVocab v_;
  std::string source_;
  tok_detail::PrecompiledCharsmap charsmap_;
  tok_detail::PieceTrie pieces_;
  tok_detail::SpecialMatcher user_defined_;  // kept as they are by the normaliser
  tok_detail::SpecialMatcher specials_;       // control pieces matched in the text (tokenizer.json only)
  std::array<int, 256> byte_tok_;
  int unk_ = -1;
  float min_score_ = FLT_MAX, max_score_ = FLT_MIN;  // over normal pieces, as SentencePiece (FLT_MIN: sic)
};

inline std::unique_ptr<UnigramTokenizer> UnigramTokenizer::from_model_proto(const std::string& data, const std::string& source) {
  using tok_detail::Pb;
  const auto* begin = reinterpret_cast<const unsigned char*>(data.data());
  Pb top{begin, begin + data.size(), &source};
  UnigramVocab v;
  v.bos = 1;
  v.eos = 2;
  int model_type = 1;  // UNIGRAM is the protobuf default
  bool ws_as_suffix = false;
  std::string bad_type;  // reported only for a unigram model (the BPE reader has its own rules)
  auto str = [](Pb s) { return std::string(reinterpret_cast<const char*>(s.p), static_cast<size_t>(s.end - s.p)); };
  while (!top.done()) {
    const uint64_t key = top.varint();
    const uint32_t field = static_cast<uint32_t>(key >> 3), wire = static_cast<uint32_t>(key & 7);
    if (field == 1 && wire == 2) {  // SentencePiece {piece = 1, score = 2, type = 3}
      Pb m = top.sub();
      std::string piece;
      float score = 0;
      int type = 1;
      while (!m.done()) {
        const uint64_t k = m.varint();
        const uint32_t f = static_cast<uint32_t>(k >> 3), w = static_cast<uint32_t>(k & 7);
        if (f == 1 && w == 2) piece = str(m.sub());
        else if (f == 2 && w == 5) {
          const uint32_t bits = m.fixed32();
          std::memcpy(&score, &bits, 4);
        } else if (f == 3 && w == 0) type = static_cast<int>(m.varint());
        else m.skip(w);
      }
      if ((type < 1 || type > 6) && bad_type.empty()) bad_type = "piece '" + piece + "' has type " + std::to_string(type);
      v.pieces.push_back(std::move(piece));
      v.scores.push_back(score);
      v.types.push_back(static_cast<TokenType>(type));
    } else if (field == 2 && wire == 2) {  // TrainerSpec
      Pb m = top.sub();
      while (!m.done()) {
        const uint64_t k = m.varint();
        const uint32_t f = static_cast<uint32_t>(k >> 3), w = static_cast<uint32_t>(k & 7);
        if (f == 44 && w == 2) {
          v.unk_surface = str(m.sub());
          continue;
        }
        if (w != 0) {
          m.skip(w);
          continue;
        }
        const int64_t x = static_cast<int64_t>(m.varint());
        if (f == 3) model_type = static_cast<int>(x);
        else if (f == 24) ws_as_suffix = x != 0;
        else if (f == 35) v.byte_fallback = x != 0;
        else if (f == 41) v.bos = static_cast<int>(x);
        else if (f == 42) v.eos = static_cast<int>(x);
      }
    } else if (field == 3 && wire == 2) {  // NormalizerSpec
      Pb m = top.sub();
      while (!m.done()) {
        const uint64_t k = m.varint();
        const uint32_t f = static_cast<uint32_t>(k >> 3), w = static_cast<uint32_t>(k & 7);
        if (f == 2 && w == 2) {
          v.precompiled_charsmap = str(m.sub());
          continue;
        }
        if (w != 0) {
          m.skip(w);
          continue;
        }
        const bool x = m.varint() != 0;
        if (f == 3) v.add_dummy_prefix = x;
        else if (f == 4) v.remove_extra_whitespaces = x;
        else if (f == 5) v.escape_whitespaces = x;
      }
    } else {
      top.skip(wire);
    }
  }
  if (model_type != 1) return nullptr;
  if (!bad_type.empty()) throw Error("SentencePiece model '" + source + "': " + bad_type + " (types are 1..6)");
  if (v.pieces.empty()) throw Error("SentencePiece model '" + source + "': no pieces (not a tokenizer.model?)");
  if (ws_as_suffix)
    throw Error("SentencePiece model '" + source + "': treat_whitespace_as_suffix is not supported");
  return std::make_unique<UnigramTokenizer>(std::move(v), source);
}

namespace tok_detail {

inline std::string base64_decode(std::string_view in, const std::string& what) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = val(c);
    if (v < 0) throw Error(what + ": invalid base64 character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// GGUF tokenizer.ggml.model = "t5" (llama.cpp's conversion of a SentencePiece unigram model).
inline std::unique_ptr<Tokenizer> load_unigram_gguf(GgufReader& r, std::map<std::string, GgufValue>& kv,
                                                    const std::string& path) {
  auto get = [&](const char* k) -> GgufValue* {
    auto it = kv.find(k);
    return it == kv.end() ? nullptr : &it->second;
  };
  auto numbers = [&](const char* k, size_t n) -> const std::vector<double>& {
    auto* v = get(k);
    if (!v || v->type != 9 || v->item_type == 8 || v->nums.size() != n)
      r.fail(std::string(k) + " missing or not " + std::to_string(n) + " numbers");
    return v->nums;
  };
  auto flag = [&](const char* k, bool dflt) {
    auto* v = get(k);
    if (v && v->type != 7) r.fail(std::string(k) + " is not a bool");
    return v ? v->b : dflt;
  };
  auto id = [&](const char* k) {
    auto* v = get(k);
    return v && v->type != 8 && v->type != 9 && v->i >= 0 && v->i < (1 << 30) ? static_cast<int>(v->i) : -1;
  };
  UnigramVocab v;
  v.pieces = std::move(get("tokenizer.ggml.tokens")->strs);
  const size_t n = v.pieces.size();
  for (double d : numbers("tokenizer.ggml.scores", n)) {
    if (!(std::fabs(d) <= FLT_MAX)) r.fail("tokenizer.ggml.scores holds a value that is not a finite float");
    v.scores.push_back(static_cast<float>(d));
  }
  for (double d : numbers("tokenizer.ggml.token_type", n)) {
    if (!(d >= 1 && d <= 6)) r.fail("tokenizer.ggml.token_type holds " + std::to_string(d) + " (types are 1..6)");
    v.types.push_back(static_cast<TokenType>(static_cast<int>(d)));
    v.byte_fallback = v.byte_fallback || v.types.back() == TokenType::Byte;  // byte pieces exist only with it
  }
  if (auto* m = get("tokenizer.ggml.precompiled_charsmap")) {
    if (m->type != 9 || m->item_type == 8) r.fail("tokenizer.ggml.precompiled_charsmap is not a byte array");
    v.precompiled_charsmap.reserve(m->nums.size());
    for (double d : m->nums) {
      if (!(d >= -128 && d <= 255)) r.fail("tokenizer.ggml.precompiled_charsmap holds " + std::to_string(d) + ", not a byte");
      v.precompiled_charsmap += static_cast<char>(static_cast<int>(d) & 0xFF);
    }
  }
  v.add_dummy_prefix = flag("tokenizer.ggml.add_space_prefix", true);
  v.remove_extra_whitespaces = flag("tokenizer.ggml.remove_extra_whitespaces", true);
  v.bos = flag("tokenizer.ggml.add_bos_token", false) ? id("tokenizer.ggml.bos_token_id") : -1;
  v.eos = id("tokenizer.ggml.eos_token_id");
  return std::make_unique<UnigramTokenizer>(std::move(v), path);
}

// tokenizer.json with model.type = "Unigram" (HF's conversion of a SentencePiece unigram model). Its
// normaliser and pre-tokeniser are mapped onto SentencePiece's settings: Precompiled -> the charsmap;
// WhitespaceSplit, Strip or Replace(" {2,}") -> extra whitespace removed; Metaspace -> the "▁" dummy
// prefix unless prepend_scheme is "never" (add_prefix_space = false). Anything else is refused.
inline std::unique_ptr<Tokenizer> load_unigram_json(const std::string& path, const nlohmann::json& j) {
  auto fail = [&](const std::string& what) -> Error { return Error("tokenizer.json '" + path + "': " + what); };
  const auto& model = j.at("model");
  const auto& vocab = model.at("vocab");
  if (!vocab.is_array() || vocab.empty() || vocab.size() > (1u << 24)) throw fail("model.vocab is not a non-empty list");
  UnigramVocab v;
  for (const auto& e : vocab) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
      throw fail("model.vocab entry " + std::to_string(v.pieces.size()) + " is not [piece, score]");
    v.pieces.push_back(e[0].get<std::string>());
    v.scores.push_back(e[1].get<float>());
    v.types.push_back(TokenType::Normal);
  }
  const size_t n = v.pieces.size();
  v.byte_fallback = model.value("byte_fallback", false);
  if (v.byte_fallback)
    for (size_t i = 0; i < n; ++i)
      if (parse_byte_piece(v.pieces[i]) >= 0) v.types[i] = TokenType::Byte;
  for (const auto& a : j.value("added_tokens", nlohmann::json::array())) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer())
      throw fail("an added_tokens entry has no integer id");
    int64_t id = a["id"].get<int64_t>();
    if (id < 0 || static_cast<uint64_t>(id) >= n) throw fail("added token id " + std::to_string(id) + " is not in model.vocab");
    v.types[id] = a.value("special", false) ? TokenType::Control : TokenType::UserDefined;
  }
  if (!model.contains("unk_id") || !model["unk_id"].is_number_integer() || model["unk_id"].get<int64_t>() < 0 ||
      model["unk_id"].get<uint64_t>() >= n)
    throw fail("model.unk_id missing or not one of the " + std::to_string(n) + " pieces");
  v.types[model["unk_id"].get<size_t>()] = TokenType::Unknown;
  v.add_dummy_prefix = false;
  v.remove_extra_whitespaces = false;
  std::function<void(const nlohmann::json&)> normalizer = [&](const nlohmann::json& x) {
    if (x.is_null()) return;
    const std::string t = x.is_object() ? x.value("type", std::string()) : std::string();
    if (t == "Sequence") {
      for (const auto& y : x.at("normalizers")) normalizer(y);
    } else if (t == "Precompiled") {
      const auto& cm = x.value("precompiled_charsmap", nlohmann::json());
      if (cm.is_string()) v.precompiled_charsmap = base64_decode(cm.get<std::string>(), "tokenizer.json '" + path + "': precompiled_charsmap");
    } else if (t == "Strip" || (t == "Replace" && x.value("pattern", nlohmann::json()).value("Regex", std::string()) == " {2,}")) {
      v.remove_extra_whitespaces = true;
    } else {
      throw fail("Unigram with normalizer '" + (t.empty() ? x.dump() : t) + "' is not supported");
    }
  };
  normalizer(j.value("normalizer", nlohmann::json()));
  std::function<void(const nlohmann::json&)> pre = [&](const nlohmann::json& x) {
    if (x.is_null()) return;
    const std::string t = x.is_object() ? x.value("type", std::string()) : std::string();
    if (t == "Sequence") {
      for (const auto& y : x.at("pretokenizers")) pre(y);
    } else if (t == "WhitespaceSplit") {
      v.remove_extra_whitespaces = true;
    } else if (t == "Metaspace") {
      if (x.value("replacement", std::string("\xE2\x96\x81")) != "\xE2\x96\x81") throw fail("Metaspace replacement is not U+2581");
      v.add_dummy_prefix = x.contains("prepend_scheme") ? x["prepend_scheme"] != "never" : x.value("add_prefix_space", true);
    } else {
      throw fail("Unigram with pre_tokenizer '" + (t.empty() ? x.dump() : t) + "' is not supported");
    }
  };
  pre(j.value("pre_tokenizer", nlohmann::json()));
  for (size_t i = 0; i < n; ++i) {
    if (v.types[i] != TokenType::Control) continue;
    if (v.pieces[i] == "<s>") v.bos = static_cast<int>(i);
    if (v.pieces[i] == "</s>") v.eos = static_cast<int>(i);
  }
  v.match_control_literally = true;
  return std::make_unique<UnigramTokenizer>(std::move(v), path);
}

}  // namespace tok_detail
}  // namespace llmc
