// Node-API binding to oneDNN's convolution primitives, for the `onednn` backend (see
// src/backend/onednn.ts). It computes on float32 arrays the caller hands in, which are views of the
// wasm backend's heap: no copy in or out, and no memory of its own but oneDNN's scratchpad and the
// primitive cache below.
//
//   conv(kind, a, b, out, params)   kind 0: forward            a = x,  b = w,  out = y
//                                   kind 1: backward data      a = dy, b = w,  out = dx
//                                   kind 2: backward weights   a = x,  b = dy, out = dw
//   params = [n, h, w, ci, kh, kw, co, oh, ow, strideH, strideW, dilationH, dilationW,
//             padTop, padBottom, padLeft, padRight]        (tfjs's conventions: dilation 1 = none)
//   version()
//
// Each convolution runs on the thread that calls it, alone: more cores are used by more engines
// (`--workers`, one per worker thread), not by OpenMP threads inside one: with 2 OpenMP threads in
// one engine, Debian's oneDNN 2.6 corrupted the process heap in about one run in four of
// test/backend/wasm_kernels.test.ts; with one thread per engine it did not, in 10 runs. The cause
// was not found.
//
// Activations are NHWC and filters HWIO, as in tfjs. oneDNN picks the filter layout its fastest
// implementation wants (format_tag::any); the filter (or its gradient) is reordered to or from HWIO
// around the call. Primitives are built once per shape and kept.
#include <node_api.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

constexpr int kParams = 17;

struct Conv {
  dnnl::primitive prim;
  memory::desc weights;  // the layout the primitive wants for the filter (or its gradient)
  bool reorderWeights;   // whether that differs from HWIO
  dnnl::reorder toPrim;  // HWIO -> primitive layout (kinds 0, 1), or back (kind 2)
  memory::desc a, b, out;
};

// Per thread: a process may hold several tfjs engines, one per worker thread (data-parallel
// replicas), each calling in from its own thread. Each thread has its own primitives, so no
// primitive or its scratchpad is ever used by two threads at once, and no lock is needed.
dnnl::engine &engine() {
  thread_local dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream &stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

thread_local std::unordered_map<std::string, std::unique_ptr<Conv>> cache;

std::unique_ptr<Conv> build(int kind, const int *p) {
  const memory::dim n = p[0], h = p[1], w = p[2], ci = p[3], kh = p[4], kw = p[5], co = p[6], oh = p[7],
                    ow = p[8];
  const memory::dims strides{p[9], p[10]}, dilates{p[11] - 1, p[12] - 1}, padL{p[13], p[15]},
      padR{p[14], p[16]};
  const memory::desc src({n, ci, h, w}, dt::f32, tag::nhwc);
  const memory::desc dst({n, co, oh, ow}, dt::f32, tag::nhwc);
  const memory::desc userW({co, ci, kh, kw}, dt::f32, tag::hwio);
  const memory::desc anyW({co, ci, kh, kw}, dt::f32, tag::any);
  auto &eng = engine();
  const auto algo = dnnl::algorithm::convolution_direct;
  dnnl::convolution_forward::primitive_desc fwd(
      dnnl::convolution_forward::desc(kind == 0 ? dnnl::prop_kind::forward_inference : dnnl::prop_kind::forward_training,
                                      algo, src, anyW, dst, strides, dilates, padL, padR),
      eng);
  auto c = std::make_unique<Conv>();
  if (kind == 0) {
    c->prim = dnnl::convolution_forward(fwd);
    c->weights = fwd.weights_desc();
    c->a = src, c->b = userW, c->out = dst;
  } else if (kind == 1) {
    dnnl::convolution_backward_data::primitive_desc bwd(
        dnnl::convolution_backward_data::desc(algo, src, anyW, dst, strides, dilates, padL, padR), eng, fwd);
    c->prim = dnnl::convolution_backward_data(bwd);
    c->weights = bwd.weights_desc();
    c->a = dst, c->b = userW, c->out = src;
  } else {
    dnnl::convolution_backward_weights::primitive_desc bwd(
        dnnl::convolution_backward_weights::desc(algo, src, anyW, dst, strides, dilates, padL, padR), eng, fwd);
    c->prim = dnnl::convolution_backward_weights(bwd);
    c->weights = bwd.diff_weights_desc();
    c->a = src, c->b = dst, c->out = userW;
  }
  c->reorderWeights = c->weights != userW;
  if (c->reorderWeights) {
    c->toPrim = kind == 2 ? dnnl::reorder(dnnl::reorder::primitive_desc(eng, c->weights, eng, userW))
                          : dnnl::reorder(dnnl::reorder::primitive_desc(eng, userW, eng, c->weights));
  }
  return c;
}

void run(int kind, const int *p, float *a, float *b, float *out) {
  thread_local const bool alone = (omp_set_num_threads(1), true);
  (void)alone;
  std::string key(reinterpret_cast<const char *>(p), sizeof(int) * kParams);
  key.push_back(static_cast<char>(kind));
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, build(kind, p)).first;
  Conv &c = *it->second;
  auto &eng = engine();
  auto &s = stream();
  memory ma(c.a, eng, a), mout(c.out, eng, out);
  if (kind == 2) {
    memory mb(c.b, eng, b);
    if (c.reorderWeights) {
      memory tmp(c.weights, eng);
      c.prim.execute(s, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_DIFF_DST, mb}, {DNNL_ARG_DIFF_WEIGHTS, tmp}});
      c.toPrim.execute(s, tmp, mout);
    } else {
      c.prim.execute(s, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_DIFF_DST, mb}, {DNNL_ARG_DIFF_WEIGHTS, mout}});
    }
  } else {
    memory userW(c.b, eng, b);
    memory mw = userW;
    if (c.reorderWeights) {
      mw = memory(c.weights, eng);
      c.toPrim.execute(s, userW, mw);
    }
    if (kind == 0) {
      c.prim.execute(s, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, mout}});
    } else {
      c.prim.execute(s, {{DNNL_ARG_DIFF_DST, ma}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DIFF_SRC, mout}});
    }
  }
  s.wait();
}

napi_value fail(napi_env env, const std::string &msg) {
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

bool floatArray(napi_env env, napi_value v, float **data, size_t *length) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is) return false;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void *ptr;
  if (napi_get_typedarray_info(env, v, &type, length, &ptr, &buffer, &offset) != napi_ok) return false;
  if (type != napi_float32_array) return false;
  *data = static_cast<float *>(ptr);
  return true;
}

napi_value Conv(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 5) return fail(env, "onednn conv: expected (kind, a, b, out, params)");
  int32_t kind;
  if (napi_get_value_int32(env, argv[0], &kind) != napi_ok || kind < 0 || kind > 2)
    return fail(env, "onednn conv: kind must be 0 (forward), 1 (backward data) or 2 (backward weights)");
  float *ptr[3];
  size_t len[3];
  for (int i = 0; i < 3; i++) {
    if (!floatArray(env, argv[i + 1], &ptr[i], &len[i]))
      return fail(env, "onednn conv: argument " + std::to_string(i + 2) + " must be a Float32Array");
  }
  bool isArray = false;
  napi_is_typedarray(env, argv[4], &isArray);
  napi_typedarray_type ptype;
  size_t plen = 0, poff;
  void *pdata = nullptr;
  napi_value pbuf;
  if (!isArray || napi_get_typedarray_info(env, argv[4], &ptype, &plen, &pdata, &pbuf, &poff) != napi_ok ||
      ptype != napi_int32_array || plen != kParams)
    return fail(env, "onednn conv: params must be an Int32Array of " + std::to_string(kParams));
  int p[kParams];
  std::memcpy(p, pdata, sizeof p);
  const size_t x = size_t(p[0]) * p[1] * p[2] * p[3], wt = size_t(p[4]) * p[5] * p[3] * p[6],
               y = size_t(p[0]) * p[7] * p[8] * p[6];
  const size_t want[3][3] = {{x, wt, y}, {y, wt, x}, {x, y, wt}};
  for (int i = 0; i < 3; i++) {
    if (len[i] < want[kind][i])
      return fail(env, "onednn conv: argument " + std::to_string(i + 2) + " holds " + std::to_string(len[i]) +
                           " floats, the shape needs " + std::to_string(want[kind][i]));
  }
  try {
    run(kind, p, ptr[0], ptr[1], ptr[2]);
  } catch (const dnnl::error &e) {
    return fail(env, std::string("onednn conv: ") + e.what());
  } catch (const std::exception &e) {
    return fail(env, std::string("onednn conv: ") + e.what());
  }
  return nullptr;
}

napi_value Version(napi_env env, napi_callback_info) {
  const dnnl_version_t *v = dnnl_version();
  std::string s = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
                  " (" + v->hash + ", cpu runtime " + (v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other") + ")";
  napi_value out;
  napi_create_string_utf8(env, s.c_str(), s.size(), &out);
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"conv", nullptr, Conv, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"version", nullptr, Version, nullptr, nullptr, nullptr, napi_default_method, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
