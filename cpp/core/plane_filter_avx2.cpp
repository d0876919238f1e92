// plane_filter_avx2.cpp - the AVX2/FMA row kernel of plane_filter.h (own flags, run-time dispatch;
// no inline functions or templates shared with other translation units).
#include <immintrin.h>

#include "plane_filter.h"

namespace cnncore {

namespace {

// 32 outputs of one row: acc += w[a][b] * strip rows, four vectors at a time.
inline void row_block32(const float* s, index_t strip_stride, index_t stride_h, const float* w,
                        index_t k_h, index_t k_w, index_t dil_h, index_t tap, __m256 bias,
                        float* y) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  (void)stride_h;
  for (index_t a = 0; a < k_h; ++a) {
    const float* r = s + a * dil_h * strip_stride;
    for (index_t b = 0; b < k_w; ++b) {
      const __m256 wv = _mm256_broadcast_ss(w + a * k_w + b);
      const float* q = r + b * tap;
      a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q), a0);
      a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q + 8), a1);
      a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q + 16), a2);
      a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q + 24), a3);
    }
  }
  _mm256_storeu_ps(y, _mm256_add_ps(a0, bias));
  _mm256_storeu_ps(y + 8, _mm256_add_ps(a1, bias));
  _mm256_storeu_ps(y + 16, _mm256_add_ps(a2, bias));
  _mm256_storeu_ps(y + 24, _mm256_add_ps(a3, bias));
}

// 8 outputs, of which the first n are stored (the strip rows carry 8 floats of slack, so the
// loads stay inside them).
inline void row_block8(const float* s, index_t strip_stride, const float* w, index_t k_h,
                       index_t k_w, index_t dil_h, index_t tap, __m256 bias, float* y, index_t n) {
  __m256 acc = _mm256_setzero_ps();
  for (index_t a = 0; a < k_h; ++a) {
    const float* r = s + a * dil_h * strip_stride;
    for (index_t b = 0; b < k_w; ++b) {
      const __m256 wv = _mm256_broadcast_ss(w + a * k_w + b);
      acc = _mm256_fmadd_ps(wv, _mm256_loadu_ps(r + b * tap), acc);
    }
  }
  acc = _mm256_add_ps(acc, bias);
  if (n == 8) {
    _mm256_storeu_ps(y, acc);
  } else {
    alignas(32) float t[8];
    _mm256_store_ps(t, acc);
    for (index_t i = 0; i < n; ++i) y[i] = t[i];
  }
}

// R output rows x (8 * V) columns at once, for a KH x KW kernel known at compile time and
// stride_h == dil_h == 1: each strip row is loaded once and feeds every output row whose window
// holds it, with all loops unrolled so the R x V accumulators stay in registers. Output row r sums
// a = si - r over strip rows si ascending: its (a, b) order is lexicographic, as everywhere else.
template <int KH, int KW, int R, int V>
inline void rows_block(const float* s, index_t strip_stride, const __m256* wv, index_t tap,
                       __m256 bias, float* y, index_t y_stride, index_t n_last) {
  __m256 acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = _mm256_setzero_ps();
#pragma GCC unroll 16
  for (int si = 0; si < R + KH - 1; ++si) {
    const float* row = s + si * strip_stride;
#pragma GCC unroll 8
    for (int b = 0; b < KW; ++b) {
      __m256 in[V];
      for (int v = 0; v < V; ++v) in[v] = _mm256_loadu_ps(row + b * tap + 8 * v);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const int a = si - r;
        if (a < 0 || a >= KH) continue;
        for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(wv[a * KW + b], in[v], acc[r][v]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      const __m256 out = _mm256_add_ps(acc[r][v], bias);
      float* dst = y + r * y_stride + 8 * v;
      if (v < V - 1 || n_last == 8) {
        _mm256_storeu_ps(dst, out);
      } else {
        alignas(32) float t[8];
        _mm256_store_ps(t, out);
        for (index_t i = 0; i < n_last; ++i) dst[i] = t[i];
      }
    }
}

template <int KH, int KW, int R, int V>
inline void rows_group(const float* s, index_t strip_stride, index_t width, const __m256* wv,
                       index_t tap, __m256 bias, float* y, index_t y_stride) {
  index_t j = 0;
  for (; j + 8 * V <= width; j += 8 * V)
    rows_block<KH, KW, R, V>(s + j, strip_stride, wv, tap, bias, y + j, y_stride, 8);
  for (; j < width; j += 8)
    rows_block<KH, KW, R, 1>(s + j, strip_stride, wv, tap, bias, y + j, y_stride,
                             width - j < 8 ? width - j : 8);
}

// R rows x V vectors of accumulators: each input load feeds up to R FMAs and each weight V (the
// weights are read from memory as FMA operands).
template <int KH, int KW>
void rows_fixed(const float* strip, index_t strip_stride, index_t rows, index_t width,
                const float* w, index_t tap, __m256 bias, float* y, index_t y_stride) {
  __m256 wv[KH * KW];
  for (int i = 0; i < KH * KW; ++i) wv[i] = _mm256_broadcast_ss(w + i);
  constexpr int R = KH * KW <= 9 ? 4 : 8;  // measured best on 3x3 and 5x5 (Zen 4)
  constexpr int V = 1;
  index_t r = 0;
  for (; r + R <= rows; r += R)
    rows_group<KH, KW, R, V>(strip + r * strip_stride, strip_stride, width, wv, tap, bias,
                             y + r * y_stride, y_stride);
  for (; r < rows; ++r)
    rows_group<KH, KW, 1, V>(strip + r * strip_stride, strip_stride, width, wv, tap, bias,
                             y + r * y_stride, y_stride);
}

}  // namespace

void plane_rows_avx2(const float* strip, index_t strip_stride, index_t rows, index_t width,
                     index_t stride_h, const float* w, index_t k_h, index_t k_w, index_t dil_h,
                     index_t tap, const float* bias, float* y, index_t y_stride) noexcept {
  // Without a bias, adding +0.0 would turn a -0.0 sum into +0.0; the generic kernel adds nothing,
  // so add -0.0 (the identity for every value) instead.
  const __m256 bv = bias ? _mm256_set1_ps(*bias) : _mm256_set1_ps(-0.0f);
  if (stride_h == 1 && dil_h == 1) {
    if (k_h == 3 && k_w == 3) return rows_fixed<3, 3>(strip, strip_stride, rows, width, w, tap, bv, y, y_stride);
    if (k_h == 5 && k_w == 5) return rows_fixed<5, 5>(strip, strip_stride, rows, width, w, tap, bv, y, y_stride);
    if (k_h == 2 && k_w == 2) return rows_fixed<2, 2>(strip, strip_stride, rows, width, w, tap, bv, y, y_stride);
  }
  for (index_t r = 0; r < rows; ++r) {
    const float* s = strip + r * stride_h * strip_stride;
    float* yr = y + r * y_stride;
    index_t j = 0;
    for (; j + 32 <= width; j += 32)
      row_block32(s + j, strip_stride, stride_h, w, k_h, k_w, dil_h, tap, bv, yr + j);
    for (; j < width; j += 8)
      row_block8(s + j, strip_stride, w, k_h, k_w, dil_h, tap, bv, yr + j,
                 width - j < 8 ? width - j : 8);
  }
}

}  // namespace cnncore
