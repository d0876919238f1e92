// avx2_helpers.h - small AVX2 helpers shared by the kernels: zero-padded row copies, an 8x8
// transpose, and stores of a vector's first lanes.
//
// Included only by translation units compiled with -mavx2 -mfma (conv_gemm_avx2.cpp,
// conv_winograd_avx2.cpp, plane_filter_avx2.cpp, pool_avx2.cpp). Everything is in an anonymous namespace, so that no inline function
// compiled with those flags can be linked into baseline code.
#pragma once

#include <immintrin.h>

#include "common.h"

namespace cnncore {
namespace {

inline index_t strip_max(index_t a, index_t b) { return a > b ? a : b; }
inline index_t strip_min(index_t a, index_t b) { return a < b ? a : b; }

// n floats (rows of a few dozen: vector copies, the last one overlapping the one before).
inline void copy_floats(float* dst, const float* src, index_t n) {
  if (n < 8) {
    for (index_t i = 0; i < n; ++i) dst[i] = src[i];
    return;
  }
  index_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i));
  if (i < n) _mm256_storeu_ps(dst + n - 8, _mm256_loadu_ps(src + n - 8));
}

// One zero-padded row, dst[i] = src[i - pad_left] where that column lies inside the input row
// (src, w_in floats; null: the row lies in the padding), zero elsewhere; for short rows: zeros
// over the whole row (dst has room for a vector past row_len), then the input's columns copied
// over them.
inline void padded_row(float* dst, index_t row_len, const float* src, index_t w_in,
                       index_t pad_left) {
  for (index_t i = 0; i < row_len; i += 8) _mm256_storeu_ps(dst + i, _mm256_setzero_ps());
  if (!src) return;
  const index_t lo = strip_max(0, strip_min(pad_left, row_len));
  const index_t hi = strip_max(lo, strip_min(row_len, pad_left + w_in));
  copy_floats(dst + lo, src + (lo - pad_left), hi - lo);
}

// 8x8 transpose: r[i] holds row i on entry, column i on exit.
inline void transpose8(__m256* r) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// Stores the first n floats of v at y (n >= 8: all of them), touching nothing past them. Plain
// stores of 4, 2 and 1 floats, not vmaskmovps: masked stores are slow on AMD (a third of a 5x5
// Winograd layer's time on 14x14 planes, where every row ends in a partial vector).
inline void store_first(float* y, __m256 v, index_t n) {
  if (n >= 8) {
    _mm256_storeu_ps(y, v);
    return;
  }
  __m128 q = _mm256_castps256_ps128(v);
  if (n >= 4) {
    _mm_storeu_ps(y, q);
    q = _mm256_extractf128_ps(v, 1);
    y += 4;
    n -= 4;
  }
  if (n >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(y), q);
    q = _mm_movehl_ps(q, q);
    y += 2;
    n -= 2;
  }
  if (n >= 1) _mm_store_ss(y, q);
}

}  // namespace
}  // namespace cnncore
