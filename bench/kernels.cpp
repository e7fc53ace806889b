// Kernel microbenchmarks over the runtime headers (bench/kernels.sh builds and runs it).
//   kernels matmul FORMAT THREADS [MB] [SHAPE]
//                                        decode matmuls (one token) of stories110M's (or, with SHAPE tinyllama,
//                                        TinyLlama's; moe: the bench's MoE experts') matrix shapes, FORMAT one of f32_g16 f16_g16 bf16_g16 q8_0
//                                        q4_0 q4_k q5_k q6_k: GB/s of weights streamed through MB (default 500)
//                                        of distinct matrices, more than the caches hold
//   kernels peak                         one core's arithmetic peak: 512-bit fp32 FMAs and vdpbf16ps (bf16 pairs)
//                                        in 12 independent chains, GFLOP/s (what bounds f32/f16 and bf16 prefill)
//   kernels attention THREADS POS        one decode step's attention over POS cached positions for 12 layers of
//                                        stories110M (12 heads of 64) and of TinyLlama (32 heads, 4 KV heads),
//                                        fp32 cache laid out as the model's (a row per position), with the caches
//                                        evicted before each layer, as in decode
//   kernels mla THREADS POS              the same for multi-head latent attention in its absorbed form (llmc/mla.hpp):
//                                        DeepSeek-V2-Lite's 16 heads over one shared row of latent 512 + rope 64,
//                                        f16 cache of 4 layers' rows, as the bench's dsv2lite4L builds it
//                                        (attention, mla: KERNELS_CPU_TIME=1 reports CPU time, as for matmul)
// Best of several passes; prints one line per case.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <ctime>
#include <vector>

#include "llmc/kernels.hpp"
#include "llmc/matmul_grouped.hpp"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The process's CPU time: with KERNELS_CPU_TIME=1 the matmul cases report GB/s per CPU-second, which a
// busy machine does not inflate by descheduling (it still shares caches and memory bandwidth). For
// comparing two variants of a kernel at 1 thread; not a speed claim.
double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

template <llmc::WFormat F, int Out, int In>
void bench_matmul(double megabytes) {
  using namespace llmc;
  const size_t bytes = (Out + 15) / 16 * group_bytes(F, In);
  const int count = static_cast<int>(megabytes * 1e6 / static_cast<double>(bytes)) + 1;
  std::vector<AlignedBytes> matrices;
  for (int k = 0; k < count; ++k) {
    matrices.push_back(huge_page_bytes(bytes));
    uint8_t* p = matrices.back().get();
    for (size_t i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(((i * 2654435761u + k) >> 13) & 0x3f);  // finite
  }
  std::vector<float> x(In), y(Out);
  for (int i = 0; i < In; ++i) x[i] = 0.01f * static_cast<float>(i % 17);
  const bool cpu_time = std::getenv("KERNELS_CPU_TIME") != nullptr;
  double best = 1e30;
  for (int pass = 0; pass < 10; ++pass) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    for (int k = 0; k < count; ++k) mm::matmul_grouped<F, Out, In>(y.data(), Out, x.data(), matrices[k].get(), nullptr, 1);
    best = std::min(best, cpu_time ? cpu_seconds() - c0 : seconds_since(t0));
  }
  std::printf("matmul %-8s %5d x %-5d %d thread(s): %5.1f GB/s\n", grouped_format_name(F), Out, In, max_threads(),
              static_cast<double>(count) * static_cast<double>(bytes) / best / 1e9);
}

enum class Shapes { stories110M, tinyllama, moe };

template <llmc::WFormat F>
void bench_matmul_shapes(double megabytes, Shapes shapes) {
  if (shapes == Shapes::moe) {  // the experts of the bench's moe1.9B (OLMoE's layer) and dsv2lite4L
    bench_matmul<F, 1024, 2048>(megabytes);  // moe1.9B gate, up
    bench_matmul<F, 2048, 1024>(megabytes);  // moe1.9B down
    if constexpr (!llmc::is_kquant(F)) {     // 1408 is not whole super-blocks of 256
      bench_matmul<F, 1408, 2048>(megabytes);  // dsv2lite4L gate, up
      bench_matmul<F, 2048, 1408>(megabytes);  // dsv2lite4L down
    }
    return;
  }
  if (shapes == Shapes::tinyllama) {
    bench_matmul<F, 2048, 2048>(megabytes);  // q, o
    bench_matmul<F, 256, 2048>(megabytes);   // k, v
    bench_matmul<F, 5632, 2048>(megabytes);  // gate, up
    bench_matmul<F, 2048, 5632>(megabytes);  // down
    return;
  }
  bench_matmul<F, 768, 768>(megabytes);   // q, k, v, o
  bench_matmul<F, 2048, 768>(megabytes);  // gate, up
  bench_matmul<F, 768, 2048>(megabytes);  // down
}

template <int Heads, int KvHeads>
void bench_attention(const char* name, int pos) {
  using namespace llmc;
  constexpr int kHeadDim = 64, kContext = 2048, kLayers = 12;
  constexpr int kKvDim = KvHeads * kHeadDim, kRow = kLayers * 2 * kKvDim;  // the model's cache rows
  if (pos < 0 || pos >= kContext) {
    std::fprintf(stderr, "kernels: POS must be in 0..%d\n", kContext - 1);
    std::exit(2);
  }
  AlignedBytes bytes = huge_page_bytes(static_cast<size_t>(kContext) * kRow * sizeof(float));
  float* cache = reinterpret_cast<float*>(bytes.get());
  for (size_t i = 0; i < static_cast<size_t>(pos + 1) * kRow; ++i)
    cache[i] = static_cast<float>((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
  std::vector<float> q(Heads * kHeadDim, 0.1f), out(Heads * kHeadDim);
  std::vector<float> scratch(max_threads() * attention_scratch_floats(Heads, kHeadDim, kContext));
  std::vector<float> evict(24 << 20, 1.0f);  // 96 MB read between layers, as the weights are in decode
  const bool cpu_time = std::getenv("KERNELS_CPU_TIME") != nullptr;  // as for matmul: 1 thread, variants compared
  volatile float sink = 0;
  double best = 1e30;
  for (int pass = 0; pass < 40; ++pass) {
    double total = 0;
    for (int l = 0; l < kLayers; ++l) {
      float s = 0;
      for (size_t i = 0; i < evict.size(); i += 16) s += evict[i];
      sink = s;
      const float* k = cache + l * 2 * kKvDim;
      const auto t0 = Clock::now();
      const double c0 = cpu_seconds();
      attention<Heads, KvHeads, kHeadDim, kContext, kRow>(out.data(), q.data(), Heads * kHeadDim, k, k + kKvDim, 1, pos,
                                                           {0.125f, 0.0f, 0, nullptr}, scratch.data());
      total += cpu_time ? cpu_seconds() - c0 : seconds_since(t0);
    }
    best = std::min(best, total);
  }
  const double read = 2.0 * kLayers * (pos + 1) * kKvDim * sizeof(float);
  std::printf("attention %-11s decode at %4d positions, %d thread(s): %6.1f us per layer, %5.1f GB/s\n", name, pos,
              max_threads(), best / kLayers * 1e6, read / best / 1e9);
}

// MLA's decode attention: 16 query rows (the absorbed queries, latent + rope values each) over the shared rows.
void bench_mla(int pos) {
  using namespace llmc;
  constexpr int kHeads = 16, kRow = 512 + 64, kContext = 4096, kLayers = 4, kStride = kLayers * kRow;
  if (pos < 0 || pos >= kContext) {
    std::fprintf(stderr, "kernels: POS must be in 0..%d\n", kContext - 1);
    std::exit(2);
  }
  AlignedBytes bytes = huge_page_bytes(static_cast<size_t>(kContext) * kStride * sizeof(uint16_t));
  uint16_t* cache = reinterpret_cast<uint16_t*>(bytes.get());
  for (size_t i = 0; i < static_cast<size_t>(pos + 1) * kStride; ++i)
    cache[i] = f32_to_f16(static_cast<float>((i * 2654435761u) % 1000) * 1e-3f - 0.5f);
  std::vector<float> q(kHeads * kRow), out(kHeads * kRow);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<float>((i * 40503u) % 1000) * 2e-3f - 1.0f;
  AlignedFloats scratch = aligned_floats(max_threads() * attention_scratch_floats(kHeads, kRow, kContext));
  std::vector<float> evict(24 << 20, 1.0f);
  const bool cpu_time = std::getenv("KERNELS_CPU_TIME") != nullptr;  // as for matmul: 1 thread, variants compared
  volatile float sink = 0;
  double best = 1e30;
  for (int pass = 0; pass < 20; ++pass) {
    double total = 0;
    for (int l = 0; l < kLayers; ++l) {
      float s = 0;
      for (size_t i = 0; i < evict.size(); i += 16) s += evict[i];
      sink = s;
      const uint16_t* rows = cache + l * kRow;
      const auto t0 = Clock::now();
      const double c0 = cpu_seconds();
      attention<kHeads, 1, kRow, kContext, kStride>(out.data(), q.data(), kHeads * kRow, rows, rows, 1, pos,
                                                    {0.07f, 0.0f, 0, nullptr}, scratch.get());
      total += cpu_time ? cpu_seconds() - c0 : seconds_since(t0);
    }
    best = std::min(best, total);
  }
  float check = 0;
  for (float v : out) check += v;
  std::printf("attention MLA (dsv2lite) decode at %4d positions, %d thread(s): %7.1f us per layer (checksum %.6g)\n",
              pos, max_threads(), best / kLayers * 1e6, check);
}

#ifdef __AVX512F__
// GFLOP/s of one core running `op` (one 512-bit instruction, `flops` each) over 12 independent accumulators.
template <typename Acc, typename Op>
double peak_gflops(Acc zero, Op op, double flops) {
  constexpr long kSteps = 20000000;
  double best = 1e30;
  Acc acc[12];
  for (auto& a : acc) a = zero;
  for (int pass = 0; pass < 5; ++pass) {
    const auto t0 = Clock::now();
    for (long k = 0; k < kSteps; ++k) {
#pragma GCC unroll 12
      for (auto& a : acc) a = op(a);
    }
    best = std::min(best, seconds_since(t0));
  }
  volatile float sink = 0;
  for (auto& a : acc) sink = sink + _mm512_reduce_add_ps(a);
  return 12.0 * kSteps * flops / best / 1e9;
}
#endif

void bench_peak() {
#ifdef __AVX512F__
  const __m512 a = _mm512_set1_ps(0.9999f), b = _mm512_set1_ps(0.0001f);
  std::printf("peak fp32 FMA (512-bit)   1 thread: %6.1f GFLOP/s\n",
              peak_gflops(_mm512_set1_ps(0.5f), [&](__m512 x) { return _mm512_fmadd_ps(x, a, b); }, 32));
#ifdef __AVX512BF16__
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3c00);
  std::printf("peak vdpbf16ps (512-bit)  1 thread: %6.1f GFLOP/s\n",
              peak_gflops(_mm512_setzero_ps(), [&](__m512 s) { return _mm512_dpbf16_ps(s, x, y); }, 64));
#endif
#else
  std::printf("peak: built without AVX-512\n");
#endif
}

int usage() {
  std::fprintf(stderr, "usage: kernels matmul f32_g16|f16_g16|bf16_g16|q8_0|q4_0|q4_k|q5_k|q6_k THREADS "
                       "[MB [stories110M|tinyllama|moe]]\n"
                       "       kernels peak\n"
                       "       kernels attention THREADS POS\n"
                       "       kernels mla THREADS POS\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using llmc::WFormat;
  if (argc == 2 && std::string(argv[1]) == "peak") return bench_peak(), 0;
  if (argc < 4) return usage();
  const std::string what = argv[1];
  if (what == "matmul") {
    const std::string format = argv[2];
    llmc::set_threads(std::atoi(argv[3]));
    const double mb = argc > 4 ? std::atof(argv[4]) : 500;
    const std::string shape = argc > 5 ? argv[5] : "stories110M";
    Shapes shapes;
    if (shape == "stories110M") shapes = Shapes::stories110M;
    else if (shape == "tinyllama") shapes = Shapes::tinyllama;
    else if (shape == "moe") shapes = Shapes::moe;
    else return usage();
    if (format == "f32_g16") bench_matmul_shapes<WFormat::f32_g16>(mb, shapes);
    else if (format == "f16_g16") bench_matmul_shapes<WFormat::f16_g16>(mb, shapes);
    else if (format == "bf16_g16") bench_matmul_shapes<WFormat::bf16_g16>(mb, shapes);
    else if (format == "q8_0") bench_matmul_shapes<WFormat::q8_0>(mb, shapes);
    else if (format == "q4_0") bench_matmul_shapes<WFormat::q4_0>(mb, shapes);
    else if (format == "q4_k") bench_matmul_shapes<WFormat::q4_k>(mb, shapes);
    else if (format == "q5_k") bench_matmul_shapes<WFormat::q5_k>(mb, shapes);
    else if (format == "q6_k") bench_matmul_shapes<WFormat::q6_k>(mb, shapes);
    else return usage();
  } else if (what == "attention") {
    llmc::set_threads(std::atoi(argv[2]));
    const int pos = std::atoi(argv[3]);
    bench_attention<12, 12>("stories110M", pos);
    bench_attention<32, 4>("TinyLlama", pos);
  } else if (what == "mla") {
    llmc::set_threads(std::atoi(argv[2]));
    bench_mla(std::atoi(argv[3]));
  } else {
    return usage();
  }
}
