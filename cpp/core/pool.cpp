// pool.cpp - pooling kernels (see pool.h for the contract).
#include "pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu.h"


namespace cnncore {

void validate(const PoolParams& p, const char* fname) {
  if (p.planes < 0 || p.planes >= kMaxExtent) fail(fname, "batch or channel count out of range");
  for (int d = 0; d < 3; ++d) {
    if (p.in[d] < 1 || p.in[d] >= kMaxExtent) fail(fname, "input extents must be >= 1");
    if (p.out[d] < 1 || p.out[d] >= kMaxExtent) fail(fname, "output extents must be >= 1");
    if (p.k[d] < 1 || p.k[d] >= kMaxExtent) fail(fname, "kernel_size must be >= 1");
    if (p.stride[d] < 1 || p.stride[d] >= kMaxExtent) fail(fname, "stride must be >= 1");
    if (p.dil[d] < 1 || p.dil[d] >= kMaxExtent) fail(fname, "dilation must be >= 1");
    if (p.kind != PoolKind::kMax && p.dil[d] != 1) fail(fname, "dilation must be 1");
    if (p.pad_before[d] < 0 || p.pad_before[d] >= kMaxExtent || p.pad_after[d] < 0 ||
        p.pad_after[d] >= kMaxExtent)
      fail(fname, "padding out of range");
    index_t reach = checked_add(checked_mul(p.out[d] - 1, p.stride[d]),
                                checked_mul(p.k[d] - 1, p.dil[d]));
    if (reach < 0 || checked_add(reach, p.pad_before[d]) < 0 ||
        checked_add(checked_add(p.in[d], p.pad_after[d]), p.k[d]) < 0)
      fail(fname, "stride, dilation and padding are too large for int64 indexing");
  }
}

namespace {

// Taps [lo, hi) of a window starting at `start` (step dil) that land inside [0, n).
inline void tap_range(index_t start, index_t k, index_t dil, index_t n, index_t* lo,
                      index_t* hi) noexcept {
  index_t a = start >= 0 ? 0 : (-start + dil - 1) / dil;
  index_t b = start > n - 1 ? 0 : (n - 1 - start) / dil + 1;
  *lo = a;
  *hi = std::max(a, std::min(k, b));
}

template <class T>
inline T max_step(T m, T v) noexcept {
  // v wins when larger or NaN; a NaN already held stays (v > NaN and NaN != NaN are both false).
  return (v > m || v != v) ? v : m;
}

}  // namespace

namespace {

bool pool_simd(const PoolParams& p, const float* x, float* y) {
#if defined(CNNCORE_HAVE_AVX2_KERNELS)
  if (simd_level() != SimdLevel::kAvx2 || p.k[0] != 1 || p.in[0] != 1 || p.out[0] != 1) return false;
  if (p.k[1] == 2 && p.k[2] == 2 && p.stride[1] == 2 && p.stride[2] == 2 && p.dil[1] == 1 &&
      p.dil[2] == 1 && p.pad_before[1] == 0 && p.pad_before[2] == 0 &&
      2 * p.out[1] <= p.in[1] && 2 * p.out[2] <= p.in[2]) {
    // Windows inside the plane, no padding (count_include_pad is moot): rows of all planes in one
    // flat range, in chunks of about 64k outputs.
    const index_t rows = p.planes * p.out[1];
    const index_t per_task = std::max<index_t>(1, (index_t(1) << 16) / p.out[2]);
    const index_t tasks = (rows + per_task - 1) / per_task;
    parallel_tasks(tasks, threads_for(rows * p.out[2] * 4), [&](index_t t, int) {
      pool2x2_rows_avx2(p, x, y, t * per_task, std::min(rows, (t + 1) * per_task));
    });
    return true;
  }
  // Tasks: planes x bands of rows x chunks of columns. A chunk's row buffer holds the input
  // columns its windows span, at most about 16k floats (so a million-sample signal does not get
  // a million-float buffer per thread); windows wider than that take the generic path.
  constexpr index_t kBufCols = 16384;
  const index_t reach = (p.k[2] - 1) * p.dil[2] + 1;
  if (reach > kBufCols / 2) return false;
  // The vertical pass visits every kernel row: a window far taller than the input (a kernel or
  // dilation of 2**31 with the padding that goes with it) takes the portable kernel too, which
  // visits only the taps inside the input.
  if ((p.k[1] - 1) * p.dil[1] + 1 > 2 * p.in[1] + 4096) return false;
  const index_t k_area = p.k[1] * p.k[2];
  index_t cols = std::min<index_t>(p.out[2], (kBufCols - reach) / p.stride[2] + 1);
  cols = std::max<index_t>(1, std::min<index_t>(cols, 4 * kTaskWork / std::max<index_t>(k_area, 1)));
  const index_t chunks = (p.out[2] + cols - 1) / cols;
  const int threads = threads_for(p.planes * p.out[1] * p.out[2] * k_area);
  const index_t want = threads > 1 ? 4 * static_cast<index_t>(threads) : 1;
  const index_t per_plane = p.planes >= want ? 1 : (want + p.planes - 1) / p.planes;
  index_t rows = (p.out[1] + per_plane - 1) / per_plane;
  // Tasks of a few milliseconds at most (the unit of interruption).
  const index_t row_work = cols * k_area + (cols - 1) * p.stride[2] + reach;
  while (rows > 1 && rows * row_work > 4 * kTaskWork) rows = (rows + 1) / 2;
  const index_t bands = (p.out[1] + rows - 1) / rows;
  const index_t tasks = p.planes * bands * chunks;
  const index_t bw = (cols - 1) * p.stride[2] + reach + kPoolBufSlack;
  const index_t per_thread = bw + cols + 8;  // row buffer, then the chunk's column divisors
  std::vector<float> bufs(static_cast<std::size_t>(per_thread * threads));
  const index_t in_plane = p.in[1] * p.in[2], out_plane = p.out[1] * p.out[2];
  parallel_tasks(tasks, threads, [&](index_t t, int tid) {
    float* buf = bufs.data() + tid * per_thread;
    float* div_w = buf + bw;
    const index_t chunk = t % chunks, band = (t / chunks) % bands, plane = t / (chunks * bands);
    const index_t oh0 = band * rows, oh1 = std::min(oh0 + rows, p.out[1]);
    const index_t ow0 = chunk * cols, ow1 = std::min(ow0 + cols, p.out[2]);
    for (index_t o = ow0; o < ow1 + 8; ++o) {
      float d = 1.0f;
      if (p.kind == PoolKind::kAvg && o < ow1) {
        const index_t start = o * p.stride[2] - p.pad_before[2];
        const index_t end = std::min(start + p.k[2], p.in[2] + p.pad_after[2]);
        d = static_cast<float>(p.count_include_pad
                                   ? end - start
                                   : std::min(end, p.in[2]) - std::max<index_t>(start, 0));
      }
      div_w[o - ow0] = d;
    }
    pool_rows_avx2(p, x + plane * in_plane, y + plane * out_plane, oh0, oh1, ow0, ow1, buf, div_w);
  });
  return true;
#else
  (void)p, (void)x, (void)y;
  return false;
#endif
}

bool pool_simd(const PoolParams&, const double*, double*) { return false; }

}  // namespace

template <class T>
void pool_forward(const PoolParams& p, const T* x, T* y) {
  if (p.planes == 0) return;
  if (pool_simd(p, x, y)) return;
  const index_t in_plane = p.in[0] * p.in[1] * p.in[2];
  const index_t out_plane = p.out[0] * p.out[1] * p.out[2];
  const index_t rows = p.planes * p.out[0] * p.out[1];
  // Work per output, for the thread count and the tasks: the taps that can land inside the
  // input (a kernel of 2**31 per dimension must not overflow the product).
  const index_t k_vol = std::min(p.k[0], p.in[0]) * std::min(p.k[1], p.in[1]) *
                        std::min(p.k[2], p.in[2]);
  // Tasks: rows x chunks of columns, a few milliseconds each (the unit of interruption).
  const index_t cols = std::max<index_t>(
      1, std::min<index_t>(p.out[2], 4 * kTaskWork / std::max<index_t>(k_vol, 1)));
  const index_t chunks = (p.out[2] + cols - 1) / cols;
  parallel_for(rows * chunks, cols * k_vol, [&](index_t rc) {
    const index_t r = rc / chunks, chunk = rc % chunks;
    const index_t ow0 = chunk * cols, ow1 = std::min(ow0 + cols, p.out[2]);
    const index_t oh = r % p.out[1], od = (r / p.out[1]) % p.out[0], pl = r / (p.out[1] * p.out[0]);
    const T* xp = x + pl * in_plane;
    T* yr = y + pl * out_plane + (od * p.out[1] + oh) * p.out[2];
    const index_t sd = od * p.stride[0] - p.pad_before[0];
    const index_t sh = oh * p.stride[1] - p.pad_before[1];
    index_t a_lo, a_hi, b_lo, b_hi;
    tap_range(sd, p.k[0], p.dil[0], p.in[0], &a_lo, &a_hi);
    tap_range(sh, p.k[1], p.dil[1], p.in[1], &b_lo, &b_hi);
    // Divisor factors of the two outer dimensions (average pooling only), multiplied in
    // double: window sizes of 2**32 per dimension overflow an int64 product.
    double div_outer = 1.0;
    if (p.kind == PoolKind::kAvg) {
      for (int d = 0; d < 2; ++d) {
        const index_t start = d == 0 ? sd : sh;
        const index_t end = std::min(start + p.k[d], p.in[d] + p.pad_after[d]);
        div_outer *= static_cast<double>(
            p.count_include_pad ? end - start
                                : std::min(end, p.in[d]) - std::max<index_t>(start, 0));
      }
    }
    for (index_t ow = ow0; ow < ow1; ++ow) {
      const index_t sw = ow * p.stride[2] - p.pad_before[2];
      index_t e_lo, e_hi;
      tap_range(sw, p.k[2], p.dil[2], p.in[2], &e_lo, &e_hi);
      if (p.kind == PoolKind::kMax) {
        T m = -std::numeric_limits<T>::infinity();
        for (index_t a = a_lo; a < a_hi; ++a)
          for (index_t b = b_lo; b < b_hi; ++b) {
            const T* xr = xp + ((sd + a * p.dil[0]) * p.in[1] + sh + b * p.dil[1]) * p.in[2] + sw;
            for (index_t e = e_lo; e < e_hi; ++e) m = max_step(m, xr[e * p.dil[2]]);
          }
        yr[ow] = m + T(0);  // subnormals compare as zero (DAZ): flush the one that won
      } else {
        T s = 0;
        for (index_t a = a_lo; a < a_hi; ++a)
          for (index_t b = b_lo; b < b_hi; ++b) {
            const T* xr = xp + ((sd + a) * p.in[1] + sh + b) * p.in[2] + sw;
            for (index_t e = e_lo; e < e_hi; ++e) s += xr[e];
          }
        if (p.kind == PoolKind::kAvg) {
          const index_t end = std::min(sw + p.k[2], p.in[2] + p.pad_after[2]);
          const index_t f = p.count_include_pad
                                ? end - sw
                                : std::min(end, p.in[2]) - std::max<index_t>(sw, 0);
          s /= static_cast<T>(div_outer * static_cast<double>(f));
        }
        yr[ow] = s;
      }
    }
  });
}

template void pool_forward<float>(const PoolParams&, const float*, float*);
template void pool_forward<double>(const PoolParams&, const double*, double*);

}  // namespace cnncore
