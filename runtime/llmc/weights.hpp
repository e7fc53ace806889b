// Weight loading: mmapped safetensors (single file or sharded index) and llama2.c checkpoints.
// Every tensor a model asks for is checked by name, dtype and shape; tensors nobody asked for and
// nobody declared unused make loading fail with their names. The file parsers (open()) are in
// weights_loader.hpp, which only the driver includes: generated models need just get().
#pragma once
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmc/error.hpp"
#include "llmc/ggml_blocks.hpp"
#include "llmc/threads.hpp"

namespace llmc {

// A read-only memory map of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) : MappedFile(path, 0, ~uint64_t{0}, path) {}
  // `length` bytes at `offset` (a multiple of the page size) of the file at `path`, called `name` in
  // messages: the weights a one-file binary carries in its own executable (llmc/embedded.hpp).
  MappedFile(const std::string& path, uint64_t offset, uint64_t length, std::string name)
      : path_(std::move(name)), offset_(static_cast<off_t>(offset)) {
    fd_ = ::open(path.c_str(), O_RDONLY);
    if (fd_ < 0) throw Error(path_ + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw Error(path_ + ": not a regular file");
    }
    const uint64_t file_size = static_cast<uint64_t>(st.st_size);
    if (offset > file_size || (length != ~uint64_t{0} && length > file_size - offset)) {
      ::close(fd_);
      throw Error(path_ + ": " + std::to_string(length) + " bytes at offset " + std::to_string(offset) +
                  " are past the end of the file (" + std::to_string(file_size) + " bytes)");
    }
    size_ = static_cast<size_t>(length == ~uint64_t{0} ? file_size - offset : length);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, offset_);
      if (p == MAP_FAILED) {
        ::close(fd_);
        throw Error(path_ + ": cannot mmap: " + std::strerror(errno));
      }
      data_ = static_cast<const uint8_t*>(p);
      // Where the file system allows, pages read from here on come in 2 MB folios, each mapped by one TLB
      // entry (see kHugePage); a file already in the page cache keeps the folios it has.
      ::madvise(p, size_, MADV_HUGEPAGE);
    }
  }
  // The bytes of a "file" held in memory (tests and fuzzing: the same parsers without a file system).
  MappedFile(std::string name, std::string bytes) : path_(std::move(name)), owned_(std::move(bytes)) {
    data_ = reinterpret_cast<const uint8_t*>(owned_.data());
    size_ = owned_.size();
  }
  ~MappedFile() {
    if (data_ && fd_ >= 0) ::munmap(const_cast<uint8_t*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool contains(const uint8_t* p, size_t n) const {
    const uintptr_t at = reinterpret_cast<uintptr_t>(p), begin = reinterpret_cast<uintptr_t>(data_);
    return data_ && at >= begin && n <= size_ && at - begin <= size_ - n;
  }

  // Copies n bytes at p (inside data()) with pread rather than through the map: reading a few KB through it
  // maps the whole 2 MB folio around them, which then counts in the process's memory (RSS).
  void read(const uint8_t* p, size_t n, void* out) const {
    if (fd_ < 0) {
      if (n) std::memcpy(out, p, n);
      return;
    }
    for (size_t done = 0; done < n;) {
      const off_t at = offset_ + static_cast<off_t>(p - data_) + static_cast<off_t>(done);
      const ssize_t r = ::pread(fd_, static_cast<uint8_t*>(out) + done, n - done, at);
      if (r <= 0) throw Error(path_ + ": cannot read " + std::to_string(n) + " bytes at offset " +
                              std::to_string(p - data_) + (r < 0 ? std::string(": ") + std::strerror(errno) : ""));
      done += static_cast<size_t>(r);
    }
  }

 private:
  std::string path_;
  std::string owned_;  // in-memory contents (fd_ < 0)
  off_t offset_ = 0;   // of data() in the file
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

enum class DType { f32, f16, bf16 };

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
  }
  return "?";
}
inline size_t dtype_size(DType d) { return d == DType::f32 ? 4 : 2; }

// How matmul sees a weight matrix: fp32 (the default), kept as stored (f16 / bf16), or block-quantised
// with GGUF's q8_0 / q4_0 numerics (blocks of 32 values along a row, value d·q resp. d·(q − 8), d an f16).
//
// Quantised matrices use llmc's own layout (GGUF's numerics, not its bytes), made for the integer matmul
// kernels: rows in groups of 16 (the last group padded with zero rows). A group's block of 32 columns is
// its quants, slices of 16 rows × 4 bytes (the 4 bytes holding 4 consecutive values of that row), then
// its 16 f16 scales (32 bytes, in row order):
//   q8_0: 8 slices (values 4s..4s+3), each byte q + 128;                                       512 bytes
//   q4_0: 4 slices, byte i of a row holding value 4s+i in its low nibble and value 16+4s+i in its high
//         nibble, each nibble q in 0..15;                                                       256 bytes
// Groups go in tiles of 8 (kQuantTileGroups; the last tile holds the rest), and a tile of n groups is
// interleaved block by block: for each block, its slice 0 of the n groups side by side, then slice 1, ...,
// then the n groups' scales. Decode reads a tile of 8 groups in that order, so each thread reads one
// sequential stream; with the groups one after another (16 streams: 8 groups' quants and scales) a q4_0 /
// q8_0 matrix of 2048 × 2048 streamed at 22 / 25 GB/s on a Zen 4 VM, interleaved at 27.5 / 28.5 (one
// plain stream of loads: 29-31). See QuantGroups. Sizes equal GGUF's: 34 resp. 18 bytes per 32 values.
//
// Unquantised matrices bound with get_matrix are grouped the same way (f32_g16, f16_g16, bf16_g16): rows in
// groups of 16 (zero padding rows), a group holding for each column the 16 rows' values side by side, so
// that one vector load is one column of 16 rows. bf16_g16 holds columns in pairs instead (for vdpbf16ps):
// per pair of columns 2p, 2p+1, 16 rows × 4 bytes, a row's bf16 of column 2p in the low half and of
// column 2p+1 in the high half (an odd column count padded with a zero column). f32 without the suffix is
// plain row-major [out][in] (the fp32 arrays a model passes itself, e.g. routers); no matrix stays a plain
// 16-bit one.
//
// K-quants (q4_k, q5_k, q6_k: GGUF's Q4_K / Q5_K / Q6_K numerics, llmc's layout): rows in groups of 16 as
// above, a group holding one super-block of 256 columns after another, each the quants, sub-block scales
// (and mins) and f16 super-block scales of its 16 rows (the bytes: see kKBlock).
enum class WFormat : uint8_t { f32, q8_0, q4_0, f32_g16, f16_g16, bf16_g16, q4_k, q6_k, q5_k };
inline constexpr size_t kQuantBlock = 32, kQuantRows = 16;
// Version of the grouped byte layouts above, recorded in files written by `llmc quantize`: a binary refuses a
// file of another version. Increment it whenever any grouped layout changes.
inline constexpr int kGroupedLayoutVersion = 3;  // 2: bf16_g16 in column pairs; 3: q8_0 / q4_0 in tiles

inline constexpr bool is_quantised(WFormat f) { return f == WFormat::q8_0 || f == WFormat::q4_0; }
inline constexpr bool is_grouped_float(WFormat f) {
  return f == WFormat::f32_g16 || f == WFormat::f16_g16 || f == WFormat::bf16_g16;
}

inline constexpr bool is_kquant(WFormat f) { return f == WFormat::q4_k || f == WFormat::q5_k || f == WFormat::q6_k; }
// q4_k and q5_k: sub-blocks of 32 with a scale and a min each (q6_k: of 16, a scale each).
inline constexpr bool has_kmins(WFormat f) { return f == WFormat::q4_k || f == WFormat::q5_k; }
inline constexpr bool is_grouped(WFormat f) { return is_quantised(f) || is_kquant(f) || is_grouped_float(f); }

// Names of the grouped formats as `llmc quantize` files record them.
inline const char* grouped_format_name(WFormat f) {
  switch (f) {
    case WFormat::q8_0: return "q8_0";
    case WFormat::q4_0: return "q4_0";
    case WFormat::f32_g16: return "f32_g16";
    case WFormat::f16_g16: return "f16_g16";
    case WFormat::bf16_g16: return "bf16_g16";
    case WFormat::q4_k: return "q4_k";
    case WFormat::q5_k: return "q5_k";
    case WFormat::q6_k: return "q6_k";
    default: return "?";
  }
}
// The grouped formats a binary has matmul kernels for, as a mask of 1 << WFormat: every one, unless `llmc build
// --formats` compiled fewer (its source defines LLMC_KERNEL_FORMATS). Internal linkage: the driver object,
// compiled once for every model, never reads it.
#ifdef LLMC_KERNEL_FORMATS
constexpr uint32_t kKernelFormats = LLMC_KERNEL_FORMATS;
#else
constexpr uint32_t kKernelFormats = ~uint32_t{0};
#endif
inline constexpr bool has_kernels(uint32_t formats, WFormat f) { return (formats >> static_cast<unsigned>(f)) & 1u; }
// A grouped format as `llmc build --formats` names it: f32, f16, bf16 (the grouped float layouts), q8_0, ...
inline std::string kernel_format_name(WFormat f) {
  const std::string name = grouped_format_name(f);
  return is_grouped_float(f) ? name.substr(0, name.size() - 4) : name;
}
// A matrix in a format the binary has no kernels for: the binary's build, not the checkpoint, is at fault.
struct KernelFormatError : Error {
  using Error::Error;
};
inline bool grouped_format_from_name(std::string_view name, WFormat& f) {
  for (WFormat g : {WFormat::q8_0, WFormat::q4_0, WFormat::f32_g16, WFormat::f16_g16, WFormat::bf16_g16, WFormat::q4_k,
                    WFormat::q5_k, WFormat::q6_k})
    if (name == grouped_format_name(g)) return f = g, true;
  return false;
}

inline constexpr size_t quant_block_bytes(WFormat f) { return f == WFormat::q8_0 ? 512 : 256; }  // quants per group
inline constexpr size_t kQuantScaleBytes = kQuantRows * 2;  // a group's f16 scales of one block
inline constexpr size_t quant_span(WFormat f) { return quant_block_bytes(f) + kQuantScaleBytes; }
inline constexpr size_t quant_group_bytes(WFormat f, size_t cols) { return cols / kQuantBlock * quant_span(f); }
inline constexpr size_t quant_matrix_bytes(WFormat f, size_t rows, size_t cols) {
  return (rows + kQuantRows - 1) / kQuantRows * quant_group_bytes(f, cols);
}
inline constexpr size_t kQuantTileGroups = 8, kQuantSlice = 64;

// Where the bytes of groups [g, g + n) of a quantised matrix are (all in one tile): slice s of block b of
// group g + k at w + b·block + s·slice + k·64, its scales at scales + b·block + k·32.
struct QuantGroups {
  const uint8_t* w;
  const uint8_t* scales;
  size_t block, slice;
};
// Group g of a quantised matrix of `groups` groups of 16 rows, `cols` columns.
inline QuantGroups quant_groups(WFormat f, const uint8_t* m, size_t cols, size_t groups, size_t g) {
  const size_t first = g / kQuantTileGroups * kQuantTileGroups, n = std::min(kQuantTileGroups, groups - first);
  const size_t k = g - first;
  const uint8_t* tile = m + first * quant_group_bytes(f, cols);
  return {tile + k * kQuantSlice, tile + n * quant_block_bytes(f) + k * kQuantScaleBytes, n * quant_span(f),
          n * kQuantSlice};
}
inline QuantGroups quant_row_groups(WFormat f, const uint8_t* m, size_t rows, size_t cols, size_t r) {
  return quant_groups(f, m, cols, (rows + kQuantRows - 1) / kQuantRows, r / kQuantRows);
}

// Quant i of row r of a rows × cols matrix (as a signed integer: q8_0 q, q4_0 q − 8), its scale and its value.
inline int quant_int(WFormat f, const uint8_t* m, size_t rows, size_t cols, size_t r, size_t i) {
  const QuantGroups q = quant_row_groups(f, m, rows, cols, r);
  const uint8_t* block = q.w + i / kQuantBlock * q.block;
  const size_t j = i % kQuantBlock, lane = (r % kQuantRows) * 4 + j % 4;
  if (f == WFormat::q8_0) return static_cast<int>(block[j / 4 * q.slice + lane]) - 128;
  const uint8_t byte = block[(j % 16) / 4 * q.slice + lane];
  return (j < 16 ? byte & 0x0f : byte >> 4) - 8;
}
inline float quant_scale(WFormat f, const uint8_t* m, size_t rows, size_t cols, size_t r, size_t i) {
  const QuantGroups q = quant_row_groups(f, m, rows, cols, r);
  uint16_t h;
  std::memcpy(&h, q.scales + i / kQuantBlock * q.block + (r % kQuantRows) * 2, 2);
  return f16_to_f32(h);
}
inline float quant_value(WFormat f, const uint8_t* m, size_t rows, size_t cols, size_t r, size_t i) {
  return quant_scale(f, m, rows, cols, r, i) * static_cast<float>(quant_int(f, m, rows, cols, r, i));
}

// K-quant layouts, per super-block of 256 columns of a group. As for q4_0, a "slice" is 64 bytes: 16 rows
// side by side, 4 bytes (a row lane) each, so that one vector load is one slice of 16 rows.
//   q4_k, 2368 bytes (GGUF's 144 a row, plus 4: the 6-bit scales and mins unpacked to bytes):
//     quants   2048  chunk c < 4 of 64 values, slice s < 8: byte i of a row lane holds value 64c+4s+i in its
//                    low nibble and 64c+32+4s+i in its high nibble (GGUF's qs[32c+4s+i]), q in 0..15
//     scales    128  per chunk c, 16 rows × 2 bytes: the scales of sub-blocks 2c, 2c+1 (of 32 values)
//     mins      128  the same for the mins
//     d, dmin    64  16 f16 each, in row order
//   value = d·scale·q − dmin·min.
//   q5_k, 2880 bytes (GGUF's 176 a row, plus 4 as q4_k):
//     quants   2048  the low 4 bits of each value as q4_k's quants
//     qh        512  slice s < 8: byte i of a row lane holds the fifth bits of values 32k+4s+i at bit k, k < 8
//                    (GGUF's qh[4s+i])
//     scales, mins, d, dmin as q4_k's (at 2560, 2688, 2816, 2848)
//   value = d·scale·q − dmin·min, q in 0..31.
//   q6_k, 3360 bytes (GGUF's 210 a row):
//     quants   3072  half h < 2 of 128 values, slice s < 8: three slices. Byte i of a row lane of the first
//                    holds the low 4 bits of values 128h+4s+i (low nibble) and 128h+64+4s+i (high nibble),
//                    of the second those of 128h+32+4s+i and 128h+96+4s+i, of the third the high 2 bits
//                    of value 128h+32p+4s+i at bit 2p, p < 4 (GGUF's ql[64h+4s+i], ql[64h+32+4s+i],
//                    qh[32h+4s+i]), q in 0..63
//     scales    256  per pair of sub-blocks 2k, 2k+1 (of 16 values), 16 rows × 2 int8
//     d          32  16 f16
//   value = d·scale·(q − 32).
inline constexpr size_t kKBlock = 256;
inline constexpr size_t kquant_block_bytes(WFormat f) {
  return f == WFormat::q4_k ? 2368 : f == WFormat::q5_k ? 2880 : 3360;
}
inline constexpr size_t kQ4kScales = 2048, kQ4kMins = 2176, kQ4kD = 2304, kQ4kDmin = 2336;
inline constexpr size_t kQ5kQh = 2048, kQ5kScales = 2560, kQ5kMins = 2688, kQ5kD = 2816, kQ5kDmin = 2848;
inline constexpr size_t kQ6kScales = 3072, kQ6kD = 3328;
// Where a super-block's sub-block scales, mins, d and dmin start.
inline constexpr size_t kquant_scales_at(WFormat f) {
  return f == WFormat::q4_k ? kQ4kScales : f == WFormat::q5_k ? kQ5kScales : kQ6kScales;
}
inline constexpr size_t kquant_mins_at(WFormat f) { return f == WFormat::q4_k ? kQ4kMins : kQ5kMins; }
inline constexpr size_t kquant_d_at(WFormat f) {
  return f == WFormat::q4_k ? kQ4kD : f == WFormat::q5_k ? kQ5kD : kQ6kD;
}
inline constexpr size_t kquant_dmin_at(WFormat f) { return f == WFormat::q4_k ? kQ4kDmin : kQ5kDmin; }

// Bytes of a GGUF Q4_K / Q5_K / Q6_K block (256 values of one row).
inline constexpr size_t gguf_kblock_bytes(WFormat f) {
  return f == WFormat::q4_k ? 144 : f == WFormat::q5_k ? 176 : 210;
}

// The super-block (of its group) holding column i of row r.
inline const uint8_t* kquant_block(WFormat f, const uint8_t* m, size_t cols, size_t r, size_t i) {
  return m + r / kQuantRows * (cols / kKBlock * kquant_block_bytes(f)) + i / kKBlock * kquant_block_bytes(f);
}
// Quant i of row r, unsigned (q4_k 0..15, q5_k 0..31, q6_k 0..63).
inline int kquant_q(WFormat f, const uint8_t* m, size_t cols, size_t r, size_t i) {
  const uint8_t* b = kquant_block(f, m, cols, r, i);
  const size_t j = i % kKBlock, lane = (r % kQuantRows) * 4 + j % 4;
  if (has_kmins(f)) {
    const uint8_t byte = b[(j / 64 * 8 + j % 32 / 4) * 64 + lane];
    const int low = j % 64 < 32 ? byte & 0x0f : byte >> 4;
    if (f == WFormat::q4_k) return low;
    return low | ((b[kQ5kQh + j % 32 / 4 * 64 + lane] >> (j / 32)) & 1) << 4;
  }
  const size_t h = j / 128, p = j % 128 / 32, s = j % 32 / 4;
  const uint8_t* slice = b + (h * 8 + s) * 192;
  const int low = (slice[(p % 2) * 64 + lane] >> (4 * (p / 2))) & 0x0f, high = (slice[128 + lane] >> (2 * p)) & 3;
  return low | high << 4;
}
// Scale (q4_k: and min) of sub-block `sub` (q4_k: 32 values, q6_k: 16) of the super-block holding column i.
inline int kquant_scale(WFormat f, const uint8_t* m, size_t cols, size_t r, size_t i, size_t sub) {
  const uint8_t* b = kquant_block(f, m, cols, r, i);
  const uint8_t v = b[kquant_scales_at(f) + sub / 2 * 32 + (r % kQuantRows) * 2 + sub % 2];
  return has_kmins(f) ? v : static_cast<int8_t>(v);
}
inline int kquant_min(WFormat f, const uint8_t* m, size_t cols, size_t r, size_t i, size_t sub) {
  return kquant_block(f, m, cols, r, i)[kquant_mins_at(f) + sub / 2 * 32 + (r % kQuantRows) * 2 + sub % 2];
}
// d (dmin: the q4_k mins' scale) of the super-block holding column i.
inline float kquant_d(WFormat f, const uint8_t* m, size_t cols, size_t r, size_t i, bool dmin = false) {
  const size_t at = dmin ? kquant_dmin_at(f) : kquant_d_at(f);
  uint16_t h;
  std::memcpy(&h, kquant_block(f, m, cols, r, i) + at + (r % kQuantRows) * 2, 2);
  return f16_to_f32(h);
}
// Value (r, i), bit for bit as ggml's dequantize_row_q4_K / q5_K / q6_K.
inline float kquant_value(WFormat f, const uint8_t* m, size_t cols, size_t r, size_t i) {
  const int q = kquant_q(f, m, cols, r, i);
  const float d = kquant_d(f, m, cols, r, i);
  if (f == WFormat::q6_k)
    return d * static_cast<float>(kquant_scale(f, m, cols, r, i, i % kKBlock / 16)) * static_cast<float>(q - 32);
  const size_t sub = i % kKBlock / 32;
  const float d1 = d * static_cast<float>(kquant_scale(f, m, cols, r, i, sub));
  const float m1 = kquant_d(f, m, cols, r, i, true) * static_cast<float>(kquant_min(f, m, cols, r, i, sub));
  return ggml_detail::rounded(d1 * static_cast<float>(q)) - m1;
}

// Bytes of one group of 16 rows of a grouped matrix (quantised or not), and of a whole matrix.
inline constexpr size_t group_bytes(WFormat f, size_t cols) {
  if (f == WFormat::bf16_g16) cols += cols % 2;  // whole column pairs
  if (is_kquant(f)) return cols / kKBlock * kquant_block_bytes(f);
  return is_quantised(f) ? quant_group_bytes(f, cols) : cols * kQuantRows * (f == WFormat::f32_g16 ? 4 : 2);
}
inline constexpr size_t grouped_matrix_bytes(WFormat f, size_t rows, size_t cols) {
  return (rows + kQuantRows - 1) / kQuantRows * group_bytes(f, cols);
}
// Bytes from one matrix to the next of several kept one after another (WeightStore::derived_matrices):
// each starts on a 64-byte boundary, as every matrix the model keeps.
inline constexpr size_t matrix_stride(WFormat f, size_t rows, size_t cols) {
  return (grouped_matrix_bytes(f, rows, cols) + 63) / 64 * 64;
}

// Value (r, i) of a rows × cols matrix in any format (slow; for embedding lookups and tests).
inline float matrix_value(WFormat f, const uint8_t* m, size_t rows, size_t cols, size_t r, size_t i) {
  if (is_quantised(f)) return quant_value(f, m, rows, cols, r, i);
  if (is_kquant(f)) return kquant_value(f, m, cols, r, i);
  uint16_t h;
  float v;
  if (is_grouped_float(f)) {
    const uint8_t* p = m + r / kQuantRows * group_bytes(f, cols);
    const size_t at = f == WFormat::bf16_g16 ? (i / 2 * kQuantRows + r % kQuantRows) * 2 + i % 2
                                             : i * kQuantRows + r % kQuantRows;
    if (f == WFormat::f32_g16) return std::memcpy(&v, p + 4 * at, 4), v;
    std::memcpy(&h, p + 2 * at, 2);
    return f == WFormat::f16_g16 ? f16_to_f32(h) : bf16_to_f32(h);
  }
  return std::memcpy(&v, m + 4 * (r * cols + i), 4), v;  // f32, row-major
}

// x truncated to an integer as x86's cvttss2si does: out of range or NaN (a block holding inf or NaN, e.g.
// from a corrupt checkpoint) gives INT32_MIN, where a plain cast is undefined behaviour.
inline int32_t truncate_to_int(float x) {
  return std::fabs(x) < 2147483648.0f ? static_cast<int32_t>(x) : std::numeric_limits<int32_t>::min();
}

// GGUF's quantize_row_q8_0_ref / quantize_row_q4_0_ref on one block of 32 values: its scale d and the
// stored integers q (q8_0: q + 128; q4_0: 0..15).
inline void quantize_block_ref(WFormat f, const float* v, float* d, int* q) {
  if (f == WFormat::q8_0) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(v[j]));
    *d = amax / 127.0f;
    const float id = *d != 0.0f ? 1.0f / *d : 0.0f;
    for (int j = 0; j < 32; ++j) q[j] = truncate_to_int(std::round(v[j] * id)) + 128;
    return;
  }
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < 32; ++j)
    if (amax < std::fabs(v[j])) {
      amax = std::fabs(v[j]);
      max = v[j];
    }
  *d = max / -8.0f;
  const float id = *d != 0.0f ? 1.0f / *d : 0.0f;
  for (int j = 0; j < 32; ++j) {
    // x·id rounded to float before adding 8.5, as GGUF's C reference: the volatile keeps a compiler
    // from fusing the two into one FMA (C++ allows it), which would quantise ties differently in
    // llmc quantize and in a -march=native binary.
    volatile float scaled = v[j] * id;
    q[j] = std::min(15, static_cast<int>(static_cast<int8_t>(truncate_to_int(scaled + 8.5f))));
  }
}

// quantize_block_ref, vectorised: the same d and q for finite inputs (tested); NaN never becomes the block's
// maximum in either.
inline void quantize_block(WFormat f, const float* v, float* d, int* q) {
#ifdef __AVX2__
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 x[4], ax[4];
  __m256 m = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    x[k] = _mm256_loadu_ps(v + 8 * k);
    ax[k] = _mm256_andnot_ps(sign, x[k]);
    m = _mm256_max_ps(ax[k], m);  // a NaN in ax yields m, as std::max(amax, NaN) does
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float amax = 0.0f;
  for (float l : lanes) amax = std::max(amax, l);
  __m256 id;
  if (f == WFormat::q8_0) {
    *d = amax / 127.0f;
    id = _mm256_set1_ps(*d != 0.0f ? 1.0f / *d : 0.0f);
  } else {
    float max = 0.0f;  // the first value of greatest magnitude
    if (amax > 0.0f)
      for (int k = 0; k < 4; ++k)
        if (const int hit = _mm256_movemask_ps(_mm256_cmp_ps(ax[k], _mm256_set1_ps(amax), _CMP_EQ_OQ))) {
          max = v[8 * k + __builtin_ctz(static_cast<unsigned>(hit))];
          break;
        }
    *d = max / -8.0f;
    id = _mm256_set1_ps(*d != 0.0f ? 1.0f / *d : 0.0f);
  }
  for (int k = 0; k < 4; ++k) {
    __m256 scaled = _mm256_mul_ps(x[k], id);
    __asm__("" : "+x"(scaled));  // rounded to float before the add: no fused multiply-add (see the reference)
    __m256i qi;
    if (f == WFormat::q8_0) {  // std::round: half away from zero (scaled − trunc(scaled) is exact)
      const __m256 t = _mm256_round_ps(scaled, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(scaled, t));
      const __m256 half = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
      const __m256 step = _mm256_and_ps(half, _mm256_or_ps(_mm256_and_ps(sign, scaled), _mm256_set1_ps(1.0f)));
      qi = _mm256_add_epi32(_mm256_cvttps_epi32(_mm256_add_ps(t, step)), _mm256_set1_epi32(128));
    } else {  // int8_t of the truncated sum, at most 15
      const __m256i t = _mm256_cvttps_epi32(_mm256_add_ps(scaled, _mm256_set1_ps(8.5f)));
      qi = _mm256_min_epi32(_mm256_srai_epi32(_mm256_slli_epi32(t, 24), 24), _mm256_set1_epi32(15));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 8 * k), qi);
  }
#else
  quantize_block_ref(f, v, d, q);
#endif
}

// A lone q8_0 / q4_0 group of cols columns holding zero rows only: q8_0 q = 128, q4_0 q = 8 (value 0), d = 0.
inline void clear_quant_group(WFormat f, size_t cols, uint8_t* group) {
  const size_t span = quant_span(f);
  for (size_t b = 0; b < cols / kQuantBlock; ++b) {
    std::memset(group + b * span, f == WFormat::q8_0 ? 0x80 : 0x88, quant_block_bytes(f));
    std::memset(group + b * span + quant_block_bytes(f), 0, kQuantScaleBytes);
  }
}

// quantize_block on `rows` (≤ 16) rows of x (cols apart), written as one group of the layout above, on its
// own (a tile of one group; interleave_quant_tile puts groups together). Rows beyond `rows` are zero.
inline void quantize_group(WFormat f, const float* x, size_t rows, size_t cols, uint8_t* group) {
  const size_t span = quant_span(f);
  clear_quant_group(f, cols, group);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t b = 0; b < cols / kQuantBlock; ++b) {
      uint8_t* block = group + b * span;
      float d;
      int q[32];
      quantize_block(f, x + r * cols + b * kQuantBlock, &d, q);
      if (f == WFormat::q8_0)
        for (int j = 0; j < 32; ++j) block[j / 4 * 64 + r * 4 + j % 4] = static_cast<uint8_t>(q[j]);
      else
        for (int j = 0; j < 16; ++j) block[j / 4 * 64 + r * 4 + j % 4] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
      const uint16_t h = f32_to_f16(d);
      std::memcpy(block + quant_block_bytes(f) + r * 2, &h, 2);
    }
  }
}

// One group of q8_0 / q4_0 from `rows` (≤ 16) rows of GGUF Q8_0 / Q4_0 blocks (cols values a row, any
// alignment): the same quants and f16 scales, moved into the grouped layout (a GGUF Q4_0 block's byte j
// already holds values j and 16 + j as the grouped layout's does), on its own as quantize_group writes it.
// Padding rows are zero.
inline void repack_gguf_group(WFormat f, const uint8_t* src, size_t rows, size_t cols, uint8_t* group) {
  const size_t blocks = cols / kQuantBlock, src_block = f == WFormat::q8_0 ? 34 : 18, span = quant_span(f);
  clear_quant_group(f, cols, group);
  for (size_t r = 0; r < rows; ++r)
    for (size_t b = 0; b < blocks; ++b) {
      const uint8_t* in = src + (r * blocks + b) * src_block;
      uint8_t* block = group + b * span;
      if (f == WFormat::q8_0)
        for (int j = 0; j < 32; ++j) block[j / 4 * 64 + r * 4 + j % 4] = static_cast<uint8_t>(in[2 + j] ^ 0x80);
      else
        for (int j = 0; j < 16; ++j) block[j / 4 * 64 + r * 4 + j % 4] = in[2 + j];
      std::memcpy(block + quant_block_bytes(f) + r * 2, in, 2);
    }
}

// n (≤ kQuantTileGroups) groups written on their own, one after another (quantize_group), as one tile of
// the layout above.
inline void interleave_quant_tile(WFormat f, size_t cols, size_t n, const uint8_t* groups, uint8_t* tile) {
  const size_t span = quant_span(f), slices = quant_block_bytes(f) / kQuantSlice, gbytes = quant_group_bytes(f, cols);
  for (size_t b = 0; b < cols / kQuantBlock; ++b) {
    uint8_t* out = tile + b * n * span;
    for (size_t s = 0; s < slices; ++s)
      for (size_t k = 0; k < n; ++k) std::memcpy(out + (s * n + k) * kQuantSlice, groups + k * gbytes + b * span + s * kQuantSlice, kQuantSlice);
    for (size_t k = 0; k < n; ++k)
      std::memcpy(out + n * quant_block_bytes(f) + k * kQuantScaleBytes, groups + k * gbytes + b * span + quant_block_bytes(f),
                  kQuantScaleBytes);
  }
}

// One group of q4_k / q5_k / q6_k from `rows` (≤ 16) rows of GGUF Q4_K / Q5_K / Q6_K blocks (cols values a row, any
// alignment): the same quants and scales moved into llmc's layout (see kquant_value); zero padding rows.
inline void repack_gguf_kgroup(WFormat f, const uint8_t* src, size_t rows, size_t cols, uint8_t* group) {
  const size_t blocks = cols / kKBlock, src_block = gguf_kblock_bytes(f);
  std::memset(group, 0, blocks * kquant_block_bytes(f));
  for (size_t r = 0; r < rows; ++r)
    for (size_t b = 0; b < blocks; ++b) {
      const uint8_t* in = src + (r * blocks + b) * src_block;
      uint8_t* out = group + b * kquant_block_bytes(f);
      const size_t lane = r * 4;
      if (has_kmins(f)) {
        const uint8_t* qs = in + (f == WFormat::q5_k ? 48 : 16);
        for (size_t k = 0; k < 128; ++k) out[k / 4 * 64 + lane + k % 4] = qs[k];  // qs[32c + 4s + i]
        if (f == WFormat::q5_k)
          for (size_t k = 0; k < 32; ++k) out[kQ5kQh + k / 4 * 64 + lane + k % 4] = in[16 + k];  // qh[4s + i]
        for (int sub = 0; sub < 8; ++sub) {
          int sc, m;
          ggml_detail::k4_scale_min(sub, in + 4, sc, m);
          out[kquant_scales_at(f) + sub / 2 * 32 + r * 2 + sub % 2] = static_cast<uint8_t>(sc);
          out[kquant_mins_at(f) + sub / 2 * 32 + r * 2 + sub % 2] = static_cast<uint8_t>(m);
        }
        std::memcpy(out + kquant_d_at(f) + r * 2, in, 2);
        std::memcpy(out + kquant_dmin_at(f) + r * 2, in + 2, 2);
        continue;
      }
      for (size_t h = 0; h < 2; ++h)
        for (size_t k = 0; k < 32; ++k) {
          uint8_t* slice = out + (h * 8 + k / 4) * 192 + lane + k % 4;
          slice[0] = in[64 * h + k];         // ql: values 128h + k, 128h + 64 + k
          slice[64] = in[64 * h + 32 + k];   // ql: values 128h + 32 + k, 128h + 96 + k
          slice[128] = in[128 + 32 * h + k];  // qh
        }
      for (size_t sub = 0; sub < 16; ++sub) out[kQ6kScales + sub / 2 * 32 + r * 2 + sub % 2] = in[192 + sub];
      std::memcpy(out + kQ6kD + r * 2, in + 208, 2);
    }
}

// `rows` (≤ 16) rows of x (cols apart, whole super-blocks) quantised with ggml's reference Q4_K / Q5_K /
// Q6_K quantisers, as one group of q4_k / q5_k / q6_k.
inline void kquantize_group(WFormat f, const float* x, size_t rows, size_t cols, uint8_t* group) {
  const size_t src_block = gguf_kblock_bytes(f), blocks = cols / kKBlock;
  std::vector<uint8_t> gguf(rows * blocks * src_block);
  for (size_t r = 0; r < rows; ++r)
    for (size_t b = 0; b < blocks; ++b) {
      const float* v = x + r * cols + b * kKBlock;
      uint8_t* out = gguf.data() + (r * blocks + b) * src_block;
      if (f == WFormat::q4_k) ggml_quantize_q4_k(v, out);
      else if (f == WFormat::q5_k) ggml_quantize_q5_k(v, out);
      else ggml_quantize_q6_k(v, out);
    }
  repack_gguf_kgroup(f, gguf.data(), rows, cols, group);
}

// One group of f16_g16 / bf16_g16 from `rows` (≤ 16) rows of stored values of that type (cols 2-byte values
// apart, any alignment; zero padding rows): the bits are copied, not converted.
inline void write_group_bits16(WFormat f, const uint8_t* src, size_t rows, size_t cols, uint8_t* group) {
  const size_t width = f == WFormat::bf16_g16 ? 2 : 1;  // columns side by side in a row's slot
  const size_t slots = (cols + width - 1) / width;
  for (size_t s = 0; s < slots; ++s)  // the writes are sequential
    for (size_t r = 0; r < kQuantRows; ++r)
      for (size_t k = 0; k < width; ++k) {
        const size_t i = s * width + k;
        uint8_t* dst = group + ((s * kQuantRows + r) * width + k) * 2;
        if (r < rows && i < cols) std::memcpy(dst, src + (r * cols + i) * 2, 2);
        else std::memset(dst, 0, 2);
      }
}

// `rows` (≤ 16) rows of x (cols apart) as one group of the grouped format f (zero padding rows). For f16_g16 /
// bf16_g16, x must hold values of that type (read from it), so the conversion back is exact.
inline void write_group(WFormat f, const float* x, size_t rows, size_t cols, uint8_t* group) {
  if (is_quantised(f)) return quantize_group(f, x, rows, cols, group);
  if (is_kquant(f)) return kquantize_group(f, x, rows, cols, group);
  if (f == WFormat::f16_g16 || f == WFormat::bf16_g16) {
    std::vector<uint16_t> bits(rows * cols);
    for (size_t i = 0; i < bits.size(); ++i) {
      uint32_t b;
      std::memcpy(&b, &x[i], 4);
      bits[i] = f == WFormat::f16_g16 ? f32_to_f16(x[i]) : static_cast<uint16_t>(b >> 16);
    }
    return write_group_bits16(f, reinterpret_cast<const uint8_t*>(bits.data()), rows, cols, group);
  }
  for (size_t i = 0; i < cols; ++i) {  // f32_g16, column by column: the writes are sequential
    uint8_t* col = group + i * kQuantRows * 4;
    for (size_t r = 0; r < rows; ++r) std::memcpy(col + 4 * r, &x[r * cols + i], 4);
    std::memset(col + rows * 4, 0, (kQuantRows - rows) * 4);
  }
}

// Groups per tile of a grouped matrix in format f (q8_0 / q4_0 interleave theirs; the others are single groups).
inline constexpr size_t tile_groups(WFormat f) { return is_quantised(f) ? kQuantTileGroups : 1; }
inline constexpr size_t grouped_tiles(WFormat f, size_t rows) {
  return ((rows + kQuantRows - 1) / kQuantRows + tile_groups(f) - 1) / tile_groups(f);
}

// Tile k of a rows × cols grouped matrix at out: each of its groups written on its own by write(g, at) (group
// g, as write_group lays one out), then, for q8_0 / q4_0, interleaved into place (staged: room it may grow).
template <class WriteGroup>
inline void write_tile(WFormat f, size_t rows, size_t cols, size_t k, uint8_t* out, std::vector<uint8_t>& staged,
                       WriteGroup&& write) {
  const size_t gbytes = group_bytes(f, cols), groups = (rows + kQuantRows - 1) / kQuantRows;
  const size_t g0 = k * tile_groups(f), n = std::min(tile_groups(f), groups - g0);
  uint8_t* tile = out + g0 * gbytes;
  if (n == 1) return write(g0, tile);
  staged.resize(n * gbytes);
  for (size_t g = 0; g < n; ++g) write(g0 + g, staged.data() + g * gbytes);
  interleave_quant_tile(f, cols, n, staged.data(), tile);
}

// A whole rows × cols fp32 matrix (row-major) in grouped format f (grouped_matrix_bytes(f, rows, cols) at
// out). (Loading does the same from any source: see WeightStore::to_grouped.)
inline void write_matrix(WFormat f, const float* x, size_t rows, size_t cols, uint8_t* out) {
  std::vector<uint8_t> staged;
  for (size_t k = 0; k < grouped_tiles(f, rows); ++k)
    write_tile(f, rows, cols, k, out, staged, [&](size_t g, uint8_t* at) {
      const size_t r0 = g * kQuantRows;
      write_group(f, x + r0 * cols, std::min(kQuantRows, rows - r0), cols, at);
    });
}

// Memory on 64-byte boundaries (a vector load never straddles two cache lines), not initialised.
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<uint8_t[], FreeDeleter>;
inline AlignedBytes aligned_bytes(size_t n, size_t alignment = 64) {
  void* p = std::aligned_alloc(alignment, (std::max<size_t>(n, 1) + alignment - 1) / alignment * alignment);
  if (!p) throw Error("out of memory (" + std::to_string(n) + " bytes)");
  return AlignedBytes(static_cast<uint8_t*>(p));
}
// Decode streams every weight once per token; with 4 KB pages each page of it is a TLB miss. Memory in
// 2 MB transparent huge pages (madvise) read the converted q4_0 weights of a stories110M model 8-10%
// faster at decode and f32 5% faster, on Zen 5.
inline constexpr size_t kHugePage = size_t{2} << 20;

// n bytes, 2 MB-aligned and backed by huge pages where the kernel has them: the whole huge pages inside n (a
// last partial one would make up to 2 MB resident that nothing uses, e.g. of a 2.8 MB recurrent state).
inline AlignedBytes huge_page_bytes(size_t n) {
  AlignedBytes b = aligned_bytes(n, kHugePage);
  if (n >= kHugePage) ::madvise(b.get(), n / kHugePage * kHugePage, MADV_HUGEPAGE);
  return b;
}
using AlignedFloats = std::unique_ptr<float[], FreeDeleter>;
inline AlignedFloats aligned_floats(size_t n) { return AlignedFloats(reinterpret_cast<float*>(aligned_bytes(n * 4).release())); }

// A weight matrix [out][in] in the format the model keeps it in. Only matmul and embed_rows read it.
struct Matrix {
  WFormat format = WFormat::f32;
  const void* data = nullptr;
};

// How a binary keeps its matrices (`llmc build --dtype`): all fp32, f16/bf16 as stored in the checkpoint
// (fp32 ones stay fp32), or block-quantised at load with GGUF's q8_0 / q4_0 / Q4_K / Q5_K / Q6_K numerics; always
// grouped.
enum class MatrixStorage { f32, as_stored, q8_0, q4_0, q4_k, q6_k, q5_k };

struct TensorInfo {
  DType dtype = DType::f32;
  std::vector<int64_t> shape;  // of the matrix if grouped
  const uint8_t* data = nullptr;
  size_t bytes = 0;
  std::string file;
  WFormat grouped = WFormat::f32;  // a grouped format: a matrix written by `llmc quantize`, dtype unused
  // A GGUF tensor of a block-quantised type (Q8_0, Q4_K, ...): rows of whole blocks, dtype unused. F32, F16
  // and BF16 GGUF tensors are plain dtypes (blocks stays f32).
  GgmlType blocks = GgmlType::f32;
  // Held in memory (WeightStore::from_bytes), not mapped from a file: its pages are never released, as
  // MADV_DONTNEED on heap memory would zero them.
  bool in_memory = false;

  bool block_quantised() const { return blocks != GgmlType::f32; }
  // Bytes of `values` values (whole rows) as stored.
  size_t stored_bytes(size_t values) const {
    if (!block_quantised()) return values * dtype_size(dtype);
    const GgmlTypeInfo& b = *ggml_type_info(static_cast<uint32_t>(blocks));
    return values / b.block_values * b.block_bytes;
  }
};

inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Matches a tensor name against a pattern where "{i}" stands for a layer number and "*" for anything.
inline bool name_matches(std::string_view pattern, std::string_view name) {
  if (pattern.empty()) return name.empty();
  if (pattern.substr(0, 3) == "{i}") {
    size_t digits = 0;
    while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') ++digits;
    for (size_t n = 1; n <= digits; ++n)
      if (name_matches(pattern.substr(3), name.substr(n))) return true;
    return false;
  }
  if (pattern[0] == '*') {
    for (size_t n = 0; n <= name.size(); ++n)
      if (name_matches(pattern.substr(1), name.substr(n))) return true;
    return false;
  }
  return !name.empty() && pattern[0] == name[0] && name_matches(pattern.substr(1), name.substr(1));
}

// A tensor a generated model binds, as its tables list them: the checkpoint name and the shape as stored
// (1-D, 2-D, 3-D for experts stacked in one tensor, 4-D for a 2-D convolution's [out, in, kh, kw]). A table's gap
// (a layer without the tensor) has no name.
struct TensorRef {
  const char* name;
  int64_t dims[4];
  int rank;
  std::vector<int64_t> shape() const { return std::vector<int64_t>(dims, dims + rank); }
};

class WeightStore {
 public:
  // path: a .safetensors file, a model.safetensors.index.json, a folder holding either, a GGUF file (by its
  // magic), or a llama2.c .bin.
  static WeightStore open(const std::string& path);
  // The same parsers on bytes in memory; `name` picks the format as a path does (".safetensors" or a
  // llama2.c checkpoint; GGUF by its magic). For tests and fuzzing.
  static WeightStore from_bytes(const std::string& name, std::string bytes);
  // A safetensors file that is `size` bytes at `offset` (page-aligned) of the file at `path`: the weights a
  // one-file binary carries (llmc/embedded.hpp). `name` is what messages call it.
  static WeightStore open_part(const std::string& path, uint64_t offset, uint64_t size, const std::string& name);

  bool has(const std::string& name) const { return tensors_.count(name) > 0; }

  // The grouped formats the model has kernels for (kKernelFormats of its binary): a matrix that would be kept
  // in another is refused by name as it is bound.
  void set_kernel_formats(uint32_t formats) { kernel_formats_ = formats; }

  // A matrix of exactly `shape` (as stored) kept as `storage` says, grouped for the matmul kernels: fp32,
  // f16 / bf16 as stored (fp32 stays fp32), or quantised (fp32 where rows are not whole blocks of 32).
  // The copy replaces the mapped source, whose pages are released as it is made.
  Matrix get_matrix(const std::string& name, const std::vector<int64_t>& shape, MatrixStorage storage) {
    if (shape.size() == 2) return get_grouped(name, shape, storage);
    return {WFormat::f32, get(name, shape)};
  }

  Matrix get_matrix(const TensorRef& t, MatrixStorage storage) { return get_matrix(t.name, t.shape(), storage); }

  // Matrix e of the experts stacked in tensor t ([experts, out, in] as stored, or [experts, in, out] when
  // transposed: each expert's matrix is transposed at load), kept as get_matrix keeps one.
  Matrix get_expert_matrix(const TensorRef& t, int e, MatrixStorage storage, bool transposed = false) {
    const TensorInfo& stacked = checked(t.name, t.shape());
    if (t.rank != 3 || e < 0 || e >= t.dims[0]) throw Error(std::string("internal error: expert of tensor ") + t.name);
    if (is_grouped(stacked.grouped))
      throw Error(stacked.file + ": tensor '" + t.name + "' is stored grouped, but this model reads it as stacked " +
                  "experts: use the original checkpoint");
    used_.insert(t.name);
    TensorInfo expert = stacked;
    expert.shape = {t.dims[1], t.dims[2]};
    expert.bytes = stacked.stored_bytes(static_cast<size_t>(t.dims[1] * t.dims[2]));
    expert.data = stacked.data + static_cast<size_t>(e) * expert.bytes;
    if (!transposed) return grouped_copy(expert, storage, t.name);
    if (expert.block_quantised())
      throw Error(stacked.file + ": tensor '" + t.name + "' holds block-quantised experts stored [in, out], which " +
                  "cannot be transposed");
    const size_t size = dtype_size(expert.dtype), rows = static_cast<size_t>(t.dims[1]),
                 cols = static_cast<size_t>(t.dims[2]);
    std::vector<uint8_t> copy(expert.bytes);  // the same values [out, in], then grouped as any matrix
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < cols; ++c) std::memcpy(&copy[(c * rows + r) * size], expert.data + (r * cols + c) * size, size);
    expert.data = copy.data();
    expert.shape = {t.dims[2], t.dims[1]};
    return grouped_copy(expert, storage, t.name);
  }

  // The values of stored 2-D tensor `ref` as fp32 (row-major, as stored), a copy: the model derives other
  // matrices from them (derived_matrices). The tensor counts as used and its mapped pages are released.
  std::vector<float> values_f32(const TensorRef& ref) {
    const TensorInfo& t = checked(ref.name, ref.shape());
    if (is_grouped(t.grouped))
      throw Error(t.file + ": tensor '" + ref.name + "' is stored grouped (" + grouped_format_name(t.grouped) +
                  ", by llmc quantize), but this model derives other matrices from it: use the original checkpoint");
    used_.insert(ref.name);
    size_t n = 1;
    for (int d = 0; d < ref.rank; ++d) n *= static_cast<size_t>(ref.dims[d]);
    std::vector<float> x(n);
    read_as_f32(t, t.data, x.size(), x.data());
    release_pages(t, t.data, t.bytes);
    return x;
  }

  // `count` matrices of rows × cols derived from stored tensor `ref`'s values (values_f32; MLA's per-head parts
  // of kv_b, some transposed): pick(k, m) writes matrix k (fp32, row-major) to m. They are kept one after
  // another, matrix k matrix_stride(format, rows, cols)·k bytes after the first (returned), in the format
  // get_matrix keeps a stored matrix of that shape and of the tensor's type in (a block-quantised tensor's
  // blocks do not survive the rearrangement: fp32).
  template <class Pick>
  Matrix derived_matrices(const TensorRef& ref, int count, size_t rows, size_t cols, MatrixStorage storage,
                          Pick&& pick) {
    TensorInfo derived = checked(ref.name, ref.shape());
    derived.shape = {static_cast<int64_t>(rows), static_cast<int64_t>(cols)};
    if (derived.block_quantised()) derived.blocks = GgmlType::f32, derived.dtype = DType::f32;
    const WFormat format = grouped_format(derived, storage);
    require_kernels(derived, ref.name, format);
    const size_t bytes = matrix_stride(format, rows, cols);
    uint8_t* const out = matrix_bytes(bytes * static_cast<size_t>(count));
    parallel_for(count, static_cast<int64_t>(count) * static_cast<int64_t>(rows * cols) * 16, [&](int begin, int end) {
      std::vector<float> m(rows * cols);
      for (int k = begin; k < end; ++k) {
        pick(k, m.data());
        write_matrix(format, m.data(), rows, cols, out + static_cast<size_t>(k) * bytes);
      }
    });
    return {format, out};
  }

  // The stored tensor `name`, which must exist with exactly `shape` (grouped ones: their matrix shape).
  const TensorInfo& checked(const std::string& name, const std::vector<int64_t>& shape) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) throw Error(source_ + ": tensor '" + name + "' is missing (expected shape " +
                                          shape_str(shape) + ")");
    const TensorInfo& t = it->second;
    if (t.shape != shape)
      throw Error(t.file + ": tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected " +
                  shape_str(shape));
    return t;
  }

  // The tensor as fp32 of exactly `shape` (as stored). transpose: return it as [shape[1], shape[0]].
  const float* get(const std::string& name, const std::vector<int64_t>& shape, bool transpose = false) {
    const TensorInfo& t = checked(name, shape);
    if (is_grouped(t.grouped))
      throw Error(t.file + ": tensor '" + name + "' is stored grouped (" + grouped_format_name(t.grouped) +
                  ", by llmc quantize), but this model reads it as a plain tensor: use the original checkpoint");
    if (transpose && shape.size() != 2) throw Error(t.file + ": tensor '" + name + "' must be 2-D to be transposed");
    used_.insert(name);
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    const bool aligned = reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0;
    const MappedFile* file = t.bytes < kSmallTensorBytes ? file_of(t) : nullptr;
    const bool plain_f32 = t.dtype == DType::f32 && !t.block_quantised();
    if (plain_f32 && aligned && !transpose && !file) return reinterpret_cast<const float*>(t.data);
    std::vector<float>& out = owned_.emplace_back(n);
    if (file) {  // norms, biases: copied (see MappedFile::read), so the map stays untouched
      std::vector<uint8_t> bytes(t.bytes);
      file->read(t.data, t.bytes, bytes.data());
      read_as_f32(t, bytes.data(), n, out.data());
    } else {
      read_as_f32(t, t.data, n, out.data());
    }
    if (transpose) {
      std::vector<float> tr(n);
      const size_t rows = static_cast<size_t>(shape[0]), cols = static_cast<size_t>(shape[1]);
      for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < cols; ++c) tr[c * rows + r] = out[r * cols + c];
      out.swap(tr);
    }
    return out.data();
  }

  const float* get(const TensorRef& t, bool transpose = false) { return get(t.name, t.shape(), transpose); }

  // A private fp32 copy the model may modify (e.g. to normalise rows once at load).
  float* get_copy(const std::string& name, const std::vector<int64_t>& shape) {
    const float* p = get(name, shape);
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    std::vector<float>& out = owned_.emplace_back(p, p + n);
    return out.data();
  }

  float* get_copy(const TensorRef& t) { return get_copy(t.name, t.shape()); }

  // Fails, naming them, if tensors remain that were neither used nor match an `unused` pattern. Loading is
  // over: the matrix memory no matrix uses is given back.
  void finish(const std::vector<std::string>& unused_patterns) {
    release_chunk_rest();
    std::vector<std::string> left;
    for (const auto& [name, info] : tensors_) {
      if (used_.count(name) || implicit_unused_.count(name)) continue;
      bool declared = false;
      for (const auto& p : unused_patterns) declared = declared || name_matches(p, name);
      if (!declared) left.push_back(name);
    }
    if (left.empty()) return;
    std::string msg = source_ + ": " + std::to_string(left.size()) +
                      " checkpoint tensor(s) are neither used by this model nor declared unused in its spec:";
    for (size_t i = 0; i < left.size() && i < 20; ++i) msg += "\n  " + left[i] + " " + shape_str(tensors_.at(left[i]).shape);
    if (left.size() > 20) msg += "\n  ...";
    throw Error(msg);
  }

  size_t tensor_count() const { return tensors_.size(); }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  // Counts a tensor as read (for finish()) by a tool that copies it rather than binding it.
  void mark_used(const std::string& name) { used_.insert(name); }

  WeightStore() = default;
  WeightStore(WeightStore&&) = default;
  WeightStore& operator=(WeightStore&&) = default;

 private:
  void add_safetensors(std::unique_ptr<MappedFile> file);

  // The checked 2-D tensor in the grouped format `storage` gives (or the one a `llmc quantize` file holds).
  Matrix get_grouped(const std::string& name, const std::vector<int64_t>& shape, MatrixStorage storage) {
    const TensorInfo& t = checked(name, shape);
    used_.insert(name);
    if (is_grouped(t.grouped)) {  // mapped as it is, unless a foreign writer left it unaligned
      require_kernels(t, name, t.grouped);
      if (reinterpret_cast<uintptr_t>(t.data) % 64 == 0) return {t.grouped, t.data};
      uint8_t* copy = matrix_bytes(t.bytes);
      std::memcpy(copy, t.data, t.bytes);
      return {t.grouped, copy};
    }
    return grouped_copy(t, storage, name);
  }

  // Stored 2-D tensor t converted to the grouped format `storage` gives.
  Matrix grouped_copy(const TensorInfo& t, MatrixStorage storage, const std::string& name) {
    const WFormat format = grouped_format(t, storage);
    require_kernels(t, name, format);
    uint8_t* const out = matrix_bytes(grouped_bytes(t, format));
    to_grouped(t, format, out);
    return {format, out};
  }

  void require_kernels(const TensorInfo& t, const std::string& name, WFormat format) const {
    if (!has_kernels(kernel_formats_, format))
      throw KernelFormatError(t.file + ": tensor '" + name + "' is kept as " + kernel_format_name(format) +
                              ", a format this binary has no kernels for (built with llmc build --formats): " +
                              "rebuild it with " + kernel_format_name(format) + " among its --formats, or without");
  }

  // Room for a matrix the model keeps (64-byte aligned). For a model of 64 MB or more: cut from chunks in
  // huge pages (kHugePage), so that most matrices, smaller than 2 MB, are in huge pages too. A chunk is as
  // large as the checkpoint (128 MB to 1 GB of address space); only written pages are resident, so each
  // chunk costs at most one partly used huge page (≤ 2 MB) more than the matrices need.
  uint8_t* matrix_bytes(size_t n) {
    constexpr size_t kHugeModel = size_t{64} << 20;
    size_t mapped = 0;
    for (const auto& f : files_) mapped += f->size();
    if (mapped < kHugeModel) return owned_bytes_.emplace_back(aligned_bytes(n)).get();
    n = (n + 63) / 64 * 64;
    if (chunk_left_ < n) {
      release_chunk_rest();
      const size_t chunk = std::max(n, std::clamp(mapped, size_t{128} << 20, size_t{1} << 30));
      chunk_next_ = owned_bytes_.emplace_back(huge_page_bytes(chunk)).get();
      chunk_left_ = chunk;
    }
    uint8_t* const p = chunk_next_;
    chunk_next_ += n;
    chunk_left_ -= n;
    return p;
  }

  // Gives back the pages of the current matrix chunk past its last matrix: in huge pages, the rest of the last
  // one a matrix touched (up to 2 MB). Matrices cut from it later fault their pages in again.
  void release_chunk_rest() {
    if (chunk_left_ > 0) drop_pages(chunk_next_, chunk_left_);
  }

 public:
  // The grouped format get_matrix keeps a stored 2-D tensor in, and its size in bytes.
  // A GGUF Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K matrix kept as stored (or as the same format) is repacked, its values
  // unchanged; other block types are dequantised to fp32 (exact) unless asked to be quantised. Rows that
  // are not whole blocks of the format asked for (256 columns for q4_k / q5_k / q6_k, 32 for q8_0 / q4_0) are
  // kept as q8_0 where they are whole blocks of 32 (as llama-quantize falls back to another type for
  // them), else as fp32.
  static WFormat grouped_format(const TensorInfo& t, MatrixStorage storage) {
    const size_t cols = static_cast<size_t>(t.shape[1]);
    const bool as_stored = storage == MatrixStorage::as_stored;
    if (t.blocks == GgmlType::q8_0 && (as_stored || storage == MatrixStorage::q8_0)) return WFormat::q8_0;
    if (t.blocks == GgmlType::q4_0 && (as_stored || storage == MatrixStorage::q4_0)) return WFormat::q4_0;
    if (t.blocks == GgmlType::q4_k && (as_stored || storage == MatrixStorage::q4_k)) return WFormat::q4_k;
    if (t.blocks == GgmlType::q5_k && (as_stored || storage == MatrixStorage::q5_k)) return WFormat::q5_k;
    if (t.blocks == GgmlType::q6_k && (as_stored || storage == MatrixStorage::q6_k)) return WFormat::q6_k;
    const bool kquant = storage == MatrixStorage::q4_k || storage == MatrixStorage::q5_k || storage == MatrixStorage::q6_k;
    if (kquant && cols % kKBlock == 0)
      return storage == MatrixStorage::q4_k ? WFormat::q4_k : storage == MatrixStorage::q5_k ? WFormat::q5_k : WFormat::q6_k;
    if (kquant) storage = MatrixStorage::q8_0;
    if ((storage == MatrixStorage::q8_0 || storage == MatrixStorage::q4_0) && cols % kQuantBlock == 0)
      return storage == MatrixStorage::q8_0 ? WFormat::q8_0 : WFormat::q4_0;
    if (storage == MatrixStorage::as_stored && t.dtype != DType::f32 && !t.block_quantised())
      return t.dtype == DType::f16 ? WFormat::f16_g16 : WFormat::bf16_g16;
    return WFormat::f32_g16;
  }
  static size_t grouped_bytes(const TensorInfo& t, WFormat format) {
    return grouped_matrix_bytes(format, static_cast<size_t>(t.shape[0]), static_cast<size_t>(t.shape[1]));
  }

  // Writes the stored 2-D tensor t in grouped `format` to out (grouped_bytes(t, format) bytes, every one
  // written). About 1 MB of the source at a time, in parallel, the source's mapped pages released as they
  // are converted, so that peak memory stays near the size of the result. q8_0 / q4_0 go a tile at a time:
  // its groups written on their own, then interleaved into place.
  static void to_grouped(const TensorInfo& t, WFormat format, uint8_t* out) {
    const size_t rows = static_cast<size_t>(t.shape[0]), cols = static_cast<size_t>(t.shape[1]);
    const size_t tiles = grouped_tiles(format, rows), tile_rows = tile_groups(format) * kQuantRows;
    const uint8_t* src = t.data;
    const size_t src_tile = tile_rows * t.stored_bytes(cols);
    const size_t batch = std::max<size_t>(1, (size_t{1} << 20) / std::max<size_t>(src_tile, 1));
    for (size_t t0 = 0; t0 < tiles; t0 += batch) {
      const size_t t1 = std::min(tiles, t0 + batch);
      parallel_for(static_cast<int>(t1 - t0), static_cast<int64_t>((t1 - t0) * tile_rows * cols) * 16,
                   [&](int begin, int end) {
                     std::vector<uint8_t> staged;
                     std::vector<float> scratch;
                     for (size_t k = t0 + static_cast<size_t>(begin); k < t0 + static_cast<size_t>(end); ++k)
                       write_tile(format, rows, cols, k, out, staged, [&](size_t g, uint8_t* at) {
                         write_source_group(t, format, g * kQuantRows, at, scratch);
                       });
                   });
      const size_t first = t0 * src_tile, last = std::min(t.bytes, t1 * src_tile);
      release_pages(t, src + first, last - first);
    }
    release_pages(t, t.data, t.bytes);  // the pages straddling two batches
  }

 private:
  // The group of stored tensor t's rows from r0 (up to 16) in grouped `format`, on its own (for q8_0 / q4_0 a
  // tile of one group): GGUF blocks of the same type moved as they are, f16 / bf16 into f16_g16 / bf16_g16
  // copied, anything else through fp32 (in x).
  static void write_source_group(const TensorInfo& t, WFormat format, size_t r0, uint8_t* group, std::vector<float>& x) {
    const size_t rows = static_cast<size_t>(t.shape[0]), cols = static_cast<size_t>(t.shape[1]);
    const size_t n = std::min(kQuantRows, rows - r0);
    const uint8_t* rows_src = t.data + r0 * t.stored_bytes(cols);
    const bool repack = (t.blocks == GgmlType::q8_0 && format == WFormat::q8_0) ||
                        (t.blocks == GgmlType::q4_0 && format == WFormat::q4_0) ||
                        (t.blocks == GgmlType::q4_k && format == WFormat::q4_k) ||
                        (t.blocks == GgmlType::q5_k && format == WFormat::q5_k) ||
                        (t.blocks == GgmlType::q6_k && format == WFormat::q6_k);
    if (repack) return is_kquant(format) ? repack_gguf_kgroup(format, rows_src, n, cols, group)
                                         : repack_gguf_group(format, rows_src, n, cols, group);
    if (!t.block_quantised() && ((t.dtype == DType::f16 && format == WFormat::f16_g16) ||
                                 (t.dtype == DType::bf16 && format == WFormat::bf16_g16)))
      return write_group_bits16(format, rows_src, n, cols, group);
    x.resize(n * cols);
    read_as_f32(t, rows_src, n * cols, x.data());
    write_group(format, x.data(), n, cols, group);
  }

  // n values (whole rows) of stored tensor t, at data (any alignment), as fp32.
  static void read_as_f32(const TensorInfo& t, const uint8_t* data, size_t n, float* out) {
    if (n == 0) return;  // an empty tensor may have no data pointer
    if (t.block_quantised()) return ggml_dequantize(t.blocks, data, n, out);
    const DType dtype = t.dtype;
    if (dtype == DType::f32) return static_cast<void>(std::memcpy(out, data, 4 * n));
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, data + 2 * i, 2);
      out[i] = dtype == DType::f16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
  }

  // Tensors smaller than this that the model reads as fp32 (get) are copied with pread.
  static constexpr size_t kSmallTensorBytes = size_t{1} << 20;
  const MappedFile* file_of(const TensorInfo& t) const {
    for (const auto& f : files_)
      if (f->contains(t.data, t.bytes)) return f.get();
    return nullptr;
  }

  // Drops the resident pages of a mapped range of tensor t the model no longer reads (whole pages inside it
  // only; a map of the file reads them again if asked).
  static void release_pages(const TensorInfo& t, const uint8_t* data, size_t bytes) {
    if (!t.in_memory) drop_pages(data, bytes);
  }
  // MADV_DONTNEED on the whole pages inside [data, data + bytes).
  static void drop_pages(const uint8_t* data, size_t bytes) {
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
    const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) / page * page;
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
  void add_llama2c(std::unique_ptr<MappedFile> file);
  void add_gguf(std::unique_ptr<MappedFile> file);

  std::string source_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::map<std::string, TensorInfo> tensors_;
  std::set<std::string> used_, implicit_unused_;
  uint32_t kernel_formats_ = ~uint32_t{0};
  std::vector<std::vector<float>> owned_;
  std::vector<AlignedBytes> owned_bytes_;
  uint8_t* chunk_next_ = nullptr;  // matrix_bytes' current chunk
  size_t chunk_left_ = 0;
};

}  // namespace llmc
