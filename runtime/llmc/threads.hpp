// Static work partition over OpenMP threads (serial when built without OpenMP).
// Each index is always handled whole by one thread, so results do not depend on the thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace llmc {

// Below this many multiply-adds a job runs on the calling thread: waking threads costs more.
inline constexpr int64_t kMinParallelWork = 32 * 1024;

inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline void set_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(std::max(1, n));
#else
  (void)n;
#endif
}

inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Calls fn(begin, end) on disjoint contiguous ranges covering [0, n).
template <typename F>
inline void parallel_for(int n, int64_t work, F&& fn) {
  const int threads = work < kMinParallelWork ? 1 : std::min(n, max_threads());
  if (threads <= 1) {
    fn(0, n);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  {
    const int id = omp_get_thread_num(), count = omp_get_num_threads();
    const int begin = static_cast<int>(int64_t{n} * id / count), end = static_cast<int>(int64_t{n} * (id + 1) / count);
    if (begin < end) fn(begin, end);
  }
#endif
}

}  // namespace llmc
