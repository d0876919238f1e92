// pool_avx2.cpp - separable 2-D pooling rows with AVX2 (own flags, run-time dispatch).
//
// Max, sum and average over a k_h x k_w window are separable: first combine the window's k_h input
// rows element-wise into a padded row buffer (padding is -inf for max, zero otherwise), then
// combine k_w taps along that buffer for each output, stride 1 or 2 vectorised (stride 2 by
// de-interleaving even and odd columns), any other stride scalar. NaN propagates through max.
#include <immintrin.h>

#include "avx2_helpers.h"
#include "pool.h"

namespace cnncore {

namespace {

constexpr index_t kPoolPrefetchRows = 6;  // output rows ahead

inline __m256 nanmax(__m256 a, __m256 b) {
  // _mm256_max_ps returns b when either is NaN: keep a where a is NaN.
  return _mm256_blendv_ps(_mm256_max_ps(a, b), a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
}
inline float nanmax1(float a, float b) { return (b > a || b != b) && a == a ? b : a; }

// Even and odd elements of s[0..15] as two vectors of 8, in order.
inline void deinterleave(const float* s, __m256* even, __m256* odd) {
  const __m256 lo = _mm256_loadu_ps(s), hi = _mm256_loadu_ps(s + 8);
  const __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
  const __m256 o = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
  *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
  *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8));
}

}  // namespace

void pool_rows_avx2(const PoolParams& p, const float* x, float* y, index_t oh0, index_t oh1,
                    index_t ow0, index_t ow1, float* buf, const float* div_w) noexcept {
  const bool is_max = p.kind == PoolKind::kMax;
  const float padv = is_max ? -__builtin_inff() : 0.0f;
  const index_t h = p.in[1], w = p.in[2], ow_n = ow1 - ow0;
  const index_t kh = p.k[1], kw = p.k[2], sw = p.stride[2], dw = p.dil[2];
  // Buffer column i is input column i - pl (negative pl: the chunk starts inside the row).
  const index_t pl = p.pad_before[2] - ow0 * sw;
  const index_t bw = (ow_n - 1) * sw + (kw - 1) * dw + 1;  // buffer columns
  auto clamp = [](index_t v, index_t a, index_t b) { return v < a ? a : (v > b ? b : v); };
  const index_t lo = clamp(pl, 0, bw);                      // [lo, hi): input columns
  const index_t hi = clamp(pl + w, lo, bw);
  for (index_t j = bw; j < bw + kPoolBufSlack; ++j) buf[j] = padv;  // read by partial vectors
  for (index_t oh = oh0; oh < oh1; ++oh) {
    const index_t sh = oh * p.stride[1] - p.pad_before[1];
    // Prefetch the input rows output row oh + kPoolPrefetchRows adds to its window (the hardware
    // prefetchers left the vertical pass waiting on its loads: half its time in a profile).
    // Average pooling 3x3 stride 2 on 8 x 64 x 112 x 112 (bench.py): 0.90-0.94 of the time at
    // one thread; max pooling 2x2 unchanged.
    const index_t s_h = p.stride[1];
    if (hi > lo && s_h <= h) {  // columns [lo, hi) of a row lie inside it; no overflow below
      const index_t first = sh + kPoolPrefetchRows * s_h + (kh - 1) * p.dil[1] + 1 - s_h;
      for (index_t ih = first < 0 ? 0 : first; ih < first + s_h && ih < h; ++ih) {
        const char* row = reinterpret_cast<const char*>(x + ih * w + (lo - pl));
        for (index_t off = 0; off < (hi - lo) * 4; off += 64) __builtin_prefetch(row + off, 0, 3);
      }
    }
    // Vertical pass into buf.
    bool any = false;
    for (index_t a = 0; a < kh; ++a) {
      const index_t ih = sh + a * p.dil[1];
      if (ih < 0 || ih >= h) continue;
      const float* src = x + ih * w - pl;  // src[i] is buffer column i
      index_t i = lo;
      if (!any) {
        for (index_t j = 0; j < lo; ++j) buf[j] = padv;
        for (; i + 8 <= hi; i += 8) _mm256_storeu_ps(buf + i, _mm256_loadu_ps(src + i));
        for (; i < hi; ++i) buf[i] = src[i];
        for (index_t j = hi > lo ? hi : lo; j < bw; ++j) buf[j] = padv;
        any = true;
      } else if (is_max) {
        for (; i + 8 <= hi; i += 8)
          _mm256_storeu_ps(buf + i, nanmax(_mm256_loadu_ps(buf + i), _mm256_loadu_ps(src + i)));
        for (; i < hi; ++i) buf[i] = nanmax1(buf[i], src[i]);
      } else {
        for (; i + 8 <= hi; i += 8)
          _mm256_storeu_ps(buf + i, _mm256_add_ps(_mm256_loadu_ps(buf + i), _mm256_loadu_ps(src + i)));
        for (; i < hi; ++i) buf[i] += src[i];
      }
    }
    if (!any)
      for (index_t j = 0; j < bw; ++j) buf[j] = padv;
    // Horizontal pass: 8 outputs per vector; the last partial vector is computed whole (buf has
    // 16 padding columns past bw) and stored under a mask.
    float* yr = y + oh * p.out[2] + ow0;
    index_t o = 0;
    if (dw == 1 && (sw == 1 || sw == 2)) {
      float div_h = 1.0f;
      if (p.kind == PoolKind::kAvg)
        div_h = static_cast<float>(
            p.count_include_pad ? (sh + kh < h + p.pad_after[1] ? sh + kh : h + p.pad_after[1]) - sh
                                : (sh + kh < h ? sh + kh : h) - (sh > 0 ? sh : 0));
      auto vec_at = [&](index_t o0) {
        const float* s = buf + o0 * sw;
        __m256 acc;
        if (sw == 1) {
          acc = _mm256_loadu_ps(s);
          for (index_t b = 1; b < kw; ++b)
            acc = is_max ? nanmax(acc, _mm256_loadu_ps(s + b)) : _mm256_add_ps(acc, _mm256_loadu_ps(s + b));
        } else {
          __m256 e, od;
          deinterleave(s, &e, &od);
          acc = e;
          for (index_t b = 1; b < kw; ++b) {
            __m256 v;
            if (b % 2 == 1) {
              if (b == 1) {
                v = od;
              } else {
                __m256 ignore;
                deinterleave(s + b - 1, &ignore, &v);
              }
            } else {
              __m256 ignore;
              deinterleave(s + b, &v, &ignore);
            }
            acc = is_max ? nanmax(acc, v) : _mm256_add_ps(acc, v);
          }
        }
        if (p.kind == PoolKind::kAvg)
          acc = _mm256_div_ps(acc, _mm256_mul_ps(_mm256_set1_ps(div_h), _mm256_loadu_ps(div_w + o0)));
        else if (is_max)  // subnormals compare as zero (DAZ): flush the one that won
          acc = _mm256_add_ps(acc, _mm256_setzero_ps());
        return acc;
      };
      for (; o + 8 <= ow_n; o += 8) _mm256_storeu_ps(yr + o, vec_at(o));
      if (o < ow_n) {
        store_first(yr + o, vec_at(o), ow_n - o);
        o = ow_n;
      }
    }
    for (; o < ow_n; ++o) {
      const float* s = buf + o * sw;
      float acc = s[0];
      for (index_t b = 1; b < kw; ++b) acc = is_max ? nanmax1(acc, s[b * dw]) : acc + s[b * dw];
      if (p.kind == PoolKind::kAvg) {
        const float div_h = static_cast<float>(
            p.count_include_pad ? (sh + kh < h + p.pad_after[1] ? sh + kh : h + p.pad_after[1]) - sh
                                : (sh + kh < h ? sh + kh : h) - (sh > 0 ? sh : 0));
        acc /= div_h * div_w[o];
      } else if (is_max) {
        acc += 0.0f;  // as the vector path
      }
      yr[o] = acc;
    }
  }
}

void pool2x2_rows_avx2(const PoolParams& p, const float* x, float* y, index_t r0,
                       index_t r1) noexcept {
  const bool is_max = p.kind == PoolKind::kMax;
  const __m256 scale = _mm256_set1_ps(p.kind == PoolKind::kAvg ? 0.25f : 1.0f);
  const index_t in_w = p.in[2], in_plane = p.in[1] * p.in[2], ow_n = p.out[2], oh_n = p.out[1];
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  auto combine = [&](__m256 a, __m256 b) { return is_max ? nanmax(a, b) : _mm256_add_ps(a, b); };
  // Outputs [o, o + 8) of one row from the input row pair (s0, s1); the first 2*valid inputs are
  // read (masked when valid < 8).
  auto block = [&](const float* s0, const float* s1, index_t valid) {
    __m256 a0, a1, b0, b1;
    if (valid >= 8) {
      a0 = _mm256_loadu_ps(s0), a1 = _mm256_loadu_ps(s0 + 8);
      b0 = _mm256_loadu_ps(s1), b1 = _mm256_loadu_ps(s1 + 8);
    } else {
      const __m256i n = _mm256_set1_epi32(static_cast<int>(2 * valid));
      const __m256i m0 = _mm256_cmpgt_epi32(n, lane);
      const __m256i m1 = _mm256_cmpgt_epi32(n, _mm256_add_epi32(lane, _mm256_set1_epi32(8)));
      a0 = _mm256_maskload_ps(s0, m0), a1 = _mm256_maskload_ps(s0 + 8, m1);
      b0 = _mm256_maskload_ps(s1, m0), b1 = _mm256_maskload_ps(s1 + 8, m1);
    }
    float v[16];
    _mm256_storeu_ps(v, combine(a0, b0));
    _mm256_storeu_ps(v + 8, combine(a1, b1));
    __m256 e, o;
    deinterleave(v, &e, &o);
    return _mm256_mul_ps(combine(e, o), scale);
  };
  for (index_t r = r0; r < r1; ++r) {
    const index_t plane = r / oh_n, oh = r % oh_n;
    const float* s0 = x + plane * in_plane + 2 * oh * in_w;
    const float* s1 = s0 + in_w;
    float* yr = y + r * ow_n;
    index_t o = 0;
    for (; o + 8 <= ow_n; o += 8) _mm256_storeu_ps(yr + o, block(s0 + 2 * o, s1 + 2 * o, 8));
    if (o < ow_n) {
      if ((r - r0) * ow_n + o + 8 <= (r1 - r0) * ow_n && r + 8 < r1) {
        // The lanes past the row's end fall on the next rows' outputs, which this call writes
        // later (and their inputs lie inside x): a plain store, no masked one (slow on some
        // CPUs).
        _mm256_storeu_ps(yr + o, block(s0 + 2 * o, s1 + 2 * o, 8));
      } else {
        store_first(yr + o, block(s0 + 2 * o, s1 + 2 * o, ow_n - o), ow_n - o);
      }
    }
  }
}

}  // namespace cnncore
