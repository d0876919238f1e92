// common.h - types, checked arithmetic and the thread-count policy shared by every op family.
//
// The core is plain C++17 with optional OpenMP: nothing here (or anywhere under cpp/core) includes
// pybind11, so the core builds, tests and benchmarks on its own. Errors in arguments are reported by
// throwing std::invalid_argument (which the bindings turn into ValueError) from validate() functions,
// before any kernel runs; kernels themselves are noexcept and allocate nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>

#if defined(CNNCORE_HAVE_OPENMP)
#include <omp.h>
#endif
#include <string>

namespace cnncore {

using index_t = std::int64_t;

// Every extent, stride, padding and dilation handed to the core must be below this bound, so that
// any index expression of the form a*b + c*d - e that validate() has bounded stays inside int64.
constexpr index_t kMaxExtent = index_t(1) << 62;

// a * b, or -1 when it would exceed kMaxExtent (a, b >= 0).
inline index_t checked_mul(index_t a, index_t b) noexcept {
  if (a < 0 || b < 0) return -1;
  if (a == 0 || b == 0) return 0;
  if (a > kMaxExtent / b) return -1;
  return a * b;
}

// a + b, or -1 when it would exceed kMaxExtent (a, b >= 0).
inline index_t checked_add(index_t a, index_t b) noexcept {
  if (a < 0 || b < 0 || a > kMaxExtent - b) return -1;
  return a + b;
}

// A 64-byte aligned float buffer (for the generic translation units; SIMD files take raw pointers).
class AlignedFloats {
 public:
  AlignedFloats() = default;
  explicit AlignedFloats(index_t count) { resize(count); }
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
  ~AlignedFloats() { ::operator delete[](raw_, std::align_val_t(64)); }
  void resize(index_t count) {
    ::operator delete[](raw_, std::align_val_t(64));
    raw_ = nullptr;
    size_ = count;
    if (count > 0)
      raw_ = static_cast<float*>(::operator new[](static_cast<std::size_t>(count) * sizeof(float),
                                                  std::align_val_t(64)));
  }
  float* data() noexcept { return raw_; }
  const float* data() const noexcept { return raw_; }
  index_t size() const noexcept { return size_; }

 private:
  float* raw_ = nullptr;
  index_t size_ = 0;
};

[[noreturn]] inline void fail(const std::string& fname, const std::string& what) {
  throw std::invalid_argument(fname + ": " + what);
}

// ---- threads ------------------------------------------------------------------------------------
// The thread count used by every parallel region. set_num_threads(n) (n >= 1) fixes it for every
// calling thread (and sets OpenMP's own value on the thread that calls it); set_num_threads(0)
// returns to the default, OpenMP's (OMP_NUM_THREADS or the number of cores). A limit set later on
// the calling thread through OpenMP's API (as threadpoolctl does) is honoured while it lasts.
int num_threads() noexcept;
void set_num_threads(int n) noexcept;
bool have_openmp() noexcept;

// Threads worth using for `work` elementary operations: one below ~64k (waking a second thread
// costs more than the work), num_threads() otherwise.
inline int threads_for(index_t work) noexcept { return work < (index_t(1) << 16) ? 1 : num_threads(); }

// Denormals: while alive, the calling thread flushes denormal inputs and results to zero (x86:
// MXCSR's DAZ and FTZ bits), so subnormal data never takes the slow microcode path; the
// caller's floating-point state is restored on destruction. Every kernel task runs under one,
// in every thread. Defined out of line, so the SIMD translation units share the baseline copy.
class DenormalGuard {
 public:
  DenormalGuard() noexcept;
  ~DenormalGuard();
  DenormalGuard(const DenormalGuard&) = delete;
  DenormalGuard& operator=(const DenormalGuard&) = delete;

 private:
  unsigned saved_ = 0;
};

// Work splitting that keeps results independent of the thread count: each task is computed
// entirely by one thread in a fixed order, so only who computes it changes, never how.
// parallel_tasks runs body(task, thread_index) for task in [0, tasks) on `threads` threads
// (static schedule; thread_index < threads indexes per-thread scratch), each thread under a
// DenormalGuard.
template <class F>
inline void parallel_tasks(index_t tasks, int threads, F&& body) {
#if defined(CNNCORE_HAVE_OPENMP)
  if (threads > 1 && tasks > 1) {
#pragma omp parallel num_threads(threads)
    {
      DenormalGuard guard;
      const int tid = omp_get_thread_num();
#pragma omp for schedule(static)
      for (index_t t = 0; t < tasks; ++t) body(t, tid);
    }
    return;
  }
#else
  (void)threads;
#endif
  // One thread: no OpenMP region at all (it costs more than a small call's work).
  DenormalGuard guard;
  for (index_t t = 0; t < tasks; ++t) body(t, 0);
}

// parallel_for: as parallel_tasks, with `work_per_item` (elementary operations) deciding
// whether a second thread is worth waking.
template <class F>
inline void parallel_for(index_t count, index_t work_per_item, F&& body) {
  int nt = threads_for(count * (work_per_item < 1 ? 1 : work_per_item));
  if (nt > count) nt = static_cast<int>(count < 1 ? 1 : count);
  parallel_tasks(count, nt, [&](index_t i, int) { body(i); });
}

}  // namespace cnncore
