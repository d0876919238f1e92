// conv_winograd.cpp - where Winograd's F(2x2, 3x3), F(2x2, 5x5) and F(4, 5) along the rows apply
// and how a call is cut into bands (conv_winograd.h).
#include "conv_winograd.h"

#include "conv_gemm.h"
#include "cpu.h"

namespace cnncore {

namespace {

constexpr index_t kMaxVFloats = 3 * (index_t(1) << 17);  // a band's V: 1.5 MB at most
constexpr index_t kMaxMFloats = index_t(1) << 16;        // a pass's M: 256 KB at most

inline index_t round_up(index_t a, index_t m) noexcept { return (a + m - 1) / m * m; }

// Lanes the product tiles compute for a band of Q tiles (conv_rows_next_tile's covering).
index_t covered_lanes(index_t Q, index_t vec) noexcept {
  index_t lanes = 0;
  for (index_t q0 = 0; q0 < Q;) {
    const RowsTile t = conv_rows_next_tile(Q, q0, vec);
    lanes += t.vectors * vec;
    q0 = t.buffered ? Q : t.start + vec * t.vectors;
  }
  return lanes;
}

// The longest thread's load when tasks 0 .. tasks - 1, costing cost(i) (total in all), go in
// order to whichever of `threads` threads is free first, as the pool hands them out.
template <class Cost>
index_t simulated_run(index_t tasks, int threads, index_t total, Cost cost) noexcept {
  const int slots = threads < 1 ? 1 : (threads > 64 ? 64 : threads);
  // One thread takes everything. Many tasks balance to within about one task (the simulation's
  // own cost, per call, is what it would refine: 4.5 % of the lecture's first layer at two
  // threads when it ran up to 1024 tasks for each candidate band height).
  if (slots == 1) return total;
  if (tasks > 64 * slots) return (total + slots - 1) / slots + total / tasks;
  index_t load[64] = {0};
  for (index_t i = 0; i < tasks; ++i) {
    int free = 0;
    for (int j = 1; j < slots; ++j)
      if (load[j] < load[free]) free = j;
    load[free] += cost(i);
  }
  index_t worst = 0;
  for (int j = 0; j < slots; ++j) worst = load[j] > worst ? load[j] : worst;
  return worst;
}

// F(4, 5) along the rows: bands of output rows of one image.
WinogradPlan rows_plan(const ConvParams& p, int threads, index_t vec) noexcept {
  WinogradPlan plan;
  plan.along_rows = true;
  plan.alpha = 8;
  const index_t h = p.out[1], T = (p.out[2] + 3) / 4, T8 = round_up(T, 8), c_in = p.c_in;
  const index_t K = 5 * c_in, c_out16 = round_up(p.c_out, 16);
  plan.tiles_h = h;
  plan.tiles_w = T;
  auto copy_len = [&](index_t r) { return round_up((r + 4) * T + kRowsTilePixels, 16); };
  auto m_plane = [&](index_t r) { return round_up(r * T + 8, 16); };
  // Band heights: V and a pass's M (8 filters) within bounds and tasks of a few milliseconds.
  index_t max_rows = 1;
  while (max_rows < h && 8 * c_in * copy_len(max_rows + 1) <= kMaxVFloats &&
         8 * 8 * m_plane(max_rows + 1) <= kMaxMFloats &&
         (max_rows + 1) * T * 8 * K * c_out16 <= 64 * kTaskWork)
    ++max_rows;
  // The shortest estimated run: per task, the product tiles' lanes, the output transform's
  // (8 tiles of a row at a time, a quarter of a lane each) and 16 for what a task does once; with
  // one channel (the fused kernel, 16 runs a vector: conv_winograd_rows1_avx512), its lanes.
  const bool fused = c_in == 1;
  auto lanes = [&](index_t r) {
    return fused ? round_up(r * T, 16) : covered_lanes(r * T, vec) + r * T8 / 4;
  };
  // Splitting a small call costs the second thread's wake-up, about 10,000 cycles, where a lane
  // of the fused kernel takes about 3 c_out: a single 28x28 image (1 -> 16) cut into two bands ran
  // at 1.2 times the time of one band, the other thread waking too late to take its half.
  const index_t wake = fused && threads > 1 ? 10000 / (3 * p.c_out) : 0;
  index_t best = -1;
  for (index_t r = 1; r <= max_rows; ++r) {
    const index_t bands = (h + r - 1) / r, last_rows = h - (bands - 1) * r;
    const index_t full = lanes(r) + 16;
    const index_t last = lanes(last_rows) + 16;
    const index_t cost =
        simulated_run(p.n * bands, threads, p.n * ((bands - 1) * full + last),
                      [&](index_t i) { return i % bands == bands - 1 ? last : full; }) +
        (p.n * bands > 1 ? wake : 0);
    if (best < 0 || cost < best) best = cost, plan.band_rows = r;
  }
  plan.bands = (h + plan.band_rows - 1) / plan.band_rows;
  plan.tasks = p.n * plan.bands;
  plan.copy_len = copy_len(plan.band_rows);
  plan.t_stride = m_plane(plan.band_rows);  // floats between filters in M
  plan.chunk = 8;
  // A padded input row (the strip holds the band's): 8 tiles' windows (4 i .. 4 i + 7) read by
  // 8-float loads, and room for a vector store past it.
  plan.strip_w = round_up(4 * T8 + 4 + 8, 16);
  plan.v_stride = round_up(c_in * plan.copy_len, 1024) + 16;
  plan.m_stride = fused ? 0 : round_up(8 * plan.t_stride, 1024) + 16;  // the fused kernel has no M
  plan.scratch_floats =
      (plan.band_rows + 4) * plan.strip_w + 8 * plan.v_stride + 8 * plan.m_stride;
  plan.shared_floats = 2 * K + 16;
  return plan;
}

}  // namespace

index_t conv_winograd_alpha(const ConvParams& p) noexcept {
  return p.k[1] == p.k[2] && (p.k[1] == 3 || p.k[1] == 5) ? p.k[1] + 1 : 0;
}

index_t conv_winograd_alpha_w(const ConvParams& p) noexcept {
  // Timed against F(2x2, 5x5) at one thread (16 -> 32 channels, 14 rows, batch 4, AVX-512):
  // 0.97 of its time on rows of 11 and 12 outputs, 0.82 on 13, 0.71-0.80 on 17 to 30; 1.04-1.07
  // on 8 to 10 (3 tiles of 4 columns hold up to 2 columns of nothing).
  const index_t alpha = conv_winograd_alpha(p);
  return alpha == 6 && p.out[2] >= 11 ? 8 : alpha;
}

bool conv_winograd_rows_applies(const ConvParams& p) noexcept {
  if (p.groups != 1 || p.c_in < 1 || p.c_in >= 16 || p.c_out < 8) return false;
  if (p.k[0] != 1 || p.in[0] != 1 || p.out[0] != 1 || p.pad[0] != 0) return false;
  if (p.k[1] != 5 || p.k[2] != 5 || p.stride[1] != 1 || p.stride[2] != 1 || p.dil[1] != 1 ||
      p.dil[2] != 1)
    return false;
  // Where it pays, from single images (the worst case; the batch size must not decide) timed at
  // one thread against the kernels that run otherwise, AVX-512: 3 -> 64 on 224x224 0.57 of their
  // time, 15 -> 32 on 28x28 0.55, 8 -> 32 0.59, 2 -> 16 0.79, 4 -> 16 on 16x40 0.71, 2 -> 16 on
  // 20x20 0.93; but 2 -> 16 on 14x14 1.23, 3 -> 16 on 12x12 1.15 and 14x5 1.55 (few runs per row
  // and per plane: the transforms' partial vectors).
  // One channel only with AVX-512 and rows of whole runs (w_out a multiple of 4), where the
  // products and the output transform run fused (conv_winograd_rows1_avx512; through the two
  // passes it was 1.09 of the shifted copies' time on 28x28). Fused, with the cut edge columns
  // redone directly (run_rows), against the shifted copies, at one and two threads: 1 -> 16 on
  // 28x28 at batch 64 (the lecture's first layer) 0.80 and 0.87, at batch 8 0.82 and 1.00, a
  // single image 0.93 and 1.05; 1 -> 32 on 28x28 0.93 and 1.00; 48x48 and 64x64 (1 -> 8)
  // 0.74-0.76 and 0.66-0.69; 224x224 0.59; small planes and batches, 20x20 and 24x24 (batch 8),
  // 1 -> 8 on 28x28: 0.85-0.95 and 1.03-1.12. The shifted copies keep the other widths, and
  // integer-valued data's exact sums there.
  if (p.c_in == 1 && (!use_avx512() || p.out[2] % 4 != 0)) return false;
  const index_t pixels = checked_mul(p.out[1], p.out[2]);
  if (pixels >= 0 && pixels < 400) return false;
  // Rows of at least 8 pixels and at most 2**16 (one output row's V within a few MB).
  if (p.out[2] < 8 || p.out[2] > (index_t(1) << 16)) return false;
  return p.out[1] < (index_t(1) << 40);
}

bool conv_winograd_applies(const ConvParams& p) noexcept {
  if (conv_winograd_rows_applies(p)) return true;
  if (p.groups != 1 || p.c_in < 16 || p.c_out < 16) return false;
  if (p.k[0] != 1 || p.in[0] != 1 || p.out[0] != 1 || p.pad[0] != 0) return false;
  if (conv_winograd_alpha(p) == 0 || p.stride[1] != 1 || p.stride[2] != 1 || p.dil[1] != 1 ||
      p.dil[2] != 1)
    return false;
  // Not on small planes, where the transforms' edges, the lanes a plane's few tiles leave empty
  // and the weights' transform outweigh the savings. Judged per image (the batch size must not
  // change the method, nor so the bits), from single images (the worst case) timed against the
  // GEMM tiles at one thread: 3x3 64 -> 64 on 14x14 0.91 of the GEMM's time and 32 -> 32 on 28x28
  // 0.74, but 16 -> 16 on 8x8 1.23; 5x5 16 -> 32 on 14x14 (the lecture's second layer) 0.89,
  // 64 -> 64 on 14x14 0.88, 16 -> 32 on 28x28 0.66 (at batch 64, the lecture's layer: 0.67).
  const index_t pixels = checked_mul(p.out[1], p.out[2]);
  if (pixels >= 0 && pixels < 100) return false;
  // One tile row's V (alpha x alpha_w x c_in x its tiles and slack) within 4 MB.
  const index_t tw = (p.out[2] + 1) / 2;
  const index_t v_row = checked_mul(48 * (tw + 16), p.c_in);
  return v_row >= 0 && v_row <= (index_t(1) << 20) && p.out[1] < (index_t(1) << 40);
}

index_t conv_winograd_packed_size(const ConvParams& p) noexcept {
  // One channel: then the weights themselves, w[a][b][f] (the direct sums of the edge columns).
  if (conv_winograd_rows_applies(p))
    return (8 * 5 * p.c_in + (p.c_in == 1 ? 25 : 0)) * round_up(p.c_out, 16);
  return conv_winograd_alpha(p) * conv_winograd_alpha_w(p) * round_up(p.c_out, 16) * p.c_in;
}

WinogradPlan conv_winograd_plan(const ConvParams& p, int threads, index_t vec) noexcept {
  if (conv_winograd_rows_applies(p)) return rows_plan(p, threads, vec);
  WinogradPlan plan;
  plan.alpha = conv_winograd_alpha(p);
  plan.alpha_w = conv_winograd_alpha_w(p);
  const index_t m_w = plan.alpha_w == 8 ? 4 : 2;  // output columns per tile
  plan.tiles_h = (p.out[1] + 1) / 2;
  plan.tiles_w = (p.out[2] + m_w - 1) / m_w;
  const index_t xi = plan.alpha * plan.alpha_w;
  const index_t tw = plan.tiles_w, rows = p.n * plan.tiles_h, c_in = p.c_in;
  const index_t c_out16 = round_up(p.c_out, 16);
  // Band heights: V within kMaxVFloats and tasks of a few milliseconds, at least one row.
  index_t max_rows = 1;
  while (max_rows < rows && xi * c_in * ((max_rows + 1) * tw + 16) <= kMaxVFloats &&
         (max_rows + 1) * tw * xi * c_in * c_out16 <= 64 * kTaskWork)
    ++max_rows;
  // Among them, the one with the shortest estimated run. A task costs the product tiles' lanes
  // (partial vectors cost whole ones) plus 16 for what it does once (it streams all the
  // transformed weights); the tasks go in order to whichever thread is free first, as the pool
  // hands them out. Ties go to the shorter band. (256 channels on 14x14, batch 8, two threads:
  // bands of 9 tile rows, 63 tiles in 64 lanes, ran 9 % faster than bands of 4, 28 tiles in 32
  // lanes, which a cost of 4 per task and no simulation chose.)
  auto choose = [&](int slots) {
    index_t best = -1, band = 1;
    for (index_t r = 1; r <= max_rows; ++r) {
      const index_t tasks = (rows + r - 1) / r;
      const index_t full = covered_lanes(r * tw, vec) + 16;
      const index_t last = covered_lanes((rows - (tasks - 1) * r) * tw, vec) + 16;
      const index_t cost = simulated_run(tasks, slots, (tasks - 1) * full + last,
                                         [&](index_t i) { return i + 1 < tasks ? full : last; });
      if (best < 0 || cost < best) best = cost, band = r;
    }
    return band;
  };
  // Where the one-thread choice still leaves every thread 3 tasks or more, it stands: per task,
  // its bands ran faster than the balance the simulation buys with other heights (with 256
  // channels on 14x14 at batch 8, the two-thread choice of 10 tile rows instead of 8 made product
  // passes of 32 filters instead of 48, each pass reading the band's transformed input again).
  // AVX2, Zen 3, two threads, alternated in one process: that layer 0.87-0.94 of the time in
  // four comparisons; 128 channels on 28x28 at batch 8, 0.91; 64 on 56x56 at batch 8 (12 rows
  // instead of 8), 0.87-1.02. The bands never change the results, only the time.
  plan.band_rows = choose(threads);
  if (threads > 1) {
    const index_t one = choose(1);
    if ((rows + one - 1) / one >= 3 * static_cast<index_t>(threads)) plan.band_rows = one;
  }
  plan.tasks = (rows + plan.band_rows - 1) / plan.band_rows;
  // V and M rows: the band's tiles, then room for the input transform's last vector (8 tiles
  // past a row's end) and the product tiles' reads of a band shorter than a vector.
  plan.t_stride = round_up(plan.band_rows * tw + 16, 16);
  plan.chunk = kMaxMFloats / (xi * plan.t_stride) / 16 * 16;
  if (plan.chunk < 16) plan.chunk = 16;
  if (plan.chunk > c_out16) plan.chunk = c_out16;
  // A strip row holds the patches of round_up(tw, 8) tiles (m_w columns each, alpha_w - m_w more
  // for the last), read 8 tiles at a time by 16-float loads from columns 2i, 2i + 2 (, 2i + 4),
  // or with 4-column tiles by 8-float loads from columns 4i + 4k (k < 8).
  plan.strip_w = round_up(m_w * round_up(tw, 8) + 8, 16);
  // A task's strip holds the input rows under its band (or the band's longest run within one
  // image); then the rows' transforms, alpha_w vectors of round_up(tw, 8) per row.
  const index_t in_rows = 2 * (plan.band_rows - 1) + plan.alpha;
  const index_t strips = round_up(in_rows * plan.strip_w, 16) +
                         round_up(in_rows * plan.alpha_w * round_up(tw, 8), 16);
  plan.v_stride = round_up(c_in * plan.t_stride, 1024) + 16;
  plan.m_stride = round_up(plan.chunk * plan.t_stride, 1024) + 16;
  plan.scratch_floats = strips + xi * plan.v_stride + xi * plan.m_stride;
  plan.shared_floats = 2 * c_in + 16;
  return plan;
}

}  // namespace cnncore
