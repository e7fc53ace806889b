// One-file binaries (llmc build --embed): the weights and the tokenizer appended to the executable, and
// mapped back from /proc/self/exe at run time (no copy: the pages are the page cache's, shared between
// processes).
//
// What follows the ELF image (which the loader never reads past):
//   zero bytes up to a multiple of kPayloadAlign
//   weights    a safetensors file as `llmc quantize` writes it (matrices grouped, 64-byte aligned), mapped
//              from here: the offset is a multiple of the page size, and of 2 MB so that huge folios fit
//   tokenizer  u32 file count, then per file: u32 name length, name, u64 size, bytes (count 0: none)
//   trailer    kTrailerBytes: magic "LLMCEMB1", u64 weights offset, weights size, tokenizer offset, tokenizer
//              size, file size, checksum, magic "LLMCEND1" (little-endian)
// The checksum (FNV-1a, 64 bits) covers the safetensors header and the tokenizer section: damage there, a
// truncated file (no trailer, or a file size that is not the trailer's) and bytes appended after it are
// refused with a message. The tensor data itself is not summed (it would mean reading GBs at every start).
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "llmc/error.hpp"
#include "llmc/tokenizer.hpp"

// Defined (as 1) only in the model source of a binary built with --embed, so that one which lost its payload
// says so instead of asking for --weights. Weak: every other binary links without it.
extern "C" {
extern const char llmc_embedded_payload __attribute__((weak));
}

namespace llmc {

inline constexpr uint64_t kPayloadAlign = uint64_t{2} << 20;
inline constexpr size_t kTrailerBytes = 64;
inline constexpr char kTrailerMagic[9] = "LLMCEMB1";
inline constexpr char kTrailerEnd[9] = "LLMCEND1";

inline bool built_with_embedded_payload() { return &llmc_embedded_payload != nullptr; }

struct EmbeddedPayload {
  uint64_t weights_offset = 0, weights_size = 0;
  uint64_t tokenizer_offset = 0, tokenizer_size = 0;
  uint64_t file_size = 0, checksum = 0;
};

namespace embed_detail {

inline uint64_t fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

inline void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
inline void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
inline uint64_t get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Exactly n bytes at offset of fd, or Error naming `what`.
inline std::string pread_exact(int fd, uint64_t offset, uint64_t n, const std::string& source, const char* what) {
  std::string out(static_cast<size_t>(n), '\0');
  for (size_t done = 0; done < out.size();) {
    const ssize_t r = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (r <= 0)
      throw Error(source + ": cannot read the embedded " + what + (r < 0 ? std::string(": ") + std::strerror(errno) : ""));
    done += static_cast<size_t>(r);
  }
  return out;
}

// The checksum of a payload: its safetensors header (the 8-byte length and the JSON) and its tokenizer.
inline uint64_t payload_checksum(int fd, const EmbeddedPayload& p, const std::string& source) {
  if (p.weights_size < 8) throw Error(source + ": the embedded weights are " + std::to_string(p.weights_size) + " bytes, too short");
  const std::string len = pread_exact(fd, p.weights_offset, 8, source, "weights header");
  const uint64_t header = get_u64(reinterpret_cast<const unsigned char*>(len.data()));
  if (header > p.weights_size - 8 || header > (uint64_t{100} << 20))
    throw Error(source + ": the embedded weights' header claims " + std::to_string(header) +
                " bytes, more than they hold: the payload is damaged; rebuild the binary");
  uint64_t h = fnv1a(len.data(), 8);
  const std::string text = pread_exact(fd, p.weights_offset + 8, header, source, "weights header");
  h = fnv1a(text.data(), text.size(), h);
  const std::string tok = pread_exact(fd, p.tokenizer_offset, p.tokenizer_size, source, "tokenizer");
  return fnv1a(tok.data(), tok.size(), h);
}

}  // namespace embed_detail

// The tokenizer section's bytes for `files`.
inline std::string encode_tokenizer_files(const Tokenizer::Files& files) {
  std::string out;
  embed_detail::put_u32(out, static_cast<uint32_t>(files.files.size()));
  // the main file first, so that the reader knows which one load() starts from
  auto put = [&](const std::string& name, const std::string& data) {
    embed_detail::put_u32(out, static_cast<uint32_t>(name.size()));
    out += name;
    embed_detail::put_u64(out, data.size());
    out += data;
  };
  put(files.main, files.files.at(files.main));
  for (const auto& [name, data] : files.files)
    if (name != files.main) put(name, data);
  return out;
}

// The tokenizer files in a tokenizer section (every length checked against the section).
inline std::optional<Tokenizer::Files> decode_tokenizer_files(const std::string& s, const std::string& source) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t at = 0;
  auto need = [&](uint64_t n) {
    if (n > s.size() - at) throw Error(source + ": the embedded tokenizer is damaged (an entry runs past its end)");
  };
  auto u32 = [&] {
    need(4);
    const uint32_t v = p[at] | (p[at + 1] << 8) | (p[at + 2] << 16) | (static_cast<uint32_t>(p[at + 3]) << 24);
    at += 4;
    return v;
  };
  const uint32_t count = u32();
  if (count == 0) return std::nullopt;
  Tokenizer::Files files;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t name_len = u32();
    need(name_len);
    std::string name = s.substr(at, name_len);
    at += name_len;
    need(8);
    const uint64_t size = embed_detail::get_u64(p + at);
    at += 8;
    need(size);
    if (i == 0) files.main = name;
    files.files[name] = s.substr(at, static_cast<size_t>(size));
    at += static_cast<size_t>(size);
  }
  if (at != s.size()) throw Error(source + ": the embedded tokenizer is damaged (bytes after its last file)");
  return files;
}

// The trailer that ends a file holding `p`.
inline std::string encode_trailer(const EmbeddedPayload& p) {
  std::string out(kTrailerMagic, 8);
  for (uint64_t v : {p.weights_offset, p.weights_size, p.tokenizer_offset, p.tokenizer_size, p.file_size, p.checksum})
    embed_detail::put_u64(out, v);
  out.append(kTrailerEnd, 8);
  return out;
}

// The payload at the end of the file `path` (a one-file binary: /proc/self/exe), checked: nullopt if the file
// ends with no trailer at all; Error if one is there but the payload does not match it.
inline std::optional<EmbeddedPayload> find_payload(const std::string& path, const std::string& name) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(name + ": cannot open: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(name + ": cannot stat: " + std::strerror(errno));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < kTrailerBytes) return std::nullopt;
  const std::string t = embed_detail::pread_exact(fd, size - kTrailerBytes, kTrailerBytes, name, "trailer");
  if (t.compare(0, 8, kTrailerMagic) != 0 || t.compare(56, 8, kTrailerEnd) != 0) return std::nullopt;
  const auto* b = reinterpret_cast<const unsigned char*>(t.data()) + 8;
  EmbeddedPayload p{embed_detail::get_u64(b),      embed_detail::get_u64(b + 8),  embed_detail::get_u64(b + 16),
                    embed_detail::get_u64(b + 24), embed_detail::get_u64(b + 32), embed_detail::get_u64(b + 40)};
  if (p.file_size != size)
    throw Error(name + ": the embedded payload says the file is " + std::to_string(p.file_size) + " bytes, but it is " +
                std::to_string(size) + ": it was cut or appended to; rebuild the binary");
  const uint64_t end = size - kTrailerBytes;
  if (p.weights_offset % kPayloadAlign != 0 || p.weights_offset > end || p.weights_size > end - p.weights_offset ||
      p.tokenizer_offset < p.weights_offset + p.weights_size || p.tokenizer_offset > end ||
      p.tokenizer_size != end - p.tokenizer_offset)
    throw Error(name + ": the embedded payload's trailer is damaged (its offsets do not fit the file); rebuild the binary");
  if (embed_detail::payload_checksum(fd, p, name) != p.checksum)
    throw Error(name + ": the embedded payload is damaged (checksum mismatch in the weights header or the tokenizer); "
                "rebuild the binary");
  return p;
}

// The tokenizer files held in the payload (nullopt: it was built without a tokenizer).
inline std::optional<Tokenizer::Files> payload_tokenizer(const std::string& path, const EmbeddedPayload& p,
                                                         const std::string& name) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(name + ": cannot open: " + std::strerror(errno));
  std::string bytes;
  try {
    bytes = embed_detail::pread_exact(fd, p.tokenizer_offset, p.tokenizer_size, name, "tokenizer");
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return decode_tokenizer_files(bytes, name);
}

}  // namespace llmc

#include "llmc/weights_loader.hpp"

namespace llmc {

// The running binary's own payload, looked for only in a binary built with --embed.
struct OwnPayload {
  std::string path = "/proc/self/exe", name;  // name: the executable's path, for messages
  std::optional<EmbeddedPayload> payload;

  static OwnPayload find() {
    OwnPayload own;
    char buf[4096];
    const ssize_t n = ::readlink(own.path.c_str(), buf, sizeof buf - 1);
    own.name = n > 0 ? std::string(buf, static_cast<size_t>(n)) : own.path;
    if (!built_with_embedded_payload()) return own;
    own.payload = find_payload(own.path, own.name);
    if (!own.payload)
      throw Error(own.name + ": this binary was built with --embed, but its end holds no llmc payload: the file was "
                  "cut short, appended to or stripped; rebuild it (or give --weights and --tokenizer)");
    return own;
  }
};

// The weights a binary runs with: --weights if given (it replaces the embedded ones), else its own.
inline WeightStore open_run_weights(const std::string& weights, const OwnPayload& own) {
  if (!weights.empty()) return WeightStore::open(weights);
  if (!own.payload)
    throw Error("--weights is required (this binary carries no weights; `llmc build --embed --weights W` makes one "
                "that does)");
  return WeightStore::open_part(own.path, own.payload->weights_offset, own.payload->weights_size,
                                own.name + " (embedded weights)");
}

// The tokenizer a binary runs with: --tokenizer if given (a file or a folder), else its own, else, when the
// run has text to encode (for_text), the one in the --weights folder (tokenizer.json, else tokenizer.model),
// else none. (A --tokens run keeps working beside a tokenizer file llmc cannot read.)
inline std::unique_ptr<Tokenizer> open_run_tokenizer(const std::string& tokenizer, const std::string& weights,
                                                     const OwnPayload& own, bool for_text) {
  if (!tokenizer.empty()) return Tokenizer::load(tokenizer);
  if (own.payload)
    if (auto files = payload_tokenizer(own.path, *own.payload, own.name)) return Tokenizer::load(*files);
  struct stat st {};
  if (for_text && !weights.empty() && ::stat(weights.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    for (const char* name : {"/tokenizer.json", "/tokenizer.model", "/vocab.txt"})
      if (::stat((weights + name).c_str(), &st) == 0) return Tokenizer::load(weights);
  }
  return nullptr;
}

}  // namespace llmc
