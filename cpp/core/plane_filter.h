// plane_filter.h - one small 2-D kernel slid over many independent planes.
//
// Serves depthwise convolution (each output channel filters one input channel), single-channel
// convolution (correlate, 1-D signals, c_in = c_out = 1) and image filtering with borders
// (filter2d), channels-first planes or channels-last images alike:
//
//   x (planes_in, in_h, in_w * chan) -> y (planes_out, out_h, out_w * chan), stride_w = 1,
//   y[p, i, j*chan + c] = bias[p % kernels] + sum_{a, b} w[p % kernels, a, b] * x~[p / multiplier, i*stride_h + a*dil_h - pad_top,
//                                                             (j + b*dil_w - pad_left)*chan + c]
//
// where x~ extends the plane past its edges by the border rule (zeros, reflect-101, replicate or
// wrap), and plane p uses kernel (and bias) number p % kernels. Each output is
// summed over (a, b) in lexicographic order, then the bias is added. Output columns whose windows
// lie inside the input read it in place; the few near the left and right edges read per-thread
// strips holding the border-extended pixels they need (scratch bounded by the tile, never the
// whole input), and rows past the top and bottom are border rows of the input or a row of zeros.
// Where an output is read from never changes its sum, so results are bitwise independent of the
// thread count (which decides the tiles).
#pragma once

#include "common.h"

namespace cnncore {

enum class Border { kZeros = 0, kReflect101 = 1, kReplicate = 2, kWrap = 3 };

struct PlaneFilterParams {
  index_t planes = 1;      // output planes
  index_t multiplier = 1;  // output planes per input plane
  index_t chan = 1;        // interleaved channels sharing each kernel (channels-last images)
  index_t in_h = 1, in_w = 1, out_h = 1, out_w = 1;
  index_t k_h = 1, k_w = 1, stride_h = 1, dil_h = 1, dil_w = 1;
  index_t pad_top = 0, pad_left = 0;
  Border border = Border::kZeros;
  index_t kernels = 1;  // distinct kernels (and biases): output plane p uses number p % kernels
};

void validate(const PlaneFilterParams& p, const char* fname);

template <class T>
void plane_filter(const PlaneFilterParams& p, const T* x, const T* w, const T* bias, T* y);

// Rows of outputs from strip rows (AVX2/FMA; compiled with its own flags, used through dispatch).
// strip[i] points at strip row i; output row r reads strip rows r*stride_h + a*dil_h; each row
// computes `width` floats, taps `tap` floats apart. Strip floats [lo, hi) of every row are read
// (the tail a whole vector at a time: up to (width rounded up to a multiple of 8) + (k_w - 1) * tap
// floats); the others are zeros, never accessed (masked loads), so a row pointer may stand for
// floats before the start of its buffer: the zeros border needs no strip at all.
void plane_rows_avx2(const float* const* strip, index_t rows, index_t width, index_t stride_h,
                     const float* w, index_t k_h, index_t k_w, index_t dil_h, index_t tap,
                     const float* bias, float* y, index_t y_stride, index_t lo,
                     index_t hi) noexcept;

}  // namespace cnncore
