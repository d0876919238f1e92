// pool.h - N-d max, average and sum pooling, 1-D and 2-D as 3-D with unit leading extents.
//
// x (planes, d_in, h_in, w_in) -> y (planes, d_out, h_out, w_out), every plane (image x channel)
// pooled on its own. Window o along one dimension covers o*stride - pad_before + a*dil for
// a in [0, k); positions outside [0, extent) are padding: -inf for max, zero for average and sum.
//
// max: NaN anywhere in a window gives NaN; a window of padding only gives -inf.
// sum: the plain sum of the window's input elements.
// avg: the sum divided as PyTorch does, per dimension: start = o*stride - pad_before,
//      end = min(start + k, extent + pad_after), size = end - start; with count_include_pad the
//      divisor is the product of those sizes, otherwise the product of the sizes clipped to
//      [0, extent). (dil must be 1 for avg.)
#pragma once

#include "common.h"

namespace cnncore {

enum class PoolKind { kMax, kAvg, kSum };

struct PoolParams {
  PoolKind kind = PoolKind::kMax;
  bool count_include_pad = true;
  index_t planes = 1;
  index_t in[3] = {1, 1, 1};
  index_t out[3] = {1, 1, 1};
  index_t k[3] = {1, 1, 1};
  index_t stride[3] = {1, 1, 1};
  index_t pad_before[3] = {0, 0, 0};
  index_t pad_after[3] = {0, 0, 0};
  index_t dil[3] = {1, 1, 1};
};

void validate(const PoolParams& p, const char* fname);

// May throw std::bad_alloc (row buffers of the SIMD path).
template <class T>
void pool_forward(const PoolParams& p, const T* x, T* y);

// Columns past a pooling row buffer's end that vector loads may read (filled with padding).
constexpr index_t kPoolBufSlack = 16;

// AVX2 rows [oh0, oh1), columns [ow0, ow1) of one 2-D plane, separably (own flags; run-time
// dispatch only). buf: (ow1 - ow0 - 1)*stride_w + (k_w - 1)*dil_w + 1 + kPoolBufSlack floats;
// div_w[o - ow0]: the average pooling divisor's column factor of output column o (unused
// otherwise), readable up to ow1 - ow0 + 8.
void pool_rows_avx2(const PoolParams& p, const float* x, float* y, index_t oh0, index_t oh1,
                    index_t ow0, index_t ow1, float* buf, const float* div_w) noexcept;

// AVX2 2x2 windows with stride 2 and no padding (the classic "pool 2x2"): output rows [r0, r1)
// counted over all planes (row r is row r % out_h of plane r / out_h). Same arithmetic as
// pool_rows_avx2 (vertical pair first, then horizontal), so both paths agree bitwise.
void pool2x2_rows_avx2(const PoolParams& p, const float* x, float* y, index_t r0,
                       index_t r1) noexcept;

}  // namespace cnncore
