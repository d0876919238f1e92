// module.cpp - the private extension module cnncore._core.
//
// The Python layer (cnncore/_ops.py) has already normalised every argument, resolved the padding
// and the output sizes with cnncore.shapes, applied the dtype policy and made the arrays
// C-contiguous, aligned and native-endian. Here, with the GIL held, we check again what memory
// safety needs (dtype, contiguity, ndim, extents, channels, params), allocate the output, then
// release the GIL around the kernel. Anything wrong raises ValueError or TypeError; nothing the
// caller passes can make a kernel read or write out of bounds.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstring>
#include <string>

#include "../core/activation.h"
#include "../core/common.h"
#include "../core/conv.h"
#include "../core/cpu.h"
#include "../core/engine.h"
#include "../core/plane_filter.h"
#include "../core/pool.h"

namespace py = pybind11;
using cnncore::index_t;
using Triple = std::array<index_t, 3>;

namespace {

[[noreturn]] void type_error(const std::string& msg) { throw py::type_error(msg); }

// ---- the GIL and Ctrl-C ---------------------------------------------------------------------------
// Python runs its signal handlers on the main thread only, between bytecodes: a kernel running with
// the GIL released would keep a Ctrl-C waiting until it ends. So the core polls (every
// Interruptible::kPollInterval, from the calling thread, between tasks): on the main thread the
// poll takes the GIL and runs the pending handlers; if one raised (KeyboardInterrupt), the kernel
// skips its remaining tasks and run_released() raises that exception.
unsigned long g_main_thread = 0;

bool poll_signals() {
  if (PyThread_get_thread_ident() != g_main_thread) return false;
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

// Runs f() with the GIL released and interruptible; the caller discards the output on a throw.
template <class F>
void run_released(F&& f) {
  cnncore::Interruptible call;
  {
    py::gil_scoped_release release;
    f();
  }
  if (call.interrupted()) {
    if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw py::error_already_set();
  }
}

enum class DType { kF32, kF64 };

bool is_usable(const py::array& a) {
  const int flags = py::detail::array_proxy(a.ptr())->flags;
  return (flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) &&
         (flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_);
}

DType dtype_of(const py::array& a, const char* fname, const char* name) {
  DType t;
  if (py::isinstance<py::array_t<float>>(a))
    t = DType::kF32;
  else if (py::isinstance<py::array_t<double>>(a))
    t = DType::kF64;
  else
    type_error(std::string(fname) + ": " + name + " must be a native float32 or float64 array, got " +
               std::string(py::str(a.dtype())));
  if (!is_usable(a))
    throw py::value_error(std::string(fname) + ": " + name + " must be C-contiguous and aligned");
  return t;
}

void same_dtype(DType a, DType b, const char* fname, const char* name) {
  if (a != b) type_error(std::string(fname) + ": " + name + " must have the same dtype as x");
}

// Allocates y (shape), releases the GIL and runs the convolution; x, w, bias already checked.
py::object run_conv(const cnncore::ConvParams& p, bool f32, const py::array& x, const py::array& w,
                    const py::array* bias, const std::vector<py::ssize_t>& shape,
                    cnncore::ConvImpl impl = cnncore::ConvImpl::kAuto) {
  auto run = [&](auto tag) {
    using T = decltype(tag);
    py::array_t<T> y(shape);
    const T* xp = static_cast<const T*>(x.data());
    const T* wp = static_cast<const T*>(w.data());
    const T* bp = bias ? static_cast<const T*>(bias->data()) : nullptr;
    T* yp = y.mutable_data();
    run_released([&] { cnncore::conv_forward<T>(p, xp, wp, bp, yp, impl); });
    return py::object(std::move(y));
  };
  return f32 ? run(float{}) : run(double{});
}

py::array conv(py::array x, py::array w, py::object bias, Triple stride, Triple pad, Triple dil,
               Triple out, index_t groups, const std::string& impl) {
  const char* fname = "conv";
  const DType t = dtype_of(x, fname, "x");
  same_dtype(t, dtype_of(w, fname, "w"), fname, "w");
  if (x.ndim() != 5) throw py::value_error("conv: x must be 5-D (n, c, d, h, w)");
  if (w.ndim() != 5) throw py::value_error("conv: w must be 5-D (f, c/groups, kd, kh, kw)");
  cnncore::ConvParams p;
  p.n = x.shape(0);
  p.c_in = x.shape(1);
  p.c_out = w.shape(0);
  p.groups = groups;
  for (int d = 0; d < 3; ++d) {
    p.in[d] = x.shape(2 + d);
    p.k[d] = w.shape(2 + d);
    p.out[d] = out[d];
    p.stride[d] = stride[d];
    p.pad[d] = pad[d];
    p.dil[d] = dil[d];
  }
  cnncore::validate(p, fname);
  if (w.shape(1) * groups != p.c_in)
    throw py::value_error("conv: w.shape[1] * groups must equal the input channels");
  py::array b;
  const bool has_bias = !bias.is_none();
  if (has_bias) {
    if (!py::isinstance<py::array>(bias)) type_error("conv: bias must be an array or None");
    b = py::reinterpret_borrow<py::array>(bias);
    same_dtype(t, dtype_of(b, fname, "bias"), fname, "bias");
    if (b.ndim() != 1 || b.shape(0) != p.c_out)
      throw py::value_error("conv: bias must have shape (c_out,)");
  }
  cnncore::ConvImpl which;
  if (impl == "auto")
    which = cnncore::ConvImpl::kAuto;
  else if (impl == "reference")
    which = cnncore::ConvImpl::kReference;
  else if (impl == "gemm")
    which = cnncore::ConvImpl::kGemm;
  else if (impl == "direct")
    which = cnncore::ConvImpl::kDirect;
  else
    throw py::value_error("conv: impl must be 'auto', 'reference', 'direct' or 'gemm', got '" + impl +
                          "'");

  const std::vector<py::ssize_t> shape{p.n, p.c_out, p.out[0], p.out[1], p.out[2]};
  return py::reinterpret_steal<py::array>(
      run_conv(p, t == DType::kF32, x, w, has_bias ? &b : nullptr, shape, which).release());
}

// 0: not a usable array; 1: native float32; 2: native float64 (C-contiguous and aligned). Read
// straight from the array's descriptor: this is on the path of every repeat call.
int fast_kind(py::handle h) {
  if (!py::isinstance<py::array>(h)) return 0;
  const auto* arr = py::detail::array_proxy(h.ptr());
  const int flags = arr->flags;
  if (!(flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) ||
      !(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
    return 0;
  const auto* d = py::detail::array_descriptor_proxy(arr->descr);
  if (d->byteorder == '>') return 0;  // this build is little-endian x86-64 / aarch64
  if (d->type_num == py::detail::npy_api::NPY_FLOAT_) return 1;
  if (d->type_num == py::detail::npy_api::NPY_DOUBLE_) return 2;
  return 0;
}

// The repeat-call path of the Python layer: arguments it has already checked once for these
// shapes and dtypes, packed as int64s in `plan` (stride[3], pad[3], dil[3], out[3], groups,
// ndim of the result, then its shape); arrays of any spatial rank 1-3 read as 3-D. Returns None,
// computing nothing, when an array is not a C-contiguous, aligned, native float32/float64 array
// of one dtype (the Python layer then takes its full path); the memory-safety checks run every
// time.
// Runs a convolution from a checked plan (see conv_fast); None when an array is not usable.
py::object conv_planned(py::handle xh, py::handle wh, py::handle bh, const index_t* plan,
                        py::ssize_t count) {
  const int kind = fast_kind(xh);
  if (kind == 0 || fast_kind(wh) != kind || (!bh.is_none() && fast_kind(bh) != kind))
    return py::none();
  if (count < 14 || count > 24) throw py::value_error("conv: bad plan");
  const index_t out_ndim = plan[13];
  if (out_ndim < 2 || out_ndim > 5 || count != 14 + out_ndim) throw py::value_error("conv: bad plan");
  auto x = py::reinterpret_borrow<py::array>(xh);
  auto w = py::reinterpret_borrow<py::array>(wh);
  const py::ssize_t xnd = x.ndim(), wnd = w.ndim();
  if (wnd < 3 || wnd > 5 || xnd < wnd - 1 || xnd > wnd) throw py::value_error("conv: bad ranks");
  const int spatial = static_cast<int>(wnd - 2);
  const bool batched = xnd == wnd;
  cnncore::ConvParams p;
  p.n = batched ? x.shape(0) : 1;
  p.c_in = x.shape(batched ? 1 : 0);
  p.c_out = w.shape(0);
  p.groups = plan[12];
  for (int d = 0; d < 3; ++d) {
    const int s = d - (3 - spatial);  // spatial axis, or < 0 for a leading unit one
    p.in[d] = s < 0 ? 1 : x.shape(xnd - spatial + s);
    p.k[d] = s < 0 ? 1 : w.shape(2 + s);
    p.stride[d] = plan[d];
    p.pad[d] = plan[3 + d];
    p.dil[d] = plan[6 + d];
    p.out[d] = plan[9 + d];
  }
  cnncore::validate(p, "conv");
  if (w.shape(1) * p.groups != p.c_in) throw py::value_error("conv: channel mismatch");
  py::array b;
  const bool has_bias = !bh.is_none();
  if (has_bias) {
    b = py::reinterpret_borrow<py::array>(bh);
    if (b.ndim() != 1 || b.shape(0) != p.c_out)
      throw py::value_error("conv: bias must have shape (c_out,)");
  }
  std::vector<py::ssize_t> shape(plan + 14, plan + 14 + out_ndim);
  index_t total = 1;
  for (auto e : shape) total *= e;
  if (total != p.n * p.c_out * p.out[0] * p.out[1] * p.out[2])
    throw py::value_error("conv: the plan's shape does not match the output extents");
  return run_conv(p, kind == 1, x, w, has_bias ? &b : nullptr, shape);
}

// The int64s of a plan the Python layer packed (conv_fast's layout) into plan[24]; their count.
py::ssize_t read_plan(const py::bytes& plan_bytes, index_t* plan) {
  char* raw = nullptr;
  py::ssize_t len = 0;
  if (PyBytes_AsStringAndSize(plan_bytes.ptr(), &raw, &len) != 0) throw py::error_already_set();
  const py::ssize_t count = len / static_cast<py::ssize_t>(sizeof(index_t));
  if (count < 14 || count > 24 || len % static_cast<py::ssize_t>(sizeof(index_t)) != 0)
    throw py::value_error("conv: bad plan");
  std::memcpy(plan, raw, static_cast<std::size_t>(len));
  return count;
}

py::object conv_fast(py::handle xh, py::handle wh, py::handle bh, py::bytes plan_bytes) {
  index_t plan[24];
  const py::ssize_t count = read_plan(plan_bytes, plan);
  return conv_planned(xh, wh, bh, plan, count);
}

// ---- repeat calls found by identity -------------------------------------------------------------
// The Python layer remembers here, after its full checks, the plan of a call whose parameters
// (stride, padding, dilation, groups: exact ints, strings and tuples of them) and arrays (exact
// ndarrays, native float32 or float64) it accepted. A later call with the very same parameter
// objects (a literal such as padding=1 or (1, 1) is the same object at every call) and arrays of
// the same shapes and dtype runs straight from the plan: no Python-side work at all. An entry
// holds strong references to its parameter objects, so while it lives no other object can have
// their addresses. Guarded by the GIL (the lookup runs before the kernel releases it).
struct ConvCacheEntry {
  int nd = 0, kind = 0, x_ndim = 0, w_ndim = 0;
  PyObject* params[4] = {nullptr, nullptr, nullptr, nullptr};  // owned references
  py::ssize_t x_shape[5] = {}, w_shape[5] = {};
  py::ssize_t bias_len = -1;  // -1: no bias
  index_t plan[24] = {};
  py::ssize_t count = 0;
};
constexpr int kConvCacheSize = 64;
ConvCacheEntry g_conv_cache[kConvCacheSize];
int g_conv_cache_next = 0;  // the entry the next remember replaces (round robin)

bool is_exact_ndarray(py::handle h) {
  return Py_TYPE(h.ptr()) == py::detail::npy_api::get().PyArray_Type_;
}

bool same_shape(py::handle h, int ndim, const py::ssize_t* shape) {
  const auto* a = py::detail::array_proxy(h.ptr());
  if (a->nd != ndim) return false;
  for (int i = 0; i < ndim; ++i)
    if (a->dimensions[i] != shape[i]) return false;
  return true;
}

// The entry for these arguments, or null. Only exact ndarrays can match.
const ConvCacheEntry* conv_cache_find(int nd, int kind, py::handle xh, py::handle wh,
                                      py::handle bh, const PyObject* const params[4]) {
  if (!is_exact_ndarray(xh) || !is_exact_ndarray(wh)) return nullptr;
  const bool has_bias = !bh.is_none();
  if (has_bias && !is_exact_ndarray(bh)) return nullptr;
  for (const ConvCacheEntry& e : g_conv_cache) {
    if (e.nd != nd || e.kind != kind || e.params[0] != params[0] || e.params[1] != params[1] ||
        e.params[2] != params[2] || e.params[3] != params[3])
      continue;
    if (!same_shape(xh, e.x_ndim, e.x_shape) || !same_shape(wh, e.w_ndim, e.w_shape)) continue;
    if (has_bias != (e.bias_len >= 0)) continue;
    if (has_bias && !same_shape(bh, 1, &e.bias_len)) continue;
    return &e;
  }
  return nullptr;
}

// The remembered call's result, or None (not remembered, or an array not usable as it is).
py::object conv_cached(int nd, py::handle xh, py::handle wh, py::handle bh, py::handle stride,
                       py::handle padding, py::handle dilation, py::handle groups) {
  const PyObject* params[4] = {stride.ptr(), padding.ptr(), dilation.ptr(), groups.ptr()};
  const int kind = fast_kind(xh);
  if (kind == 0) return py::none();
  const ConvCacheEntry* e = conv_cache_find(nd, kind, xh, wh, bh, params);
  if (e == nullptr) return py::none();
  return conv_planned(xh, wh, bh, e->plan, e->count);
}

// Remembers a plan the Python layer built and checked for these arguments (see above).
void conv_remember(int nd, py::handle xh, py::handle wh, py::handle bh, py::handle stride,
                   py::handle padding, py::handle dilation, py::handle groups,
                   py::bytes plan_bytes) {
  const int kind = fast_kind(xh);
  if (kind == 0 || !is_exact_ndarray(xh) || !is_exact_ndarray(wh)) return;
  if (!bh.is_none() && (!is_exact_ndarray(bh) || py::detail::array_proxy(bh.ptr())->nd != 1)) return;
  index_t plan[24];
  const py::ssize_t count = read_plan(plan_bytes, plan);
  const auto* xa = py::detail::array_proxy(xh.ptr());
  const auto* wa = py::detail::array_proxy(wh.ptr());
  if (xa->nd < 2 || xa->nd > 5 || wa->nd < 3 || wa->nd > 5) return;
  PyObject* params[4] = {stride.ptr(), padding.ptr(), dilation.ptr(), groups.ptr()};
  ConvCacheEntry& e = g_conv_cache[g_conv_cache_next];
  g_conv_cache_next = (g_conv_cache_next + 1) % kConvCacheSize;
  PyObject* old[4];
  for (int i = 0; i < 4; ++i) {
    old[i] = e.params[i];
    Py_INCREF(params[i]);
    e.params[i] = params[i];
  }
  e.nd = nd;
  e.kind = kind;
  e.x_ndim = xa->nd;
  e.w_ndim = wa->nd;
  for (int i = 0; i < xa->nd; ++i) e.x_shape[i] = xa->dimensions[i];
  for (int i = 0; i < wa->nd; ++i) e.w_shape[i] = wa->dimensions[i];
  e.bias_len = bh.is_none() ? -1 : py::detail::array_proxy(bh.ptr())->dimensions[0];
  std::memcpy(e.plan, plan, sizeof plan);
  e.count = count;
  for (PyObject* o : old) Py_XDECREF(o);  // last: a destructor may run Python code
}

// conv_cached as a plain CPython function (METH_FASTCALL): on the path of every repeat call, it
// skips pybind11's dispatcher and its argument vectors. Exceptions become Python's as pybind11
// would translate them.
PyObject* conv_cached_raw(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 8) {
    PyErr_SetString(PyExc_TypeError,
                    "conv_cached(nd, x, w, bias, stride, padding, dilation, groups): 8 arguments");
    return nullptr;
  }
  try {
    const long nd = PyLong_AsLong(args[0]);
    if (nd == -1 && PyErr_Occurred()) return nullptr;
    return conv_cached(static_cast<int>(nd), args[1], args[2], args[3], args[4], args[5], args[6],
                       args[7])
        .release()
        .ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

PyMethodDef g_raw_methods[] = {
    {"conv_cached", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&conv_cached_raw)),
     METH_FASTCALL,
     "conv_cached(nd, x, w, bias, stride, padding, dilation, groups): a remembered call's result, "
     "or None"},
    {nullptr, nullptr, 0, nullptr}};

void conv_forget() {
  for (ConvCacheEntry& e : g_conv_cache) {
    e.nd = 0;
    for (PyObject*& o : e.params) {
      PyObject* old = o;
      o = nullptr;
      Py_XDECREF(old);
    }
  }
}

// PoolParams from the bindings' arguments (the core's validate() checks the numbers).
cnncore::PoolParams pool_params(const char* fname, const std::string& kind, index_t planes,
                                Triple in, Triple out, Triple k, Triple stride, Triple pad_before,
                                Triple pad_after, Triple dil, bool count_include_pad) {
  cnncore::PoolParams p;
  if (kind == "max")
    p.kind = cnncore::PoolKind::kMax;
  else if (kind == "avg")
    p.kind = cnncore::PoolKind::kAvg;
  else if (kind == "sum")
    p.kind = cnncore::PoolKind::kSum;
  else
    throw py::value_error(std::string(fname) + ": kind must be 'max', 'avg' or 'sum', got '" +
                          kind + "'");
  p.count_include_pad = count_include_pad;
  p.planes = planes;
  for (int d = 0; d < 3; ++d) {
    p.in[d] = in[d];
    p.out[d] = out[d];
    p.k[d] = k[d];
    p.stride[d] = stride[d];
    p.pad_before[d] = pad_before[d];
    p.pad_after[d] = pad_after[d];
    p.dil[d] = dil[d];
  }
  cnncore::validate(p, fname);
  return p;
}

py::array pool(py::array x, const std::string& kind, Triple k, Triple stride, Triple pad_before,
               Triple pad_after, Triple dil, Triple out, bool count_include_pad) {
  const char* fname = "pool";
  const DType t = dtype_of(x, fname, "x");
  if (x.ndim() != 4) throw py::value_error("pool: x must be 4-D (planes, d, h, w)");
  const Triple in{x.shape(1), x.shape(2), x.shape(3)};
  const cnncore::PoolParams p = pool_params(fname, kind, x.shape(0), in, out, k, stride,
                                            pad_before, pad_after, dil, count_include_pad);
  const std::vector<py::ssize_t> shape{p.planes, p.out[0], p.out[1], p.out[2]};
  auto run = [&](auto tag) {
    using T = decltype(tag);
    py::array_t<T> y(shape);
    const T* xp = static_cast<const T*>(x.data());
    T* yp = y.mutable_data();
    run_released([&] { cnncore::pool_forward<T>(p, xp, yp); });
    return py::array(std::move(y));
  };
  return t == DType::kF32 ? run(float{}) : run(double{});
}

cnncore::ActKind act_kind(const std::string& kind, const char* fname) {
  if (kind == "relu") return cnncore::ActKind::kRelu;
  if (kind == "leaky_relu") return cnncore::ActKind::kLeakyRelu;
  if (kind == "elu") return cnncore::ActKind::kElu;
  throw py::value_error(std::string(fname) + ": kind must be 'relu', 'leaky_relu' or 'elu', got '" +
                        kind + "'");
}

py::array activation(py::array x, const std::string& kind, double param) {
  const char* fname = "activation";
  const DType t = dtype_of(x, fname, "x");
  const cnncore::ActKind k = act_kind(kind, fname);
  std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
  const index_t count = x.size();
  auto run = [&](auto tag) {
    using T = decltype(tag);
    py::array_t<T> y(shape);
    const T* xp = static_cast<const T*>(x.data());
    T* yp = y.mutable_data();
    const T pv = static_cast<T>(param);
    run_released([&] { cnncore::activation_forward<T>(k, pv, xp, yp, count); });
    return py::array(std::move(y));
  };
  return t == DType::kF32 ? run(float{}) : run(double{});
}

// Activation on an array that is already native float32/float64, contiguous and aligned, else
// None (the Python layer then converts).
py::object activation_fast(py::handle xh, const std::string& kind, double param) {
  if (fast_kind(xh) == 0) return py::none();
  return activation(py::reinterpret_borrow<py::array>(xh), kind, param);
}

// filter2d: x (h, w * chan) channels-last rows, kernel (k_h, k_w), centre (k_h // 2, k_w // 2),
// output the input's size, borders by rule.
py::array filter2d(py::array x, py::array k, index_t chan, const std::string& border) {
  const char* fname = "filter2d";
  const DType t = dtype_of(x, fname, "image");
  same_dtype(t, dtype_of(k, fname, "kernel"), fname, "kernel");
  if (x.ndim() != 2) throw py::value_error("filter2d: image must be 2-D (h, w * channels)");
  if (k.ndim() != 2) throw py::value_error("filter2d: kernel must be 2-D");
  if (chan < 1 || x.shape(1) % chan != 0)
    throw py::value_error("filter2d: the row length must be a multiple of the channels");
  cnncore::PlaneFilterParams p;
  if (border == "zeros")
    p.border = cnncore::Border::kZeros;
  else if (border == "reflect")
    p.border = cnncore::Border::kReflect101;
  else if (border == "replicate")
    p.border = cnncore::Border::kReplicate;
  else if (border == "wrap")
    p.border = cnncore::Border::kWrap;
  else
    throw py::value_error("filter2d: border must be 'zeros', 'reflect', 'replicate' or 'wrap'");
  p.chan = chan;
  p.in_h = p.out_h = x.shape(0);
  p.in_w = p.out_w = x.shape(1) / chan;
  p.k_h = k.shape(0);
  p.k_w = k.shape(1);
  p.pad_top = p.k_h / 2;
  p.pad_left = p.k_w / 2;
  cnncore::validate(p, fname);
  const std::vector<py::ssize_t> shape{x.shape(0), x.shape(1)};
  auto run = [&](auto tag) {
    using T = decltype(tag);
    py::array_t<T> y(shape);
    const T* xp = static_cast<const T*>(x.data());
    const T* kp = static_cast<const T*>(k.data());
    T* yp = y.mutable_data();
    run_released([&] { cnncore::plane_filter<T>(p, xp, kp, nullptr, yp); });
    return py::array(std::move(y));
  };
  return t == DType::kF32 ? run(float{}) : run(double{});
}

const float* f32_data(py::handle h, const char* what) {
  if (fast_kind(h) != 1)
    throw py::type_error(std::string("Engine: ") + what +
                         " must be a C-contiguous float32 array");
  return static_cast<const float*>(py::reinterpret_borrow<py::array>(h).data());
}

void engine_add_conv(cnncore::Engine& e, py::handle w, py::handle b, index_t c_in, Triple in,
                     Triple out, Triple stride, Triple pad, Triple dil, index_t groups) {
  cnncore::ConvParams p;
  auto wa = py::reinterpret_borrow<py::array>(w);
  const float* wp = f32_data(w, "w");
  if (wa.ndim() != 5) throw py::value_error("Engine: w must be 5-D");
  p.c_in = c_in;
  p.c_out = wa.shape(0);
  p.groups = groups;
  for (int d = 0; d < 3; ++d) {
    p.in[d] = in[d];
    p.out[d] = out[d];
    p.k[d] = wa.shape(2 + d);
    p.stride[d] = stride[d];
    p.pad[d] = pad[d];
    p.dil[d] = dil[d];
  }
  cnncore::validate(p, "Engine.add_conv");
  if (wa.shape(1) * groups != c_in) throw py::value_error("Engine: channel mismatch");
  const float* bp = nullptr;
  if (!b.is_none()) {
    bp = f32_data(b, "bias");
    if (py::reinterpret_borrow<py::array>(b).size() != p.c_out)
      throw py::value_error("Engine: bias size");
  }
  e.add_conv(p, wp, bp);
}

void engine_add_pool(cnncore::Engine& e, const std::string& kind, index_t channels, Triple in,
                     Triple out, Triple k, Triple stride, Triple pad_before, Triple pad_after,
                     Triple dil, bool count_include_pad) {
  const cnncore::PoolParams p = pool_params("Engine.add_pool", kind, channels, in, out, k, stride,
                                            pad_before, pad_after, dil, count_include_pad);
  e.add_pool(p);
}


py::array engine_run(cnncore::Engine& e, py::handle xh) {
  const float* xp = f32_data(xh, "x");
  auto x = py::reinterpret_borrow<py::array>(xh);
  if (x.ndim() < 1) throw py::value_error("Engine: x must have a batch axis");
  const index_t n = x.shape(0);
  if (n == 0 ? x.size() != 0 : x.size() / n != e.input_size() || x.size() % n != 0)
    throw py::value_error("Engine: x does not have the model's input size");
  py::array_t<float> y(std::vector<py::ssize_t>{n, e.output_size()});
  float* yp = y.mutable_data();
  run_released([&] { e.run(xp, n, yp); });
  return std::move(y);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "cnncore's compiled core (private: use the functions of the cnncore package).";
  g_main_thread = py::module_::import("threading")
                      .attr("main_thread")()
                      .attr("ident")
                      .cast<unsigned long>();
  cnncore::set_interrupt_poll(&poll_signals);
  m.def("conv", &conv, py::arg("x").noconvert(), py::arg("w").noconvert(), py::arg("bias"),
        py::arg("stride"), py::arg("pad"), py::arg("dil"), py::arg("out"), py::arg("groups"),
        py::arg("impl") = "auto");
  m.def("conv_fast", &conv_fast, py::arg("x"), py::arg("w"), py::arg("bias"), py::arg("plan"));
  if (PyModule_AddFunctions(m.ptr(), g_raw_methods) != 0) throw py::error_already_set();
  m.def("conv_remember", &conv_remember, py::arg("nd"), py::arg("x"), py::arg("w"),
        py::arg("bias"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("plan"));
  m.def("conv_forget", &conv_forget);
  m.def("activation_fast", &activation_fast, py::arg("x"), py::arg("kind"),
        py::arg("param") = 0.0);
  m.def("filter2d", &filter2d, py::arg("x").noconvert(), py::arg("k").noconvert(),
        py::arg("chan"), py::arg("border"));
  m.def("pool", &pool, py::arg("x").noconvert(), py::arg("kind"), py::arg("k"),
        py::arg("stride"), py::arg("pad_before"), py::arg("pad_after"), py::arg("dil"),
        py::arg("out"), py::arg("count_include_pad"));
  m.def("activation", &activation, py::arg("x").noconvert(), py::arg("kind"),
        py::arg("param") = 0.0);
  py::class_<cnncore::Engine>(m, "Engine",
                              "A sequential float32 network run in one call (cnncore.nn).")
      .def(py::init([](index_t input_size) {
             if (input_size < 1) throw py::value_error("Engine: input_size must be >= 1");
             auto e = std::make_unique<cnncore::Engine>();
             e->set_input_size(input_size);
             return e;
           }),
           py::arg("input_size"))
      .def("add_conv", &engine_add_conv, py::arg("w"), py::arg("bias"), py::arg("c_in"),
           py::arg("in_"), py::arg("out"), py::arg("stride"), py::arg("pad"), py::arg("dil"),
           py::arg("groups"))
      .def("add_pool", &engine_add_pool, py::arg("kind"), py::arg("channels"), py::arg("in_"),
           py::arg("out"), py::arg("k"), py::arg("stride"), py::arg("pad_before"),
           py::arg("pad_after"), py::arg("dil"), py::arg("count_include_pad"))
      .def("add_activation",
           [](cnncore::Engine& e, const std::string& kind, double param) {
             e.add_activation(act_kind(kind, "Engine.add_activation"), static_cast<float>(param));
           },
           py::arg("kind"), py::arg("param") = 0.0)
      .def("add_dense",
           [](cnncore::Engine& e, py::handle w, py::handle b) {
             auto wa = py::reinterpret_borrow<py::array>(w);
             const float* wp = f32_data(w, "w");
             if (wa.ndim() != 2) throw py::value_error("Engine: dense w must be 2-D");
             const float* bp = nullptr;
             if (!b.is_none()) {
               bp = f32_data(b, "bias");
               if (py::reinterpret_borrow<py::array>(b).size() != wa.shape(0))
                 throw py::value_error("Engine: bias size");
             }
             e.add_dense(wa.shape(1), wa.shape(0), wp, bp);
           },
           py::arg("w"), py::arg("bias"))
      .def("add_softmax", &cnncore::Engine::add_softmax, py::arg("channels"))
      .def_property_readonly("input_size", &cnncore::Engine::input_size)
      .def_property_readonly("output_size", &cnncore::Engine::output_size)
      .def("run", &engine_run, py::arg("x"));
  m.def("get_num_threads", &cnncore::num_threads);
  m.def("set_num_threads", [](int n) { cnncore::set_num_threads(n); }, py::arg("n"));
  m.def("simd_level", []() {
    if (cnncore::use_avx512()) return "avx512";
    return cnncore::simd_level() == cnncore::SimdLevel::kAvx2 ? "avx2" : "generic";
  });
  m.def("simd_levels", []() {
    py::list levels;
    levels.append("generic");
    if (cnncore::simd_best() >= cnncore::SimdLevel::kAvx2) levels.append("avx2");
    if (cnncore::simd_best() >= cnncore::SimdLevel::kAvx512) levels.append("avx512");
    return levels;
  });
  m.def(
      "set_simd_level",
      [](const std::string& level) {
        if (level == "generic")
          cnncore::set_simd_level(cnncore::SimdLevel::kGeneric);
        else if (level == "avx2")
          cnncore::set_simd_level(cnncore::SimdLevel::kAvx2);
        else if (level == "avx512")
          cnncore::set_simd_level(cnncore::SimdLevel::kAvx512);
        else if (level == "best")
          cnncore::set_simd_level(cnncore::simd_best());
        else
          throw py::value_error(
              "set_simd_level: level must be 'generic', 'avx2', 'avx512' or 'best', got '" +
              level + "'");
      },
      py::arg("level"));
  m.def("config", []() {
    py::dict d;
    d["compiler"] = cnncore::compiler_id();
    d["openmp"] = cnncore::have_openmp();
#if defined(CNNCORE_OPENMP_VERSION)
    d["openmp_version"] = CNNCORE_OPENMP_VERSION;
#endif
    d["simd_in_use"] = cnncore::simd_in_use();
    d["cpu_features"] = cnncore::cpu_features();
    return d;
  });
}
