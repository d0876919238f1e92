// conv_winograd_avx2.cpp - the transforms and the driver of conv_winograd.h (AVX2/FMA).
//
// Compiled with -mavx2 -mfma and reached only through run-time dispatch; helpers live in an
// anonymous namespace (see conv_gemm_avx2.cpp). The A x A products (A = 4 for F(2x2, 3x3), 6 for
// F(2x2, 5x5)) run on the shifted-copies kernels' tiles (AVX2 or AVX-512, conv_gemm.h): tap k of
// those tiles is channel c here, and their flat run of pixels is the band's run of tiles. Every
// transform works on 8 tiles at once, one vector per entry of their patches.
#include "conv_winograd.h"

#include <immintrin.h>

#include <atomic>
#include <type_traits>
#include <vector>

#include "avx2_helpers.h"
#include "conv_gemm.h"
#include "cpu.h"

namespace cnncore {

namespace {

inline index_t wmin(index_t a, index_t b) { return a < b ? a : b; }

inline __m256 fma8(float a, __m256 b, __m256 c) { return _mm256_fmadd_ps(_mm256_set1_ps(a), b, c); }

// The 1-D transforms of F(2, r), A = r + 1 points (0, 1, -1 for r = 3; 0, 1, -1, 2, -2 for
// r = 5; and infinity), on vectors of 8 tiles:
//   bt: o = B^T d (A inputs, A outputs), at: y = A^T m (A inputs, 2 outputs),
//   g: u = G w (r inputs, A outputs).
template <int A>
struct Transforms;

template <>
struct Transforms<4> {
  static void bt(const __m256* d, __m256* o) {
    o[0] = _mm256_sub_ps(d[0], d[2]);
    o[1] = _mm256_add_ps(d[1], d[2]);
    o[2] = _mm256_sub_ps(d[2], d[1]);
    o[3] = _mm256_sub_ps(d[1], d[3]);
  }
  static void at(const __m256* m, __m256* y) {
    y[0] = _mm256_add_ps(_mm256_add_ps(m[0], m[1]), m[2]);
    y[1] = _mm256_sub_ps(_mm256_sub_ps(m[1], m[2]), m[3]);
  }
  static void g(const __m256* w, __m256* u) {
    const __m256 half = _mm256_set1_ps(0.5f);
    u[0] = w[0];
    u[1] = _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(w[0], w[1]), w[2]), half);
    u[2] = _mm256_mul_ps(_mm256_add_ps(_mm256_sub_ps(w[0], w[1]), w[2]), half);
    u[3] = w[2];
  }
};

template <>
struct Transforms<6> {
  // B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
  //        0 4 0 -5 0 1]
  static void bt(const __m256* d, __m256* o) {
    const __m256 p = fma8(-4.0f, d[2], d[4]), q = fma8(-4.0f, d[1], d[3]);
    const __m256 r = _mm256_sub_ps(d[4], d[2]), s = _mm256_sub_ps(d[3], d[1]);
    o[0] = fma8(4.0f, d[0], fma8(-5.0f, d[2], d[4]));
    o[1] = _mm256_add_ps(p, q);
    o[2] = _mm256_sub_ps(p, q);
    o[3] = fma8(2.0f, s, r);
    o[4] = fma8(-2.0f, s, r);
    o[5] = fma8(4.0f, d[1], fma8(-5.0f, d[3], d[5]));
  }
  // A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 1]
  static void at(const __m256* m, __m256* y) {
    y[0] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(m[1], m[2]), _mm256_add_ps(m[3], m[4])), m[0]);
    y[1] = _mm256_add_ps(fma8(2.0f, _mm256_sub_ps(m[3], m[4]), _mm256_sub_ps(m[1], m[2])), m[5]);
  }
  // G = [1/4 0 0 0 0; -1/6 (x5); -1/6 1/6 -1/6 1/6 -1/6; (1 2 4 8 16)/24; (1 -2 4 -8 16)/24;
  //      0 0 0 0 1]
  static void g(const __m256* w, __m256* u) {
    const __m256 se = _mm256_add_ps(_mm256_add_ps(w[0], w[2]), w[4]);
    const __m256 so = _mm256_add_ps(w[1], w[3]);
    const __m256 pe = fma8(16.0f, w[4], fma8(4.0f, w[2], w[0]));
    const __m256 po = fma8(8.0f, w[3], _mm256_mul_ps(_mm256_set1_ps(2.0f), w[1]));
    const __m256 sixth = _mm256_set1_ps(-1.0f / 6.0f), twentyfourth = _mm256_set1_ps(1.0f / 24.0f);
    u[0] = _mm256_mul_ps(w[0], _mm256_set1_ps(0.25f));
    u[1] = _mm256_mul_ps(_mm256_add_ps(se, so), sixth);
    u[2] = _mm256_mul_ps(_mm256_sub_ps(se, so), sixth);
    u[3] = _mm256_mul_ps(_mm256_add_ps(pe, po), twentyfourth);
    u[4] = _mm256_mul_ps(_mm256_sub_ps(pe, po), twentyfourth);
    u[5] = w[4];
  }
};

// The 1-D transforms of F(4, 5): 8 points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity.
//   B^T = [-1 0 21/4 0 -21/4 0 1 0; 0 1 1 -17/4 -17/4 1 1 0; 0 -1 1 17/4 -17/4 -1 1 0;
//          0 1/2 1/4 -5/2 -5/4 2 1 0; 0 -1/2 1/4 5/2 -5/4 -2 1 0; 0 2 4 -5/2 -5 1/2 1 0;
//          0 -2 4 5/2 -5 -1/2 1 0; 0 -1 0 21/4 0 -21/4 0 1]
//   G = [-1 0 0 0 0; -2/9 (x5); -2/9 2/9 -2/9 2/9 -2/9; (1/2 1 2 4 8)/45; (1/2 -1 2 -4 8)/45;
//        (32 16 8 4 2)/45; (32 -16 8 -4 2)/45; 0 0 0 0 1]
//   A^T = [1 1 1 1 1 1 1 0; 0 1 -1 2 -2 1/2 -1/2 0; 0 1 1 4 4 1/4 1/4 0;
//          0 1 -1 8 -8 1/8 -1/8 1]
template <>
struct Transforms<8> {
  static void bt(const __m256* d, __m256* o) {
    const __m256 c525 = _mm256_set1_ps(5.25f), c425 = _mm256_set1_ps(-4.25f);
    o[0] = _mm256_fmadd_ps(c525, _mm256_sub_ps(d[2], d[4]), _mm256_sub_ps(d[6], d[0]));
    o[7] = _mm256_fmadd_ps(c525, _mm256_sub_ps(d[3], d[5]), _mm256_sub_ps(d[7], d[1]));
    const __m256 a1 = _mm256_fmadd_ps(c425, d[3], _mm256_add_ps(d[1], d[5]));
    const __m256 b1 = _mm256_fmadd_ps(c425, d[4], _mm256_add_ps(d[2], d[6]));
    o[1] = _mm256_add_ps(b1, a1);
    o[2] = _mm256_sub_ps(b1, a1);
    const __m256 a2 = fma8(2.0f, d[5], fma8(-2.5f, d[3], _mm256_mul_ps(_mm256_set1_ps(0.5f), d[1])));
    const __m256 b2 =
        _mm256_add_ps(fma8(-1.25f, d[4], _mm256_mul_ps(_mm256_set1_ps(0.25f), d[2])), d[6]);
    o[3] = _mm256_add_ps(b2, a2);
    o[4] = _mm256_sub_ps(b2, a2);
    const __m256 a3 = fma8(0.5f, d[5], fma8(-2.5f, d[3], _mm256_add_ps(d[1], d[1])));
    const __m256 b3 =
        _mm256_add_ps(fma8(-5.0f, d[4], _mm256_mul_ps(_mm256_set1_ps(4.0f), d[2])), d[6]);
    o[5] = _mm256_add_ps(b3, a3);
    o[6] = _mm256_sub_ps(b3, a3);
  }
  // 4 outputs.
  static void at(const __m256* m, __m256* y) {
    const __m256 s1 = _mm256_add_ps(m[1], m[2]), d1 = _mm256_sub_ps(m[1], m[2]);
    const __m256 s2 = _mm256_add_ps(m[3], m[4]), d2 = _mm256_sub_ps(m[3], m[4]);
    const __m256 s3 = _mm256_add_ps(m[5], m[6]), d3 = _mm256_sub_ps(m[5], m[6]);
    y[0] = _mm256_add_ps(_mm256_add_ps(m[0], s1), _mm256_add_ps(s2, s3));
    y[1] = fma8(0.5f, d3, fma8(2.0f, d2, d1));
    y[2] = fma8(0.25f, s3, fma8(4.0f, s2, s1));
    y[3] = _mm256_add_ps(fma8(0.125f, d3, fma8(8.0f, d2, d1)), m[7]);
  }
  static void g(const __m256* w, __m256* u) {
    const __m256 even = _mm256_add_ps(_mm256_add_ps(w[0], w[2]), w[4]);
    const __m256 odd = _mm256_add_ps(w[1], w[3]);
    const __m256 pe = fma8(8.0f, w[4], fma8(2.0f, w[2], _mm256_mul_ps(_mm256_set1_ps(0.5f), w[0])));
    const __m256 po = fma8(4.0f, w[3], w[1]);
    const __m256 qe = fma8(2.0f, w[4], fma8(8.0f, w[2], _mm256_mul_ps(_mm256_set1_ps(32.0f), w[0])));
    const __m256 qo = fma8(4.0f, w[3], _mm256_mul_ps(_mm256_set1_ps(16.0f), w[1]));
    const __m256 ninth = _mm256_set1_ps(-2.0f / 9.0f), c45 = _mm256_set1_ps(1.0f / 45.0f);
    u[0] = _mm256_sub_ps(_mm256_setzero_ps(), w[0]);
    u[1] = _mm256_mul_ps(_mm256_add_ps(even, odd), ninth);
    u[2] = _mm256_mul_ps(_mm256_sub_ps(even, odd), ninth);
    u[3] = _mm256_mul_ps(_mm256_add_ps(pe, po), c45);
    u[4] = _mm256_mul_ps(_mm256_sub_ps(pe, po), c45);
    u[5] = _mm256_mul_ps(_mm256_add_ps(qe, qo), c45);
    u[6] = _mm256_mul_ps(_mm256_sub_ps(qe, qo), c45);
    u[7] = w[4];
  }
};

// Lanes 0, 2, ..., 14 and 1, 3, ..., 15 of the 16 floats at s.
inline void even_odd(const float* s, __m256* even, __m256* odd) {
  const __m256 a = _mm256_loadu_ps(s), b = _mm256_loadu_ps(s + 8);
  // [a0 a2 b0 b2 | a4 a6 b4 b6] -> 64-bit lanes in the order 0, 2, 1, 3.
  const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  const __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
  *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
  *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

// One input row under 8 tiles (tile i's patch: columns 2i .. 2i + A - 1; s at column 2i of the
// first), times B: its A vectors stored at h + j * hs.
template <int A>
inline void row_times_b(const float* s, float* h, index_t hs) {
  __m256 d[A], t[A];
  for (int k = 0; k < A; k += 2) even_odd(s + k, &d[k], &d[k + 1]);
  Transforms<A>::bt(d, t);
  for (int j = 0; j < A; ++j) _mm256_storeu_ps(h + j * hs, t[j]);
}

// F(4, 5) along the rows of the patch: tile i's patch at columns 4 i .. 4 i + 7 (s at column 4 i
// of the first): 8 overlapping loads, transposed, times B.
template <>
inline void row_times_b<8>(const float* s, float* h, index_t hs) {
  __m256 d[8], t[8];
  for (int k = 0; k < 8; ++k) d[k] = _mm256_loadu_ps(s + 4 * k);
  transpose8(d);
  Transforms<8>::bt(d, t);
  for (int j = 0; j < 8; ++j) _mm256_storeu_ps(h + j * hs, t[j]);
}

// The rows' transforms (t_k[j] at h + k * hrow + j * ht, AH rows of AW) combined down the
// columns: V = B_h^T d B_w for 8 tiles of one channel, V[AW i + j] stored at v + (AW i + j) * vs.
// With h2: 4 tiles from h (lanes 0-3) and 4 from h2 (lanes 4-7), two tile rows of 4 tiles.
template <int AH, int AW>
inline void columns_times_b(const float* h, index_t hrow, index_t ht, float* v, index_t vs,
                            const float* h2 = nullptr) {
  for (int j = 0; j < AW; ++j) {
    __m256 t[AH], o[AH];
    for (int k = 0; k < AH; ++k) {
      const float* q = h + k * hrow + j * ht;
      t[k] = h2 ? _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(q)),
                                       _mm_loadu_ps(h2 + k * hrow + j * ht), 1)
                : _mm256_loadu_ps(q);
    }
    Transforms<AH>::bt(t, o);
    for (int i = 0; i < AH; ++i) _mm256_storeu_ps(v + (AW * i + j) * vs, o[i]);
  }
}

// The MW outputs of 8 tiles (y[o]: output o of each tile) side by side, tile by tile: MW vectors.
inline void interleave(const __m256* y, __m256* row, std::integral_constant<int, 2>) {
  const __m256 lo = _mm256_unpacklo_ps(y[0], y[1]), hi = _mm256_unpackhi_ps(y[0], y[1]);
  row[0] = _mm256_permute2f128_ps(lo, hi, 0x20);
  row[1] = _mm256_permute2f128_ps(lo, hi, 0x31);
}
inline void interleave(const __m256* y, __m256* row, std::integral_constant<int, 4>) {
  const __m256 a = _mm256_unpacklo_ps(y[0], y[1]), b = _mm256_unpackhi_ps(y[0], y[1]);
  const __m256 c = _mm256_unpacklo_ps(y[2], y[3]), d = _mm256_unpackhi_ps(y[2], y[3]);
  const __m256 r04 = _mm256_shuffle_ps(a, c, _MM_SHUFFLE(1, 0, 1, 0));  // tiles 0 | 4
  const __m256 r15 = _mm256_shuffle_ps(a, c, _MM_SHUFFLE(3, 2, 3, 2));  // tiles 1 | 5
  const __m256 r26 = _mm256_shuffle_ps(b, d, _MM_SHUFFLE(1, 0, 1, 0));  // tiles 2 | 6
  const __m256 r37 = _mm256_shuffle_ps(b, d, _MM_SHUFFLE(3, 2, 3, 2));  // tiles 3 | 7
  row[0] = _mm256_permute2f128_ps(r04, r15, 0x20);
  row[1] = _mm256_permute2f128_ps(r26, r37, 0x20);
  row[2] = _mm256_permute2f128_ps(r04, r15, 0x31);
  row[3] = _mm256_permute2f128_ps(r26, r37, 0x31);
}

// Output columns per tile for a patch AW wide.
template <int AW>
constexpr int tile_cols() { return AW == 8 ? 4 : 2; }

// Y = A_h^T M A_w for 8 tiles of one filter (M[xi] at m + xi * ms), plus the bias (if any): the
// two output rows of the 8 tiles, each 8 MW floats (tile i's MW columns side by side).
template <int AH, int AW>
inline void output_transform8(const float* m, index_t ms, const __m256* bias, __m256* row0,
                              __m256* row1) {
  constexpr int MW = tile_cols<AW>();
  __m256 s0[AW], s1[AW];  // A_h^T M: 2 x AW
  for (int j = 0; j < AW; ++j) {
    __m256 col[AH], y[2];
    for (int k = 0; k < AH; ++k) col[k] = _mm256_loadu_ps(m + (AW * k + j) * ms);
    Transforms<AH>::at(col, y);
    s0[j] = y[0];
    s1[j] = y[1];
  }
  __m256 y0[MW], y1[MW];  // (A_h^T M) A_w: rows 0 and 1, columns 0 .. MW - 1
  Transforms<AW>::at(s0, y0);
  Transforms<AW>::at(s1, y1);
  if (bias)
    for (int i = 0; i < MW; ++i) {
      y0[i] = _mm256_add_ps(y0[i], *bias);
      y1[i] = _mm256_add_ps(y1[i], *bias);
    }
  interleave(y0, row0, std::integral_constant<int, MW>());
  interleave(y1, row1, std::integral_constant<int, MW>());
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
  if (valid >= 8) {
    _mm256_storeu_ps(y, r[0]);
    store_first(y + 8, r[1], valid - 8);
  } else {
    store_first(y, r[0], valid);
  }
  *bad = _mm256_or_ps(*bad, _mm256_and_ps(_mm256_sub_ps(r[0], r[0]), _mm256_castsi256_ps(m0)));
  *bad = _mm256_or_ps(*bad, _mm256_and_ps(_mm256_sub_ps(r[1], r[1]), _mm256_castsi256_ps(m1)));
}

// Stores the first `valid` (1 to 8 MW) of the 8 MW floats r[0 .. MW - 1] at y (see store_row).
template <int MW>
inline void store_tile_row(float* y, const __m256* r, index_t valid, __m256* bad) {
  store_row(y, r, wmin(valid, 16), bad);
  if (MW == 4 && valid > 16) store_row(y + 16, r + 2, valid - 16, bad);
}

// U = G_h w G_w^T for 8 filters of one input channel: w[k] (k = r a + b, kernel row a, column b)
// as vectors over the filters; U[xi] stored at u + xi * us.
template <int AH, int AW>
inline void weight_transform8(const __m256* w, float* u, index_t us) {
  constexpr int r = AH - 1;
  __m256 t[AH][r];  // G_h w: AH x r
  for (int b = 0; b < r; ++b) {
    __m256 col[r], o[AH];
    for (int a = 0; a < r; ++a) col[a] = w[r * a + b];
    Transforms<AH>::g(col, o);
    for (int i = 0; i < AH; ++i) t[i][b] = o[i];
  }
  for (int i = 0; i < AH; ++i) {
    __m256 o[AW];
    Transforms<AW>::g(t[i], o);
    for (int j = 0; j < AW; ++j) _mm256_storeu_ps(u + (AW * i + j) * us, o[j]);
  }
}

template <int A, int AW>
void pack(const ConvParams& p, const float* w, float* packed, int threads) {
  constexpr int r = A - 1, taps = r * r;
  const index_t c_in = p.c_in, c_out = p.c_out, panels = (c_out + 15) / 16;
  const index_t xi_stride = panels * c_in * 16;  // floats between U[xi] and U[xi + 1]
  // One task per panel: 16 filters x every channel, 8 filters at a time.
  parallel_tasks(panels, threads_for(c_out * c_in * A * AW * 4) > 1 ? threads : 1,
                 [&](index_t panel, int) {
    for (index_t c = 0; c < c_in; ++c)
      for (index_t half = 0; half < 2; ++half) {
        const index_t f0 = panel * 16 + half * 8;
        const float* w0 = w + (f0 * c_in + c) * taps;
        const index_t fs = c_in * taps;  // floats between two filters
        __m256 gv[taps];
        if (A == 4 && f0 + 8 <= c_out) {
          // 8 whole 3x3 filters: their first 8 taps transposed in registers, the ninth gathered.
          for (int j = 0; j < 8; ++j) gv[j] = _mm256_loadu_ps(w0 + j * fs);
          transpose8(gv);
          gv[taps - 1] =
              _mm256_setr_ps(w0[8], w0[fs + 8], w0[2 * fs + 8], w0[3 * fs + 8], w0[4 * fs + 8],
                             w0[5 * fs + 8], w0[6 * fs + 8], w0[7 * fs + 8]);
        } else {
          alignas(32) float g[taps][8];
          for (int j = 0; j < 8; ++j)
            for (int k = 0; k < taps; ++k) g[k][j] = f0 + j < c_out ? w0[j * fs + k] : 0.0f;
          for (int k = 0; k < taps; ++k) gv[k] = _mm256_load_ps(g[k]);
        }
        weight_transform8<A, AW>(gv, packed + (panel * c_in + c) * 16 + half * 8, xi_stride);
      }
  });
}

template <int A, int AW>
bool run(const ConvParams& p, const WinogradPlan& plan, const float* x, const float* packed,
         const float* bias, float* y, float* scratch, int threads, const FusedActivation* act) {
  constexpr int XI = A * AW, MW = tile_cols<AW>();
  const index_t c_in = p.c_in, c_out = p.c_out, panels = (c_out + 15) / 16;
  const index_t h_in = p.in[1], w_in = p.in[2], h_out = p.out[1], w_out = p.out[2];
  const index_t th = plan.tiles_h, tw = plan.tiles_w, ts = plan.t_stride, sw = plan.strip_w;
  const index_t rows = p.n * th;
  const index_t v_xi = plan.v_stride, m_xi = plan.m_stride;
  const index_t u_xi = panels * c_in * 16;
  const index_t tw8 = (tw + 7) / 8 * 8, in_rows_max = 2 * (plan.band_rows - 1) + A;
  const index_t strip_floats = (in_rows_max * sw + 15) / 16 * 16;
  const index_t rows_floats = (in_rows_max * AW * tw8 + 15) / 16 * 16;
  const index_t v_floats = XI * v_xi;
  // Rows of 4 tiles of 4 columns (13 to 16 output columns, the lecture's CONV2) fill half a
  // vector: the transforms then run on two tile rows at a time, the band's run of tiles being
  // flat (0.92 of the time with a tile row at a time, CONV2 at batch 64).
  const bool pairs = MW == 4 && tw == 4;
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
    float* strip = scratch + tid * plan.scratch_floats;
    float* rowsb = strip + strip_floats;  // the input rows' transforms
    float* v = rowsb + rows_floats;
    float* m = v + v_floats;
    const index_t g0 = t * plan.band_rows, g1 = wmin(g0 + plan.band_rows, rows);
    const index_t band = g1 - g0, T = band * tw;
    // Input transform, channel by channel, for each run of the band's tile rows that lie in one
    // image: the input rows under the run copied into a zero-padded strip; each row's transform
    // kept (a row serves the patches of up to A / 2 tile rows); then the patches combined down
    // the columns. V (and R) rows are written front to back, so a vector's lanes past a row's or
    // a run's end are overwritten by the next row's or run's.
    for (index_t c = 0; c < c_in; ++c)
      for (index_t rr0 = 0; rr0 < band;) {
        const index_t n = (g0 + rr0) / th, r0 = (g0 + rr0) % th;
        const index_t run_rows = wmin(band - rr0, th - r0);  // tile rows of image n
        const index_t in_rows = 2 * (run_rows - 1) + A;
        const float* xc = x + (n * c_in + c) * h_in * w_in;
        for (index_t a = 0; a < in_rows; ++a) {
          const index_t ih = 2 * r0 - p.pad[1] + a;
          padded_row(strip + a * sw, sw, ih >= 0 && ih < h_in ? xc + ih * w_in : nullptr, w_in,
                     p.pad[2]);
        }
        float* vc = v + c * ts;
        for (index_t a = 0; a < in_rows; ++a)
          for (index_t i = 0; i < tw; i += 8)
            row_times_b<AW>(strip + a * sw + MW * i, rowsb + a * AW * tw8 + i, tw8);
        for (index_t rr = rr0; rr < rr0 + run_rows; rr += pairs ? 2 : 1) {
          const float* h = rowsb + 2 * (rr - rr0) * AW * tw8;
          if (pairs && rr + 1 < rr0 + run_rows)
            columns_times_b<A, AW>(h, AW * tw8, tw8, vc + rr * tw, v_xi, h + 2 * AW * tw8);
          else
            for (index_t i = 0; i < tw; i += 8)
              columns_times_b<A, AW>(h + i, AW * tw8, tw8, vc + rr * tw + i, v_xi);
        }
        rr0 += run_rows;
      }
    __m256 bad = _mm256_setzero_ps();
    for (index_t f0 = 0; f0 < c_out; f0 += plan.chunk) {
      const index_t nf = wmin(plan.chunk, c_out - f0);
      // The products for the chunk's filters: M[xi][f][tile].
      for (index_t xi = 0; xi < XI; ++xi) {
        const float* u = packed + xi * u_xi + (f0 / 16) * c_in * 16;
        float* mx = m + xi * m_xi;
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
        if (avx512)
          conv_rows_band_avx512(v + xi * v_xi, koff, c_in, T, u, nf, nullptr, mx, ts);
        else
#endif
          conv_rows_band_avx2(v + xi * v_xi, koff, c_in, T, u, nf, nullptr, mx, ts);
      }
      // Output transform and bias; then the activation over each filter's rows of each image
      // in the band (one run of the output plane: calls on a row pair each cost 5 % of a
      // network's time).
      for (index_t fl = 0; fl < nf; ++fl) {
        const index_t f = f0 + fl;
        const __m256 bv = _mm256_set1_ps(bias ? bias[f] : 0.0f);
        float* run_start = nullptr;
        index_t run_len = 0;
        for (index_t rr = 0; rr < band; ++rr) {
          const index_t g = g0 + rr, n = g / th, r = g % th;
          float* y0 = y + ((n * c_out + f) * h_out + 2 * r) * w_out;
          const bool two = 2 * r + 1 < h_out;
          if constexpr (MW == 4) {
            if (pairs && rr % 2 == 0) {
              // Tile rows rr (lanes 0-3) and rr + 1 (lanes 4-7, if in the band).
              __m256 row0[MW], row1[MW];
              output_transform8<A, AW>(m + fl * ts + rr * tw, m_xi, bias ? &bv : nullptr, row0,
                                       row1);
              const index_t valid = wmin(16, w_out);
              store_row(y0, row0, valid, &bad);
              if (two) store_row(y0 + w_out, row1, valid, &bad);
              if (rr + 1 < band) {
                const index_t g2 = g + 1, n2 = g2 / th, r2 = g2 % th;
                float* y2 = y + ((n2 * c_out + f) * h_out + 2 * r2) * w_out;
                store_row(y2, row0 + 2, valid, &bad);
                if (2 * r2 + 1 < h_out) store_row(y2 + w_out, row1 + 2, valid, &bad);
              }
            }
          }
          for (index_t i = 0; i < tw && !pairs; i += 8) {
            __m256 row0[MW], row1[MW];
            output_transform8<A, AW>(m + fl * ts + rr * tw + i, m_xi, bias ? &bv : nullptr, row0,
                                     row1);
            const index_t valid = wmin(8 * MW, w_out - MW * i);
            store_tile_row<MW>(y0 + MW * i, row0, valid, &bad);
            if (two) store_tile_row<MW>(y0 + w_out + MW * i, row1, valid, &bad);
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

// ---- F(4, 5) along the rows ---------------------------------------------------------------
// Transforms<8> above; the products on the shifted-copies tiles, with the kernel rows as taps.

// y = A^T m for 8 runs of one filter (m[xi] at m + xi * ms), plus the bias (if any), as the 32
// output pixels of the 8 runs in order: out[0] runs 0 and 1, ..., out[3] runs 6 and 7.
inline void rows_output_transform8(const float* m, index_t ms, const __m256* bias, __m256* out) {
  __m256 v[8], y[4];
  for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(m + i * ms);
  Transforms<8>::at(v, y);
  if (bias)
    for (int i = 0; i < 4; ++i) y[i] = _mm256_add_ps(y[i], *bias);
  interleave(y, out, std::integral_constant<int, 4>());
}

// U[xi][panel][a * c_in + c][16] = (G w[f, c, a, :])[xi] (Transforms<8>::g), 8 filters at a time.
// With one input channel (the fused kernel's own layout, below) each U is computed in double and
// rounded once instead (Transforms<8>::g rounds two or three times: one channel's outputs sum
// only 25 terms, so the float32 bound they must meet is the tightest), and the weights follow as
// they are (see run_rows).
void pack_rows(const ConvParams& p, const float* w, float* packed) {
  const index_t c_in = p.c_in, c_out = p.c_out, panels = (c_out + 15) / 16, K = 5 * c_in;
  const index_t xi_stride = panels * K * 16;
  if (c_in == 1) {
    static constexpr double kG[8][5] = {
        {-1, 0, 0, 0, 0},
        {-2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9},
        {-2.0 / 9, 2.0 / 9, -2.0 / 9, 2.0 / 9, -2.0 / 9},
        {1.0 / 90, 1.0 / 45, 2.0 / 45, 4.0 / 45, 8.0 / 45},
        {1.0 / 90, -1.0 / 45, 2.0 / 45, -4.0 / 45, 8.0 / 45},
        {32.0 / 45, 16.0 / 45, 8.0 / 45, 4.0 / 45, 2.0 / 45},
        {32.0 / 45, -16.0 / 45, 8.0 / 45, -4.0 / 45, 2.0 / 45},
        {0, 0, 0, 0, 1}};
    // Filter-major, U[f][xi][a] (the fused kernel broadcasts one filter's 40 in turn), zeros
    // past c_out.
    for (index_t f = 0; f < panels * 16; ++f)
      for (int xi = 0; xi < 8; ++xi)
        for (index_t a = 0; a < 5; ++a) {
          double u = 0.0;
          for (int b = 0; f < c_out && b < 5; ++b)
            u += kG[xi][b] * static_cast<double>(w[(f * 5 + a) * 5 + b]);
          packed[(f * 8 + xi) * 5 + a] = static_cast<float>(u);
        }
    // The weights as they are, w[a][b][f] (zeros past c_out), after U: the edge columns' direct
    // sums (conv_winograd_rows1_edge_avx512).
    float* e = packed + 8 * xi_stride;  // = panels * 16 * 40, U's size
    for (index_t t = 0; t < 25; ++t)
      for (index_t f = 0; f < panels * 16; ++f)
        e[t * panels * 16 + f] = f < c_out ? w[f * 25 + t] : 0.0f;
    return;
  }
  for (index_t f0 = 0; f0 < panels * 16; f0 += 8)
    for (index_t c = 0; c < c_in; ++c)
      for (index_t a = 0; a < 5; ++a) {
        alignas(32) float g[5][8];  // kernel row a of the 8 filters (zeros past c_out)
        for (int j = 0; j < 8; ++j)
          for (int b = 0; b < 5; ++b)
            g[b][j] = f0 + j < c_out ? w[(((f0 + j) * c_in + c) * 5 + a) * 5 + b] : 0.0f;
        __m256 wv[5], u[8];
        for (int b = 0; b < 5; ++b) wv[b] = _mm256_load_ps(g[b]);
        Transforms<8>::g(wv, u);
        float* dst = packed + ((f0 / 16) * K + a * c_in + c) * 16 + f0 % 16;
        for (int xi = 0; xi < 8; ++xi) _mm256_storeu_ps(dst + xi * xi_stride, u[xi]);
      }
}

// V = B^T d for every run of `rows` zero-padded input rows (strip, sw floats apart) of one
// channel: run i of row r at v + r * T + i, V[xi] at + xi * vs; 8 runs at a time.
inline void rows_input_transform(const float* strip, index_t sw, index_t rows, index_t T, float* v,
                                 index_t vs) {
  for (index_t r = 0; r < rows; ++r) {
    const float* row = strip + r * sw;
    float* vr = v + r * T;
    for (index_t i = 0; i < T; i += 8) row_times_b<8>(row + 4 * i, vr + i, vs);
  }
}

// The output transform of one filter's band (rows output rows of w_out pixels, T runs each; M[xi]
// at m + xi * ms, run q of the band at q), plus the bias (if any), into yf. With 4 T = w_out the
// band's outputs are one flat run, transformed 8 runs at a time whatever the rows; otherwise row
// by row. *bad turns NaN once a stored value is NaN or infinite.
inline void rows_output_band(const float* m, index_t ms, index_t rows, index_t T, index_t w_out,
                             const float* bias, float* yf, __m256* bad) {
  const __m256 bv = _mm256_set1_ps(bias ? *bias : 0.0f);
  const __m256* bp = bias ? &bv : nullptr;
  __m256 acc = *bad;
  __m256 out[4];
  if (4 * T == w_out) {
    const index_t Q = rows * T;
    index_t q = 0;
    // Whole groups: acc += 0 x (the sum of their 4 vectors), NaN when one of them is NaN or
    // infinite (or when the sum overflows: then the GEMM recomputes a call it need not have, to
    // the same values). Cheaper than (r - r) ORed per vector, as store_row does for the tail.
    const __m256 zero = _mm256_setzero_ps();
    for (; q + 8 <= Q; q += 8) {
      rows_output_transform8(m + q, ms, bp, out);
      float* yo = yf + 4 * q;
      for (int i = 0; i < 4; ++i) _mm256_storeu_ps(yo + 8 * i, out[i]);
      const __m256 sum = _mm256_add_ps(_mm256_add_ps(out[0], out[1]), _mm256_add_ps(out[2], out[3]));
      acc = _mm256_fmadd_ps(sum, zero, acc);
    }
    if (q < Q) {
      rows_output_transform8(m + q, ms, bp, out);
      store_tile_row<4>(yf + 4 * q, out, 4 * (Q - q), &acc);
    }
  } else {
    for (index_t rr = 0; rr < rows; ++rr)
      for (index_t i = 0; i < T; i += 8) {
        rows_output_transform8(m + rr * T + i, ms, bp, out);
        store_tile_row<4>(yf + rr * w_out + 4 * i, out, wmin(32, w_out - 4 * i), &acc);
      }
  }
  *bad = acc;
}

bool run_rows(const ConvParams& p, const WinogradPlan& plan, const float* x, const float* packed,
              const float* bias, float* y, float* scratch, int threads,
              const FusedActivation* act) {
  const index_t c_in = p.c_in, c_out = p.c_out, K = 5 * c_in;
  const index_t h_in = p.in[1], w_in = p.in[2], h_out = p.out[1], w_out = p.out[2];
  const index_t T = plan.tiles_w, cl = plan.copy_len, ms = plan.t_stride, sw = plan.strip_w;
  const index_t v_xi = plan.v_stride, m_xi = plan.m_stride, u_xi = ((c_out + 15) / 16) * K * 16;
  const index_t row_len = 4 * ((T + 7) / 8 * 8) + 4;
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
  const bool avx512 = use_avx512();
#endif
  // Tap k = (a, c) reads channel c's copy a tile row's length a rows down.
  index_t* koff = reinterpret_cast<index_t*>(scratch + threads * plan.scratch_floats);
  for (index_t a = 0; a < 5; ++a)
    for (index_t c = 0; c < c_in; ++c) koff[a * c_in + c] = c * cl + a * T;
  std::atomic<bool> non_finite{false};
  // One channel: the output columns whose window the padding cuts short, at the ends of their
  // runs (outputs 0 and 3), redone as direct sums after the fused kernel. There a run's transform
  // mixes in up to twice as many input columns as the window holds, and their cancelled
  // contributions left errors up to 28 eps32 of the window's sum of magnitudes (the lecture's
  // layer, random data, no bias; 12.7 in the other columns), past the float32 bound of a 25-term
  // sum (27). (Rows cut short by the padding: worst 18 measured, left to the transform.)
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
  std::vector<index_t> edges;
  for (index_t col = 0; c_in == 1 && col < w_out; ++col) {
    const bool cut = col < p.pad[2] || col + 4 - p.pad[2] >= w_in;
    if (cut && (col % 4 == 0 || col % 4 == 3)) edges.push_back(col);
  }
  const index_t n_edges = static_cast<index_t>(edges.size());
#endif

  parallel_tasks(plan.tasks, threads, [&](index_t t, int tid) {
    if (non_finite.load(std::memory_order_relaxed)) return;
    float* strip = scratch + tid * plan.scratch_floats;
    float* v = strip + (plan.band_rows + 4) * sw;
    float* m = v + 8 * v_xi;
    const index_t n = t / plan.bands, oh0 = (t % plan.bands) * plan.band_rows;
    const index_t rows = wmin(plan.band_rows, h_out - oh0), Q = rows * T;
    // Input transform, channel by channel: the input rows under the band, zero-padded, into the
    // strip; then 8 runs' windows at a time (8 overlapping loads, transposed) times B. (Two
    // passes: loads reading a row just written would wait on store forwarding.) Rows are
    // transformed in order, so a row's last vector (past its end) is overwritten by the next.
    for (index_t c = 0; c < c_in; ++c) {
      const float* xc = x + (n * c_in + c) * h_in * w_in;
      for (index_t r = 0; r < rows + 4; ++r) {
        const index_t ih = oh0 - p.pad[1] + r;
        padded_row(strip + r * sw, row_len, ih >= 0 && ih < h_in ? xc + ih * w_in : nullptr, w_in,
                   p.pad[2]);
      }
      rows_input_transform(strip, sw, rows + 4, T, v + c * cl, v_xi);
    }
    if (c_in == 1) {
      // One channel (AVX-512, rows of whole runs: conv_winograd_rows_applies): the products and
      // the output transform fused, all filters at once; the plan left no room for M.
      bool finite = false;
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
      float* yb = y + (n * c_out * h_out + oh0) * w_out;
      if (avx512 && 4 * T == w_out) {
        finite = conv_winograd_rows1_avx512(v, v_xi, T, Q, packed, c_out, bias, yb,
                                            h_out * w_out);
        if (n_edges > 0)
          conv_winograd_rows1_edge_avx512(strip, sw, rows, edges.data(), n_edges,
                                          packed + 8 * u_xi, c_out, bias, yb, w_out,
                                          h_out * w_out);
        if (act)
          for (index_t f = 0; f < c_out; ++f)
            activation_avx2(act->kind, act->param, yb + f * h_out * w_out,
                            yb + f * h_out * w_out, rows * w_out);
      }
#endif
      // Otherwise (never, as chosen: conv_winograd_rows_applies) reported like a non-finite
      // output: the GEMM recomputes. (An AVX2 twin of the fused kernel, 1 to 3 filters x 8 runs,
      // ran at 1.11-1.19 times the shifted copies' time on the lecture's first layer: the 16
      // registers hold too few accumulators, and the 8-lane interleave costs 12 shuffles.)
      if (!finite) non_finite.store(true, std::memory_order_relaxed);
      return;
    }
    __m256 bad = _mm256_setzero_ps();
    for (index_t f0 = 0; f0 < c_out; f0 += 8) {
      const index_t nf = wmin(8, c_out - f0);
      // The 8 products for 8 filters: M[xi][f][q], q = output row x T + run.
      for (index_t xi = 0; xi < 8; ++xi) {
        const float* u = packed + xi * u_xi + (f0 / 16) * K * 16 + f0 % 16;
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
        if (avx512)
          conv_rows_band_avx512(v + xi * v_xi, koff, K, Q, u, nf, nullptr, m + xi * m_xi, ms);
        else
#endif
          conv_rows_band_avx2(v + xi * v_xi, koff, K, Q, u, nf, nullptr, m + xi * m_xi, ms);
      }
      // Output transform and bias; then the activation over the band's rows.
      for (index_t fl = 0; fl < nf; ++fl) {
        const index_t f = f0 + fl;
        float* yf = y + ((n * c_out + f) * h_out + oh0) * w_out;
        rows_output_band(m + fl * ms, m_xi, rows, T, w_out, bias ? bias + f : nullptr, yf, &bad);
        if (act) activation_avx2(act->kind, act->param, yf, yf, rows * w_out);
      }
    }
    if (_mm256_movemask_ps(_mm256_cmp_ps(bad, bad, _CMP_UNORD_Q)) != 0)
      non_finite.store(true, std::memory_order_relaxed);
  });
  return !non_finite.load();
}

}  // namespace

void conv_winograd_pack_avx2(const ConvParams& p, const float* w, float* packed,
                             int threads) noexcept {
  if (conv_winograd_rows_applies(p))
    pack_rows(p, w, packed);
  else if (conv_winograd_alpha_w(p) == 8)
    pack<6, 8>(p, w, packed, threads);
  else if (conv_winograd_alpha(p) == 6)
    pack<6, 6>(p, w, packed, threads);
  else
    pack<4, 4>(p, w, packed, threads);
}

bool conv_winograd_avx2(const ConvParams& p, const WinogradPlan& plan, const float* x,
                        const float* packed, const float* bias, float* y, float* scratch,
                        int threads, const FusedActivation* act) noexcept {
  if (plan.along_rows) return run_rows(p, plan, x, packed, bias, y, scratch, threads, act);
  if (plan.alpha_w == 8) return run<6, 8>(p, plan, x, packed, bias, y, scratch, threads, act);
  if (plan.alpha == 6) return run<6, 6>(p, plan, x, packed, bias, y, scratch, threads, act);
  return run<4, 4>(p, plan, x, packed, bias, y, scratch, threads, act);
}

}  // namespace cnncore
