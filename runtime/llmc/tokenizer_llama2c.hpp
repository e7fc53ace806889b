// Part of llmc/tokenizer.hpp (include that one): llama2.c tokenizer.bin.
//
// File format: int32 max_token_length, then until the end of the file, per token: float32 score,
// int32 len, len bytes (the piece; SentencePiece's "▁" already replaced by ' ').
// encode() and token_bytes() reproduce karpathy/llama2.c run.c: its encode() (dummy-prefix " " token,
// per-character lookup with byte fallback id = byte + 3, then repeatedly merging the adjacent pair whose
// concatenation has the highest score, leftmost on ties), its decode(prev, token) (a leading ' ' is dropped
// after BOS, "<0xXX>" pieces become the raw byte) and its safe_printf() (a piece that is a single byte that
// is neither printable nor whitespace is not printed). Pieces are C strings there, so they are cut at a NUL.
// BOS = 1, EOS = 2 as hard-coded in run.c; BOS itself prints nothing (run.c stops on it).
#pragma once
#ifndef LLMC_TOKENIZER_INTERNAL
#error "include llmc/tokenizer.hpp instead of its parts"
#endif

#include <cctype>
#include <unordered_map>

namespace llmc {

class Llama2cTokenizer final : public Tokenizer {
 public:
  // `data` is the whole file content; `source` names it in error messages.
  Llama2cTokenizer(const std::string& data, const std::string& source) : source_(source) {
    const size_t n = data.size();
    if (n < 4) throw Error("llama2.c tokenizer '" + source + "': file too short for the header (" +
                           std::to_string(n) + " bytes)");
    size_t pos = 0;
    auto rd_i32 = [&](const char* what, size_t index) {
      if (n - pos < 4)
        throw Error("llama2.c tokenizer '" + source + "': truncated at byte " + std::to_string(pos) +
                    " reading " + what + " of token " + std::to_string(index));
      int32_t v;
      std::memcpy(&v, data.data() + pos, 4);
      pos += 4;
      return v;
    };
    int32_t mtl = rd_i32("max_token_length", 0);
    if (mtl <= 0 || mtl > (1 << 20))
      throw Error("llama2.c tokenizer '" + source + "': bad max_token_length " + std::to_string(mtl));
    max_token_length_ = mtl;
    while (pos < n) {
      size_t i = pieces_.size();
      int32_t score_bits = rd_i32("score", i);
      float score;
      std::memcpy(&score, &score_bits, 4);
      int32_t len = rd_i32("length", i);
      if (len < 0 || static_cast<size_t>(len) > n - pos)
        throw Error("llama2.c tokenizer '" + source + "': token " + std::to_string(i) + " claims length " +
                    std::to_string(len) + " but only " + std::to_string(n - pos) + " bytes are left");
      std::string p = data.substr(pos, static_cast<size_t>(len));
      pos += static_cast<size_t>(len);
      // run.c keeps pieces as C strings: everything after a NUL is invisible.
      size_t z = p.find('\0');
      if (z != std::string::npos) p.resize(z);
      pieces_.push_back(std::move(p));
      scores_.push_back(score);
    }
    if (pieces_.empty()) throw Error("llama2.c tokenizer '" + source + "': no tokens");
    lookup_.reserve(pieces_.size() * 2);
    for (size_t i = 0; i < pieces_.size(); ++i) lookup_.emplace(pieces_[i], static_cast<int>(i));  // first wins
  }

  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const override { return vocab_size() > 1 ? 1 : -1; }
  int eos_id() const override { return vocab_size() > 2 ? 2 : -1; }
  std::string kind() const override { return "llama2c"; }
  std::string piece(int id) const override {
    tok_detail::check_id(id, vocab_size(), source_);
    return pieces_[id];
  }
  float score(int id) const {
    tok_detail::check_id(id, vocab_size(), source_);
    return scores_[id];
  }

  std::vector<int> encode(std::string_view text, bool add_bos) const override {
    // run.c sees a C string
    size_t z = text.find('\0');
    if (z != std::string_view::npos) text = text.substr(0, z);
    std::vector<int> toks;
    toks.reserve(text.size() + 2);
    if (add_bos && bos_id() >= 0) toks.push_back(bos_id());
    if (!text.empty()) {
      int dummy = find(" ");
      if (dummy >= 0) toks.push_back(dummy);  // run.c would store -1 here (undefined); we skip it
    }
    std::string buf;
    for (size_t i = 0; i < text.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(text[i]);
      if ((c & 0xC0) != 0x80) buf.clear();
      buf += static_cast<char>(c);
      bool next_cont = i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80;
      if (next_cont && buf.size() < 4) continue;
      int id = find(buf);
      if (id >= 0) {
        toks.push_back(id);
      } else {
        for (unsigned char b : buf) {
          int bid = static_cast<int>(b) + 3;
          if (bid >= vocab_size())
            throw Error("llama2.c tokenizer '" + source_ + "': no byte-fallback token for byte " +
                        std::to_string(b) + " (vocabulary too small)");
          toks.push_back(bid);
        }
      }
      buf.clear();
    }
    merge(toks);
    return toks;
  }

  std::string token_bytes(int prev, int id) const override {
    tok_detail::check_id(id, vocab_size(), source_);
    if (id == bos_id()) return {};  // run.c never prints BOS (generation stops on it)
    std::string_view p = pieces_[id];
    if ((prev == bos_id() || prev < 0) && !p.empty() && p[0] == ' ') p.remove_prefix(1);
    std::string out;
    if (p.size() >= 4 && p.substr(0, 3) == "<0x") {  // sscanf(piece, "<0x%02hhX>", &byte_val) == 1
      int v = -1;
      size_t k = 3;
      while (k < p.size() && k < 5 && std::isxdigit(static_cast<unsigned char>(p[k]))) {
        int d = std::isdigit(static_cast<unsigned char>(p[k])) ? p[k] - '0'
                                                                : (std::toupper(static_cast<unsigned char>(p[k])) - 'A' + 10);
        v = (v < 0 ? 0 : v * 16) + d;
        ++k;
      }
      if (v >= 0) {
        if (v == 0) return {};  // byte_pieces[0] is the empty C string
        out.assign(1, static_cast<char>(v));
      } else {
        out.assign(p);
      }
    } else {
      out.assign(p);
    }
    // safe_printf: a single non-printable, non-whitespace byte is dropped ("C" locale classification)
    if (out.size() == 1) {
      unsigned char b = static_cast<unsigned char>(out[0]);
      bool printable = b >= 0x20 && b < 0x7F;
      bool space = b == ' ' || (b >= '\t' && b <= '\r');
      if (!printable && !space) return {};
    }
    return out;
  }

 private:
  int find(std::string_view s) const {
    auto it = lookup_.find(s);
    return it == lookup_.end() ? -1 : it->second;
  }

  // Greedy merging as run.c (best score strictly greater than -1e10, leftmost on ties), done with a heap
  // over a linked list instead of run.c's quadratic rescans; the sequence of merges is the same.
  void merge(std::vector<int>& toks) const {
    const int n = static_cast<int>(toks.size());
    if (n < 2) return;
    std::string cat;
    const std::vector<int> nxt = tok_detail::merge_symbols(toks, [&](int l, int r, int& merged, double& priority) {
      cat = pieces_[l];
      cat += pieces_[r];
      merged = find(cat);
      if (merged < 0 || !(scores_[merged] > -1e10f)) return false;
      priority = scores_[merged];
      return true;
    });
    std::vector<int> out;
    out.reserve(n);
    for (int i = 0; i >= 0; i = nxt[i]) out.push_back(toks[i]);
    toks.swap(out);
  }

  std::string source_;
  int max_token_length_ = 0;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  tok_detail::StrMap<int> lookup_;
};

}  // namespace llmc
