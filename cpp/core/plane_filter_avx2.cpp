// plane_filter_avx2.cpp - the AVX2/FMA row kernel of plane_filter.h (own flags, run-time dispatch;
// no inline functions or templates shared with other translation units).
#include <immintrin.h>

#include <cstdint>

#include "avx2_helpers.h"
#include "plane_filter.h"

namespace cnncore {

namespace {

// Columns [lo, hi) of a strip row may be loaded; the lanes of a vector outside them read as zero
// (masked loads: a masked-off lane is never accessed, so the row pointer may stand for columns
// before the start of a buffer). all: every column a row is read at lies inside, no masks.
struct Window {
  index_t lo, hi;
  bool all;
};

// p + off floats, as an address: under a Window the row pointer plus offset may lie outside any
// object (only the lanes inside the window are loaded), so no pointer arithmetic on it.
inline const float* at(const float* p, index_t off) {
  return reinterpret_cast<const float*>(reinterpret_cast<std::uintptr_t>(p) +
                                        static_cast<std::uintptr_t>(off) * sizeof(float));
}

// The lanes of the vector at column c that lie in [lo, hi), as a maskload mask.
inline __m256i lanes_inside(index_t c, const Window& win) {
  alignas(32) static const std::int32_t ramp[24] = {0,  0,  0,  0,  0,  0,  0,  0,  -1, -1, -1, -1,
                                                    -1, -1, -1, -1, 0,  0,  0,  0,  0,  0,  0,  0};
  auto clamp8 = [](index_t v) { return v < 0 ? 0 : v > 8 ? 8 : v; };
  const index_t first = clamp8(win.lo - c), end = clamp8(win.hi - c);
  // ramp[8 - first + l] is -1 for l >= first, ramp[16 - end + l] for l < end.
  const __m256i from = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ramp + 8 - first));
  const __m256i below = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ramp + 16 - end));
  return _mm256_and_si256(from, below);
}

template <bool Masked>
inline __m256 load(const float* row, index_t c, const Window& win) {
  if (Masked) return _mm256_maskload_ps(at(row, c), lanes_inside(c, win));
  return _mm256_loadu_ps(row + c);
}

// 32 outputs of one row, starting at column j of the strip rows s[a * dil_h]: acc += w[a][b] *
// strip rows, four vectors at a time.
inline void row_block32(const float* const* s, index_t j, const float* w, index_t k_h,
                        index_t k_w, index_t dil_h, index_t tap, __m256 bias, float* y) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (index_t a = 0; a < k_h; ++a) {
    const float* r = s[a * dil_h] + j;
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

// 8 outputs at column j, of which the first n are stored (strip rows are readable up to a whole
// vector past the last output column, or masked).
template <bool Masked>
inline void row_block8(const float* const* s, index_t j, const float* w, index_t k_h, index_t k_w,
                       index_t dil_h, index_t tap, __m256 bias, float* y, index_t n,
                       const Window& win) {
  __m256 acc = _mm256_setzero_ps();
  for (index_t a = 0; a < k_h; ++a) {
    const float* r = s[a * dil_h];
    for (index_t b = 0; b < k_w; ++b) {
      const __m256 wv = _mm256_broadcast_ss(w + a * k_w + b);
      acc = _mm256_fmadd_ps(wv, load<Masked>(r, j + b * tap, win), acc);
    }
  }
  store_first(y, _mm256_add_ps(acc, bias), n);
}

// R output rows x (8 * V) columns at once, for a KH x KW kernel known at compile time and
// stride_h == dil_h == 1: each strip row is loaded once and feeds every output row whose window
// holds it, with all loops unrolled so the R x V accumulators stay in registers. Output row r sums
// a = si - r over strip rows si ascending: its (a, b) order is lexicographic, as everywhere else.
template <int KH, int KW, int R, int V, bool Masked>
inline void rows_block(const float* const* s, index_t j, const __m256* wv, index_t tap,
                       __m256 bias, float* y, index_t y_stride, index_t n_last,
                       const Window& win) {
  __m256 acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = _mm256_setzero_ps();
#pragma GCC unroll 16
  for (int si = 0; si < R + KH - 1; ++si) {
    const float* row = s[si];
#pragma GCC unroll 8
    for (int b = 0; b < KW; ++b) {
      __m256 in[V];
      for (int v = 0; v < V; ++v) in[v] = load<Masked>(row, j + b * tap + 8 * v, win);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const int a = si - r;
        if (a < 0 || a >= KH) continue;
        for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(wv[a * KW + b], in[v], acc[r][v]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v)
      store_first(y + r * y_stride + 8 * v, _mm256_add_ps(acc[r][v], bias),
            v < V - 1 ? 8 : n_last);
}

template <int KH, int KW, int R, int V, bool Masked>
inline void rows_group(const float* const* s, index_t width, const __m256* wv, index_t tap,
                       __m256 bias, float* y, index_t y_stride, const Window& win) {
  index_t j = 0;
  for (; j + 8 * V <= width; j += 8 * V)
    rows_block<KH, KW, R, V, Masked>(s, j, wv, tap, bias, y + j, y_stride, 8, win);
  for (; j < width; j += 8)
    rows_block<KH, KW, R, 1, Masked>(s, j, wv, tap, bias, y + j, y_stride,
                                     width - j < 8 ? width - j : 8, win);
}

// R rows x V vectors of accumulators: each input load feeds up to R FMAs and each weight V (the
// weights are read from memory as FMA operands).
template <int KH, int KW, bool Masked>
void rows_fixed(const float* const* strip, index_t rows, index_t width, const float* w,
                index_t tap, __m256 bias, float* y, index_t y_stride, const Window& win) {
  __m256 wv[KH * KW];
  for (int i = 0; i < KH * KW; ++i) wv[i] = _mm256_broadcast_ss(w + i);
  constexpr int R = KH * KW <= 9 ? 4 : 8;  // measured best on 3x3 and 5x5 (Zen 4)
  constexpr int V = 1;
  index_t r = 0;
  for (; r + R <= rows; r += R)
    rows_group<KH, KW, R, V, Masked>(strip + r, width, wv, tap, bias, y + r * y_stride, y_stride,
                                     win);
  for (; r < rows; ++r)
    rows_group<KH, KW, 1, V, Masked>(strip + r, width, wv, tap, bias, y + r * y_stride, y_stride,
                                     win);
}

template <bool Masked>
void rows_any(const float* const* strip, index_t rows, index_t width, index_t stride_h,
              const float* w, index_t k_h, index_t k_w, index_t dil_h, index_t tap, __m256 bias,
              float* y, index_t y_stride, const Window& win) {
  if (stride_h == 1 && dil_h == 1) {
    if (k_h == 3 && k_w == 3)
      return rows_fixed<3, 3, Masked>(strip, rows, width, w, tap, bias, y, y_stride, win);
    if (k_h == 5 && k_w == 5)
      return rows_fixed<5, 5, Masked>(strip, rows, width, w, tap, bias, y, y_stride, win);
    if (k_h == 2 && k_w == 2)
      return rows_fixed<2, 2, Masked>(strip, rows, width, w, tap, bias, y, y_stride, win);
  }
  for (index_t r = 0; r < rows; ++r) {
    const float* const* s = strip + r * stride_h;
    float* yr = y + r * y_stride;
    index_t j = 0;
    if (!Masked)
      for (; j + 32 <= width; j += 32) row_block32(s, j, w, k_h, k_w, dil_h, tap, bias, yr + j);
    for (; j < width; j += 8)
      row_block8<Masked>(s, j, w, k_h, k_w, dil_h, tap, bias, yr + j,
                         width - j < 8 ? width - j : 8, win);
  }
}

}  // namespace

void plane_rows_avx2(const float* const* strip, index_t rows, index_t width, index_t stride_h,
                     const float* w, index_t k_h, index_t k_w, index_t dil_h, index_t tap,
                     const float* bias, float* y, index_t y_stride, index_t lo,
                     index_t hi) noexcept {
  // Without a bias, adding +0.0 would turn a -0.0 sum into +0.0; the generic kernel adds nothing,
  // so add -0.0 (the identity for every value) instead.
  const __m256 bv = bias ? _mm256_set1_ps(*bias) : _mm256_set1_ps(-0.0f);
  const Window win{lo, hi, lo <= 0 && hi >= (width + 7) / 8 * 8 + (k_w - 1) * tap};
  if (win.all)
    return rows_any<false>(strip, rows, width, stride_h, w, k_h, k_w, dil_h, tap, bv, y, y_stride,
                           win);
  rows_any<true>(strip, rows, width, stride_h, w, k_h, k_w, dil_h, tap, bv, y, y_stride, win);
}

}  // namespace cnncore
