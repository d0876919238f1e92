// conv.cpp - reference and direct convolution kernels (see conv.h for the contract).
#include "conv.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>

#include "conv_gemm.h"
#include "conv_winograd.h"
#include "plane_filter.h"
#include "cpu.h"

namespace cnncore {

namespace {

// Floor and ceiling division for b > 0.
inline index_t floor_div(index_t a, index_t b) noexcept {
  index_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
inline index_t ceil_div(index_t a, index_t b) noexcept { return -floor_div(-a, b); }

// Outputs o in [lo, hi) whose input index o*s + off lies in [0, n).
inline void valid_range(index_t n_out, index_t s, index_t off, index_t n, index_t* lo,
                        index_t* hi) noexcept {
  index_t a = ceil_div(-off, s);
  index_t b = floor_div(n - 1 - off, s) + 1;
  *lo = std::max<index_t>(a, 0);
  *hi = std::min<index_t>(b, n_out);
  if (*hi < *lo) *hi = *lo;
}

}  // namespace

void validate(const ConvParams& p, const char* fname) {
  if (p.n < 0 || p.n >= kMaxExtent) fail(fname, "batch size out of range");
  if (p.groups < 1 || p.groups >= kMaxExtent) fail(fname, "groups must be >= 1");
  if (p.c_in < 1 || p.c_in >= kMaxExtent) fail(fname, "input channels must be >= 1");
  if (p.c_out < 0 || p.c_out >= kMaxExtent) fail(fname, "output channels out of range");
  if (p.c_in % p.groups != 0) fail(fname, "groups must divide the input channels");
  if (p.c_out % p.groups != 0) fail(fname, "groups must divide the output channels");
  for (int d = 0; d < 3; ++d) {
    const index_t in = p.in[d], out = p.out[d], k = p.k[d], s = p.stride[d], dl = p.dil[d];
    if (in < 1 || in >= kMaxExtent) fail(fname, "input extents must be >= 1");
    if (out < 1 || out >= kMaxExtent) fail(fname, "output extents must be >= 1");
    if (k < 1 || k >= kMaxExtent) fail(fname, "kernel extents must be >= 1");
    if (s < 1 || s >= kMaxExtent) fail(fname, "stride must be >= 1");
    if (dl < 1 || dl >= kMaxExtent) fail(fname, "dilation must be >= 1");
    if (p.pad[d] <= -kMaxExtent || p.pad[d] >= kMaxExtent) fail(fname, "padding out of range");
    // Largest index formed: (out-1)*s + (k-1)*dl + |pad|.
    index_t reach = checked_add(checked_mul(out - 1, s), checked_mul(k - 1, dl));
    if (reach < 0 || checked_add(reach, p.pad[d] < 0 ? -p.pad[d] : p.pad[d]) < 0)
      fail(fname, "stride, dilation and padding are too large for int64 indexing");
  }
}

namespace {

// Whether every weight is finite: NaN and infinity have every exponent bit set. Every call scans
// its weights before the kernel: in blocks of 64K, on every thread (a serial scan of a 256 -> 256
// 3x3 layer's 2.4 MB was 3 % of the call's time at two threads).
template <class T>
bool all_finite(const T* w, index_t count) noexcept {
  using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr U mask = sizeof(T) == 4 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
  constexpr index_t kBlock = index_t(1) << 16;
  std::atomic<bool> bad{false};
  auto check = [&](index_t block) {
    const index_t lo = block * kBlock, hi = std::min(count, lo + kBlock);
    U found = 0;
    for (index_t i = lo; i < hi; ++i) {
      U bits;
      std::memcpy(&bits, w + i, sizeof bits);
      found |= static_cast<U>((bits & mask) == mask);
    }
    if (found) bad.store(true, std::memory_order_relaxed);
  };
  const index_t blocks = (count + kBlock - 1) / kBlock;
  if (blocks <= 1)
    for (index_t b = 0; b < blocks; ++b) check(b);
  else
    parallel_for(blocks, kBlock, check);
  return !bad.load(std::memory_order_relaxed);
}

// The definition: seven nested loops, each tap bounds-checked, each output summed over (c, a, b,
// e) in lexicographic order, then the bias; one task per (image, filter, output depth slice).
// kLiteral: a tap outside the input adds w * 0, as on a zero-padded copy of x (a NaN or infinite
// weight then makes NaN wherever it meets the padding); otherwise such taps are skipped. The
// literal form is the kernel for weights that are not all finite.
template <bool kLiteral, class T>
void conv_naive(const ConvParams& p, const T* x, const T* w, const T* bias, T* y) noexcept {
  const index_t cin_g = p.c_in / p.groups, cout_g = p.c_out / p.groups;
  const index_t in_vol = p.in[0] * p.in[1] * p.in[2];
  const index_t out_vol = p.out[0] * p.out[1] * p.out[2];
  const index_t k_vol = p.k[0] * p.k[1] * p.k[2];
  parallel_for(p.n * p.c_out * p.out[0], out_vol / p.out[0] * cin_g * k_vol, [&](index_t t) {
    const index_t od = t % p.out[0], nf = t / p.out[0];
    const index_t n = nf / p.c_out, f = nf % p.c_out, g = f / cout_g;
    T* yp = y + nf * out_vol;
    for (index_t oh = 0; oh < p.out[1]; ++oh)
      for (index_t ow = 0; ow < p.out[2]; ++ow) {
        T acc = 0;
        for (index_t c = 0; c < cin_g; ++c) {
          const T* xc = x + (n * p.c_in + g * cin_g + c) * in_vol;
          const T* wc = w + (f * cin_g + c) * k_vol;
          for (index_t a = 0; a < p.k[0]; ++a) {
            const index_t id = od * p.stride[0] - p.pad[0] + a * p.dil[0];
            for (index_t b = 0; b < p.k[1]; ++b) {
              const index_t ih = oh * p.stride[1] - p.pad[1] + b * p.dil[1];
              for (index_t e = 0; e < p.k[2]; ++e) {
                const index_t iw = ow * p.stride[2] - p.pad[2] + e * p.dil[2];
                const bool inside = id >= 0 && id < p.in[0] && ih >= 0 && ih < p.in[1] &&
                                    iw >= 0 && iw < p.in[2];
                if (!kLiteral && !inside) continue;
                const T xv = inside ? xc[(id * p.in[1] + ih) * p.in[2] + iw] : T(0);
                acc += wc[(a * p.k[1] + b) * p.k[2] + e] * xv;
              }
            }
          }
        }
        if (bias) acc += bias[f];
        yp[(od * p.out[1] + oh) * p.out[2] + ow] = acc;
      }
  });
}

template <class T>
void conv_ieee(const ConvParams& p, const T* x, const T* w, const T* bias, T* y) noexcept {
  conv_naive<true>(p, x, w, bias, y);
}

}  // namespace

template <class T>
void conv_ref(const ConvParams& p, const T* x, const T* w, const T* bias, T* y) noexcept {
  conv_naive<false>(p, x, w, bias, y);
}

template <class T>
void conv_direct(const ConvParams& p, const T* x, const T* w, const T* bias, T* y) noexcept {
  // One task per (image, filter, output depth slice, band of output rows), bands short enough to
  // keep tasks at a few milliseconds (tasks are the unit of interruption). Each output element is
  // accumulated over (c, a, b, e) in lexicographic order, then the bias is added: the same order
  // as conv_ref, whatever the bands.
  const index_t cin_g = p.c_in / p.groups, cout_g = p.c_out / p.groups;
  const index_t in_vol = p.in[0] * p.in[1] * p.in[2], in_plane = p.in[1] * p.in[2];
  const index_t out_plane = p.out[1] * p.out[2], out_vol = p.out[0] * out_plane;
  const index_t k_vol = p.k[0] * p.k[1] * p.k[2];
  const index_t sw = p.stride[2];
  const index_t row_work = p.out[2] * cin_g * k_vol;
  const index_t band_rows = std::max<index_t>(1, std::min<index_t>(p.out[1], kTaskWork / row_work));
  const index_t bands = (p.out[1] + band_rows - 1) / band_rows;
  const index_t tasks = p.n * p.c_out * p.out[0] * bands;
  parallel_for(tasks, band_rows * row_work, [&](index_t t) {
    const index_t band = t % bands, od = (t / bands) % p.out[0], nf = t / (bands * p.out[0]);
    const index_t n = nf / p.c_out, f = nf % p.c_out, g = f / cout_g;
    const index_t row0 = band * band_rows, row1 = std::min(row0 + band_rows, p.out[1]);
    T* ys = y + nf * out_vol + od * out_plane;
    for (index_t i = row0 * p.out[2]; i < row1 * p.out[2]; ++i) ys[i] = T(0);
    for (index_t c = 0; c < cin_g; ++c) {
      const T* xc = x + (n * p.c_in + g * cin_g + c) * in_vol;
      const T* wc = w + (f * cin_g + c) * k_vol;
      for (index_t a = 0; a < p.k[0]; ++a) {
        const index_t id = od * p.stride[0] - p.pad[0] + a * p.dil[0];
        if (id < 0 || id >= p.in[0]) continue;
        for (index_t b = 0; b < p.k[1]; ++b) {
          index_t oh_lo, oh_hi;
          valid_range(p.out[1], p.stride[1], b * p.dil[1] - p.pad[1], p.in[1], &oh_lo, &oh_hi);
          oh_lo = std::max(oh_lo, row0);
          oh_hi = std::min(oh_hi, row1);
          for (index_t e = 0; e < p.k[2]; ++e) {
            const T wv = wc[(a * p.k[1] + b) * p.k[2] + e];
            const index_t off_w = e * p.dil[2] - p.pad[2];
            index_t ow_lo, ow_hi;
            valid_range(p.out[2], sw, off_w, p.in[2], &ow_lo, &ow_hi);
            if (ow_lo >= ow_hi) continue;
            for (index_t oh = oh_lo; oh < oh_hi; ++oh) {
              const index_t ih = oh * p.stride[1] - p.pad[1] + b * p.dil[1];
              const T* xr = xc + id * in_plane + ih * p.in[2] + off_w;
              T* yr = ys + oh * p.out[2];
              if (sw == 1) {
                for (index_t ow = ow_lo; ow < ow_hi; ++ow) yr[ow] += wv * xr[ow];
              } else {
                for (index_t ow = ow_lo; ow < ow_hi; ++ow) yr[ow] += wv * xr[ow * sw];
              }
            }
          }
        }
      }
    }
    if (bias) {
      const T bv = bias[f];
      for (index_t i = row0 * p.out[2]; i < row1 * p.out[2]; ++i) ys[i] += bv;
    }
  });
}

// Whether the zero-padded strips of the GEMM and plane kernels stay small: their rows span a
// kernel's whole reach (dilation and padding included), however few taps land in the input, so
// a huge dilation or padding (a padding of 10**6 with a stride of 100, say) goes to the direct
// kernel, which visits only the taps inside the input and needs no buffer.
static bool strip_is_small(const ConvParams& p) noexcept {
  // A strip's rows span the kernel's reach and (GEMM) the row's reach: beyond about twice the
  // input's extent, they are mostly padding.
  const index_t rows = (p.k[1] - 1) * p.dil[1] + 1;
  const index_t cols = (p.out[2] - 1) * p.stride[2] + (p.k[2] - 1) * p.dil[2] + 1;
  return rows <= 2 * p.in[1] + 4096 && cols <= 2 * p.in[2] + 4096;
}

bool conv_gemm_applies(const ConvParams& p) noexcept {
  const index_t cout_g = p.c_out / p.groups;
  return p.k[0] == 1 && p.in[0] == 1 && p.out[0] == 1 && p.pad[0] == 0 && cout_g >= 8 &&
         strip_is_small(p);
}

template <class T>
bool weights_finite(const ConvParams& p, const T* w) noexcept {
  return all_finite(w, p.c_out * (p.c_in / p.groups) * p.k[0] * p.k[1] * p.k[2]);
}

index_t conv_rows_copy_floats(index_t strip_rows, index_t w_out) noexcept {
  // One copy: strip_rows rows of w_out, then a tile's overreach (loads past the band's end, by a
  // band shorter than a tile), rounded to 64 bytes.
  return ((strip_rows * w_out + kRowsTilePixels + 15) / 16) * 16;
}

index_t conv_rows_padded_stride(const ConvParams& p) noexcept {
  // A padded input row of w_out + (k_w - 1) * dil_w floats, with room for a vector store past it.
  return ((p.out[2] + (p.k[2] - 1) * p.dil[2] + 8 + 15) / 16) * 16;
}

index_t conv_rows_scratch_floats(const ConvParams& p, index_t strip_rows) noexcept {
  const index_t cin_g = p.c_in / p.groups, K = cin_g * p.k[1] * p.k[2];
  // The copies, one channel's padded rows, then K int64 tap offsets (used from the first
  // thread's scratch only).
  return cin_g * p.k[2] * conv_rows_copy_floats(strip_rows, p.out[2]) +
         ((strip_rows * conv_rows_padded_stride(p) + 15) / 16) * 16 + ((2 * K + 15) / 16) * 16 + 16;
}

RowsTile conv_rows_next_tile(index_t Q, index_t done, index_t vec) noexcept {
  if (Q < vec) return {0, 1, true};
  const index_t left = Q - done;
  if (left >= 3 * vec) return {done, 3, false};
  const int vectors = static_cast<int>((left + vec - 1) / vec);
  if (Q >= vectors * vec) return {Q - vectors * vec, vectors, false};
  // A band shorter than the vectors that would end at its end: whole vectors first, then one more.
  return {done, static_cast<int>(left / vec), false};
}

bool conv_rows_applies(const ConvParams& p) noexcept {
  if (!conv_gemm_applies(p) || p.stride[1] != 1 || p.stride[2] != 1) return false;
  const index_t one_row = conv_rows_scratch_floats(p, (p.k[1] - 1) * p.dil[1] + 1);
  if (one_row < 0 || one_row > (index_t(1) << 18)) return false;
  // One input channel per group only. With several, the kernel computes the same numbers, but
  // measured against the GEMM tiles (AVX-512, 64 -> 64 channels 3x3 on 56x56 at batch 1 and 8,
  // 64 -> 64 k=9 over 4096 samples) it was no faster (2.19 against 2.19 ms, 18.2 against 17.8,
  // 94.2 against 94.7), so those keep the GEMM.
  return p.c_in == p.groups;
}

bool conv_pw_applies(const ConvParams& p) noexcept {
  return conv_gemm_applies(p) && p.k[1] == 1 && p.k[2] == 1 && p.stride[1] == 1 &&
         p.stride[2] == 1 && p.pad[1] == 0 && p.pad[2] == 0 && p.out[1] == p.in[1] &&
         p.out[2] == p.in[2] && p.out[1] * p.out[2] >= kRowsTilePixels;
}

index_t conv_gemm_packed_size(const ConvParams& p) noexcept {
  const index_t cin_g = p.c_in / p.groups, cout_g = p.c_out / p.groups;
  const index_t panels = (cout_g + kGemmNR - 1) / kGemmNR;
  return p.groups * panels * cin_g * p.k[1] * p.k[2] * kGemmNR;
}

void conv_gemm_pack(const ConvParams& p, const float* w, float* packed) noexcept {
  const index_t cin_g = p.c_in / p.groups, cout_g = p.c_out / p.groups;
  const index_t panels = (cout_g + kGemmNR - 1) / kGemmNR;
  const index_t K = cin_g * p.k[1] * p.k[2];
  for (index_t g = 0; g < p.groups; ++g)
    for (index_t panel = 0; panel < panels; ++panel) {
      float* dst = packed + (g * panels + panel) * K * kGemmNR;
      // Packed k runs over (kernel row a, channel c, kernel column b): the taps of a range of
      // kernel rows are then contiguous, so a tile can skip rows that lie in the padding.
      const index_t kh = p.k[1], kw = p.k[2];
      for (index_t a = 0, k = 0; a < kh; ++a)
        for (index_t c = 0; c < cin_g; ++c)
          for (index_t b = 0; b < kw; ++b, ++k)
            for (index_t j = 0; j < kGemmNR; ++j) {
              const index_t f = panel * kGemmNR + j;
              dst[k * kGemmNR + j] =
                  f < cout_g ? w[((g * cout_g + f) * cin_g + c) * kh * kw + a * kw + b] : 0.0f;
            }
    }
}

GemmPlan conv_gemm_plan(const ConvParams& p, int threads) noexcept {
  GemmPlan plan;
  const index_t cin_g = p.c_in / p.groups;
  const index_t kh = p.k[1], kw = p.k[2], sh = p.stride[1], sw = p.stride[2];
  const index_t reach_h = (p.out[1] - 1) * sh + (kh - 1) * p.dil[1] + 1;
  const index_t reach_w = (p.out[2] - 1) * sw + (kw - 1) * p.dil[2] + 1;
  plan.copy_input = !(p.pad[1] == 0 && p.pad[2] == 0 && reach_h <= p.in[1] && reach_w <= p.in[2]);
  plan.strip_w = reach_w;
  // Enough bands for every thread to have a few tasks, few enough that each band's weights are
  // reused over many pixels, and small enough that a band's input strip stays in L2.
  // A small call (one image of a small network) is cut into fewer tasks: each of at least 2**19
  // multiply-adds (about 10 us), so that splitting costs less than it saves.
  const index_t images = p.n * p.groups;
  const index_t cout_g = p.c_out / p.groups, panels = (cout_g + kGemmNR - 1) / kGemmNR;
  const index_t macs = images * cout_g * p.out[1] * p.out[2] * cin_g * kh * kw;
  const index_t want_tasks =
      threads > 1 ? std::max<index_t>(1, std::min<index_t>(4 * threads, macs >> 19)) : 1;
  const bool shifted = conv_rows_applies(p);  // scratch: shifted copies of the band's rows
  // Fewer images than tasks: split the output channels first (each task then copies the same
  // input strip but tiles the whole band, without the short bands' partial tiles), then the rows.
  if (!shifted && images < want_tasks)
    plan.panel_split = std::min(panels, (want_tasks + images - 1) / images);
  const index_t image_tasks = images * plan.panel_split;
  index_t bands = image_tasks >= want_tasks ? 1 : (want_tasks + image_tasks - 1) / image_tasks;
  index_t rows = (p.out[1] + bands - 1) / bands;
  auto strip_rows = [&](index_t r) { return (r - 1) * sh + (kh - 1) * p.dil[1] + 1; };
  const index_t limit = 256 * 1024 / 4;  // floats
  auto scratch_of = [&](index_t r) {
    return shifted ? conv_rows_scratch_floats(p, strip_rows(r)) : cin_g * strip_rows(r) * plan.strip_w;
  };
  if (shifted) {
    // Any band height up to the limits (scratch within half of L2, tasks of a few milliseconds)
    // computes the same numbers; choose the one that tiles the planes best: fewest 48-pixel tiles
    // (a partial tile costs about as much as a whole one), plus the copies (the k_h - 1 rows of
    // halo each band copies again), both counted in multiply-adds.
    const index_t h = p.out[1], w = p.out[2];
    const index_t taps = cin_g * kh * kw;
    index_t max_rows = rows;
    while (max_rows > 1 && (scratch_of(max_rows) > 2 * limit ||
                            max_rows * w * cout_g * taps > 16 * kTaskWork))
      max_rows = (max_rows + 1) / 2;
    index_t best_cost = -1;
    for (index_t r = max_rows; r >= 1 && r >= max_rows / 2; --r) {
      const index_t full = h / r, last = h % r;
      const index_t tiles = full * ((r * w + kRowsTilePixels - 1) / kRowsTilePixels) +
                            (last ? (last * w + kRowsTilePixels - 1) / kRowsTilePixels : 0);
      const index_t copied = (full + (last ? 1 : 0)) * strip_rows(r) * w * cin_g * kw;
      const index_t cost = tiles * kRowsTilePixels * cout_g * taps + 2 * copied;
      if (best_cost < 0 || cost < best_cost) best_cost = cost, rows = r;
    }
  }
  while (!shifted && plan.copy_input && rows > 1 && scratch_of(rows) > limit) rows = (rows + 1) / 2;
  // Tasks of at most a few milliseconds (the unit of interruption).
  const index_t row_work = p.out[2] * (p.c_out / p.groups) * cin_g * kh * kw;
  while (rows > 1 && rows * row_work > 16 * kTaskWork) rows = (rows + 1) / 2;
  plan.band_rows = rows < 1 ? 1 : rows;
  plan.bands = (p.out[1] + plan.band_rows - 1) / plan.band_rows;
  plan.strip_rows = strip_rows(plan.band_rows);
  const index_t strip = plan.copy_input ? cin_g * plan.strip_rows * plan.strip_w : 0;
  const index_t K = cin_g * kh * kw;
  // strip (rounded to 64 bytes) + K int64 offsets + slack, rounded to 64 bytes.
  plan.scratch_floats = ((strip + 15) / 16) * 16 + ((2 * K + 15) / 16) * 16 + 16;
  if (shifted) plan.scratch_floats = std::max(plan.scratch_floats, scratch_of(plan.band_rows));
  return plan;
}

namespace {

bool gemm_forward(const ConvParams& p, const float* x, const float* w, const float* bias,
                  float* y, const float* prepacked = nullptr,
                  const FusedActivation* act = nullptr, bool allow_special = true,
                  const float* winograd = nullptr) {
#if defined(CNNCORE_HAVE_AVX2_KERNELS)
  if (simd_level() != SimdLevel::kAvx2 || !conv_gemm_applies(p)) return false;
  const int threads = threads_for(p.n * p.c_out * p.out[1] * p.out[2] * (p.c_in / p.groups) *
                                  p.k[1] * p.k[2]);
  // Per calling thread, grown as needed and kept: repeated calls reuse the same pages instead of
  // mapping (and faulting in) fresh ones every time.
  thread_local AlignedFloats packed, scratch;
  if (allow_special && conv_winograd_applies(p)) {
    // The weights' transform is redone at every call unless the caller kept it (the network
    // engine does); a NaN or infinity in an output sends the call to the GEMM below.
    const WinogradPlan wplan = conv_winograd_plan(p, threads, use_avx512() ? 16 : 8);
    if (!winograd) {
      if (packed.size() < conv_winograd_packed_size(p)) packed.resize(conv_winograd_packed_size(p));
      conv_winograd_pack_avx2(p, w, packed.data(), threads);
      winograd = packed.data();
    }
    const index_t need = wplan.scratch_floats * threads + wplan.shared_floats;
    if (scratch.size() < need) scratch.resize(need);
    if (conv_winograd_avx2(p, wplan, x, winograd, bias, y, scratch.data(), threads, act))
      return true;
  }
  const GemmPlan plan = conv_gemm_plan(p, threads);
  if (!prepacked) {
    if (packed.size() < conv_gemm_packed_size(p)) packed.resize(conv_gemm_packed_size(p));
    conv_gemm_pack(p, w, packed.data());
    prepacked = packed.data();
  }
  if (scratch.size() < plan.scratch_floats * threads) scratch.resize(plan.scratch_floats * threads);
  if (allow_special && use_avx512() && conv_pw_applies(p))  // with AVX2 only, the GEMM is faster
    conv_pw_avx2(p, plan, x, prepacked, bias, y, scratch.data(), threads, act);
  else if (allow_special && conv_rows_applies(p))
    conv_rows_avx2(p, plan, x, prepacked, bias, y, scratch.data(), threads, act);
  else
    conv_gemm_avx2(p, plan, x, prepacked, bias, y, scratch.data(), threads, act);
  return true;
#else
  (void)p, (void)x, (void)w, (void)bias, (void)y, (void)prepacked, (void)act, (void)allow_special;
  (void)winograd;
  return false;
#endif
}

bool gemm_forward(const ConvParams&, const double*, const double*, const double*, double*,
                  const double* = nullptr, const FusedActivation* = nullptr, bool = true,
                  const double* = nullptr) {
  return false;
}

}  // namespace

// One input channel per group and few filters per group (depthwise convolution, single-channel
// filtering), stride 1 along the rows: every output plane is one plane filtered by one kernel.
bool plane_forward_applies(const ConvParams& p) noexcept {
  const index_t cin_g = p.c_in / p.groups, cout_g = p.c_out / p.groups;
  return cin_g == 1 && cout_g < 8 && p.stride[2] == 1 && p.k[0] == 1 && p.in[0] == 1 &&
         p.out[0] == 1 && p.pad[0] == 0 && p.pad[1] >= 0 && p.pad[2] >= 0 && strip_is_small(p);
}

template <class T>
void plane_forward(const ConvParams& p, const T* x, const T* w, const T* bias, T* y) {
  PlaneFilterParams q;
  q.planes = p.n * p.c_out;
  q.multiplier = p.c_out / p.groups;
  q.kernels = p.c_out;
  q.in_h = p.in[1];
  q.in_w = p.in[2];
  q.out_h = p.out[1];
  q.out_w = p.out[2];
  q.k_h = p.k[1];
  q.k_w = p.k[2];
  q.stride_h = p.stride[1];
  q.dil_h = p.dil[1];
  q.dil_w = p.dil[2];
  q.pad_top = p.pad[1];
  q.pad_left = p.pad[2];
  plane_filter(q, x, w, bias, y);
}

template <class T>
void conv_forward(const ConvParams& p, const T* x, const T* w, const T* bias, T* y,
                  ConvImpl impl) {
  if (p.n == 0 || p.c_out == 0) return;
  // Every other kernel skips taps that lie in the padding (they would add w * 0): only a weight
  // that is not finite can tell, and then the literal kernel runs, whatever impl asks for.
  if (!all_finite(w, p.c_out * (p.c_in / p.groups) * p.k[0] * p.k[1] * p.k[2]))
    return conv_ieee(p, x, w, bias, y);
  if (impl == ConvImpl::kReference) return conv_ref(p, x, w, bias, y);
  if (impl == ConvImpl::kDirect) return conv_direct(p, x, w, bias, y);
  if (impl == ConvImpl::kGemm && gemm_forward(p, x, w, bias, y, nullptr, nullptr, false)) return;
  if (plane_forward_applies(p)) return plane_forward(p, x, w, bias, y);
  if (gemm_forward(p, x, w, bias, y)) return;
  conv_direct(p, x, w, bias, y);
}

bool conv_winograd_prepack(const ConvParams& p, const float* w, AlignedFloats* out) {
#if defined(CNNCORE_HAVE_AVX2_KERNELS)
  if (simd_best() == SimdLevel::kGeneric || !conv_winograd_applies(p)) return false;
  out->resize(conv_winograd_packed_size(p));
  conv_winograd_pack_avx2(p, w, out->data(), 1);
  return true;
#else
  (void)p, (void)w, (void)out;
  return false;
#endif
}

void conv_forward_prepacked(const ConvParams& p, const float* x, const float* w,
                            const float* packed, const float* bias, float* y,
                            const FusedActivation* act, bool weights_finite,
                            const float* winograd) {
  if (p.n == 0 || p.c_out == 0) return;
  if (!weights_finite)
    conv_ieee(p, x, w, bias, y);
  else if (plane_forward_applies(p))
    plane_forward(p, x, w, bias, y);
  else if (gemm_forward(p, x, w, bias, y, packed, act, true, winograd))
    return;
  else
    conv_direct(p, x, w, bias, y);
  if (act)
    activation_forward(act->kind, act->param, y, y,
                       p.n * p.c_out * p.out[0] * p.out[1] * p.out[2]);
}

#define CNNCORE_INSTANTIATE(T)                                                                  \
  template void conv_ref<T>(const ConvParams&, const T*, const T*, const T*, T*) noexcept;      \
  template bool weights_finite<T>(const ConvParams&, const T*) noexcept;                      \
  template void conv_direct<T>(const ConvParams&, const T*, const T*, const T*, T*) noexcept;   \
  template void conv_forward<T>(const ConvParams&, const T*, const T*, const T*, T*, ConvImpl);
CNNCORE_INSTANTIATE(float)
CNNCORE_INSTANTIATE(double)
#undef CNNCORE_INSTANTIATE

}  // namespace cnncore
