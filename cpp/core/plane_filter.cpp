// plane_filter.cpp - driver, border-extended strips and the generic row kernel (plane_filter.h).
#include "plane_filter.h"

#include <algorithm>
#include <cstdint>
#include <memory>

#include "cpu.h"


namespace cnncore {

void validate(const PlaneFilterParams& p, const char* fname) {
  const index_t vals[] = {p.planes + 1, p.multiplier, p.kernels, p.chan, p.in_h, p.in_w, p.out_h, p.out_w,
                          p.k_h, p.k_w, p.stride_h, p.dil_h, p.dil_w};
  for (index_t v : vals)
    if (v < 1 || v >= kMaxExtent) fail(fname, "extents, stride and dilation must be >= 1");
  if (p.pad_top < 0 || p.pad_left < 0 || p.pad_top >= kMaxExtent || p.pad_left >= kMaxExtent)
    fail(fname, "padding out of range");
  if (p.planes % p.multiplier != 0) fail(fname, "planes must be a multiple of the multiplier");
  if (checked_mul(p.in_w, p.chan) < 0 || checked_mul(p.out_w, p.chan) < 0 ||
      checked_add(checked_mul(p.out_h - 1, p.stride_h), checked_mul(p.k_h - 1, p.dil_h)) < 0 ||
      checked_mul(checked_add(p.out_w - 1, checked_mul(p.k_w - 1, p.dil_w)), p.chan) < 0)
    fail(fname, "sizes too large for int64 indexing");
}

namespace {

// The largest strip (elements) a thread may use; past it, plane_filter_direct.
constexpr index_t kDirectLimit = index_t(1) << 22;

// Planes whose input is at most kPrefetchBytes are prefetched (see plane_filter), up to
// kPlanesPerTask (and kTaskWork multiply-adds) in a task.
constexpr index_t kPrefetchBytes = 64 * 1024;
constexpr index_t kPlanesPerTask = 16;

// Where strip index i (0 <= i) of an axis of length n, offset by -pad, reads: -1 for a zero.
inline index_t border_index(index_t i, index_t n, Border border) noexcept {
  if (i >= 0 && i < n) return i;
  switch (border) {
    case Border::kZeros:
      return -1;
    case Border::kReplicate:
      return i < 0 ? 0 : n - 1;
    case Border::kWrap: {
      index_t r = i % n;
      return r < 0 ? r + n : r;
    }
    case Border::kReflect101: {
      if (n == 1) return 0;
      const index_t period = 2 * (n - 1);
      index_t r = i % period;
      if (r < 0) r += period;
      return r < n ? r : period - r;
    }
  }
  return -1;
}

// Rows of outputs, portable C++ (the compiler vectorises the inner loop for the baseline ISA).
// strip[i] points at strip row i (see plane_rows_avx2).
template <class T>
void plane_rows_generic(const T* const* strip, index_t rows, index_t width, index_t stride_h,
                        const T* w, index_t k_h, index_t k_w, index_t dil_h, index_t tap,
                        const T* bias, T* y, index_t y_stride) noexcept {
  for (index_t r = 0; r < rows; ++r) {
    T* yr = y + r * y_stride;
    for (index_t j = 0; j < width; ++j) yr[j] = T(0);
    for (index_t a = 0; a < k_h; ++a) {
      const T* s = strip[r * stride_h + a * dil_h];
      for (index_t b = 0; b < k_w; ++b) {
        const T wv = w[a * k_w + b];
        const T* sb = s + b * tap;
        for (index_t j = 0; j < width; ++j) yr[j] += wv * sb[j];
      }
    }
    if (bias) {
      const T bv = *bias;
      for (index_t j = 0; j < width; ++j) yr[j] += bv;
    }
  }
}

// Each output straight from the input, every tap through the border rule: no strip, no scratch.
// For windows whose dilated reach is huge (a strip would hold mostly rows and columns no tap
// reads). Same per-output order as plane_rows_generic: the taps (a, b) in order from 0, zeros
// multiplied too, then the bias.
template <class T>
void plane_filter_direct(const PlaneFilterParams& p, const T* x, const T* w, const T* bias, T* y,
                         int threads) {
  const index_t C = p.chan, k_area = p.k_h * p.k_w;
  const index_t in_plane = p.in_h * p.in_w * C, out_row = p.out_w * C;
  parallel_tasks(p.planes * p.out_h, threads, [&](index_t t, int) {
    const index_t plane = t / p.out_h, i = t % p.out_h;
    const T* xp = x + (plane / p.multiplier) * in_plane;
    const T* wp = w + (plane % p.kernels) * k_area;
    T* yr = y + t * out_row;
    for (index_t j = 0; j < p.out_w; ++j)
      for (index_t c = 0; c < C; ++c) {
        T acc = T(0);
        for (index_t a = 0; a < p.k_h; ++a) {
          const index_t ih = border_index(i * p.stride_h + a * p.dil_h - p.pad_top, p.in_h, p.border);
          for (index_t b = 0; b < p.k_w; ++b) {
            const index_t iw = border_index(j + b * p.dil_w - p.pad_left, p.in_w, p.border);
            const T v = ih < 0 || iw < 0 ? T(0) : xp[(ih * p.in_w + iw) * C + c];
            acc += wp[a * p.k_w + b] * v;
          }
        }
        yr[j * C + c] = bias ? acc + bias[plane % p.kernels] : acc;
      }
  });
}

bool use_avx2(const float*) { return simd_level() == SimdLevel::kAvx2; }
bool use_avx2(const double*) { return false; }

// lo, hi: see plane_rows_avx2; the generic kernel reads every float (lo <= 0, hi large).
void rows_dispatch(bool avx2, const float* const* strip, index_t rows, index_t width,
                   index_t sh, const float* w, index_t kh, index_t kw, index_t dh, index_t tap,
                   const float* bias, float* y, index_t ys, index_t lo, index_t hi) {
#if defined(CNNCORE_HAVE_AVX2_KERNELS)
  if (avx2) return plane_rows_avx2(strip, rows, width, sh, w, kh, kw, dh, tap, bias, y, ys, lo, hi);
#endif
  (void)avx2, (void)lo, (void)hi;
  plane_rows_generic(strip, rows, width, sh, w, kh, kw, dh, tap, bias, y, ys);
}

void rows_dispatch(bool, const double* const* strip, index_t rows, index_t width, index_t sh,
                   const double* w, index_t kh, index_t kw, index_t dh, index_t tap,
                   const double* bias, double* y, index_t ys, index_t, index_t) {
  plane_rows_generic(strip, rows, width, sh, w, kh, kw, dh, tap, bias, y, ys);
}

// p + off elements, as an address that may lie outside any object (see plane_rows_avx2): no
// pointer arithmetic on it.
template <class T>
const T* address(const T* p, index_t off) noexcept {
  return reinterpret_cast<const T*>(reinterpret_cast<std::uintptr_t>(p) +
                                    static_cast<std::uintptr_t>(off) * sizeof(T));
}

inline index_t round8(index_t n) noexcept { return (n + 7) / 8 * 8; }

}  // namespace

template <class T>
void plane_filter(const PlaneFilterParams& p, const T* x, const T* w, const T* bias, T* y) {
  if (p.planes == 0) return;
  const index_t C = p.chan;
  const int threads = threads_for(p.planes * p.out_h * p.out_w * C * p.k_h * p.k_w);
  const index_t reach_w = (p.k_w - 1) * p.dil_w;  // extra strip pixels beyond a chunk's outputs
  auto strip_rows = [&](index_t r) { return (r - 1) * p.stride_h + (p.k_h - 1) * p.dil_h + 1; };
  // The strip a band of rows x cols outputs would take, copied whole (the threshold of the direct
  // path is stated in it; the strips below hold only the edge columns).
  auto stride_of = [&](index_t cols) { return ((( cols + reach_w) * C + 7) / 8) * 8 + 8; };
  auto strip_size = [&](index_t r, index_t cols) { return checked_mul(strip_rows(r), stride_of(cols)); };
  // The smallest strip the loop below can reach (one row of outputs, at most 256 columns) still
  // too large: huge dilations, whose taps are far apart. Decided before the thread count plays
  // any part, so every thread count takes the same path.
  const index_t smallest = strip_size(1, std::min<index_t>(p.out_w, 256));
  if (smallest < 0 || smallest > kDirectLimit) return plane_filter_direct(p, x, w, bias, y, threads);
  const index_t reach = reach_w * C;  // floats an output row reads past its last output
  const index_t row_len = p.in_w * C;
  // The longest edge strip row a chunk of `cols` columns needs (see the task below): the left
  // region covers the left padding rounded up to a vector, the right one what the last outputs
  // read past the row (over_r pixels at most) plus up to a vector's remainder; neither is
  // wider than the chunk. Each adds the reach.
  const index_t over_r = std::max<index_t>(0, p.out_w + reach_w - p.pad_left - p.in_w);
  auto edge_len_of = [&](index_t cols) {
    const index_t left = std::min(round8(cols * C), round8(p.pad_left * C));
    const index_t right = std::min(round8(cols * C), round8(over_r * C + 7));
    return std::max(left, right) + reach;
  };
  // Per-thread scratch (the edge strips of a task), or -1 beyond kMaxExtent (validate() bounds
  // each factor, not the product).
  auto scratch_of = [&](index_t r, index_t cols) {
    return checked_mul(2 * strip_rows(r), edge_len_of(cols));
  };
  auto work_of = [&](index_t r, index_t cols) {
    return checked_mul(checked_mul(r, cols * C), checked_mul(p.k_h, p.k_w));
  };
  // Tasks: planes x bands of rows x chunks of columns; enough for every thread, of at most about
  // kTaskWork multiply-adds (a 1-D signal of a million samples is cut into column chunks) and
  // with edge strips of at most 256 KiB.
  const index_t want_tasks = threads > 1 ? 4 * static_cast<index_t>(threads) : 1;
  const index_t limit = 256 * 1024 / static_cast<index_t>(sizeof(T));
  index_t bands = p.planes >= want_tasks ? 1 : (want_tasks + p.planes - 1) / p.planes;
  index_t rows = (p.out_h + bands - 1) / bands;
  bands = (p.out_h + rows - 1) / rows;
  index_t cols = p.out_w;
  if (p.planes * bands < want_tasks) {
    const index_t chunks = (want_tasks + p.planes * bands - 1) / (p.planes * bands);
    cols = std::max<index_t>(64, (p.out_w + chunks - 1) / chunks);
  }
  // Shrink tasks by rows while bands stay tall (the halo of k_h - 1 rows is read once more per
  // band), in multiples of 16 rows (whole groups of the row kernels), then by columns (wide
  // rows), then by rows again.
  auto too_big = [&](index_t r, index_t c) {
    const index_t work = work_of(r, c), scratch = scratch_of(r, c);
    return work < 0 || work > kTaskWork || scratch < 0 || scratch > limit;
  };
  while (too_big(rows, cols) && (rows > 1 || cols > 256)) {
    if (rows > 16)
      rows = std::max<index_t>(16, (rows / 2 + 15) / 16 * 16);
    else if (rows > 1 && cols <= 256)
      rows = (rows + 1) / 2;
    else
      cols = (cols + 1) / 2;
  }
  bands = (p.out_h + rows - 1) / rows;
  const index_t chunks = (p.out_w + cols - 1) / cols;
  const index_t edge_len = edge_len_of(cols);
  // The zero row (rows past the top and bottom under the zeros border) serves every region:
  // as long as a chunk's row, rounded up to vectors, plus the reach.
  const index_t zero_len = round8(cols * C) + reach;
  const index_t max_rows = strip_rows(rows);
  const bool avx2 = use_avx2(x);
  // Under the zeros border the AVX2 kernel reads the edges in place too, the pixels outside the
  // row masked off; otherwise they are gathered into the edge strips.
  const bool masked_edges = avx2 && p.border == Border::kZeros;
  // Per thread: the left and right edge strips, their gather tables, and the row pointers of the
  // three regions. Uninitialised: every float a kernel reads is written first (a std::vector
  // would zero-fill the lot on every call).
  const index_t floats_per_thread = masked_edges ? 0 : 2 * max_rows * edge_len;
  const index_t table_per_thread = masked_edges ? 0 : 2 * edge_len;
  // One block for the four (on the stack for small calls: a tiny image's call allocates nothing).
  const std::size_t n_strips = static_cast<std::size_t>(floats_per_thread * threads);
  const std::size_t n_tables = static_cast<std::size_t>(table_per_thread * threads);
  const std::size_t n_pointers = static_cast<std::size_t>(3 * max_rows * threads);
  const std::size_t n_zeros = p.border == Border::kZeros ? static_cast<std::size_t>(zero_len) : 0;
  const std::size_t bytes = (n_strips + n_zeros) * sizeof(T) + n_tables * sizeof(index_t) +
                            n_pointers * sizeof(const T*) + 8;  // + 8: alignment
  alignas(64) unsigned char local[2048];
  std::unique_ptr<unsigned char[]> heap(bytes > sizeof(local) ? new unsigned char[bytes] : nullptr);
  unsigned char* block = heap ? heap.get() : local;
  // Largest alignment first: T (double or float), then index_t and pointers (8 bytes).
  T* const strips = reinterpret_cast<T*>(block);
  T* const zeros = strips + n_strips;
  std::fill(zeros, zeros + n_zeros, T(0));
  unsigned char* after = reinterpret_cast<unsigned char*>(zeros + n_zeros);
  after += (8 - reinterpret_cast<std::uintptr_t>(after) % 8) % 8;
  index_t* const tables = reinterpret_cast<index_t*>(after);
  const T** const pointers = reinterpret_cast<const T**>(tables + n_tables);
  const index_t units = p.planes * bands * chunks;
  const index_t in_plane = p.in_h * row_len, out_row = p.out_w * C;
  const index_t out_plane = p.out_h * out_row, k_area = p.k_h * p.k_w;
  const index_t everything = kMaxExtent;  // a window holding every float of a strip row
  // Small whole planes (depthwise layers: 56x56 is 12.5 KiB) are taken several per task, each
  // prefetching the next one's input into the cache while it computes: rows so short give the
  // hardware prefetchers little to lock onto, so the kernel would wait on every new input row,
  // and a task per microsecond plane hands tasks out faster than two threads agree on them.
  // Measured on depthwise 3x3, 128 x 56x56 at batch 8 against a plane per task: 0.79-0.96 of the
  // time at one thread, 0.63-0.78 at two.
  const index_t in_bytes = checked_mul(in_plane, static_cast<index_t>(sizeof(T)));
  const bool prefetch =
      bands == 1 && chunks == 1 && in_bytes >= 0 && in_bytes <= kPrefetchBytes;
  const index_t plane_work = std::max<index_t>(1, work_of(rows, cols));
  const index_t per_task =
      prefetch ? std::max<index_t>(
                     1, std::min({kPlanesPerTask, units / (4 * want_tasks), kTaskWork / plane_work}))
               : 1;
  const index_t tasks = (units + per_task - 1) / per_task;
  auto unit = [&](index_t t, int tid) {
    const index_t chunk = t % chunks, band = (t / chunks) % bands, plane = t / (chunks * bands);
    const index_t oh0 = band * rows, oh1 = std::min(oh0 + rows, p.out_h);
    const index_t ow0 = chunk * cols, ow1 = std::min(ow0 + cols, p.out_w);
    const T* xp = x + (plane / p.multiplier) * in_plane;
    const index_t ih0 = oh0 * p.stride_h - p.pad_top;
    const index_t iw0 = ow0 - p.pad_left;  // input column of strip pixel 0
    const index_t s0 = iw0 * C;            // input float of strip float 0 (< 0 left of the row)
    const index_t width = (ow1 - ow0) * C, n_rows = strip_rows(oh1 - oh0);
    // Output floats [0, wl) read left of the row, [wl, wi) inside it in whole vectors (read in
    // place), [wi, width) past its right end or the last part vector. The edge regions read strip
    // floats [0, nl) and [wi, wi + nr).
    const index_t wl = std::min(width, round8(std::max<index_t>(0, -s0)));
    const index_t fit = std::min(width, row_len - s0 - reach);  // outputs below read inside
    const index_t wi = wl + (fit > wl ? (fit - wl) / 8 * 8 : 0);
    const index_t nl = wl > 0 ? round8(wl) + reach : 0;
    const index_t nr = width > wi ? round8(width - wi) + reach : 0;
    const T** rows_in = pointers + tid * 3 * max_rows;
    const T** rows_l = rows_in + max_rows;
    const T** rows_r = rows_l + max_rows;
    const T* wp = w + (plane % p.kernels) * k_area;
    const T* bp = bias ? bias + plane % p.kernels : nullptr;
    T* yb = y + plane * out_plane + oh0 * out_row + ow0 * C;
    auto run = [&](const T* const* strip, index_t j0, index_t j1, index_t lo, index_t hi) {
      if (j1 > j0)
        rows_dispatch(avx2, strip, oh1 - oh0, j1 - j0, p.stride_h, wp, p.k_h, p.k_w, p.dil_h,
                      p.dil_w * C, bp, yb + j0, out_row, lo, hi);
    };
    // Strip row r is input row ih0 + r through the border rule (nullptr: a row of zeros).
    const T** src = rows_r;  // the right strip's pointers are set last
    for (index_t r = 0; r < n_rows; ++r) {
      const index_t ih = border_index(ih0 + r, p.in_h, p.border);
      src[r] = ih < 0 ? nullptr : xp + ih * row_len;
      if (wi > wl) rows_in[r] = ih < 0 ? zeros : src[r] + s0 + wl;
    }
    // The interior first: its loads stream through the input, and the edges then find their
    // floats in cache (gathered first, each row's end would be a cache miss of its own).
    run(rows_in, wl, wi, 0, everything);
    if (nl == 0 && nr == 0) return;
    if (masked_edges) {
      // Strip float f of row r at src[r] + s0 + f, loaded only inside the row (rows of zeros
      // are read inside the zero row, which covers a whole chunk).
      for (index_t r = 0; r < n_rows; ++r) {
        rows_l[r] = src[r] ? address(src[r], s0) : zeros;
        rows_r[r] = src[r] ? address(src[r], s0 + wi) : zeros;
      }
      run(rows_l, 0, wl, -s0, row_len - s0);
      run(rows_r, wi, width, -s0 - wi, row_len - s0 - wi);
      return;
    }
    // Where each edge float comes from, the same for every row: the input float at that offset
    // in the row, or -1 for a zero. Strip float f is channel f % C of pixel iw0 + f / C.
    index_t* from_l = tables + tid * table_per_thread;
    index_t* from_r = from_l + edge_len;
    auto table = [&](index_t* from, index_t f0, index_t n) {
      for (index_t i = f0 / C, c = f0 % C, k = 0; k < n; ++i, c = 0) {
        const index_t iw = border_index(iw0 + i, p.in_w, p.border);
        for (; c < C && k < n; ++c, ++k) from[k] = iw < 0 ? -1 : iw * C + c;
      }
    };
    table(from_l, 0, nl);
    table(from_r, wi, nr);
    T* left = strips + tid * floats_per_thread;
    T* right = left + max_rows * edge_len;
    for (index_t r = 0; r < n_rows; ++r) {
      const T* s = src[r];
      if (!s) {
        rows_l[r] = rows_r[r] = zeros;
        continue;
      }
      T* dl = left + r * edge_len;
      for (index_t k = 0; k < nl; ++k) dl[k] = from_l[k] < 0 ? T(0) : s[from_l[k]];
      T* dr = right + r * edge_len;
      for (index_t k = 0; k < nr; ++k) dr[k] = from_r[k] < 0 ? T(0) : s[from_r[k]];
      rows_l[r] = dl;
      rows_r[r] = dr;
    }
    run(rows_l, 0, wl, 0, everything);
    run(rows_r, wi, width, 0, everything);
  };

  parallel_tasks(tasks, threads, [&](index_t task, int tid) {
    const index_t u1 = std::min(units, (task + 1) * per_task);
    for (index_t t = task * per_task; t < u1; ++t) {
      if (prefetch && t + 1 < u1 && (t + 1) / p.multiplier != t / p.multiplier) {
        const char* next = reinterpret_cast<const char*>(x + ((t + 1) / p.multiplier) * in_plane);
        for (index_t b = 0; b < in_bytes; b += 64) __builtin_prefetch(next + b, 0, 2);
      }
      unit(t, tid);
    }
  });
}

template void plane_filter<float>(const PlaneFilterParams&, const float*, const float*,
                                  const float*, float*);
template void plane_filter<double>(const PlaneFilterParams&, const double*, const double*,
                                   const double*, double*);

}  // namespace cnncore
