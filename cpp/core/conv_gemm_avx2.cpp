// conv_gemm_avx2.cpp - the AVX2/FMA microkernel and driver of conv_gemm.h.
//
// Compiled with -mavx2 -mfma and reached only through run-time dispatch. Nothing here may be an
// inline function or template shared with other translation units (the linker could pick this
// file's AVX2 copy for generic code), so helpers live in an anonymous namespace and no std::
// templates are used.
#include <immintrin.h>

#include "conv_gemm.h"
#include "conv_rows_band.h"
#include "avx2_helpers.h"
#include "cpu.h"


namespace cnncore {

namespace {

inline index_t lo_max(index_t a, index_t b) { return a > b ? a : b; }
inline index_t lo_min(index_t a, index_t b) { return a < b ? a : b; }

// acc[j] (j < MR pixels) x 16 channels += sum_k xb[j][koff[k]] * wp[k][0..15]; then + bias, and
// the valid `nr` channels stored to y_f[pixel j] (channel stride `ystride`).
// One row of a zero-padded strip: dst[i] = src[i - pad_left] where that column lies inside the
// input row (src, w_in floats; null: the row itself lies in the padding), zero elsewhere. A
// negative pad_left (the core accepts one: windows starting inside the row) leaves no zeros on
// the left.
inline void strip_row(float* dst, index_t row_len, const float* src, index_t w_in,
                      index_t pad_left) {
  const index_t lo = src ? lo_max(0, lo_min(pad_left, row_len)) : row_len;
  const index_t hi = src ? lo_max(lo, lo_min(row_len, pad_left + w_in)) : row_len;
  for (index_t i = 0; i < lo; ++i) dst[i] = 0.0f;
  if (hi > lo) {
    const float* from = src + (lo - pad_left);
    index_t i = lo;
    for (; i + 8 <= hi; i += 8) _mm256_storeu_ps(dst + i, _mm256_loadu_ps(from + i - lo));
    for (; i < hi; ++i) dst[i] = from[i - lo];
  }
  for (index_t i = hi; i < row_len; ++i) dst[i] = 0.0f;
}

// `wide`: the 2 outputs after the tile's 6 in each channel row belong to this task and are written
// later by the next tile, so the tile may store 8 floats per channel (vector stores after an 8x8
// transpose) instead of 6 scalars.
template <int MR>
inline void micro_6x16(index_t K, const index_t* koff, const float* const* xb, const float* wp,
                       const float* bias, index_t nr, float* y, index_t ystride, bool wide) {
  __m256 c0[MR], c1[MR];
  for (int j = 0; j < MR; ++j) {
    c0[j] = _mm256_setzero_ps();
    c1[j] = _mm256_setzero_ps();
  }
  const float* x0 = xb[0];
  const float* x1 = MR > 1 ? xb[1] : x0;
  const float* x2 = MR > 2 ? xb[2] : x0;
  const float* x3 = MR > 3 ? xb[3] : x0;
  const float* x4 = MR > 4 ? xb[4] : x0;
  const float* x5 = MR > 5 ? xb[5] : x0;
  for (index_t k = 0; k < K; ++k) {
    const index_t o = koff[k];
    const __m256 w0 = _mm256_load_ps(wp);
    const __m256 w1 = _mm256_load_ps(wp + 8);
    wp += 16;
    __m256 b;
    b = _mm256_broadcast_ss(x0 + o);
    c0[0] = _mm256_fmadd_ps(b, w0, c0[0]);
    c1[0] = _mm256_fmadd_ps(b, w1, c1[0]);
    if (MR > 1) {
      b = _mm256_broadcast_ss(x1 + o);
      c0[1] = _mm256_fmadd_ps(b, w0, c0[1]);
      c1[1] = _mm256_fmadd_ps(b, w1, c1[1]);
    }
    if (MR > 2) {
      b = _mm256_broadcast_ss(x2 + o);
      c0[2] = _mm256_fmadd_ps(b, w0, c0[2]);
      c1[2] = _mm256_fmadd_ps(b, w1, c1[2]);
    }
    if (MR > 3) {
      b = _mm256_broadcast_ss(x3 + o);
      c0[3] = _mm256_fmadd_ps(b, w0, c0[3]);
      c1[3] = _mm256_fmadd_ps(b, w1, c1[3]);
    }
    if (MR > 4) {
      b = _mm256_broadcast_ss(x4 + o);
      c0[4] = _mm256_fmadd_ps(b, w0, c0[4]);
      c1[4] = _mm256_fmadd_ps(b, w1, c1[4]);
    }
    if (MR > 5) {
      b = _mm256_broadcast_ss(x5 + o);
      c0[5] = _mm256_fmadd_ps(b, w0, c0[5]);
      c1[5] = _mm256_fmadd_ps(b, w1, c1[5]);
    }
  }
  if (bias) {
    // Bias after the whole sum, as the reference kernel does.
    const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
    for (int j = 0; j < MR; ++j) {
      c0[j] = _mm256_add_ps(c0[j], b0);
      c1[j] = _mm256_add_ps(c1[j], b1);
    }
  }
  if (MR == 6 && wide && nr == 16) {
    for (int half = 0; half < 2; ++half) {
      __m256 r[8];
      for (int j = 0; j < 8; ++j) r[j] = j < MR ? (half ? c1[j] : c0[j]) : _mm256_setzero_ps();
      transpose8(r);
      for (int f = 0; f < 8; ++f) _mm256_storeu_ps(y + (half * 8 + f) * ystride, r[f]);
    }
    return;
  }
  alignas(32) float t[MR][16];
  for (int j = 0; j < MR; ++j) {
    _mm256_store_ps(t[j], c0[j]);
    _mm256_store_ps(t[j] + 8, c1[j]);
  }
  for (index_t f = 0; f < nr; ++f) {
    float* yf = y + f * ystride;
    for (int j = 0; j < MR; ++j) yf[j] = t[j][f];
  }
}

void run_tile(int mr, index_t K, const index_t* koff, const float* const* xb, const float* wp,
              const float* bias, index_t nr, float* y, index_t ystride, bool wide) {
  switch (mr) {
    case 6: micro_6x16<6>(K, koff, xb, wp, bias, nr, y, ystride, wide); break;
    case 5: micro_6x16<5>(K, koff, xb, wp, bias, nr, y, ystride, false); break;
    case 4: micro_6x16<4>(K, koff, xb, wp, bias, nr, y, ystride, false); break;
    case 3: micro_6x16<3>(K, koff, xb, wp, bias, nr, y, ystride, false); break;
    case 2: micro_6x16<2>(K, koff, xb, wp, bias, nr, y, ystride, false); break;
    default: micro_6x16<1>(K, koff, xb, wp, bias, nr, y, ystride, false); break;
  }
}

// One output pixel (a dense layer at batch 1): a matrix-vector product. The 6x16 tile would hold
// it in two chains of FMAs, each waiting on the one before (four cycles apiece); NP panels of 16
// channels at once give 2 * NP chains, and each weight is loaded once. The same sums as the tile:
// per channel, FMAs over k in order from zero, then the bias (`bias`: NP * 16 values, or null).
template <int NP>
inline void gemv_panels(index_t K, const index_t* koff, const float* x0, const float* wp,
                        index_t wstride, const float* bias, float* out) {
  __m256 c[2 * NP];
  for (int i = 0; i < 2 * NP; ++i) c[i] = _mm256_setzero_ps();
  for (index_t k = 0; k < K; ++k) {
    const __m256 b = _mm256_broadcast_ss(x0 + koff[k]);
    const float* w = wp + k * kGemmNR;
#pragma GCC unroll 6
    for (int q = 0; q < NP; ++q) {
      c[2 * q] = _mm256_fmadd_ps(b, _mm256_load_ps(w + q * wstride), c[2 * q]);
      c[2 * q + 1] = _mm256_fmadd_ps(b, _mm256_load_ps(w + q * wstride + 8), c[2 * q + 1]);
    }
  }
  for (int q = 0; q < NP; ++q) {
    if (bias) {
      c[2 * q] = _mm256_add_ps(c[2 * q], _mm256_loadu_ps(bias + 16 * q));
      c[2 * q + 1] = _mm256_add_ps(c[2 * q + 1], _mm256_loadu_ps(bias + 16 * q + 8));
    }
    _mm256_storeu_ps(out + 16 * q, c[2 * q]);
    _mm256_storeu_ps(out + 16 * q + 8, c[2 * q + 1]);
  }
}

void run_gemv(int np, index_t K, const index_t* koff, const float* x0, const float* wp,
              index_t wstride, const float* bias, float* out) {
  switch (np) {
    case 6: gemv_panels<6>(K, koff, x0, wp, wstride, bias, out); break;
    case 5: gemv_panels<5>(K, koff, x0, wp, wstride, bias, out); break;
    case 4: gemv_panels<4>(K, koff, x0, wp, wstride, bias, out); break;
    case 3: gemv_panels<3>(K, koff, x0, wp, wstride, bias, out); break;
    case 2: gemv_panels<2>(K, koff, x0, wp, wstride, bias, out); break;
    default: gemv_panels<1>(K, koff, x0, wp, wstride, bias, out); break;
  }
}

}  // namespace

void conv_gemm_avx2(const ConvParams& p, const GemmPlan& plan, const float* x, const float* packed,
                    const float* bias, float* y, float* scratch, int threads,
                    const FusedActivation* act) noexcept {
  const index_t cin_g = p.c_in / p.groups, cout_g = p.c_out / p.groups;
  const index_t panels = (cout_g + kGemmNR - 1) / kGemmNR;
  const index_t kh = p.k[1], kw = p.k[2], sh = p.stride[1], sw = p.stride[2];
  const index_t dh = p.dil[1], dw = p.dil[2];
  const index_t h_in = p.in[1], w_in = p.in[2], h_out = p.out[1], w_out = p.out[2];
  const index_t K = cin_g * kh * kw;
  const index_t out_plane = h_out * w_out;
  const index_t tasks = p.n * p.groups * plan.bands * plan.panel_split;
  // Input geometry the k offsets refer to: the strip (copy) or the input image itself.
  const index_t row_len = plan.copy_input ? plan.strip_w : w_in;
  const index_t plane = plan.copy_input ? plan.strip_rows * plan.strip_w : h_in * w_in;
  const index_t strip_floats = plan.copy_input ? cin_g * plane : 0;

  // k offsets, in the (a, c, b) order of the packed weights: the same for every thread, kept in
  // the first thread's scratch after its strip.
  index_t* koff = reinterpret_cast<index_t*>(scratch + ((strip_floats + 15) / 16) * 16);
  for (index_t a = 0, k = 0; a < kh; ++a)
    for (index_t c = 0; c < cin_g; ++c)
      for (index_t b = 0; b < kw; ++b, ++k) koff[k] = c * plane + a * dh * row_len + b * dw;

  parallel_tasks(tasks, threads, [&](index_t t, int tid) {
    float* strip = scratch + tid * plan.scratch_floats;
    const index_t split = t % plan.panel_split, nb = t / plan.panel_split;
    const index_t band = nb % plan.bands, ng = nb / plan.bands;
    const index_t g = ng % p.groups, n = ng / p.groups;
    const index_t panel0 = split * panels / plan.panel_split;
    const index_t panel1 = (split + 1) * panels / plan.panel_split;
    const index_t oh0 = band * plan.band_rows;
    const index_t oh1 = lo_min(oh0 + plan.band_rows, h_out);
    const float* xg = x + (n * p.c_in + g * cin_g) * h_in * w_in;
    const float* src;    // where pixel (oh, ow)'s window starts, minus koff
    index_t row0;        // input row (in src coordinates) of output row oh0
    if (plan.copy_input) {
      // Zero-padded copy of input rows [ih0, ih0 + strip_rows) and columns [-pad_left, ...).
      const index_t ih0 = oh0 * sh - p.pad[1];
      const index_t rows = (oh1 - oh0 - 1) * sh + (kh - 1) * dh + 1;
      for (index_t c = 0; c < cin_g; ++c)
        for (index_t r = 0; r < rows; ++r) {
          const index_t ih = ih0 + r;
          strip_row(strip + c * plane + r * row_len, row_len,
                    ih >= 0 && ih < h_in ? xg + (c * h_in + ih) * w_in : nullptr, w_in, p.pad[2]);
        }
      src = strip;
      row0 = 0;
    } else {
      src = xg;
      row0 = oh0 * sh - p.pad[1];
    }
    const index_t pix0 = oh0 * w_out, pix1 = oh1 * w_out;
    // With all of a group's packed weights small enough to stay in L2, sweep the panels for a
    // block of pixels at a time so that the block's input stays in L1; otherwise keep one
    // panel in cache across all the band's pixels.
    const index_t block = panels * K * kGemmNR * 4 <= 512 * 1024 ? 8 * kGemmMR : pix1 - pix0;
    if (pix1 - pix0 == 1) {
      // One pixel in the band: up to six panels at a time (gemv_panels).
      const index_t q = pix0, oh = q / w_out, ow = q % w_out;
      const float* x0 = src + (row0 + (oh - oh0) * sh) * row_len + ow * sw -
                        (plan.copy_input ? 0 : p.pad[2]);
      index_t a_lo = 0, a_hi = kh;  // kernel rows in the padding, as in a tile
      if (plan.copy_input) {
        const index_t top = oh * sh - p.pad[1];
        while (a_lo < kh && top + a_lo * dh < 0) ++a_lo;
        while (a_hi > a_lo && top + (a_hi - 1) * dh >= h_in) --a_hi;
      }
      const index_t k0 = a_lo * cin_g * kw;
      alignas(32) float bias6[6 * kGemmNR], out6[6 * kGemmNR];
      // Panels in even groups (7 as 4 + 3, not 6 + 1: a lone panel is two chains again).
      const index_t groups6 = (panel1 - panel0 + 5) / 6;
      const index_t per = (panel1 - panel0 + groups6 - 1) / groups6;
      for (index_t pg = panel0; pg < panel1; pg += per) {
        const int np = static_cast<int>(lo_min(per, panel1 - pg));
        if (bias)
          for (index_t i = 0; i < np * kGemmNR; ++i)
            bias6[i] = pg * kGemmNR + i < cout_g ? bias[g * cout_g + pg * kGemmNR + i] : 0.0f;
        run_gemv(np, (a_hi - a_lo) * cin_g * kw, koff + k0, x0,
                 packed + ((g * panels + pg) * K + k0) * kGemmNR, K * kGemmNR,
                 bias ? bias6 : nullptr, out6);
        for (index_t i = 0; i < np * kGemmNR && pg * kGemmNR + i < cout_g; ++i)
          y[(n * p.c_out + g * cout_g + pg * kGemmNR + i) * out_plane + q] = out6[i];
      }
    } else
    for (index_t qb = pix0; qb < pix1; qb += block) {
      const index_t qe = lo_min(qb + block, pix1);
      for (index_t panel = panel0; panel < panel1; ++panel) {
        const index_t f0 = panel * kGemmNR;
        const index_t nr = lo_min(kGemmNR, cout_g - f0);
        const float* wp = packed + (g * panels + panel) * K * kGemmNR;
        float* yp = y + (n * p.c_out + g * cout_g + f0) * out_plane;
        const float* bp = bias ? bias + g * cout_g + f0 : nullptr;
        alignas(32) float bias_pad[16];
        if (bp && nr < kGemmNR) {
          for (index_t i = 0; i < 16; ++i) bias_pad[i] = i < nr ? bp[i] : 0.0f;
          bp = bias_pad;
        }
        // Output row and column of pixel q, stepped along (no divisions per tile).
        index_t q_oh = qb / w_out, q_ow = qb % w_out;
        const index_t col0 = plan.copy_input ? 0 : p.pad[2];
        for (index_t q = qb; q < qe; q += kGemmMR) {
          const int mr = static_cast<int>(lo_min(kGemmMR, qe - q));
          const float* xb[kGemmMR];
          index_t oh = q_oh, ow = q_ow;
          const index_t first_oh = oh;
          for (int j = 0; j < mr; ++j) {
            xb[j] = src + (row0 + (oh - oh0) * sh) * row_len + ow * sw - col0;
            if (++ow == w_out) ow = 0, ++oh;
          }
          const index_t last_oh = ow == 0 ? oh - 1 : oh;
          if (mr == kGemmMR) q_oh = oh, q_ow = ow;
          // Pixels q+6 and q+7 of this panel are written later by this task (next tile or
          // next block), so a full tile may store 8 per channel.
          // Kernel rows that fall in the top or bottom padding for every pixel of the tile
          // multiply zeros: with the (a, c, b) packing, the rows [a_lo, a_hi) that remain are
          // one contiguous range of k.
          index_t a_lo = 0, a_hi = kh;
          if (plan.copy_input) {
            const index_t first = first_oh * sh - p.pad[1];  // top tap's row
            const index_t last = last_oh * sh - p.pad[1];    // of the last pixel
            while (a_lo < kh && last + a_lo * dh < 0) ++a_lo;
            while (a_hi > a_lo && first + (a_hi - 1) * dh >= h_in) --a_hi;
          }
          const index_t k0 = a_lo * cin_g * kw;
          run_tile(mr, (a_hi - a_lo) * cin_g * kw, koff + k0, xb, wp + k0 * kGemmNR, bp, nr,
                   yp + q, out_plane, q + 8 <= pix1);
        }
      }
    }
    if (act)  // the band's outputs, still in cache
      for (index_t f = panel0 * kGemmNR; f < lo_min(cout_g, panel1 * kGemmNR); ++f) {
        float* yf = y + (n * p.c_out + g * cout_g + f) * out_plane + pix0;
        activation_avx2(act->kind, act->param, yf, yf, pix1 - pix0);
      }
  });
}

// ---- shifted row copies ----------------------------------------------------------------------
// With unit strides the GEMM tile's epilogue (an 8x8 transpose per 6 pixels) weighs as much as its
// k loop when K is short (the first layer of an image network: 25 taps of one channel). Here the
// vectors run along the output plane instead, without wasted lanes: a task first builds, for each
// input channel c and kernel column b, a copy of the input rows it needs shifted by b * dil_w and
// cut to the output's width (S_cb[r][j] = x[c][oh0 + r - pad_top][j + b * dil_w - pad_left], zero
// outside the input), the copies holding output rows back to back. Output pixel q of the band (any
// row, any column) then reads tap (a, c, b) at S_cb[q + a * dil_h * w_out]: the band is one flat
// run of pixels, tiled by 24 (three vectors) whatever the row length, so a 28-wide row wastes no
// lanes on a 16-wide tile. A tile is F <= 4 filters x 24 pixels: per tap three loads, F broadcasts
// and 3F FMAs, stored straight into the channels-first output (the AVX-512 tile, 8 x 48, is in
// conv_rows_avx512.cpp). Each output is the same FMA chain as in the GEMM tile (taps in (a, c, b)
// order from zero, then the bias). The band's tail is covered by as few vectors as needed, ending
// at the band's end (recomputing a few outputs, to the same values); a band shorter than a vector
// goes through a small buffer.

namespace {

// The AVX2 vector for the tiles of conv_rows_band.h (4 filters x 24 pixels at most).
struct Avx2 {
  using reg = __m256;
  static constexpr index_t kWidth = 8;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static reg bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
};

// The band's Q pixels (one flat run over the copies) for the group's cout_g filters.
void rows_band_avx2(const float* copies, const index_t* koff, index_t K, index_t Q,
                    const float* packed_g, index_t cout_g, const float* bias_g, float* yb,
                    index_t out_plane, const RowsSkip* skip = nullptr) {
  rows_band<Avx2, 4>(copies, koff, K, Q, packed_g, cout_g, bias_g, yb, out_plane, skip);
}

}  // namespace

void conv_rows_band_avx2(const float* copies, const index_t* koff, index_t K, index_t Q,
                         const float* packed_g, index_t cout_g, const float* bias_g, float* yb,
                         index_t out_plane, const RowsSkip* skip) noexcept {
  rows_band_avx2(copies, koff, K, Q, packed_g, cout_g, bias_g, yb, out_plane, skip);
}

void conv_rows_avx2(const ConvParams& p, const GemmPlan& plan, const float* x, const float* packed,
                    const float* bias, float* y, float* scratch, int threads,
                    const FusedActivation* act) noexcept {
  const index_t cin_g = p.c_in / p.groups, cout_g = p.c_out / p.groups;
  const index_t panels = (cout_g + kGemmNR - 1) / kGemmNR;
  const index_t kh = p.k[1], kw = p.k[2], dh = p.dil[1], dw = p.dil[2], K = cin_g * kh * kw;
  const index_t h_in = p.in[1], w_in = p.in[2], h_out = p.out[1], w_out = p.out[2];
  const index_t out_plane = h_out * w_out;
  const index_t tasks = p.n * p.groups * plan.bands;
  const index_t copy_len = conv_rows_copy_floats(plan.strip_rows, w_out);
  const index_t copies_floats = cin_g * kw * copy_len;
  const index_t padded_w = w_out + (kw - 1) * dw, padded_stride = conv_rows_padded_stride(p);
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
  const bool avx512 = use_avx512();
  // Rows as long as the output's: the copies straight from the input rows (lecture's CONV1: its
  // copies took 10 % of the layer through the strip, 6 % this way).
  const bool direct_copies = avx512 && conv_rows_copies_fit(w_in, w_out, kw, dw, p.pad[2]);
#endif
  // Tap k = (a, c, b), the packed weights' order, reads copy (c, b), a * dil_h rows down: the same
  // offsets for every thread, kept in the first thread's scratch after its copies and strip.
  index_t* koff = reinterpret_cast<index_t*>(
      scratch + copies_floats + ((plan.strip_rows * padded_stride + 15) / 16) * 16);
  for (index_t a = 0, k = 0; a < kh; ++a)
    for (index_t c = 0; c < cin_g; ++c)
      for (index_t b = 0; b < kw; ++b, ++k) koff[k] = (c * kw + b) * copy_len + a * dh * w_out;
  parallel_tasks(tasks, threads, [&](index_t t, int tid) {
    float* copies = scratch + tid * plan.scratch_floats;
    float* pstrip = copies + copies_floats;  // one channel's padded rows (see conv_gemm_plan)
    const index_t band = t % plan.bands, ng = t / plan.bands;
    const index_t g = ng % p.groups, n = ng / p.groups;
    const index_t oh0 = band * plan.band_rows, oh1 = lo_min(oh0 + plan.band_rows, h_out);
    const float* xg = x + (n * p.c_in + g * cin_g) * h_in * w_in;
    const index_t rows = oh1 - oh0 + (kh - 1) * dh, ih0 = oh0 - p.pad[1];
    for (index_t c = 0; c < cin_g; ++c) {
      const float* xc = xg + c * h_in * w_in;
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
      if (direct_copies) {
        conv_rows_copies_avx512(xc, h_in, w_in, ih0, rows, kw, dw, p.pad[2],
                                copies + c * kw * copy_len, copy_len);
        continue;
      }
#endif
      // The channel's input rows, zero-padded, into a strip; then each row's k_w windows into the
      // copies. (Two passes: a copy reading a row just written would wait on store forwarding.)
      for (index_t r = 0; r < rows; ++r) {
        const index_t ih = ih0 + r;
        padded_row(pstrip + r * padded_stride, padded_w,
                   ih >= 0 && ih < h_in ? xc + ih * w_in : nullptr, w_in, p.pad[2]);
      }
      for (index_t b = 0; b < kw; ++b) {
        float* dst = copies + (c * kw + b) * copy_len;
        for (index_t r = 0; r < rows; ++r)
          copy_floats(dst + r * w_out, pstrip + r * padded_stride + b * dw, w_out);
        for (index_t i = rows * w_out; i < copy_len; ++i) dst[i] = 0.0f;
      }
    }
    const index_t Q = (oh1 - oh0) * w_out;  // the band's pixels, one flat run
    float* yb = y + (n * p.c_out + g * cout_g) * out_plane + oh0 * w_out;
    const float* bg = bias ? bias + g * cout_g : nullptr;
    const float* packed_g = packed + g * panels * K * kGemmNR;
    // Copy row s is input row ih0 + s: zeros above row 0 and from row h_in on.
    // (Lecture's CONV1: 1.6 % faster; the first tile skips a fifth of its taps, the last
    // vector two fifths.)
    const RowsSkip skip{w_out, cin_g * kw, kh, dh, -ih0, h_in - ih0};
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
    if (avx512)
      conv_rows_band_avx512(copies, koff, K, Q, packed_g, cout_g, bg, yb, out_plane, &skip);
    else
#endif
      rows_band_avx2(copies, koff, K, Q, packed_g, cout_g, bg, yb, out_plane, &skip);
    if (act)
      for (index_t f = 0; f < cout_g; ++f) {
        float* yf = yb + f * out_plane;
        activation_avx2(act->kind, act->param, yf, yf, Q);
      }
  });
}

// ---- 1x1 kernels ---------------------------------------------------------------------------------
// A pointwise convolution is y[f, q] = sum_c W[f, c] x[c, q] per image and group: the input's
// planes are already the flat runs the tiles above read (tap k = channel k, a plane apart), so
// the same band kernels run on the input in place, chunks of each plane as tasks. The GEMM tile
// would broadcast each pixel and transpose 6 x 16 outputs per tile; these tiles load pixel vectors
// and store them straight into the output planes. Same sums as the GEMM (k in order from zero,
// then the bias), so the same bits.

void conv_pw_avx2(const ConvParams& p, const GemmPlan&, const float* x, const float* packed,
                  const float* bias, float* y, float* scratch, int threads,
                  const FusedActivation* act) noexcept {
  const index_t cin_g = p.c_in / p.groups, cout_g = p.c_out / p.groups;
  const index_t panels = (cout_g + kGemmNR - 1) / kGemmNR;
  const index_t Q = p.out[1] * p.out[2];  // == the input plane (conv_pw_applies)
  const index_t images = p.n * p.groups;
  // Chunks of whole tiles (the last one takes the rest, so none is shorter than a tile and no
  // tile reads past the input): enough tasks for every thread, each of a few milliseconds.
  const index_t want = threads > 1 ? 4 * static_cast<index_t>(threads) : 1;
  index_t chunk = Q;
  if (images < want) chunk = (Q + (want + images - 1) / images - 1) / ((want + images - 1) / images);
  while (chunk > kRowsTilePixels && chunk * cout_g * cin_g > 16 * kTaskWork) chunk = (chunk + 1) / 2;
  chunk = lo_max(kRowsTilePixels, (chunk + kRowsTilePixels - 1) / kRowsTilePixels * kRowsTilePixels);
  const index_t chunks = lo_max(1, Q / chunk);
  const index_t tasks = images * chunks;
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
  const bool avx512 = use_avx512();
#endif
  // Tap k reads channel k: K int64 offsets, the same for every thread (the plan's scratch holds
  // 2K floats for them).
  index_t* koff = reinterpret_cast<index_t*>(scratch);
  for (index_t c = 0; c < cin_g; ++c) koff[c] = c * Q;
  parallel_tasks(tasks, threads, [&](index_t t, int) {
    const index_t ch = t % chunks, ng = t / chunks;
    const index_t g = ng % p.groups, n = ng / p.groups;
    const index_t q0 = ch * chunk, q1 = ch == chunks - 1 ? Q : q0 + chunk;
    const float* xs = x + (n * p.c_in + g * cin_g) * Q + q0;
    float* yb = y + (n * p.c_out + g * cout_g) * Q + q0;
    const float* bg = bias ? bias + g * cout_g : nullptr;
    const float* packed_g = packed + g * panels * cin_g * kGemmNR;
#if defined(CNNCORE_HAVE_AVX512_KERNELS)
    if (avx512)
      conv_rows_band_avx512(xs, koff, cin_g, q1 - q0, packed_g, cout_g, bg, yb, Q);
    else
#endif
      rows_band_avx2(xs, koff, cin_g, q1 - q0, packed_g, cout_g, bg, yb, Q);
    if (act)
      for (index_t f = 0; f < cout_g; ++f) {
        float* yf = yb + f * Q;
        activation_avx2(act->kind, act->param, yf, yf, q1 - q0);
      }
  });
}

}  // namespace cnncore
