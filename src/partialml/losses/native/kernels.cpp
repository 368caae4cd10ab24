// partialml's optional native loss kernels: LL-R / LL-Ct / LL-Cp, Hill and SPLC for float32 / float64
// logits on the CPU, loss and logit gradient in one vectorized pass (ATen's at::vec, SLEEF exp / log1p).
//
// Built on the user's machine by `partialml kernels build` (torch.utils.cpp_extension); the Python side
// (partialml/losses/native/__init__.py) calls these only for contiguous CPU float32 / float64 logits and
// int8 targets, and checks them against the pure PyTorch paths in tests/losses/test_native.py.
//
// Every loss here is a focal term of an argument a per entry:
//     L(a) = sigmoid(a)^gamma * softplus(a),
//     dL/da = sigmoid(a)^gamma * (gamma * (1 - sigmoid(a)) * softplus(a) + sigmoid(a)),
// with dL/dz = c * dL/da for a per-entry coefficient c (LL: gamma = 0, so L = softplus(a)), except
// Hill's negatives, (lamb - p) p^2 with p = sigmoid(z). One exp(-|a|) and one log1p per entry give
// softplus and both sigmoids: with e = exp(-|a|), r = 1 / (1 + e), sigmoid(a) = r for a >= 0 and e * r
// otherwise, 1 - sigmoid(a) the other one.

#include <torch/extension.h>

#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <limits>
#include <vector>

namespace {

template <typename scalar_t>
using Vec = at::vec::Vectorized<scalar_t>;

// Per-thread scratch buffers: fresh batch-sized memory costs more than a pass of arithmetic.
// (Accessed through these functions, once per call: a thread_local named inside a loop of a shared
// library costs a TLS lookup per access.)
template <typename scalar_t>
std::vector<scalar_t>& scratch(int which) {
  thread_local std::vector<scalar_t> buffers[2];
  return buffers[which];
}

std::vector<int64_t>& chosen_scratch() {
  thread_local std::vector<int64_t> chosen;
  return chosen;
}

template <typename scalar_t>
std::vector<std::pair<scalar_t, int64_t>>& heap_scratch() {
  thread_local std::vector<std::pair<scalar_t, int64_t>> heap;
  return heap;
}

// 0: gamma == 0, 1: gamma == 1, 2: gamma == 2, 3: any other gamma (pow).
int gamma_kind(double gamma) {
  if (gamma == 0.0) return 0;
  if (gamma == 1.0) return 1;
  if (gamma == 2.0) return 2;
  return 3;
}

template <typename scalar_t>
inline Vec<scalar_t> power(const Vec<scalar_t>& x, int kind, const Vec<scalar_t>& gamma) {
  switch (kind) {
    case 0: return Vec<scalar_t>(scalar_t(1));
    case 1: return x;
    case 2: return x * x;
    default: return x.pow(gamma);
  }
}

// Sums of per-lane partial sums, flushed to double every 128 vectors (the loss is summed in double).
template <typename scalar_t>
struct Accumulator {
  Vec<scalar_t> lanes{scalar_t(0)};
  double total = 0.0;
  int64_t count = 0;
  void add(const Vec<scalar_t>& v) {
    lanes = lanes + v;
    if (++count == 128) flush();
  }
  void add_partial(const Vec<scalar_t>& v, int64_t n) {
    scalar_t buf[Vec<scalar_t>::size()];
    v.store(buf, n);
    for (int64_t j = 0; j < n; ++j) total += buf[j];
  }
  void flush() {
    scalar_t buf[Vec<scalar_t>::size()];
    lanes.store(buf);
    for (int64_t j = 0; j < Vec<scalar_t>::size(); ++j) total += buf[j];
    lanes = Vec<scalar_t>(scalar_t(0));
    count = 0;
  }
};

// L(a) and c * dL/da * scale over the prepared arguments a and coefficients c; returns sum L.
template <typename scalar_t>
double focal_pass(const scalar_t* a, const scalar_t* c, scalar_t* grad, int64_t n, double gamma,
                  double scale) {
  using V = Vec<scalar_t>;
  const int kind = gamma_kind(gamma);
  const V zero(scalar_t(0)), one(scalar_t(1)), g(static_cast<scalar_t>(gamma)),
      s(static_cast<scalar_t>(scale));
  Accumulator<scalar_t> acc;
  const int64_t width = V::size();
  for (int64_t i = 0; i < n; i += width) {
    const int64_t m = std::min(width, n - i);
    const V av = m == width ? V::loadu(a + i) : V::loadu(a + i, m);
    const V e = av.abs().neg().exp();
    const V sp = at::vec::maximum(av, zero) + e.log1p();
    const V r = (one + e).reciprocal();
    const V er = e * r;
    const V positive = av >= zero;
    const V sig = V::blendv(er, r, positive);
    const V sg = power(sig, kind, g);
    const V loss = sg * sp;
    if (m == width) acc.add(loss); else acc.add_partial(loss, m);
    if (grad != nullptr) {
      const V cv = m == width ? V::loadu(c + i) : V::loadu(c + i, m);
      V dlda = sig;
      if (kind != 0) dlda = sg * (g * V::blendv(r, er, positive) * sp + sig);
      const V out = dlda * cv * s;
      if (m == width) out.store(grad + i); else out.store(grad + i, m);
    }
  }
  acc.flush();
  return acc.total;
}

void check_inputs(const at::Tensor& z, const at::Tensor& t) {
  TORCH_CHECK(z.device().is_cpu() && t.device().is_cpu(), "partialml native kernels: CPU tensors only");
  TORCH_CHECK(z.scalar_type() == at::kFloat || z.scalar_type() == at::kDouble,
              "partialml native kernels: float32 / float64 logits only");
  TORCH_CHECK(t.scalar_type() == at::kChar, "partialml native kernels: int8 targets only");
  TORCH_CHECK(z.sizes() == t.sizes(), "partialml native kernels: logits and targets differ in shape");
}

at::Tensor scalar_result(double value, const at::Tensor& like) {
  return at::scalar_tensor(value, like.options());
}

// Into chosen: the indices of the k unknown entries (t < 0) with the largest logits (NaN ranks first, as
// in torch.topk; among equal logits which one wins is unspecified); all unknown entries if there are at
// most k. One scan with a min-heap of the k largest so far: most entries are turned away by one
// comparison with the heap's top (about k log(n / k) insertions on unordered logits, n log k at worst).
template <typename scalar_t>
void select_largest(const scalar_t* z, const int8_t* t, int64_t n, int64_t k, std::vector<int64_t>& chosen,
                    std::vector<std::pair<scalar_t, int64_t>>& heap) {
  chosen.clear();
  heap.clear();
  if (k <= 0) return;
  using Entry = std::pair<scalar_t, int64_t>;
  const auto smaller_on_top = [](const Entry& x, const Entry& y) { return x.first > y.first; };
  const size_t limit = static_cast<size_t>(k);
  for (int64_t i = 0; i < n; ++i) {
    if (t[i] >= 0) continue;
    const scalar_t v = std::isnan(z[i]) ? std::numeric_limits<scalar_t>::infinity() : z[i];
    if (heap.size() < limit) {
      heap.emplace_back(v, i);
      std::push_heap(heap.begin(), heap.end(), smaller_on_top);
    } else if (v > heap.front().first) {
      std::pop_heap(heap.begin(), heap.end(), smaller_on_top);
      heap.back() = Entry(v, i);
      std::push_heap(heap.begin(), heap.end(), smaller_on_top);
    }
  }
  chosen.reserve(heap.size());
  for (const Entry& entry : heap) chosen.push_back(entry.second);
}

// LL-R / LL-Ct / LL-Cp: AN (a = -s z, s = +1 on observed positives, -1 elsewhere) with the chosen entries
// switched to s = +1 (correct) or rejected (a = -1e4: loss and gradient exactly 0).
template <typename scalar_t>
std::vector<at::Tensor> large_loss_impl(const at::Tensor& z, const at::Tensor& t, int64_t k, bool correct,
                                        const c10::optional<at::Tensor>& given, double divisor,
                                        bool need_grad) {
  const int64_t n = z.numel();
  const scalar_t* zp = z.data_ptr<scalar_t>();
  const int8_t* tp = t.data_ptr<int8_t>();
  std::vector<int64_t>& chosen = chosen_scratch();
  if (given.has_value()) {
    const at::Tensor indices = given->to(at::kLong).contiguous();
    const int64_t* ip = indices.data_ptr<int64_t>();
    chosen.assign(ip, ip + indices.numel());
    for (int64_t i : chosen) TORCH_CHECK(0 <= i && i < n, "partialml native kernels: chosen index out of range");
  } else {
    select_largest(zp, tp, n, k, chosen, heap_scratch<scalar_t>());
  }
  auto& a = scratch<scalar_t>(0);
  auto& c = scratch<scalar_t>(1);
  a.resize(static_cast<size_t>(n));
  c.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const scalar_t s = tp[i] == 1 ? scalar_t(1) : scalar_t(-1);
    a[i] = -s * zp[i];
    c[i] = -s;
  }
  for (int64_t i : chosen) {
    if (correct) {
      a[i] = -zp[i];
      c[i] = scalar_t(-1);
    } else {
      a[i] = scalar_t(-1e4);
    }
  }
  at::Tensor grad = need_grad ? at::empty_like(z) : at::Tensor();
  const double total = focal_pass<scalar_t>(a.data(), c.data(), need_grad ? grad.data_ptr<scalar_t>() : nullptr,
                                            n, 0.0, 1.0 / divisor);
  at::Tensor mask = at::zeros(z.sizes(), z.options().dtype(at::kBool));
  bool* mp = mask.data_ptr<bool>();
  for (int64_t i : chosen) mp[i] = true;
  return {scalar_result(total / divisor, z), grad, mask};
}

std::vector<at::Tensor> large_loss(const at::Tensor& logits, const at::Tensor& targets, int64_t k, bool correct,
                                   const c10::optional<at::Tensor>& given, double divisor, bool need_grad) {
  check_inputs(logits, targets);
  const at::Tensor z = logits.contiguous(), t = targets.contiguous();
  return AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "partialml_large_loss", [&] {
    return large_loss_impl<scalar_t>(z, t, k, correct, given, divisor, need_grad);
  });
}

// SPLC: s = +1 on observed positives and pseudo-positives (unknown with z > threshold), -1 elsewhere;
// a = -s z + margin [observed positive]; dL/dz = -s dL/da.
template <typename scalar_t>
std::vector<at::Tensor> splc_impl(const at::Tensor& z, const at::Tensor& t, double margin, double gamma,
                                  const c10::optional<double>& threshold, double divisor, bool need_grad) {
  const int64_t n = z.numel();
  const scalar_t* zp = z.data_ptr<scalar_t>();
  const int8_t* tp = t.data_ptr<int8_t>();
  auto& a = scratch<scalar_t>(0);
  auto& c = scratch<scalar_t>(1);
  a.resize(static_cast<size_t>(n));
  c.resize(static_cast<size_t>(n));
  const scalar_t m = static_cast<scalar_t>(margin);
  const bool pseudo = threshold.has_value();
  const scalar_t tau = pseudo ? static_cast<scalar_t>(*threshold) : scalar_t(0);
  for (int64_t i = 0; i < n; ++i) {
    const bool observed_positive = tp[i] == 1;
    const bool positive = observed_positive || (pseudo && tp[i] < 0 && zp[i] > tau);
    const scalar_t s = positive ? scalar_t(1) : scalar_t(-1);
    a[i] = -s * zp[i] + (observed_positive ? m : scalar_t(0));
    c[i] = -s;
  }
  at::Tensor grad = need_grad ? at::empty_like(z) : at::Tensor();
  const double total = focal_pass<scalar_t>(a.data(), c.data(), need_grad ? grad.data_ptr<scalar_t>() : nullptr,
                                            n, gamma, 1.0 / divisor);
  return {scalar_result(total / divisor, z), grad};
}

std::vector<at::Tensor> splc(const at::Tensor& logits, const at::Tensor& targets, double margin, double gamma,
                             const c10::optional<double>& threshold, double divisor, bool need_grad) {
  check_inputs(logits, targets);
  const at::Tensor z = logits.contiguous(), t = targets.contiguous();
  return AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "partialml_splc", [&] {
    return splc_impl<scalar_t>(z, t, margin, gamma, threshold, divisor, need_grad);
  });
}

// Hill: observed positives the focal term of a = margin - z (dL/dz = -dL/da); every other entry
// (lamb - p) p^2 with p = sigmoid(z), dL/dz = (2 lamb - 3 p) p^2 (1 - p). With u = a on positives and
// z elsewhere, sigmoid(u) is p_m on positives and p elsewhere: one exp and one log1p per entry.
template <typename scalar_t>
std::vector<at::Tensor> hill_impl(const at::Tensor& z, const at::Tensor& t, double margin, double gamma,
                                  double lamb, double divisor, bool need_grad) {
  using V = Vec<scalar_t>;
  const int64_t n = z.numel();
  const scalar_t* zp = z.data_ptr<scalar_t>();
  const int8_t* tp = t.data_ptr<int8_t>();
  auto& u = scratch<scalar_t>(0);
  auto& pos = scratch<scalar_t>(1);
  u.resize(static_cast<size_t>(n));
  pos.resize(static_cast<size_t>(n));
  const scalar_t m = static_cast<scalar_t>(margin);
  for (int64_t i = 0; i < n; ++i) {
    const bool positive = tp[i] == 1;
    u[i] = positive ? m - zp[i] : zp[i];
    pos[i] = positive ? scalar_t(1) : scalar_t(0);
  }
  at::Tensor grad = need_grad ? at::empty_like(z) : at::Tensor();
  scalar_t* gp = need_grad ? grad.data_ptr<scalar_t>() : nullptr;
  const int kind = gamma_kind(gamma);
  const V zero(scalar_t(0)), one(scalar_t(1)), g(static_cast<scalar_t>(gamma)),
      l(static_cast<scalar_t>(lamb)), two_l(static_cast<scalar_t>(2.0 * lamb)), three(scalar_t(3)),
      s(static_cast<scalar_t>(1.0 / divisor));
  Accumulator<scalar_t> acc;
  const int64_t width = V::size();
  for (int64_t i = 0; i < n; i += width) {
    const int64_t w = std::min(width, n - i);
    const V uv = w == width ? V::loadu(u.data() + i) : V::loadu(u.data() + i, w);
    const V is_pos = (w == width ? V::loadu(pos.data() + i) : V::loadu(pos.data() + i, w)) > zero;
    const V e = uv.abs().neg().exp();
    const V r = (one + e).reciprocal();
    const V er = e * r;
    const V nonneg = uv >= zero;
    const V sig = V::blendv(er, r, nonneg);   // sigmoid(u)
    const V rest = V::blendv(r, er, nonneg);  // 1 - sigmoid(u)
    const V sp = at::vec::maximum(uv, zero) + e.log1p();
    const V sg = power(sig, kind, g);
    const V p2 = sig * sig;
    const V loss = V::blendv((l - sig) * p2, sg * sp, is_pos);
    if (w == width) acc.add(loss); else acc.add_partial(loss, w);
    if (gp != nullptr) {
      const V dlda = kind == 0 ? sig : sg * (g * rest * sp + sig);
      const V negative_grad = (two_l - three * sig) * p2 * rest;
      const V out = V::blendv(negative_grad, dlda.neg(), is_pos) * s;
      if (w == width) out.store(gp + i); else out.store(gp + i, w);
    }
  }
  acc.flush();
  return {scalar_result(acc.total / divisor, z), grad};
}

std::vector<at::Tensor> hill(const at::Tensor& logits, const at::Tensor& targets, double margin, double gamma,
                             double lamb, double divisor, bool need_grad) {
  check_inputs(logits, targets);
  const at::Tensor z = logits.contiguous(), t = targets.contiguous();
  return AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "partialml_hill", [&] {
    return hill_impl<scalar_t>(z, t, margin, gamma, lamb, divisor, need_grad);
  });
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "partialml native loss kernels (LL, Hill, SPLC)";
  m.def("large_loss", &large_loss, "LL-R / LL-Ct / LL-Cp: (loss, grad, chosen (B, C) bool mask)");
  m.def("splc", &splc, "SPLC: (loss, grad)");
  m.def("hill", &hill, "Hill: (loss, grad)");
}
