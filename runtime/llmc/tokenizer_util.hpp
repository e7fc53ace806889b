// Part of llmc/tokenizer.hpp (include that one): file reading, UTF-8 helpers, TextStream.
#pragma once
#ifndef LLMC_TOKENIZER_INTERNAL
#error "include llmc/tokenizer.hpp instead of its parts"
#endif

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <queue>
#include <set>
#include <fstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace llmc {
namespace tok_detail {

// Every file the tokenizer loaders open goes through open_file / file_size / exists below, so that
// - a TokenizerFileLog can list the files a tokenizer is made of (llmc build --embed copies them), and
// - TokenizerFiles can serve them from memory (the tokenizer embedded in a one-file binary).
struct FileHooks {
  const std::map<std::string, std::string>* memory = nullptr;  // path -> contents
  std::set<std::string>* log = nullptr;                        // paths read
  static FileHooks& get() {
    static thread_local FileHooks h;
    return h;
  }
};

inline const std::string* memory_file(const std::string& path) {
  const auto* m = FileHooks::get().memory;
  if (!m) return nullptr;
  auto it = m->find(path);
  return it == m->end() ? nullptr : &it->second;
}

inline void log_read(const std::string& path) {
  if (auto* log = FileHooks::get().log) log->insert(path);
}

// Whether path is a file the loaders can read (in memory, while TokenizerFiles are served, only those).
inline bool exists(const std::string& path) {
  if (FileHooks::get().memory) return memory_file(path) != nullptr;
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Size of a regular file, or Error.
inline std::uint64_t file_size(const std::string& path) {
  if (FileHooks::get().memory) {
    if (const std::string* m = memory_file(path)) return m->size();
    throw Error("tokenizer: cannot open '" + path + "' (not among the embedded tokenizer files)");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error("tokenizer: cannot open '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw Error("tokenizer: '" + path + "' is not a regular file");
  return static_cast<std::uint64_t>(st.st_size);
}

// The file for reading ("rb"), from memory while TokenizerFiles are served.
inline std::FILE* open_file(const std::string& path) {
  if (FileHooks::get().memory) {
    const std::string* m = memory_file(path);
    if (!m) return nullptr;
    log_read(path);
    // fmemopen refuses a size of 0; an empty file reads as one that ends at once
    static char empty = 0;
    return m->empty() ? ::fmemopen(&empty, 1, "rb") : ::fmemopen(const_cast<char*>(m->data()), m->size(), "rb");
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f) log_read(path);
  return f;
}

// Whole file into memory (only for files that are entirely tokenizer data).
inline std::string read_file(const std::string& path, std::uint64_t max_bytes = (1ull << 31)) {
  std::uint64_t n = file_size(path);
  if (n > max_bytes) throw Error("tokenizer: '" + path + "' is too large (" + std::to_string(n) + " bytes)");
  if (const std::string* m = memory_file(path)) {
    log_read(path);
    return *m;
  }
  std::FILE* f = open_file(path);
  if (!f) throw Error("tokenizer: cannot open '" + path + "'");
  std::string data(static_cast<size_t>(n), '\0');
  size_t got = n ? std::fread(data.data(), 1, data.size(), f) : 0;
  std::fclose(f);
  if (got != data.size()) throw Error("tokenizer: short read of '" + path + "'");
  return data;
}

// First `n` bytes of a file (fewer if it is shorter).
inline std::string read_head(const std::string& path, size_t n) {
  file_size(path);  // a folder or a device is refused here, with its name
  if (const std::string* m = memory_file(path)) return m->substr(0, n);
  std::FILE* f = open_file(path);
  if (!f) throw Error("tokenizer: cannot open '" + path + "'");
  std::string data(n, '\0');
  size_t got = std::fread(data.data(), 1, n, f);
  std::fclose(f);
  data.resize(got);
  return data;
}

// Length of the UTF-8 sequence that starts with byte c (1 for invalid lead bytes, so they pass through).
inline size_t utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;
}

// Number of bytes at the end of s that form the beginning of a multi-byte character still waiting for
// its continuation bytes (0 if s ends on a character boundary or on bytes that can never become valid).
inline size_t utf8_incomplete_tail(std::string_view s) {
  size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = utf8_len(c);
    return need > back ? back : 0;
  }
  return 0;
}

// Split text into UTF-8 characters (invalid bytes become 1-byte "characters"; truncated sequences are
// cut at the end of the text).
inline std::vector<std::string_view> utf8_chars(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t len = utf8_len(static_cast<unsigned char>(s[i]));
    if (len > s.size() - i) len = s.size() - i;
    // only take continuation bytes that really are continuation bytes
    size_t k = 1;
    while (k < len && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80) ++k;
    out.push_back(s.substr(i, k));
    i += k;
  }
  return out;
}

inline std::string utf8_encode(uint32_t cp) {
  std::string r;
  if (cp < 0x80) {
    r += static_cast<char>(cp);
  } else if (cp < 0x800) {
    r += static_cast<char>(0xC0 | (cp >> 6));
    r += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    r += static_cast<char>(0xE0 | (cp >> 12));
    r += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    r += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    r += static_cast<char>(0xF0 | (cp >> 18));
    r += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    r += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    r += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return r;
}

// Decode one code point at s[i] (valid UTF-8 assumed checked by caller); returns -1 if invalid.
inline int32_t utf8_decode_at(std::string_view s, size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = utf8_len(c);
  if (len == 1) {
    ++i;
    return c < 0x80 ? c : -1;
  }
  if (i + len > s.size()) {
    ++i;
    return -1;
  }
  int32_t cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) {
      ++i;
      return -1;
    }
    cp = (cp << 6) | (d & 0x3F);
  }
  i += len;
  return cp;
}

// "<0xAB>" -> 0xAB; -1 if the piece is not exactly a byte piece.
inline int parse_byte_piece(std::string_view p) {
  if (p.size() != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  int h = hex(p[3]), l = hex(p[4]);
  if (h < 0 || l < 0) return -1;
  return h * 16 + l;
}

inline std::string byte_piece_name(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "<0x%02X>", b);
  return buf;
}

// Splits text at literal occurrences of special strings (leftmost, then longest match). Each output
// fragment is either plain text (id = -1) or one special token.
struct SpecialMatcher {
  struct Entry {
    std::string text;
    int id;
  };
  std::vector<Entry> entries;  // sorted by first byte then decreasing length
  std::vector<int> first_index = std::vector<int>(257, 0);

  void build(std::vector<Entry> e) {
    std::sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) {
      unsigned char ca = static_cast<unsigned char>(a.text[0]), cb = static_cast<unsigned char>(b.text[0]);
      if (ca != cb) return ca < cb;
      if (a.text.size() != b.text.size()) return a.text.size() > b.text.size();
      return a.id < b.id;
    });
    entries.clear();
    for (auto& x : e)
      if (!x.text.empty()) entries.push_back(std::move(x));
    first_index.assign(257, static_cast<int>(entries.size()));
    for (int i = static_cast<int>(entries.size()) - 1; i >= 0; --i)
      first_index[static_cast<unsigned char>(entries[i].text[0])] = i;
    // make first_index[c+1] usable as the end of bucket c
    for (int c = 255; c >= 0; --c)
      if (first_index[c] > first_index[c + 1]) first_index[c] = first_index[c + 1];
  }
  bool empty() const { return entries.empty(); }

  struct Frag {
    std::string_view text;
    int id;
  };
  // from_data (empty, or one flag per byte of s): a special string is recognised only where all its
  // bytes are 0 there (text the caller's template wrote, not text from a request).
  std::vector<Frag> split(std::string_view s, std::string_view from_data = {}) const {
    std::vector<Frag> out;
    const auto allowed = [&](size_t at, size_t n) {
      return from_data.empty() || from_data.substr(at, n).find_first_not_of('\0') == std::string_view::npos;
    };
    size_t start = 0, i = 0;
    while (i < s.size()) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      int hit = -1;
      for (int k = first_index[c]; k < first_index[c + 1]; ++k) {
        const auto& t = entries[k].text;
        if (t.size() <= s.size() - i && s.compare(i, t.size(), t) == 0 && allowed(i, t.size())) {
          hit = k;
          break;
        }
      }
      if (hit < 0) {
        ++i;
        continue;
      }
      if (i > start) out.push_back({s.substr(start, i - start), -1});
      out.push_back({s.substr(i, entries[hit].text.size()), entries[hit].id});
      i += entries[hit].text.size();
      start = i;
    }
    if (start < s.size()) out.push_back({s.substr(start), -1});
    return out;
  }
};

// Hash for string maps that are searched with string_views (no temporary strings).
struct SvHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StrMap = std::unordered_map<std::string, V, SvHash, std::equal_to<>>;

inline void check_id(int id, int n, const std::string& source) {
  if (id < 0 || id >= n)
    throw Error("tokenizer '" + source + "': unknown token id " + std::to_string(id) + " (vocabulary has " +
                std::to_string(n) + " tokens)");
}

// Merges adjacent symbols of toks, the best pair first (leftmost on ties), until no pair merges: both BPE
// (best = lowest merge rank) and llama2.c / SentencePiece-BPE (best = highest score) tokenisers. A heap over a
// linked list instead of rescanning: the sequence of merges is the rescanning one. pair(left, right, &merged,
// &priority) says whether two symbols merge, into which one, and how good the merge is (higher first). Returns
// the survivors' links: next[i] follows i, starting at position 0 (toks holds each survivor's symbol).
template <typename Pair>
std::vector<int> merge_symbols(std::vector<int>& toks, Pair pair) {
  const int n = static_cast<int>(toks.size());
  std::vector<int> nxt(n), prv(n);
  std::vector<char> alive(n, 1);
  for (int i = 0; i < n; ++i) {
    prv[i] = i - 1;
    nxt[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Cand {
    double priority;
    int left, right, left_tok, right_tok, merged;
  };
  auto worse = [](const Cand& a, const Cand& b) {
    if (a.priority != b.priority) return a.priority < b.priority;
    return a.left > b.left;
  };
  std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> pq(worse);
  auto consider = [&](int l) {
    if (l < 0 || nxt[l] < 0) return;
    const int r = nxt[l];
    int merged = -1;
    double priority = 0;
    if (pair(toks[l], toks[r], merged, priority)) pq.push({priority, l, r, toks[l], toks[r], merged});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!pq.empty()) {
    const Cand c = pq.top();
    pq.pop();
    if (!alive[c.left] || !alive[c.right] || nxt[c.left] != c.right || toks[c.left] != c.left_tok ||
        toks[c.right] != c.right_tok)
      continue;  // a stale candidate: one of its symbols has merged since
    toks[c.left] = c.merged;
    alive[c.right] = 0;
    nxt[c.left] = nxt[c.right];
    if (nxt[c.right] >= 0) prv[nxt[c.right]] = c.left;
    consider(prv[c.left]);
    consider(c.left);
  }
  return nxt;
}

}  // namespace tok_detail

inline std::string TextStream::push(int id) {
  pending_ += tok_.token_bytes(prev_, id);
  prev_ = id;
  size_t keep = tok_detail::utf8_incomplete_tail(pending_);
  std::string out = pending_.substr(0, pending_.size() - keep);
  pending_.erase(0, pending_.size() - keep);
  return out;
}

inline std::string TextStream::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace llmc
