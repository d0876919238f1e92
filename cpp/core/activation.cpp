// activation.cpp - element-wise activation kernels (see activation.h).
#include "activation.h"

#include <cmath>

#include "cpu.h"

namespace cnncore {

namespace {

template <class T, class F>
void map_chunks(const T* x, T* y, index_t count, F f) noexcept {
  constexpr index_t kChunk = 16384;
  const index_t chunks = (count + kChunk - 1) / kChunk;
  parallel_for(chunks, kChunk, [&](index_t c) {
    const index_t lo = c * kChunk, hi = lo + kChunk < count ? lo + kChunk : count;
    for (index_t i = lo; i < hi; ++i) y[i] = f(x[i]);
  });
}

constexpr index_t kStreamFloats = index_t(1) << 22;  // 16 MB

bool simd_chunks(ActKind kind, float param, const float* x, float* y, index_t count) noexcept {
#if defined(CNNCORE_HAVE_AVX2_KERNELS)
  if (simd_level() != SimdLevel::kAvx2) return false;
  constexpr index_t kChunk = 16384;
  const index_t chunks = (count + kChunk - 1) / kChunk;
  // An output bigger than the last-level cache's share is written around the caches: the
  // destination lines need not be read first, and the input stays cached.
  const bool stream = count >= kStreamFloats && x != y;
  parallel_for(chunks, kChunk, [&](index_t c) {
    const index_t lo = c * kChunk, hi = lo + kChunk < count ? lo + kChunk : count;
    activation_avx2(kind, param, x + lo, y + lo, hi - lo, stream);
  });
  return true;
#else
  (void)kind, (void)param, (void)x, (void)y, (void)count;
  return false;
#endif
}

bool simd_chunks(ActKind, double, const double*, double*, index_t) noexcept { return false; }

}  // namespace

template <class T>
void activation_forward(ActKind kind, T param, const T* x, T* y, index_t count) noexcept {
  if (simd_chunks(kind, param, x, y, count)) return;
  switch (kind) {
    case ActKind::kRelu:
      // + 0 flushes a subnormal z, which compares as zero under DAZ (see activation_avx2).
      map_chunks(x, y, count, [](T z) { return (z < T(0) ? T(0) : z) + T(0); });
      break;
    case ActKind::kLeakyRelu:
      map_chunks(x, y, count, [param](T z) { return z > T(0) ? z : param * z; });
      break;
    case ActKind::kElu:
      map_chunks(x, y, count, [param](T z) { return z > T(0) ? z : param * std::expm1(z); });
      break;
  }
}

template void activation_forward<float>(ActKind, float, const float*, float*, index_t) noexcept;
template void activation_forward<double>(ActKind, double, const double*, double*,
                                         index_t) noexcept;

}  // namespace cnncore
