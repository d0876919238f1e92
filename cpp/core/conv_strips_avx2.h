// conv_strips_avx2.h - copying input rows into zero-padded strips, for the AVX2 kernels.
//
// Included only by translation units compiled with -mavx2 -mfma (conv_gemm_avx2.cpp,
// conv_winograd_avx2.cpp). Everything is in an anonymous namespace, so that no inline function
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

}  // namespace
}  // namespace cnncore
