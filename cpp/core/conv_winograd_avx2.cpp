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
#include "conv_avx2_helpers.h"
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

// The rows' transforms t (row_times_b, kept per input row: t_k[j] at h + k * hrow + j * ht for the
// patch's rows k = 0..3) combined down the columns: V = B^T d B for 8 tiles of one channel, V[xi]
// stored at v + xi * vs.
inline void columns_times_b(const float* h, index_t hrow, index_t ht, float* v, index_t vs) {
  for (int j = 0; j < 4; ++j) {
    const __m256 t0 = _mm256_loadu_ps(h + j * ht), t1 = _mm256_loadu_ps(h + hrow + j * ht);
    const __m256 t2 = _mm256_loadu_ps(h + 2 * hrow + j * ht);
    const __m256 t3 = _mm256_loadu_ps(h + 3 * hrow + j * ht);
    _mm256_storeu_ps(v + (0 + j) * vs, _mm256_sub_ps(t0, t2));
    _mm256_storeu_ps(v + (4 + j) * vs, _mm256_add_ps(t1, t2));
    _mm256_storeu_ps(v + (8 + j) * vs, _mm256_sub_ps(t2, t1));
    _mm256_storeu_ps(v + (12 + j) * vs, _mm256_sub_ps(t1, t3));
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

// Stores the first n (0 to 7) floats of v at y.
inline void store_first(float* y, __m256 v, index_t n) {
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

// Stores the first `valid` (1 to 16) of the 16 floats r[0], r[1] at y, and ORs (r - r) of those
// lanes into *bad (NaN there once any stored value was NaN or infinite).
inline void store_row(float* y, const __m256* r, index_t valid, __m256* bad) {
  if (valid >= 16) {
    _mm256_storeu_ps(y, r[0]);
    _mm256_storeu_ps(y + 8, r[1]);
    *bad = _mm256_or_ps(*bad, _mm256_or_ps(_mm256_sub_ps(r[0], r[0]), _mm256_sub_ps(r[1], r[1])));
    return;
  }
  // Not vmaskmovps: its stores are slow on AMD (a third of the 5x5 layer's time on 14x14
  // planes, where every row ends in a partial vector).
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i n = _mm256_set1_epi32(static_cast<int>(valid));
  const __m256i m0 = _mm256_cmpgt_epi32(n, iota);
  const __m256i m1 = _mm256_cmpgt_epi32(n, _mm256_add_epi32(iota, _mm256_set1_epi32(8)));
  if (valid >= 8) {
    _mm256_storeu_ps(y, r[0]);
    store_first(y + 8, r[1], valid - 8);
  } else {
    store_first(y, r[0], valid);
  }
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
  const index_t kh = p.k[1], kw = p.k[2], blocks = conv_winograd_blocks(p);
  const index_t channels = c_in * blocks * blocks;
  const index_t xi_stride = panels * channels * 16;  // floats between U[xi] and U[xi + 1]
  // One task per panel: 16 filters x every (block, channel), 8 filters at a time.
  parallel_tasks(panels, threads_for(c_out * channels * 64) > 1 ? threads : 1, [&](index_t panel,
                                                                                   int) {
    for (index_t bc = 0; bc < channels; ++bc) {
      const index_t b = bc / c_in, c = bc % c_in;
      const index_t row0 = 3 * (b / blocks), col0 = 3 * (b % blocks);
      for (index_t half = 0; half < 2; ++half) {
        const index_t f0 = panel * 16 + half * 8;
        __m256 gv[9];
        if (blocks == 1 && f0 + 8 <= c_out) {
          // 8 whole 3x3 filters: their first 8 taps transposed in registers, the ninth gathered.
          const float* w0 = w + (f0 * c_in + c) * 9;
          const index_t fs = c_in * 9;  // floats between two filters
          for (int j = 0; j < 8; ++j) gv[j] = _mm256_loadu_ps(w0 + j * fs);
          transpose8(gv);
          gv[8] = _mm256_setr_ps(w0[8], w0[fs + 8], w0[2 * fs + 8], w0[3 * fs + 8],
                                 w0[4 * fs + 8], w0[5 * fs + 8], w0[6 * fs + 8], w0[7 * fs + 8]);
        } else {
          alignas(32) float g[9][8];
          for (int j = 0; j < 8; ++j) {
            const float* wf = f0 + j < c_out ? w + ((f0 + j) * c_in + c) * kh * kw : nullptr;
            for (index_t a = 0; a < 3; ++a)
              for (index_t e = 0; e < 3; ++e) {
                const bool inside = wf && row0 + a < kh && col0 + e < kw;
                g[3 * a + e][j] = inside ? wf[(row0 + a) * kw + col0 + e] : 0.0f;
              }
          }
          for (int k = 0; k < 9; ++k) gv[k] = _mm256_load_ps(g[k]);
        }
        weight_transform8(gv, packed + (panel * channels + bc) * 16 + half * 8, xi_stride);
      }
    }
  });
}

bool conv_winograd_avx2(const ConvParams& p, const WinogradPlan& plan, const float* x,
                        const float* packed, const float* bias, float* y, float* scratch,
                        int threads, const FusedActivation* act) noexcept {
  const index_t c_in = p.c_in, c_out = p.c_out, panels = (c_out + 15) / 16;
  const index_t h_in = p.in[1], w_in = p.in[2], h_out = p.out[1], w_out = p.out[2];
  const index_t th = plan.tiles_h, tw = plan.tiles_w, ts = plan.t_stride, sw = plan.strip_w;
  const index_t rows = p.n * th, blocks = plan.blocks, channels = plan.channels;
  const index_t srows = plan.strip_rows;
  const index_t v_xi = plan.v_stride, m_xi = plan.m_stride;
  const index_t u_xi = panels * channels * 16;
  const index_t tw8 = (tw + 7) / 8 * 8, in_rows_max = 2 * (plan.band_rows - 1) + srows;
  const index_t strip_floats = (in_rows_max * sw + 15) / 16 * 16;
  const index_t rows_floats = (in_rows_max * blocks * 4 * tw8 + 15) / 16 * 16;
  const index_t v_floats = 16 * v_xi;
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
  const bool avx512 = use_avx512();
#endif
  // Tap k of the product tiles is channel k of V: offsets shared by every thread, after the
  // threads' scratch.
  index_t* koff = reinterpret_cast<index_t*>(scratch + threads * plan.scratch_floats);
  for (index_t c = 0; c < channels; ++c) koff[c] = c * ts;
  std::atomic<bool> non_finite{false};

  parallel_tasks(plan.tasks, threads, [&](index_t t, int tid) {
    if (non_finite.load(std::memory_order_relaxed)) return;
    float* strip = scratch + tid * plan.scratch_floats;
    float* rowsb = strip + strip_floats;  // the input rows' transforms
    float* v = rowsb + rows_floats;
    float* m = v + v_floats;
    const index_t g0 = t * plan.band_rows, g1 = wmin(g0 + plan.band_rows, rows);
    const index_t band = g1 - g0, T = band * tw;
    // Input transform, channel by channel, for each run of the band's tile rows that lie in one
    // image: the input rows under the run copied into a zero-padded strip; each row's transform
    // (row_times_b, for every 8 tiles and every block column: block column bw reads 3 bw columns
    // right) kept, since a row serves up to four patches (two tile rows, two block rows); then
    // each tile row's patches combined down the columns (block row bh: 3 bh rows down). For
    // each V channel the tile rows go in order, so the last vector of a row (past its end) is
    // overwritten by the next row's first.
    for (index_t c = 0; c < c_in; ++c)
      for (index_t rr0 = 0; rr0 < band;) {
        const index_t n = (g0 + rr0) / th, r0 = (g0 + rr0) % th;
        const index_t run = wmin(band - rr0, th - r0);  // tile rows of image n in the band
        const index_t in_rows = 2 * (run - 1) + srows;
        const float* xc = x + (n * c_in + c) * h_in * w_in;
        for (index_t a = 0; a < in_rows; ++a) {
          const index_t ih = 2 * r0 - p.pad[1] + a;
          padded_row(strip + a * sw, sw, ih >= 0 && ih < h_in ? xc + ih * w_in : nullptr, w_in,
                     p.pad[2]);
        }
        for (index_t a = 0; a < in_rows; ++a)
          for (index_t bw = 0; bw < blocks; ++bw)
            for (index_t i = 0; i < tw; i += 8) {
              __m256 t[4];
              row_times_b(strip + a * sw + 3 * bw + 2 * i, t);
              float* ha = rowsb + ((a * blocks + bw) * 4) * tw8 + i;
              for (int j = 0; j < 4; ++j) _mm256_storeu_ps(ha + j * tw8, t[j]);
            }
        for (index_t b = 0; b < blocks * blocks; ++b)  // each V row written front to back
          for (index_t rr = rr0; rr < rr0 + run; ++rr) {
            const index_t a0 = 2 * (rr - rr0) + 3 * (b / blocks);
            const float* hb = rowsb + ((a0 * blocks + b % blocks) * 4) * tw8;
            float* vb = v + (b * c_in + c) * ts + rr * tw;
            for (index_t i = 0; i < tw; i += 8)
              columns_times_b(hb + i, blocks * 4 * tw8, tw8, vb + i, v_xi);
          }
        rr0 += run;
      }
    __m256 bad = _mm256_setzero_ps();
    for (index_t f0 = 0; f0 < c_out; f0 += plan.chunk) {
      const index_t nf = wmin(plan.chunk, c_out - f0);
      // The 16 products for the chunk's filters: M[xi][f][tile].
      for (index_t xi = 0; xi < 16; ++xi) {
        const float* u = packed + xi * u_xi + (f0 / 16) * channels * 16;
        float* mx = m + xi * m_xi;
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
        if (avx512)
          conv_rows_band_avx512(v + xi * v_xi, koff, channels, T, u, nf, nullptr, mx, ts);
        else
#endif
          conv_rows_band_avx2(v + xi * v_xi, koff, channels, T, u, nf, nullptr, mx, ts);
      }
      // Output transform and bias; then the activation over each filter's rows of each image
      // in the band (one run of the output plane: calls on a row pair each cost 5 % of the
      // lecture's network).
      for (index_t fl = 0; fl < nf; ++fl) {
        const index_t f = f0 + fl;
        const __m256 bv = _mm256_set1_ps(bias ? bias[f] : 0.0f);
        float* run_start = nullptr;
        index_t run_len = 0;
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
          if (!act) continue;
          if (run_start && run_start + run_len != y0) {
            activation_avx2(act->kind, act->param, run_start, run_start, run_len);
            run_start = nullptr;
          }
          if (!run_start) run_start = y0, run_len = 0;
          run_len += (two ? 2 : 1) * w_out;
        }
        if (run_start) activation_avx2(act->kind, act->param, run_start, run_start, run_len);
      }
    }
    if (_mm256_movemask_ps(_mm256_cmp_ps(bad, bad, _CMP_UNORD_Q)) != 0)
      non_finite.store(true, std::memory_order_relaxed);
  });
  return !non_finite.load();
}

}  // namespace cnncore
