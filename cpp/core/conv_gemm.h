// conv_gemm.h - dense convolution as a register-blocked, GEMM-style product, without im2col.
//
// x (n, c_in, 1, h_in, w_in) -> y (n, c_out, 1, h_out, w_out); 1-D and 2-D convolutions (k_d == 1).
//
// Seen as a matrix product per image and group, y[f, pixel] = sum_k W[f, k] * X[k, pixel], with
// k running over (a, c, b) = (kernel row, input channel, kernel column) and X never materialised:
// a tile of MR output pixels reads X[k, pixel] straight from the input (or from a zero-padded copy
// of the few input rows a band of output rows needs, when there is padding), at offset
// koff[k] from each pixel's base; kernel rows that lie in the padding for a whole tile are skipped
// (a contiguous range of k). The weights are packed once into panels of 16 output channels,
// [group][panel][k][16], zero-filled past c_out/groups. The microkernel keeps a 6 x 16 tile of
// outputs in 12 AVX2 registers across the whole k loop: per k, two weight loads, six broadcasts,
// twelve FMAs. Each output element is summed over k in the same order whatever the tiling or the
// thread count, then the bias is added: results are bitwise independent of the thread count.
#pragma once

#include "common.h"
#include "conv.h"

namespace cnncore {

constexpr index_t kGemmNR = 16;  // output channels per panel (two AVX2 vectors)
constexpr index_t kGemmMR = 6;   // output pixels per microkernel tile

// Where the GEMM path applies: float32, 1-D or 2-D, not depthwise.
bool conv_gemm_applies(const ConvParams& p) noexcept;

// Number of floats of the packed weights.
index_t conv_gemm_packed_size(const ConvParams& p) noexcept;
// w (c_out, c_in/groups, 1, k_h, k_w) -> packed [group][panel][k][16].
void conv_gemm_pack(const ConvParams& p, const float* w, float* packed) noexcept;

// The geometry of one call: how output rows are banded and how big each thread's scratch is.
struct GemmPlan {
  index_t band_rows = 1;      // output rows per task
  index_t bands = 1;          // ceil(h_out / band_rows)
  index_t panel_split = 1;    // tasks per band, each a range of the group's 16-channel panels
  bool copy_input = false;    // build a zero-padded strip per band (padding or reads past edges)
  index_t strip_w = 0;        // strip row length
  index_t strip_rows = 0;     // input rows per band
  index_t scratch_floats = 0; // per thread: strip + k offsets (as floats' worth of int64)
};
GemmPlan conv_gemm_plan(const ConvParams& p, int threads) noexcept;

// The AVX2/FMA kernel (compiled with its own flags; call only when the CPU has AVX2 and FMA).
// scratch: threads * plan.scratch_floats floats, 64-byte aligned.
// act (or null): applied to each task's outputs right after they are computed.
void conv_gemm_avx2(const ConvParams& p, const GemmPlan& plan, const float* x, const float* packed,
                    const float* bias, float* y, float* scratch, int threads,
                    const FusedActivation* act = nullptr) noexcept;

// Unit strides and one input channel per group: the kernel of shifted row copies (same packed
// weights as the GEMM path; conv_gemm_plan sizes its bands and scratch when it applies). The
// driver handles any number of channels per group; conv_rows_applies says where it pays.
constexpr index_t kRowsTilePixels = 48;  // the widest tile (three AVX-512 vectors)
bool conv_rows_applies(const ConvParams& p) noexcept;
index_t conv_rows_copy_floats(index_t strip_rows, index_t w_out) noexcept;  // floats per copy
index_t conv_rows_padded_stride(const ConvParams& p) noexcept;  // floats per padded input row
index_t conv_rows_scratch_floats(const ConvParams& p, index_t strip_rows) noexcept;  // per thread
void conv_rows_avx2(const ConvParams& p, const GemmPlan& plan, const float* x, const float* packed,
                    const float* bias, float* y, float* scratch, int threads,
                    const FusedActivation* act = nullptr) noexcept;

// 1x1 kernels, unit strides, no padding, planes of at least kRowsTilePixels: the same tiles with
// the input read in place (tap k = input channel k of the group, one plane apart); no transposes.
// Worth it with the AVX-512 tiles (pointwise 128 -> 256 on 28x28: 4.3 ms against the GEMM's
// 4.6); with the 4-filter AVX2 tiles it is slower (5.5 ms), so conv.cpp uses it with AVX-512 only.
bool conv_pw_applies(const ConvParams& p) noexcept;
void conv_pw_avx2(const ConvParams& p, const GemmPlan& plan, const float* x, const float* packed,
                  const float* bias, float* y, float* scratch, int threads,
                  const FusedActivation* act = nullptr) noexcept;
// How the band kernels cover a band's flat run of Q pixels with tiles of up to 3 vectors of `vec`
// pixels: whole tiles from the start, then the rest with as few vectors as cover it, ending at the
// band's end (so they may recompute a few outputs, to the same values) when the band holds that
// many; a band shorter than one vector is computed into a buffer (`buffered`: store Q outputs).
struct RowsTile {
  index_t start;  // first pixel
  int vectors;    // 1 to 3
  bool buffered;
};
// The tile after the pixels [0, done) are covered (done < Q).
RowsTile conv_rows_next_tile(index_t Q, index_t done, index_t vec) noexcept;

// For the shifted copies: the band's rows of w pixels, taps in blocks of taps_per_row per kernel
// row a (k_h of them, dil_h apart); copy row s is zeros (the padding) for s < top and s >= bottom.
// A tile skips the kernel rows that read only zeros for all its pixels: the same sums bit for bit
// (the chain starts from +0, and adding w * 0 to a sum that is never -0 changes nothing).
struct RowsSkip {
  index_t w, taps_per_row, kh, dh, top, bottom;
};

// The AVX2 tiles of those kernels (4 filters x 24 pixels), with the interface below.
void conv_rows_band_avx2(const float* copies, const index_t* koff, index_t K, index_t Q,
                         const float* packed_g, index_t cout_g, const float* bias_g, float* yb,
                         index_t out_plane, const RowsSkip* skip = nullptr) noexcept;
// The k_w shifted copies of one channel's band of rows (conv_rows_avx2), AVX-512, when the input
// rows are as long as the output's (w_in = w_out = w <= kMaxCopyWidth; conv_rows_copies_fit):
// copy b (at copies + b * copy_len), row r = input row ih0 + r shifted by b * dw - pad_left,
// zeros outside the input. Straight from the input rows, without the zero-padded strip.
constexpr index_t kMaxCopyWidth = 256;
inline bool conv_rows_copies_fit(index_t w_in, index_t w_out, index_t kw, index_t dw,
                                 index_t pad_left) {
  // Shifted 16-float loads of a row stay within the row before and the row after.
  const index_t reach = (kw - 1) * dw - pad_left, over = (w_out + 15) / 16 * 16 - w_out;
  return w_in == w_out && w_out <= kMaxCopyWidth && pad_left >= 0 && pad_left <= w_out &&
         pad_left <= 48 && reach >= 0 && reach <= 48 && reach + over <= w_out;
}
void conv_rows_copies_avx512(const float* xc, index_t h_in, index_t w, index_t ih0, index_t rows,
                             index_t kw, index_t dw, index_t pad_left, float* copies,
                             index_t copy_len) noexcept;
// The AVX-512 tiles of those kernels (own flags; call only when use_avx512()): the band's Q pixels,
// one flat run over the copies (tap k at copies + koff[k]), for the group's cout_g filters
// (packed_g: the group's panels; bias_g may be null), into yb (filter f at yb + f * out_plane).
void conv_rows_band_avx512(const float* copies, const index_t* koff, index_t K, index_t Q,
                           const float* packed_g, index_t cout_g, const float* bias_g, float* yb,
                           index_t out_plane, const RowsSkip* skip = nullptr) noexcept;

}  // namespace cnncore
