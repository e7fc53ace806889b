// STREAM-like read bandwidth: sums a buffer much larger than the caches with 1..N OpenMP threads
// (static partition, like the model), best of several passes. Prints "threads GB/s" lines.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 512;
  const int max_threads = argc > 2 ? std::atoi(argv[2]) : omp_get_num_procs();
  const size_t n = mib * (1 << 20) / sizeof(float);
  float* a = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) a[i] = static_cast<float>(i & 1023) * 1e-3f;
  volatile float sink = 0;
  for (int threads = 1; threads <= max_threads; ++threads) {
    double best = 0;
    for (int rep = 0; rep < 8; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
      {
        const int id = omp_get_thread_num(), count = omp_get_num_threads();
        const size_t begin = n / 256 * id / count * 256, end = n / 256 * (id + 1) / count * 256;
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (size_t i = begin; i < end; i += 32) {
          s0 = _mm256_add_ps(s0, _mm256_load_ps(a + i));
          s1 = _mm256_add_ps(s1, _mm256_load_ps(a + i + 8));
          s2 = _mm256_add_ps(s2, _mm256_load_ps(a + i + 16));
          s3 = _mm256_add_ps(s3, _mm256_load_ps(a + i + 24));
        }
        __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
        float lanes[8];
        _mm256_storeu_ps(lanes, s);
        for (float v : lanes) total += v;
      }
      sink = sink + total;
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, n * sizeof(float) / sec / 1e9);
    }
    std::printf("%d %.2f\n", threads, best);
  }
  std::free(a);
  return 0;
}
