// conv_winograd_avx2.cpp - the transforms and the driver of conv_winograd.h (AVX2/FMA).
//
// Compiled with -mavx2 -mfma and reached only through run-time dispatch; helpers live in an
// anonymous namespace (see conv_gemm_avx2.cpp). The 16 products run on the shifted-copies
// kernels' tiles (AVX2 or AVX-512, conv_gemm.h): tap k of those tiles is channel c here, and
// their flat run of pixels is the band's run of tiles.
#include "conv_winograd.h"

#include <immintrin.h>

#include <atomic>

#include "conv_gemm.h"
#include "conv_strips_avx2.h"
#include "cpu.h"

namespace cnncore {

namespace {

inline index_t wmin(index_t a, index_t b) { return a < b ? a : b; }

// Lanes 0, 2, ..., 14 and 1, 3, ..., 15 of the 16 floats at s.
inline void even_odd(const float* s, __m256* even, __m256* odd) {
  const __m256 a = _mm256_loadu_ps(s), b = _mm256_loadu_ps(s + 8);
  // [a0 a2 b0 b2 | a4 a6 b4 b6] -> 64-bit lanes in the order 0, 2, 1, 3.
  const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  const __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
  *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
  *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

// One row of 8 patches (tiles i..i+7, columns 2i..2i+3 each; s at column 2i), times B:
// t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1, t3 = d1 - d3.
inline void row_times_b(const float* s, __m256* t) {
  __m256 d0, d1, d2, d3;
  even_odd(s, &d0, &d1);
  even_odd(s + 2, &d2, &d3);
  t[0] = _mm256_sub_ps(d0, d2);
  t[1] = _mm256_add_ps(d1, d2);
  t[2] = _mm256_sub_ps(d2, d1);
  t[3] = _mm256_sub_ps(d1, d3);
}

// V = B^T d B for 8 tiles of one channel: s at column 2i of the first of the 4 strip rows (sw
// floats apart); V[xi] stored at v + xi * vs (8 tiles).
inline void input_transform8(const float* s, index_t sw, float* v, index_t vs) {
  __m256 t0[4], t1[4], t2[4], t3[4];
  row_times_b(s, t0);
  row_times_b(s + sw, t1);
  row_times_b(s + 2 * sw, t2);
  row_times_b(s + 3 * sw, t3);
  for (int j = 0; j < 4; ++j) {
    _mm256_storeu_ps(v + (0 + j) * vs, _mm256_sub_ps(t0[j], t2[j]));
    _mm256_storeu_ps(v + (4 + j) * vs, _mm256_add_ps(t1[j], t2[j]));
    _mm256_storeu_ps(v + (8 + j) * vs, _mm256_sub_ps(t2[j], t1[j]));
    _mm256_storeu_ps(v + (12 + j) * vs, _mm256_sub_ps(t1[j], t3[j]));
  }
}

// Y = A^T M A for 8 tiles of one filter (M[xi] at m + xi * ms), plus the bias (if any): the two
// output rows of the 8 tiles, each 16 floats (tile i's two columns side by side).
inline void output_transform8(const float* m, index_t ms, const __m256* bias, __m256* row0,
                              __m256* row1) {
  __m256 s0[4], s1[4];
  for (int j = 0; j < 4; ++j) {
    const __m256 m0 = _mm256_loadu_ps(m + (0 + j) * ms), m1 = _mm256_loadu_ps(m + (4 + j) * ms);
    const __m256 m2 = _mm256_loadu_ps(m + (8 + j) * ms), m3 = _mm256_loadu_ps(m + (12 + j) * ms);
    s0[j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
    s1[j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
  }
  __m256 y00 = _mm256_add_ps(_mm256_add_ps(s0[0], s0[1]), s0[2]);
  __m256 y01 = _mm256_sub_ps(_mm256_sub_ps(s0[1], s0[2]), s0[3]);
  __m256 y10 = _mm256_add_ps(_mm256_add_ps(s1[0], s1[1]), s1[2]);
  __m256 y11 = _mm256_sub_ps(_mm256_sub_ps(s1[1], s1[2]), s1[3]);
  if (bias) {
    y00 = _mm256_add_ps(y00, *bias);
    y01 = _mm256_add_ps(y01, *bias);
    y10 = _mm256_add_ps(y10, *bias);
    y11 = _mm256_add_ps(y11, *bias);
  }
  // Interleave the columns: [y00_0 y01_0 y00_1 y01_1 ...].
  const __m256 lo0 = _mm256_unpacklo_ps(y00, y01), hi0 = _mm256_unpackhi_ps(y00, y01);
  const __m256 lo1 = _mm256_unpacklo_ps(y10, y11), hi1 = _mm256_unpackhi_ps(y10, y11);
  row0[0] = _mm256_permute2f128_ps(lo0, hi0, 0x20);
  row0[1] = _mm256_permute2f128_ps(lo0, hi0, 0x31);
  row1[0] = _mm256_permute2f128_ps(lo1, hi1, 0x20);
  row1[1] = _mm256_permute2f128_ps(lo1, hi1, 0x31);
}

// Stores the first `valid` (1 to 16) of the 16 floats r[0], r[1] at y, and ORs (r - r) of those
// lanes into *bad (NaN there once any stored value was NaN or infinite).
inline void store_row(float* y, const __m256* r, index_t valid, __m256* bad) {
  if (valid >= 16) {
    _mm256_storeu_ps(y, r[0]);
    _mm256_storeu_ps(y + 8, r[1]);
    *bad = _mm256_or_ps(*bad, _mm256_or_ps(_mm256_sub_ps(r[0], r[0]), _mm256_sub_ps(r[1], r[1])));
    return;
  }
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i n = _mm256_set1_epi32(static_cast<int>(valid));
  const __m256i m0 = _mm256_cmpgt_epi32(n, iota);
  const __m256i m1 = _mm256_cmpgt_epi32(n, _mm256_add_epi32(iota, _mm256_set1_epi32(8)));
  _mm256_maskstore_ps(y, m0, r[0]);
  _mm256_maskstore_ps(y + 8, m1, r[1]);
  *bad = _mm256_or_ps(*bad, _mm256_and_ps(_mm256_sub_ps(r[0], r[0]), _mm256_castsi256_ps(m0)));
  *bad = _mm256_or_ps(*bad, _mm256_and_ps(_mm256_sub_ps(r[1], r[1]), _mm256_castsi256_ps(m1)));
}

// U = G g G^T for 8 filters of one input channel: g[k] (k = 3a + b, kernel row a, column b) as
// vectors over the filters; U[xi] stored at u + xi * us.
inline void weight_transform8(const __m256* g, float* u, index_t us) {
  const __m256 half = _mm256_set1_ps(0.5f);
  __m256 t[4][3];  // G g: 4 x 3
  for (int b = 0; b < 3; ++b) {
    t[0][b] = g[b];
    t[1][b] = _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(g[b], g[3 + b]), g[6 + b]), half);
    t[2][b] = _mm256_mul_ps(_mm256_add_ps(_mm256_sub_ps(g[b], g[3 + b]), g[6 + b]), half);
    t[3][b] = g[6 + b];
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(u + (4 * i + 0) * us, t[i][0]);
    _mm256_storeu_ps(u + (4 * i + 1) * us,
                     _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(t[i][0], t[i][1]), t[i][2]), half));
    _mm256_storeu_ps(u + (4 * i + 2) * us,
                     _mm256_mul_ps(_mm256_add_ps(_mm256_sub_ps(t[i][0], t[i][1]), t[i][2]), half));
    _mm256_storeu_ps(u + (4 * i + 3) * us, t[i][2]);
  }
}

}  // namespace

void conv_winograd_pack_avx2(const ConvParams& p, const float* w, float* packed,
                             int threads) noexcept {
  const index_t c_in = p.c_in, c_out = p.c_out, panels = (c_out + 15) / 16;
  const index_t xi_stride = panels * c_in * 16;  // floats between U[xi] and U[xi + 1]
  // One task per panel: 16 filters x every channel, 8 filters at a time.
  parallel_tasks(panels, threads_for(c_out * c_in * 64) > 1 ? threads : 1, [&](index_t panel, int) {
    for (index_t c = 0; c < c_in; ++c)
      for (index_t half = 0; half < 2; ++half) {
        const index_t f0 = panel * 16 + half * 8;
        alignas(32) float g[9][8];
        for (int j = 0; j < 8; ++j) {
          const float* wf = f0 + j < c_out ? w + ((f0 + j) * c_in + c) * 9 : nullptr;
          for (int k = 0; k < 9; ++k) g[k][j] = wf ? wf[k] : 0.0f;
        }
        __m256 gv[9];
        for (int k = 0; k < 9; ++k) gv[k] = _mm256_load_ps(g[k]);
        weight_transform8(gv, packed + (panel * c_in + c) * 16 + half * 8, xi_stride);
      }
  });
}

bool conv_winograd_avx2(const ConvParams& p, const WinogradPlan& plan, const float* x,
                        const float* packed, const float* bias, float* y, float* scratch,
                        int threads, const FusedActivation* act) noexcept {
  const index_t c_in = p.c_in, c_out = p.c_out, panels = (c_out + 15) / 16;
  const index_t h_in = p.in[1], w_in = p.in[2], h_out = p.out[1], w_out = p.out[2];
  const index_t th = plan.tiles_h, tw = plan.tiles_w, ts = plan.t_stride, sw = plan.strip_w;
  const index_t rows = p.n * th;
  const index_t v_xi = plan.v_stride, m_xi = plan.m_stride;
  const index_t u_xi = panels * c_in * 16;
  const index_t strips_floats = (16 * 4 * sw + 15) / 16 * 16;
  const index_t v_floats = 16 * v_xi;
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
  const bool avx512 = use_avx512();
#endif
  // Tap k of the product tiles is channel k of V: offsets shared by every thread, after the
  // threads' scratch.
  index_t* koff = reinterpret_cast<index_t*>(scratch + threads * plan.scratch_floats);
  for (index_t c = 0; c < c_in; ++c) koff[c] = c * ts;
  std::atomic<bool> non_finite{false};

  parallel_tasks(plan.tasks, threads, [&](index_t t, int tid) {
    if (non_finite.load(std::memory_order_relaxed)) return;
    float* strips = scratch + tid * plan.scratch_floats;
    float* v = strips + strips_floats;
    float* m = v + v_floats;
    const index_t g0 = t * plan.band_rows, g1 = wmin(g0 + plan.band_rows, rows);
    const index_t band = g1 - g0, T = band * tw;
    // Input transform, 16 channels at a time: their 4 input rows of each tile row copied into
    // zero-padded strips first, then transformed 8 tiles at a time. For each channel the tile
    // rows go in order, so the last vector of a row (past its end) is overwritten by the next
    // row's first.
    for (index_t c0 = 0; c0 < c_in; c0 += 16) {
      const index_t cn = wmin(16, c_in - c0);
      for (index_t rr = 0; rr < band; ++rr) {
        const index_t g = g0 + rr, n = g / th, r = g % th;
        for (index_t cc = 0; cc < cn; ++cc) {
          const float* xc = x + (n * c_in + c0 + cc) * h_in * w_in;
          for (index_t a = 0; a < 4; ++a) {
            const index_t ih = 2 * r - p.pad[1] + a;
            padded_row(strips + (cc * 4 + a) * sw, sw,
                       ih >= 0 && ih < h_in ? xc + ih * w_in : nullptr, w_in, p.pad[2]);
          }
        }
        for (index_t cc = 0; cc < cn; ++cc)
          for (index_t i = 0; i < tw; i += 8)
            input_transform8(strips + cc * 4 * sw + 2 * i, sw, v + (c0 + cc) * ts + rr * tw + i,
                             v_xi);
      }
    }
    __m256 bad = _mm256_setzero_ps();
    for (index_t f0 = 0; f0 < c_out; f0 += plan.chunk) {
      const index_t nf = wmin(plan.chunk, c_out - f0);
      // The 16 products for the chunk's filters: M[xi][f][tile].
      for (index_t xi = 0; xi < 16; ++xi) {
        const float* u = packed + xi * u_xi + (f0 / 16) * c_in * 16;
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
        if (avx512)
          conv_rows_band_avx512(v + xi * v_xi, koff, c_in, T, u, nf, nullptr, m + xi * m_xi, ts);
        else
#endif
          conv_rows_band_avx2(v + xi * v_xi, koff, c_in, T, u, nf, nullptr, m + xi * m_xi, ts);
      }
      // Output transform, bias, and the activation on each filter's row pair.
      for (index_t fl = 0; fl < nf; ++fl) {
        const index_t f = f0 + fl;
        const __m256 bv = _mm256_set1_ps(bias ? bias[f] : 0.0f);
        for (index_t rr = 0; rr < band; ++rr) {
          const index_t g = g0 + rr, n = g / th, r = g % th;
          float* y0 = y + ((n * c_out + f) * h_out + 2 * r) * w_out;
          const bool two = 2 * r + 1 < h_out;
          for (index_t i = 0; i < tw; i += 8) {
            __m256 row0[2], row1[2];
            output_transform8(m + fl * ts + rr * tw + i, m_xi, bias ? &bv : nullptr, row0, row1);
            const index_t valid = wmin(16, w_out - 2 * i);
            store_row(y0 + 2 * i, row0, valid, &bad);
            if (two) store_row(y0 + w_out + 2 * i, row1, valid, &bad);
          }
          if (act) activation_avx2(act->kind, act->param, y0, y0, (two ? 2 : 1) * w_out);
        }
      }
    }
    if (_mm256_movemask_ps(_mm256_cmp_ps(bad, bad, _CMP_UNORD_Q)) != 0)
      non_finite.store(true, std::memory_order_relaxed);
  });
  return !non_finite.load();
}

}  // namespace cnncore
