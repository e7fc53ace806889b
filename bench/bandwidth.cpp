// Read-bandwidth ceiling: the fastest this machine reads a buffer much larger than the caches, with 1..N OpenMP
// threads (static partition, like the model). It is meant as a ceiling the decode kernels cannot beat, so it
// reads the way the best of them do and better:
// - the buffer sits in 2 MB pages (hugetlbfs if pages are reserved, else transparent huge pages), so TLB misses
//   do not slow it (the model's weights sit in huge pages too);
// - 64-byte AVX-512 loads (AVX2 where there is no AVX-512), two cache lines per stream per step;
// - each thread reads 1, 2, 4 or 8 interleaved streams (its part cut into that many pieces, read side by side),
//   as the grouped kernels read several groups of rows at a time, more lines in flight than one stream keeps;
// - with and without software prefetch some lines ahead;
// best of several passes for each, the best of all counted.
// Prints "THREADS GB/s" lines on stdout (bench.py reads them) and the variant that won on stderr.
//   bandwidth [MIB [MAX_THREADS [PASSES]]]
#include <immintrin.h>
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

#if defined(__AVX512F__)
using Vec = __m512;
inline Vec vzero() { return _mm512_setzero_ps(); }
inline Vec vload(const float* p) { return _mm512_load_ps(p); }
inline Vec vadd(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline float vsum(Vec v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float s = 0;
  for (float x : lanes) s += x;
  return s;
}
constexpr const char* kLoads = "AVX-512";
#else
struct Vec {
  __m256 lo, hi;
};
inline Vec vzero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
inline Vec vload(const float* p) { return {_mm256_load_ps(p), _mm256_load_ps(p + 8)}; }
inline Vec vadd(Vec a, Vec b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
inline float vsum(Vec v) {
  float lanes[8];
  _mm256_storeu_ps(lanes, _mm256_add_ps(v.lo, v.hi));
  float s = 0;
  for (float x : lanes) s += x;
  return s;
}
constexpr const char* kLoads = "AVX2";
#endif

constexpr size_t kLine = 16;  // floats per 64-byte cache line
constexpr size_t kStep = 2 * kLine;  // floats one stream reads per step

// Sums `count` floats from `begin` as `Streams` interleaved streams (consecutive pieces of count / Streams floats),
// each two lines per step into its own accumulators; `Ahead` > 0 prefetches that many bytes ahead in each stream.
template <int Streams, int Ahead>
float sum_streams(const float* begin, size_t count) {
  const size_t piece = count / Streams / kStep * kStep;
  Vec acc[Streams][2];
  for (auto& a : acc) a[0] = a[1] = vzero();
  for (size_t i = 0; i < piece; i += kStep) {
    for (int s = 0; s < Streams; ++s) {
      const float* p = begin + s * piece + i;
      if constexpr (Ahead > 0) _mm_prefetch(reinterpret_cast<const char*>(p) + Ahead, _MM_HINT_T0);
      acc[s][0] = vadd(acc[s][0], vload(p));
      acc[s][1] = vadd(acc[s][1], vload(p + kLine));
    }
  }
  Vec total = vzero();
  for (auto& a : acc) total = vadd(total, vadd(a[0], a[1]));
  return vsum(total);
}

using SumFn = float (*)(const float*, size_t);
struct Variant {
  const char* name;
  SumFn fn;
};
const Variant kVariants[] = {
    {"1 stream", sum_streams<1, 0>},           {"2 streams", sum_streams<2, 0>},
    {"4 streams", sum_streams<4, 0>},          {"8 streams", sum_streams<8, 0>},
    {"1 stream, prefetch", sum_streams<1, 1024>}, {"2 streams, prefetch", sum_streams<2, 1024>},
    {"4 streams, prefetch", sum_streams<4, 512>}, {"8 streams, prefetch", sum_streams<8, 512>},
};

// The buffer in 2 MB pages: hugetlbfs when pages are reserved, else anonymous memory advised for transparent
// huge pages. `how` says which.
float* huge_buffer(size_t bytes, std::string& how) {
  const size_t huge = size_t{2} << 20;
  bytes = (bytes + huge - 1) / huge * huge;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
  if (p != MAP_FAILED) {
    how = "hugetlbfs 2 MB pages";
    return static_cast<float*>(p);
  }
  // Over-allocate so the buffer can start on a 2 MB boundary (THP only backs aligned 2 MB ranges).
  void* raw = mmap(nullptr, bytes + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    std::perror("bandwidth: mmap");
    std::exit(1);
  }
  auto* aligned = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + huge - 1) / huge * huge);
  how = madvise(aligned, bytes, MADV_HUGEPAGE) == 0 ? "transparent huge pages (madvise)"
                                                    : "4 KB pages (madvise failed)";
  return reinterpret_cast<float*>(aligned);
}

// kB of this process's anonymous memory in transparent huge pages (to report whether the advice was taken).
long anon_huge_kb() {
  FILE* f = std::fopen("/proc/self/smaps_rollup", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) break;
  std::fclose(f);
  return kb;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
  const int max_threads = argc > 2 ? std::atoi(argv[2]) : omp_get_num_procs();
  const int passes = argc > 3 ? std::atoi(argv[3]) : 6;
  if (mib < 64 || max_threads < 1 || passes < 1) {
    std::fprintf(stderr, "usage: bandwidth [MIB >= 64 [MAX_THREADS >= 1 [PASSES >= 1]]]\n");
    return 2;
  }
  // Whole steps for every thread and stream count, so each variant reads exactly n floats.
  const size_t unit = kStep * 8 * static_cast<size_t>(max_threads) * 840;  // 840: divisible by 1..8
  const size_t n = std::max<size_t>(1, mib * (1 << 20) / sizeof(float) / unit) * unit;
  std::string how;
  float* a = huge_buffer(n * sizeof(float), how);
#pragma omp parallel for schedule(static) num_threads(max_threads)
  for (size_t i = 0; i < n; ++i) a[i] = static_cast<float>(i & 1023) * 1e-3f;
  std::fprintf(stderr, "bandwidth: %zu MiB, %s, %s loads, %ld MB in transparent huge pages\n",
               n * sizeof(float) >> 20, how.c_str(), kLoads, anon_huge_kb() / 1024);
  volatile float sink = 0;
  for (int threads = 1; threads <= max_threads; ++threads) {
    double best = 0;
    const char* best_name = "";
    for (int pass = 0; pass < passes; ++pass) {
      for (const Variant& v : kVariants) {
        const auto t0 = std::chrono::steady_clock::now();
        float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
          const size_t part = n / static_cast<size_t>(omp_get_num_threads());
          total += v.fn(a + part * static_cast<size_t>(omp_get_thread_num()), part);
        }
        sink = sink + total;
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double gbs = static_cast<double>(n * sizeof(float)) / sec / 1e9;
        if (gbs > best) best = gbs, best_name = v.name;
      }
    }
    std::printf("%d %.2f\n", threads, best);
    std::fprintf(stderr, "bandwidth: %d thread(s) %.2f GB/s (%s per thread)\n", threads, best, best_name);
  }
  return 0;
}
