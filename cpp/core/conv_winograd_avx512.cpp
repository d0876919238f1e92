// conv_winograd_avx512.cpp - F(4, 5) along the rows for one input channel, the products and the
// output transform in one pass (conv_winograd.h; AVX-512F, own flags, only when use_avx512()).
//
// With one channel, the two passes of the other layers (the products on the shifted-copies tiles,
// K = 5 taps, stored; then the output transform, loaded back) store and reload as many floats as
// they multiply: 1.09 of the direct kernel's time on the lecture's first layer. Here each
// filter's 8 products M[xi] for 16 runs are summed over the 5 kernel rows in registers and folded
// into the 4 outputs as soon as a pair of them (points +-1, +-2, +-1/2) is complete, so the output
// transform's additions run beside the products' multiply-adds. Per 64 outputs of a filter: 40
// multiply-adds of products and 6 of the transform (plus 14 additions and 8 permutes), against
// 100 multiply-adds for the direct sum. Every output is computed by the same operations whatever
// the band, the task or the thread count.
#include <immintrin.h>

#include "conv_winograd.h"

namespace cnncore {

namespace {

constexpr int kFilters = 4;  // filters per pass over a band's runs

// m[f] = M[xi] of filter f for 16 runs: sum over the kernel rows a of u[f][xi][a] (broadcast) x
// V[xi] at v + a T (the same run, a input rows down). Each V vector feeds the kFilters filters.
inline void products(const float* v, index_t T, const float (*u)[8][5], int xi, __m512* m) {
#pragma GCC unroll 5
  for (int a = 0; a < 5; ++a) {
    const __m512 in = _mm512_loadu_ps(v + a * T);
#pragma GCC unroll 4
    for (int f = 0; f < kFilters; ++f) {
      const __m512 w = _mm512_set1_ps(u[f][xi][a]);
      m[f] = a == 0 ? _mm512_mul_ps(w, in) : _mm512_fmadd_ps(w, in, m[f]);
    }
  }
}

// y[f][j] (initially the bias) += (A^T M)[j] for 16 runs of kFilters filters, V[xi] at
// v + xi * v_xi. With s_i, d_i the sum and difference of the products at the pair of points
// 2i - 1, 2i (+-1, +-2, +-1/2):
//   y0 = m0 + s1 + s2 + s3,  y1 = d1 + 2 d2 + d3 / 2,  y2 = s1 + 4 s2 + s3 / 4,
//   y3 = d1 + 8 d2 + d3 / 8 + m7.
inline void runs16(const float* v, index_t v_xi, index_t T, const float (*u)[8][5],
                   __m512 (*y)[4]) {
  __m512 m[kFilters];
  products(v, T, u, 0, m);
#pragma GCC unroll 4
  for (int f = 0; f < kFilters; ++f) y[f][0] = _mm512_add_ps(y[f][0], m[f]);
  const float c1[3] = {1.0f, 2.0f, 0.5f}, c2[3] = {1.0f, 4.0f, 0.25f};
  const float c3[3] = {1.0f, 8.0f, 0.125f};
#pragma GCC unroll 3
  for (int i = 0; i < 3; ++i) {
    __m512 ma[kFilters], mb[kFilters];
    products(v + (2 * i + 1) * v_xi, T, u, 2 * i + 1, ma);
    products(v + (2 * i + 2) * v_xi, T, u, 2 * i + 2, mb);
#pragma GCC unroll 4
    for (int f = 0; f < kFilters; ++f) {
      const __m512 s = _mm512_add_ps(ma[f], mb[f]), d = _mm512_sub_ps(ma[f], mb[f]);
      y[f][0] = _mm512_add_ps(y[f][0], s);
      if (i == 0) {
        y[f][1] = _mm512_add_ps(y[f][1], d);
        y[f][2] = _mm512_add_ps(y[f][2], s);
        y[f][3] = _mm512_add_ps(y[f][3], d);
      } else {
        y[f][1] = _mm512_fmadd_ps(_mm512_set1_ps(c1[i]), d, y[f][1]);
        y[f][2] = _mm512_fmadd_ps(_mm512_set1_ps(c2[i]), s, y[f][2]);
        y[f][3] = _mm512_fmadd_ps(_mm512_set1_ps(c3[i]), d, y[f][3]);
      }
    }
  }
  products(v + 7 * v_xi, T, u, 7, m);
#pragma GCC unroll 4
  for (int f = 0; f < kFilters; ++f) y[f][3] = _mm512_add_ps(y[f][3], m[f]);
}

// y[j] (output j of each of 16 runs) as the runs' 64 floats in order, stored at out (the first
// `valid` of them); *bad gets NaN lanes once a stored value is NaN or infinite.
inline void store_runs(const __m512* y, float* out, index_t valid, __m512i* bad) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512i plo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
  const __m512i phi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
  // Pairs (y0, y1) and (y2, y3) of runs 0-7 and 8-15, then the pairs of each run side by side.
  const __m512d a = _mm512_castps_pd(_mm512_permutex2var_ps(y[0], lo, y[1]));
  const __m512d b = _mm512_castps_pd(_mm512_permutex2var_ps(y[0], hi, y[1]));
  const __m512d c = _mm512_castps_pd(_mm512_permutex2var_ps(y[2], lo, y[3]));
  const __m512d d = _mm512_castps_pd(_mm512_permutex2var_ps(y[2], hi, y[3]));
  __m512 o[4];
  o[0] = _mm512_castpd_ps(_mm512_permutex2var_pd(a, plo, c));
  o[1] = _mm512_castpd_ps(_mm512_permutex2var_pd(a, phi, c));
  o[2] = _mm512_castpd_ps(_mm512_permutex2var_pd(b, plo, d));
  o[3] = _mm512_castpd_ps(_mm512_permutex2var_pd(b, phi, d));
  if (valid >= 64) {
    for (int i = 0; i < 4; ++i) _mm512_storeu_ps(out + 16 * i, o[i]);
    // (sum - sum) is NaN when a value is NaN or infinite (or when the sum overflows: the GEMM
    // then recomputes a call it need not have, to the same values).
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(o[0], o[1]), _mm512_add_ps(o[2], o[3]));
    *bad = _mm512_or_si512(*bad, _mm512_castps_si512(_mm512_sub_ps(sum, sum)));
    return;
  }
  for (int i = 0; i < 4 && 16 * i < valid; ++i) {
    const index_t n = valid - 16 * i;
    const __mmask16 m = n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
    _mm512_mask_storeu_ps(out + 16 * i, m, o[i]);
    *bad = _mm512_or_si512(*bad, _mm512_castps_si512(_mm512_maskz_sub_ps(m, o[i], o[i])));
  }
}

}  // namespace

bool conv_winograd_rows1_avx512(const float* v, index_t v_xi, index_t T, index_t Q,
                                const float* u, index_t c_out, const float* bias, float* y,
                                index_t out_plane) noexcept {
  // kFilters = 4: 16 output accumulators and up to 8 products in flight among the 32 registers.
  // Measured on the lecture's first layer (one thread) against 2 filters x 16 runs: 0.80 of the
  // time; 2 filters x 32 runs and 1 x 32 were slower still (register spills).
  __m512i bad = _mm512_setzero_si512();
  for (index_t f0 = 0; f0 < c_out; f0 += kFilters) {
    // The group's weights, U[f][xi][a] side by side (filters past c_out: the packing's zeros,
    // within the last panel of 16).
    const float(*wl)[8][5] = reinterpret_cast<const float(*)[8][5]>(u + f0 * 40);
    __m512 b[kFilters];
    for (int f = 0; f < kFilters; ++f) {
      // Without a bias the sums start from -0.0, which adds nothing to any value (+0.0 would
      // turn a -0.0 output into +0.0).
      b[f] = _mm512_set1_ps(bias && f0 + f < c_out ? bias[f0 + f] : -0.0f);
    }
    for (index_t q = 0; q < Q; q += 16) {
      __m512 acc[kFilters][4];
      for (int f = 0; f < kFilters; ++f)
        for (int j = 0; j < 4; ++j) acc[f][j] = b[f];
      // Through an opaque pointer the broadcasts stay in the loop as 4-byte loads: hoisted out
      // of it, the 160 broadcast vectors would be spilled and reloaded 64 bytes at a time
      // (measured 1.25 times slower).
      const float(*wp)[8][5] = wl;
      asm("" : "+r"(wp));
      runs16(v + q, v_xi, T, wp, acc);
      for (int f = 0; f < kFilters && f0 + f < c_out; ++f)
        store_runs(acc[f], y + (f0 + f) * out_plane + 4 * q, 4 * (Q - q), &bad);
    }
  }
  const __m512 nan_lanes = _mm512_castsi512_ps(bad);
  return _mm512_cmp_ps_mask(nan_lanes, nan_lanes, _CMP_UNORD_Q) == 0;
}

void conv_winograd_rows1_edge_avx512(const float* strip, index_t sw, index_t rows,
                                     const index_t* cols, index_t n_cols, const float* e,
                                     index_t c_out, const float* bias, float* y, index_t w_out,
                                     index_t out_plane) noexcept {
  const index_t c16 = (c_out + 15) / 16 * 16;
  for (index_t f0 = 0; f0 < c_out; f0 += 16) {
    const index_t nf = c_out - f0 < 16 ? c_out - f0 : 16;
    const __mmask16 valid = nf == 16 ? __mmask16(0xFFFF) : __mmask16((1u << nf) - 1);
    // The 16 filters' 25 weights stay in registers for every row and column.
    __m512 wv[25];
    for (int t = 0; t < 25; ++t) wv[t] = _mm512_loadu_ps(e + t * c16 + f0);
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(valid, bias + f0) : _mm512_setzero_ps();
    // Four rows at a time: four independent chains of 25 multiply-adds.
    for (index_t i = 0; i < n_cols; ++i)
      for (index_t r0 = 0; r0 < rows; r0 += 4) {
        const int nr = rows - r0 < 4 ? static_cast<int>(rows - r0) : 4;
        __m512 acc[4];
        for (int k = 0; k < 4; ++k) acc[k] = _mm512_setzero_ps();
        const float* s[4];  // past the band's last row, its last row again (not stored)
        for (int k = 0; k < 4; ++k) s[k] = strip + (r0 + (k < nr ? k : nr - 1)) * sw + cols[i];
        for (int a = 0; a < 5; ++a)
          for (int b = 0; b < 5; ++b)
            for (int k = 0; k < 4; ++k)
              acc[k] = _mm512_fmadd_ps(wv[a * 5 + b], _mm512_set1_ps(s[k][a * sw + b]), acc[k]);
        for (int k = 0; k < nr; ++k) {
          alignas(64) float out[16];
          _mm512_store_ps(out, bias ? _mm512_add_ps(acc[k], bv) : acc[k]);
          float* yo = y + f0 * out_plane + (r0 + k) * w_out + cols[i];
          for (index_t f = 0; f < nf; ++f) yo[f * out_plane] = out[f];
        }
      }
  }
}

}  // namespace cnncore
