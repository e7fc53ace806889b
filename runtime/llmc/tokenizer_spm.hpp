// Part of llmc/tokenizer.hpp (include that one): SentencePiece BPE with byte fallback.
//
// Vocabulary from a SentencePiece tokenizer.model (ModelProto, parsed by hand here) or from GGUF
// metadata (tokenizer.ggml.model = "llama"). Encoding (as SentencePiece's BPE model and llama.cpp's
// llm_tokenizer_spm): the text is split at literal control/user-defined tokens; each plain fragment gets
// the dummy-prefix space (at the start and after a special token), spaces become U+2581, the fragment is
// cut into UTF-8 characters, and adjacent symbols are merged, highest score of the merged piece first
// (leftmost on ties), while the merged piece is in the vocabulary. Symbols that are not pieces are
// re-split along their merge history, and what remains falls back to <0xXX> byte tokens (or <unk>).
#pragma once
#ifndef LLMC_TOKENIZER_INTERNAL
#error "include llmc/tokenizer.hpp instead of its parts"
#endif

#include <array>
#include <queue>
#include <unordered_map>

namespace llmc {

// Token types, as SentencePiece and GGUF number them.
enum class TokenType : int32_t { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct SpmVocab {
  std::vector<std::string> pieces;  // with U+2581 for spaces
  std::vector<float> scores;
  std::vector<TokenType> types;
  int bos = -1, eos = -1, unk = -1;
  bool add_space_prefix = true;
  bool remove_extra_whitespaces = false;
  bool add_bos = true;
};

class SpmTokenizer final : public Tokenizer {
 public:
  SpmTokenizer(SpmVocab v, const std::string& source) : v_(std::move(v)), source_(source) {
    const size_t n = v_.pieces.size();
    if (n == 0) throw Error("SentencePiece vocabulary '" + source + "': no tokens");
    if (n > (1u << 30)) throw Error("SentencePiece vocabulary '" + source + "': too many tokens");
    if (v_.scores.empty()) v_.scores.assign(n, 0.0f);
    if (v_.types.empty()) v_.types.assign(n, TokenType::Normal);
    if (v_.scores.size() != n || v_.types.size() != n)
      throw Error("SentencePiece vocabulary '" + source + "': " + std::to_string(n) + " tokens but " +
                  std::to_string(v_.scores.size()) + " scores and " + std::to_string(v_.types.size()) + " types");
    auto valid = [&](int id) { return id >= 0 && static_cast<size_t>(id) < n ? id : -1; };
    v_.bos = valid(v_.bos);
    v_.eos = valid(v_.eos);
    v_.unk = valid(v_.unk);
    byte_tok_.fill(-1);
    std::vector<tok_detail::SpecialMatcher::Entry> specials;
    is_special_.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      const std::string& p = v_.pieces[i];
      TokenType t = v_.types[i];
      int b = tok_detail::parse_byte_piece(p);
      if (b >= 0 && (t == TokenType::Byte || t == TokenType::Undefined) && byte_tok_[b] < 0) byte_tok_[b] = static_cast<int>(i);
      if (t == TokenType::Normal || t == TokenType::UserDefined || t == TokenType::Undefined)
        lookup_.emplace(p, static_cast<int>(i));
      if ((t == TokenType::Control || t == TokenType::UserDefined) && !p.empty()) {
        specials.push_back({p, static_cast<int>(i)});
        is_special_[i] = 1;
      }
      if (t == TokenType::Unknown && v_.unk < 0) v_.unk = static_cast<int>(i);
    }
    specials_.build(std::move(specials));
  }

  // Parses a SentencePiece ModelProto (tokenizer.model).
  static std::unique_ptr<SpmTokenizer> from_model_proto(const std::string& data, const std::string& source);

  int vocab_size() const override { return static_cast<int>(v_.pieces.size()); }
  int bos_id() const override { return v_.bos; }
  int eos_id() const override { return v_.eos; }
  std::string kind() const override { return "spm"; }
  bool add_bos_default() const override { return v_.add_bos && v_.bos >= 0; }
  std::string piece(int id) const override {
    tok_detail::check_id(id, vocab_size(), source_);
    return v_.pieces[id];
  }
  const SpmVocab& vocab() const { return v_; }

  std::vector<int> encode(std::string_view text, bool add_bos) const override { return encode_marked(text, {}, add_bos); }

  std::vector<int> encode_marked(std::string_view text, std::string_view from_data, bool add_bos) const override {
    std::vector<int> out;
    if (add_bos && v_.bos >= 0) out.push_back(v_.bos);
    bool prev_special = true;
    for (const auto& frag : specials_.split(text, from_data)) {
      if (frag.id >= 0) {
        out.push_back(frag.id);
        prev_special = true;
        continue;
      }
      std::string s;
      std::string_view body = frag.text;
      std::string collapsed;
      if (v_.remove_extra_whitespaces) {
        collapsed = collapse_spaces(body);
        body = collapsed;
        if (body.empty()) continue;
      }
      if (v_.add_space_prefix && prev_special) s = "\xE2\x96\x81";
      for (char c : body) {
        if (c == ' ')
          s += "\xE2\x96\x81";
        else
          s += c;
      }
      encode_fragment(s, out);
      prev_special = false;
    }
    return out;
  }

  std::string token_bytes(int prev, int id) const override {
    tok_detail::check_id(id, vocab_size(), source_);
    TokenType t = v_.types[id];
    if (t == TokenType::Control) return {};
    if (t == TokenType::Byte) {
      int b = tok_detail::parse_byte_piece(v_.pieces[id]);
      if (b >= 0) return std::string(1, static_cast<char>(b));
    }
    std::string out;
    const std::string& p = v_.pieces[id];
    for (size_t i = 0; i < p.size();) {
      if (p.compare(i, 3, "\xE2\x96\x81") == 0) {
        out += ' ';
        i += 3;
      } else {
        out += p[i++];
      }
    }
    bool at_start = prev < 0 || (prev < vocab_size() && (prev == v_.bos || is_special_[prev]));
    if (v_.add_space_prefix && at_start && t != TokenType::UserDefined && !out.empty() && out[0] == ' ')
      out.erase(0, 1);
    return out;
  }

 private:
  static std::string collapse_spaces(std::string_view s) {
    std::string r;
    bool space = false;
    for (char c : s) {
      if (c == ' ') {
        space = !r.empty();
        continue;
      }
      if (space) r += ' ';
      space = false;
      r += c;
    }
    return r;
  }

  int find(std::string_view s) const {
    auto it = lookup_.find(s);
    return it == lookup_.end() ? -1 : it->second;
  }

  struct Sym {
    int prev, next;
    size_t off, len;
  };

  void encode_fragment(const std::string& s, std::vector<int>& out) const {
    std::vector<Sym> syms;
    {
      auto chars = tok_detail::utf8_chars(s);
      syms.reserve(chars.size());
      for (size_t i = 0; i < chars.size(); ++i) {
        size_t off = static_cast<size_t>(chars[i].data() - s.data());
        syms.push_back({static_cast<int>(i) - 1, i + 1 < chars.size() ? static_cast<int>(i) + 1 : -1, off, chars[i].size()});
      }
    }
    if (syms.empty()) return;
    struct Bigram {
      float score;
      int left, right;
      size_t len;
    };
    auto worse = [](const Bigram& a, const Bigram& b) {
      if (a.score != b.score) return a.score < b.score;
      return a.left > b.left;
    };
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> pq(worse);
    auto try_add = [&](int l, int r) {
      if (l < 0 || r < 0) return;
      std::string_view t(s.data() + syms[l].off, syms[l].len + syms[r].len);
      int id = find(t);
      if (id < 0) return;
      pq.push({v_.scores[id], l, r, t.size()});
    };
    for (size_t i = 1; i < syms.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
    while (!pq.empty()) {
      Bigram b = pq.top();
      pq.pop();
      Sym& L = syms[b.left];
      Sym& R = syms[b.right];
      if (L.len == 0 || R.len == 0 || L.len + R.len != b.len || L.next != b.right) continue;
      L.len += R.len;
      R.len = 0;
      L.next = R.next;
      if (R.next >= 0) syms[R.next].prev = b.left;
      try_add(L.prev, b.left);
      try_add(b.left, L.next);
    }
    // A final symbol is either a piece (merges only create pieces) or a single character that is not
    // one: that falls back to byte tokens.
    for (int i = 0; i >= 0; i = syms[i].next) {
      std::string_view t(s.data() + syms[i].off, syms[i].len);
      int id = find(t);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
      for (unsigned char c : t) {
        if (byte_tok_[c] >= 0)
          out.push_back(byte_tok_[c]);
        else if (v_.unk >= 0)
          out.push_back(v_.unk);
        else
          throw Error("SentencePiece vocabulary '" + source_ + "': cannot encode byte " + std::to_string(c) +
                      " (no byte tokens and no <unk>)");
      }
    }
  }

  SpmVocab v_;
  std::string source_;
  tok_detail::StrMap<int> lookup_;
  std::array<int, 256> byte_tok_;
  std::vector<char> is_special_;
  tok_detail::SpecialMatcher specials_;
};

namespace tok_detail {

// Minimal protobuf reader over a byte range; every read is bounds-checked.
struct Pb {
  const unsigned char* p;
  const unsigned char* end;
  const std::string* source;
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("SentencePiece model '" + *source + "': corrupt protobuf (" + what + ")");
  }
  bool done() const { return p >= end; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) fail("truncated varint");
      unsigned char c = *p++;
      v |= static_cast<uint64_t>(c & 0x7F) << shift;
      if (!(c & 0x80)) return v;
    }
    fail("varint too long");
  }
  Pb sub() {
    uint64_t n = varint();
    if (n > static_cast<uint64_t>(end - p)) fail("length " + std::to_string(n) + " past the end");
    Pb r{p, p + n, source};
    p += n;
    return r;
  }
  uint32_t fixed32() {
    if (end - p < 4) fail("truncated fixed32");
    uint32_t v;
    std::memcpy(&v, p, 4);
    p += 4;
    return v;
  }
  void skip(uint32_t wire) {
    switch (wire) {
      case 0: varint(); break;
      case 1:
        if (end - p < 8) fail("truncated fixed64");
        p += 8;
        break;
      case 2: sub(); break;
      case 5: fixed32(); break;
      default: fail("unsupported wire type " + std::to_string(wire));
    }
  }
};

}  // namespace tok_detail

inline std::unique_ptr<SpmTokenizer> SpmTokenizer::from_model_proto(const std::string& data, const std::string& source) {
  using tok_detail::Pb;
  Pb top{reinterpret_cast<const unsigned char*>(data.data()), reinterpret_cast<const unsigned char*>(data.data()) + data.size(),
         &source};
  SpmVocab v;
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  int model_type = 1;  // UNIGRAM is the protobuf default
  bool byte_fallback = false;
  while (!top.done()) {
    uint64_t key = top.varint();
    uint32_t field = static_cast<uint32_t>(key >> 3), wire = static_cast<uint32_t>(key & 7);
    if (field == 1 && wire == 2) {  // SentencePiece
      Pb m = top.sub();
      std::string piece;
      float score = 0;
      int type = 1;
      while (!m.done()) {
        uint64_t k = m.varint();
        uint32_t f = static_cast<uint32_t>(k >> 3), w = static_cast<uint32_t>(k & 7);
        if (f == 1 && w == 2) {
          Pb s = m.sub();
          piece.assign(reinterpret_cast<const char*>(s.p), static_cast<size_t>(s.end - s.p));
        } else if (f == 2 && w == 5) {
          uint32_t bits = m.fixed32();
          std::memcpy(&score, &bits, 4);
        } else if (f == 3 && w == 0) {
          type = static_cast<int>(m.varint());
        } else {
          m.skip(w);
        }
      }
      if (type < 1 || type > 6) type = 1;
      v.pieces.push_back(std::move(piece));
      v.scores.push_back(score);
      v.types.push_back(static_cast<TokenType>(type));
    } else if (field == 2 && wire == 2) {  // TrainerSpec
      Pb m = top.sub();
      while (!m.done()) {
        uint64_t k = m.varint();
        uint32_t f = static_cast<uint32_t>(k >> 3), w = static_cast<uint32_t>(k & 7);
        if (w != 0) {
          m.skip(w);
          continue;
        }
        int64_t x = static_cast<int64_t>(m.varint());
        if (f == 3) model_type = static_cast<int>(x);
        else if (f == 35) byte_fallback = x != 0;
        else if (f == 40) v.unk = static_cast<int>(x);
        else if (f == 41) v.bos = static_cast<int>(x);
        else if (f == 42) v.eos = static_cast<int>(x);
      }
    } else if (field == 3 && wire == 2) {  // NormalizerSpec
      Pb m = top.sub();
      while (!m.done()) {
        uint64_t k = m.varint();
        uint32_t f = static_cast<uint32_t>(k >> 3), w = static_cast<uint32_t>(k & 7);
        if (w != 0) {
          m.skip(w);
          continue;
        }
        uint64_t x = m.varint();
        if (f == 3) v.add_space_prefix = x != 0;
        else if (f == 4) v.remove_extra_whitespaces = x != 0;
      }
    } else {
      top.skip(wire);
    }
  }
  if (v.pieces.empty()) throw Error("SentencePiece model '" + source + "': no pieces (not a tokenizer.model?)");
  if (model_type != 2)
    throw Error("SentencePiece model '" + source + "': model type " + std::to_string(model_type) +
                " is not supported (only BPE = 2; unigram models are not implemented)");
  (void)byte_fallback;  // byte pieces are used whenever the vocabulary has them
  return std::make_unique<SpmTokenizer>(std::move(v), source);
}

}  // namespace llmc
