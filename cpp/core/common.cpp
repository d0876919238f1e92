// common.cpp - the thread-count policy (see common.h).
#include "common.h"

#include <atomic>

#if defined(CNNCORE_HAVE_OPENMP)
#include <omp.h>
#endif

namespace cnncore {

namespace {
std::atomic<int> g_threads{0};  // 0: OpenMP's default

#if defined(CNNCORE_HAVE_OPENMP)
int process_default() noexcept {
  // omp_get_max_threads() of the first thread that asks (the importing thread): OMP_NUM_THREADS
  // or the number of cores.
  static const int value = omp_get_max_threads();
  return value;
}
#endif
}  // namespace

int num_threads() noexcept {
#if defined(CNNCORE_HAVE_OPENMP)
  const int set = g_threads.load(std::memory_order_relaxed);
  const int dflt = process_default();
  const int here = omp_get_max_threads();
  int n = set > 0 ? set : dflt;
  if (here != dflt) n = set > 0 ? (set < here ? set : here) : here;
  return n < 1 ? 1 : n;
#else
  return 1;
#endif
}

void set_num_threads(int n) noexcept {
#if defined(CNNCORE_HAVE_OPENMP)
  (void)process_default();
#endif
  g_threads.store(n < 0 ? 0 : n, std::memory_order_relaxed);
}

bool have_openmp() noexcept {
#if defined(CNNCORE_HAVE_OPENMP)
  return true;
#else
  return false;
#endif
}

}  // namespace cnncore
