// engine.cpp - see engine.h.
#include "engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <optional>

#include "conv_gemm.h"
#include "cpu.h"

#if defined(CNNCORE_HAVE_OPENMP)
#include <omp.h>
#endif

namespace cnncore {

namespace {

// Softmax over the middle axis of (outer, len, inner), in place.
void softmax_inplace(float* x, index_t outer, index_t len, index_t inner) {
  for (index_t o = 0; o < outer; ++o) {
    float* base = x + o * len * inner;
    for (index_t i = 0; i < inner; ++i) {
      float m = -INFINITY;
      for (index_t c = 0; c < len; ++c) m = std::max(m, base[c * inner + i]);
      float s = 0;
      for (index_t c = 0; c < len; ++c) {
        const float e = std::exp(base[c * inner + i] - m);
        base[c * inner + i] = e;
        s += e;
      }
      for (index_t c = 0; c < len; ++c) base[c * inner + i] /= s;
    }
  }
}

// y[c * ld + r] = x[r * cols + c]: x (rows, cols) transposed into columns [0, rows) of y.
void transpose(const float* x, index_t rows, index_t cols, float* y, index_t ld) {
  for (index_t r0 = 0; r0 < rows; r0 += 32)
    for (index_t c0 = 0; c0 < cols; c0 += 32)
      for (index_t r = r0; r < std::min(rows, r0 + 32); ++r)
        for (index_t c = c0; c < std::min(cols, c0 + 32); ++c) y[c * ld + r] = x[r * cols + c];
}

std::shared_ptr<AlignedFloats> pack_if_gemm(const ConvParams& p, const float* w) {
  if (!conv_gemm_applies(p)) return nullptr;
  auto packed = std::make_shared<AlignedFloats>(conv_gemm_packed_size(p));
  conv_gemm_pack(p, w, packed->data());
  return packed;
}

}  // namespace

void Engine::add_conv(const ConvParams& p, const float* w, const float* bias) {
  Step s;
  s.kind = Kind::kConv;
  s.conv = p;
  s.conv.n = 1;
  validate(s.conv, "Engine.add_conv");
  s.in_size = p.c_in * p.in[0] * p.in[1] * p.in[2];
  s.out_size = p.c_out * p.out[0] * p.out[1] * p.out[2];
  if (s.in_size != cur_size_) fail("Engine.add_conv", "input size does not follow the previous step");
  const index_t wn = p.c_out * (p.c_in / p.groups) * p.k[0] * p.k[1] * p.k[2];
  s.w.assign(w, w + wn);
  if (bias) s.b.assign(bias, bias + p.c_out);
  // Packed for the batch geometry's panels; the packing does not depend on n.
  s.packed = pack_if_gemm(s.conv, s.w.data());
  auto wino = std::make_shared<AlignedFloats>();
  if (conv_winograd_prepack(s.conv, s.w.data(), wino.get())) s.winograd = std::move(wino);
  s.finite = weights_finite(s.conv, s.w.data());
  macs_ += s.out_size * (p.c_in / p.groups) * p.k[0] * p.k[1] * p.k[2];
  cur_size_ = s.out_size;
  steps_.push_back(std::move(s));
}

void Engine::add_pool(const PoolParams& p) {
  Step s;
  s.kind = Kind::kPool;
  s.pool = p;
  validate(p, "Engine.add_pool");
  s.in_size = p.planes * p.in[0] * p.in[1] * p.in[2];
  s.out_size = p.planes * p.out[0] * p.out[1] * p.out[2];
  if (s.in_size != cur_size_) fail("Engine.add_pool", "input size does not follow the previous step");
  cur_size_ = s.out_size;
  steps_.push_back(std::move(s));
}

void Engine::add_activation(ActKind kind, float param) {
  if (!steps_.empty() && !steps_.back().fused &&
      (steps_.back().kind == Kind::kConv || steps_.back().kind == Kind::kDense)) {
    // Fused: applied to each band of the layer's output while it is in cache.
    steps_.back().fused = true;
    steps_.back().act = kind;
    steps_.back().param = param;
    return;
  }
  Step s;
  s.kind = Kind::kAct;
  s.act = kind;
  s.param = param;
  s.in_size = s.out_size = cur_size_;
  steps_.push_back(std::move(s));
}

void Engine::add_dense(index_t in, index_t out, const float* w, const float* bias) {
  if (in < 1 || out < 1) fail("Engine.add_dense", "a dense layer needs at least one input and output");
  if (in != cur_size_) fail("Engine.add_dense", "input size does not follow the previous step");
  Step s;
  s.kind = Kind::kDense;
  s.in_size = in;
  s.out_size = out;
  s.w.assign(w, w + in * out);
  if (bias) s.b.assign(bias, bias + out);
  // As a 1x1 convolution: c_in = in, c_out = out; the pixels (the samples) are set at run time.
  s.conv.c_in = in;
  s.conv.c_out = out;
  s.packed = pack_if_gemm(s.conv, s.w.data());
  s.finite = weights_finite(s.conv, s.w.data());
  macs_ += in * out;
  cur_size_ = out;
  steps_.push_back(std::move(s));
}

void Engine::add_softmax(index_t channels) {
  if (channels < 1 || cur_size_ % channels != 0)
    fail("Engine.add_softmax", "channels must divide the sample size");
  Step s;
  s.kind = Kind::kSoftmax;
  s.in_size = s.out_size = cur_size_;
  s.channels = channels;
  steps_.push_back(std::move(s));
}

namespace {
constexpr index_t kSerialMacs = index_t(1) << 20;
}  // namespace

void Engine::run(const float* x, index_t n, float* y) {
  if (n == 0) return;
  // Batches of at least two samples per thread are split across the threads, each running the
  // whole network on its share with its own buffers and single-threaded kernels: no barrier
  // between layers. Each sample's numbers do not depend on the split.
  const int threads = num_threads();
  if (threads > 1 && n >= 2 * threads) {
    // A task must not throw: the first exception (std::bad_alloc growing a buffer) is kept and
    // rethrown after the call.
    std::exception_ptr error;
    std::mutex error_lock;
    // Slices of at most 64 samples, at least 4 per thread, handed out as threads become free: a
    // thread whose core is busy elsewhere holds the call up by one slice, and a worker that
    // starts late still gets its share (with 2 slices per thread, batch 64 on two threads ran at
    // 24,000 or 33,000 images/s depending on the process; with 4, at 33,000 every time).
    const index_t slice = std::max<index_t>(1, std::min<index_t>(64, n / (4 * threads)));
    const index_t slices = (n + slice - 1) / slice;
    parallel_tasks(slices, threads, [&](index_t i, int) {
      thread_local AlignedFloats bufs[3];
      const index_t lo = i * slice, hi = std::min(n, lo + slice);
      try {
        run_with(x + lo * in_size_, hi - lo, y + lo * cur_size_, bufs);
      } catch (...) {
        std::lock_guard<std::mutex> guard(error_lock);
        if (!error) error = std::current_exception();
      }
    });
    if (error) std::rethrow_exception(error);
    return;
  }
  // A small call shares its layers out kernel by kernel: each kernel cuts the work into tasks of
  // at least 2**19 multiply-adds, so in the lecture's network at batch 1 (3 M MACs) only CONV2
  // runs on two threads (65-70 us per image instead of 77 on two idle cores). The task pool waits
  // only for a worker that took a task, so a busy second core costs little (with OpenMP regions
  // it cost milliseconds: 158 images/s against 11,000). Below 1 M MACs the call stays serial.
  std::optional<SerialScope> serial;
  if (n * macs_ < kSerialMacs) serial.emplace();
  std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
  if (lock.owns_lock()) return run_with(x, n, y, buf_);
  AlignedFloats own[3];
  run_with(x, n, y, own);
}

void Engine::run_with(const float* x, index_t n, float* y, AlignedFloats* bufs) {
  // A network with dense layers runs on groups of at most 64 samples: the dense layers' input,
  // (features, samples), then has rows of at most 256 bytes (rows of 2 or 4 KB, at batch 512
  // or 1024, would fall in the same few cache sets) and stays in L2 with the weights.
  std::size_t first_dense = 0;
  while (first_dense < steps_.size() && steps_[first_dense].kind != Kind::kDense) ++first_dense;
  constexpr index_t kGroup = 64;
  if (first_dense < steps_.size() && n > kGroup) {
    for (index_t g0 = 0; g0 < n; g0 += kGroup) {
      const index_t m = std::min(kGroup, n - g0);
      run_group(x + g0 * in_size_, m, y + g0 * cur_size_, bufs, first_dense);
      Interruptible* call = Interruptible::current();
      if (call && call->interrupted()) return;
    }
    return;
  }
  run_group(x, n, y, bufs, first_dense);
}

void Engine::run_group(const float* x, index_t n, float* y, AlignedFloats* bufs,
                       std::size_t first_dense) {
  // The layers before the first dense one run on chunks of the group small enough that a
  // chunk's activations stay in L2 between layers; each chunk's result goes straight into its
  // columns of the dense layers' transposed (features, n) input, and the dense layers then run
  // on the whole group (their weights are read once per group, not once per chunk).
  index_t stage_sample = 0, stage_out = in_size_, tail_out = 0;
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    if (i < first_dense) {
      stage_sample = std::max(stage_sample, s.in_size + s.out_size);
      stage_out = std::max(stage_out, s.out_size);
    } else {
      tail_out = std::max(tail_out, s.out_size);
    }
  }
  index_t chunk = n;
  if (first_dense > 0 && first_dense < steps_.size()) {
    constexpr index_t kChunkFloats = 512 * 1024 / 4;
    chunk = std::max<index_t>(1, std::min<index_t>(n, kChunkFloats / std::max<index_t>(stage_sample, 1)));
  }
  const index_t ping = std::max(stage_out * chunk, tail_out * n);
  for (int i = 0; i < 2; ++i)
    if (bufs[i].size() < ping) bufs[i].resize(ping);
  bool transposed = false;  // (features, n) layout since the first dense step
  const float* cur;
  if (chunk < n) {
    const index_t k = steps_[first_dense].in_size;
    if (bufs[2].size() < k * n) bufs[2].resize(k * n);
    for (index_t c0 = 0; c0 < n; c0 += chunk) {
      const index_t m = std::min(chunk, n - c0);
      bool t = false;
      const float* out = run_steps(0, first_dense, x + c0 * in_size_, m, bufs, &t);
      if (!out) return;  // interrupted
      transpose(out, m, k, bufs[2].data() + c0, n);
    }
    transposed = true;
    cur = run_steps(first_dense, steps_.size(), bufs[2].data(), n, bufs, &transposed);
  } else {
    cur = run_steps(0, steps_.size(), x, n, bufs, &transposed);
  }
  if (!cur) return;
  if (transposed)
    transpose(cur, cur_size_, n, y, cur_size_);
  else
    std::memcpy(y, cur, sizeof(float) * cur_size_ * n);
}

const float* Engine::run_steps(std::size_t s0, std::size_t s1, const float* x, index_t n,
                               AlignedFloats* bufs, bool* transposed) {
  const float* cur = x;
  int which = 0;
  auto next = [&]() {
    float* out = bufs[which].data();
    which ^= 1;
    if (out == cur) {  // never write over the input
      out = bufs[which].data();
      which ^= 1;
    }
    return out;
  };
  const bool simd = simd_level() == SimdLevel::kAvx2;
  Interruptible* call = Interruptible::current();
  for (std::size_t i = s0; i < s1; ++i) {
    const Step& s = steps_[i];
    if (call && call->should_stop()) return nullptr;  // interrupted: the caller discards y
    const FusedActivation fused{s.act, s.param};
    switch (s.kind) {
      case Kind::kConv: {
        ConvParams p = s.conv;
        p.n = n;
        float* out = next();
        conv_forward_prepacked(p, cur, s.w.data(), simd && s.packed ? s.packed->data() : nullptr,
                               s.b.empty() ? nullptr : s.b.data(), out, s.fused ? &fused : nullptr, s.finite,
                               simd && s.winograd ? s.winograd->data() : nullptr);
        cur = out;
        break;
      }
      case Kind::kPool: {
        PoolParams p = s.pool;
        p.planes = s.pool.planes * n;
        float* out = next();
        pool_forward(p, cur, out);
        cur = out;
        break;
      }
      case Kind::kAct: {
        float* out = cur == x ? next() : const_cast<float*>(cur);
        activation_forward(s.act, s.param, cur, out, s.in_size * n);
        cur = out;
        break;
      }
      case Kind::kDense: {
        if (!*transposed) {
          float* t = next();
          transpose(cur, n, s.in_size, t, n);
          cur = t;
          *transposed = true;
        }
        ConvParams p = s.conv;
        p.in[2] = p.out[2] = n;  // one image, n pixels (in, out >= 1 checked by add_dense)
        float* out = next();
        conv_forward_prepacked(p, cur, s.w.data(), simd && s.packed ? s.packed->data() : nullptr,
                               s.b.empty() ? nullptr : s.b.data(), out, s.fused ? &fused : nullptr, s.finite);
        cur = out;
        break;
      }
      case Kind::kSoftmax: {
        float* out = cur == x ? next() : const_cast<float*>(cur);
        if (out != cur) std::memcpy(out, cur, sizeof(float) * s.in_size * n);
        if (*transposed)
          softmax_inplace(out, 1, s.in_size, n);
        else
          softmax_inplace(out, n, s.channels, s.in_size / s.channels);
        cur = out;
        break;
      }
    }
  }
  return cur;
}

}  // namespace cnncore
