// partialml's optional native loss kernels: LL-R / LL-Ct / LL-Cp, Hill and SPLC for float32 / float64
// logits on the CPU, loss and logit gradient in one vectorized pass (ATen's at::vec, SLEEF exp / log1p).
//
// Built on the user's machine by `partialml kernels build` (torch.utils.cpp_extension); the Python side
// (partialml/losses/native/__init__.py) calls these only for CPU float32 / float64 logits and int8
// targets, and checks them against the pure PyTorch paths in tests/losses/test_native.py.
//
// Every loss here is a focal term of an argument a per entry:
//     L(a) = sigmoid(a)^gamma * softplus(a),
//     dL/da = sigmoid(a)^gamma * (gamma * (1 - sigmoid(a)) * softplus(a) + sigmoid(a)),
// with dL/dz = c * dL/da for a per-entry coefficient c (LL: gamma = 0, so L = softplus(a)), except
// Hill's negatives, (lamb - p) p^2 with p = sigmoid(z). One exp(-|a|) and one log1p per entry give
// softplus and both sigmoids: with e = exp(-|a|), r = 1 / (1 + e), sigmoid(a) = r for a >= 0 and e * r
// otherwise, 1 - sigmoid(a) the other one.
//
// The entries are processed in blocks of kBlock: a block's arguments are prepared into two small
// buffers on the stack (no batch-sized scratch memory), then one vectorized pass writes its gradient and
// sums its loss in double. Blocks run in parallel (at::parallel_for, torch's intra-op threads) from
// kParallelBlocks blocks on; the loss is the sum of the block sums in block order, so the result does
// not depend on the number of threads.

#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace {

template <typename scalar_t>
using Vec = at::vec::Vectorized<scalar_t>;

constexpr int64_t kBlock = 1024;          // entries per block (a multiple of every vector width)
constexpr int64_t kParallelBlocks = 32;   // at::parallel_for grain, in blocks (32,768 entries)

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

template <typename scalar_t>
inline Vec<scalar_t> load(const scalar_t* p, int64_t count) {
  return count == Vec<scalar_t>::size() ? Vec<scalar_t>::loadu(p) : Vec<scalar_t>::loadu(p, count);
}

template <typename scalar_t>
inline void store(const Vec<scalar_t>& v, scalar_t* p, int64_t count) {
  if (count == Vec<scalar_t>::size()) v.store(p); else v.store(p, count);
}

// Sum of the first `count` lanes of v, in double.
template <typename scalar_t>
inline double lane_sum(const Vec<scalar_t>& v, int64_t count) {
  scalar_t buf[Vec<scalar_t>::size()];
  v.store(buf);
  double total = 0.0;
  for (int64_t j = 0; j < count; ++j) total += buf[j];
  return total;
}

// Runs block(first, count) -> double over the blocks of n entries, in parallel from kParallelBlocks
// blocks on; returns the sum of the block results in block order.
template <typename BlockFn>
double sum_over_blocks(int64_t n, const BlockFn& block) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> sums(static_cast<size_t>(blocks), 0.0);
  at::parallel_for(0, blocks, kParallelBlocks, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t first = b * kBlock;
      sums[static_cast<size_t>(b)] = block(first, std::min(kBlock, n - first));
    }
  });
  double total = 0.0;
  for (double s : sums) total += s;
  return total;
}

// From one exp(-|a|) and one log1p: softplus(a), sigmoid(a) and 1 - sigmoid(a), each without cancellation.
template <typename scalar_t>
struct Logistic {
  Vec<scalar_t> softplus, sigmoid, complement;
  explicit Logistic(const Vec<scalar_t>& a) {
    using V = Vec<scalar_t>;
    const V zero(scalar_t(0)), one(scalar_t(1));
    const V e = a.abs().neg().exp();
    const V r = (one + e).reciprocal();
    const V er = e * r;
    const V nonneg = a >= zero;
    sigmoid = V::blendv(er, r, nonneg);
    complement = V::blendv(r, er, nonneg);
    softplus = at::vec::maximum(a, zero) + e.log1p();
  }
};

// Over one block: L(a) summed, and c * dL/da * scale written to grad (if not null).
template <typename scalar_t>
double focal_block(const scalar_t* a, const scalar_t* c, scalar_t* grad, int64_t count, int kind,
                   scalar_t gamma, scalar_t scale) {
  using V = Vec<scalar_t>;
  const V g(gamma), s(scale);
  V lanes(scalar_t(0));
  double partial = 0.0;
  const int64_t width = V::size();
  for (int64_t i = 0; i < count; i += width) {
    const int64_t m = std::min(width, count - i);
    const Logistic<scalar_t> f(load(a + i, m));
    const V sg = power(f.sigmoid, kind, g);
    const V loss = sg * f.softplus;
    if (m == width) lanes = lanes + loss; else partial += lane_sum(loss, m);
    if (grad != nullptr) {
      const V dlda = kind == 0 ? f.sigmoid : sg * (g * f.complement * f.softplus + f.sigmoid);
      store(V(dlda * load(c + i, m) * s), grad + i, m);
    }
  }
  return partial + lane_sum(lanes, width);
}

void check_inputs(const at::Tensor& z, const at::Tensor& t) {
  TORCH_CHECK(z.device().is_cpu() && t.device().is_cpu(), "partialml native kernels: CPU tensors only");
  TORCH_CHECK(z.scalar_type() == at::kFloat || z.scalar_type() == at::kDouble,
              "partialml native kernels: float32 / float64 logits only");
  TORCH_CHECK(t.scalar_type() == at::kChar, "partialml native kernels: int8 targets only");
  TORCH_CHECK(z.sizes() == t.sizes(), "partialml native kernels: logits and targets differ in shape");
}

// What every kernel reads and writes: the n logits and int8 targets, the logit gradient (allocated when
// needed) and the scale 1 / divisor of the loss and the gradient.
template <typename scalar_t>
struct Batch {
  int64_t n;
  const scalar_t* z;
  const int8_t* t;
  at::Tensor grad;
  scalar_t scale;
  Batch(const at::Tensor& logits, const at::Tensor& targets, double divisor, bool need_grad)
      : n(logits.numel()),
        z(logits.data_ptr<scalar_t>()),
        t(targets.data_ptr<int8_t>()),
        grad(need_grad ? at::empty_like(logits) : at::Tensor()),
        scale(static_cast<scalar_t>(1.0 / divisor)) {}
  // The gradient from entry `first` on, or null without one.
  scalar_t* grad_at(int64_t first) const { return grad.defined() ? grad.data_ptr<scalar_t>() + first : nullptr; }
};

// Whether logit x ranks above logit y in the selection: NaN above every number (as in torch.topk), then
// the larger value. A strict weak ordering (all NaNs are equivalent).
template <typename scalar_t>
inline bool ranks_above(scalar_t x, scalar_t y) {
  return std::isnan(x) ? !std::isnan(y) : x > y;
}

// Appends to `chosen` the k unknown entries (t < 0) with the largest logits (NaN first; among equal
// logits which one wins is unspecified; an unknown logit of -inf, zero AN loss, is never chosen); every
// other unknown entry if there are at most k. A min-heap of the k largest so far; block by block, the
// keys (the logit of an unknown entry, -inf elsewhere) are prepared branch-free into a stack buffer and
// scanned against the heap's top, so most entries cost one predictable comparison (about k log(n / k)
// insertions on unordered logits, n log k at worst). A block holding an unknown NaN is scanned with the
// NaN-aware order instead.
template <typename scalar_t>
void select_largest(const scalar_t* z, const int8_t* t, int64_t n, int64_t k, std::vector<int64_t>& chosen) {
  if (k <= 0) return;
  using Entry = std::pair<scalar_t, int64_t>;
  std::vector<Entry> heap;
  heap.reserve(static_cast<size_t>(std::min(k, n)));
  const auto smaller_on_top = [](const Entry& x, const Entry& y) { return ranks_above(x.first, y.first); };
  const size_t limit = static_cast<size_t>(k);
  const scalar_t none = -std::numeric_limits<scalar_t>::infinity();
  scalar_t bar = none;  // the heap's top once it is full: an entry must rank above it
  auto insert = [&](scalar_t v, int64_t i) {
    if (heap.size() < limit) {
      heap.emplace_back(v, i);
      std::push_heap(heap.begin(), heap.end(), smaller_on_top);
    } else {
      std::pop_heap(heap.begin(), heap.end(), smaller_on_top);
      heap.back() = Entry(v, i);
      std::push_heap(heap.begin(), heap.end(), smaller_on_top);
    }
    if (heap.size() == limit) bar = heap.front().first;
  };
  scalar_t keys[kBlock];
  for (int64_t first = 0; first < n; first += kBlock) {
    const int64_t count = std::min(kBlock, n - first);
    bool nan = false;
    for (int64_t j = 0; j < count; ++j) {
      const scalar_t zi = z[first + j];
      const bool unknown = t[first + j] < 0;
      keys[j] = unknown ? zi : none;
      nan |= unknown & std::isnan(zi);
    }
    if (!nan) {
      for (int64_t j = 0; j < count; ++j) {
        if (keys[j] > bar) insert(keys[j], first + j);  // false for every entry once bar is NaN
      }
    } else {
      for (int64_t j = 0; j < count; ++j) {
        if (ranks_above(keys[j], bar)) insert(keys[j], first + j);
      }
    }
  }
  for (const Entry& entry : heap) chosen.push_back(entry.second);
}

// LL-R / LL-Ct / LL-Cp: AN (a = -s z, s = +1 on observed positives, -1 elsewhere) with the chosen entries
// switched to s = +1 (correct) or rejected (a = -1e4: loss and gradient exactly 0, even for NaN / inf).
template <typename scalar_t>
std::vector<at::Tensor> large_loss_impl(const at::Tensor& z, const at::Tensor& t, int64_t k, bool correct,
                                        const c10::optional<at::Tensor>& given, double divisor,
                                        bool need_grad) {
  const Batch<scalar_t> b(z, t, divisor, need_grad);
  const int64_t n = b.n;
  const scalar_t* zp = b.z;
  const int8_t* tp = b.t;
  std::vector<int64_t> chosen;
  if (given.has_value()) {
    const at::Tensor indices = given->to(at::kLong).contiguous();
    const int64_t* ip = indices.data_ptr<int64_t>();
    for (int64_t j = 0; j < indices.numel(); ++j) {
      TORCH_CHECK(0 <= ip[j] && ip[j] < n, "partialml native kernels: chosen index out of range");
    }
    chosen.assign(ip, ip + indices.numel());
  } else {
    select_largest(zp, tp, n, k, chosen);
  }
  std::sort(chosen.begin(), chosen.end());  // each block patches its own run of chosen entries
  at::Tensor mask = at::zeros(z.sizes(), z.options().dtype(at::kBool));
  bool* mp = mask.data_ptr<bool>();
  for (int64_t i : chosen) mp[i] = true;
  const double total = sum_over_blocks(n, [&](int64_t first, int64_t count) {
    scalar_t a[kBlock], c[kBlock];
    for (int64_t j = 0; j < count; ++j) {  // AN; selects, no branch: vectorizable
      const scalar_t s = tp[first + j] == 1 ? scalar_t(1) : scalar_t(-1);
      a[j] = -s * zp[first + j];
      c[j] = -s;
    }
    auto it = std::lower_bound(chosen.begin(), chosen.end(), first);
    for (; it != chosen.end() && *it < first + count; ++it) {
      const int64_t j = *it - first;
      if (correct) {
        a[j] = -zp[*it];
        c[j] = scalar_t(-1);
      } else {
        a[j] = scalar_t(-1e4);
      }
    }
    return focal_block<scalar_t>(a, c, b.grad_at(first), count, 0, scalar_t(0), b.scale);
  });
  return {at::scalar_tensor(total / divisor, z.options()), b.grad, mask};
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
  const Batch<scalar_t> b(z, t, divisor, need_grad);
  const scalar_t* zp = b.z;
  const int8_t* tp = b.t;
  const scalar_t m = static_cast<scalar_t>(margin);
  const bool pseudo = threshold.has_value();
  const scalar_t tau = pseudo ? static_cast<scalar_t>(*threshold) : scalar_t(0);
  const int kind = gamma_kind(gamma);
  const double total = sum_over_blocks(b.n, [&](int64_t first, int64_t count) {
    scalar_t a[kBlock], c[kBlock];
    for (int64_t j = 0; j < count; ++j) {  // branch-free (bitwise on bools): vectorizable
      const int64_t i = first + j;
      const scalar_t zi = zp[i];
      const bool observed_positive = tp[i] == 1;
      const bool positive = observed_positive | (pseudo & (tp[i] < 0) & (zi > tau));
      const scalar_t s = scalar_t(2 * int(positive) - 1);
      a[j] = -s * zi + m * scalar_t(observed_positive);
      c[j] = -s;
    }
    return focal_block<scalar_t>(a, c, b.grad_at(first), count, kind, static_cast<scalar_t>(gamma), b.scale);
  });
  return {at::scalar_tensor(total / divisor, z.options()), b.grad};
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
double hill_block(const scalar_t* u, const scalar_t* pos, scalar_t* grad, int64_t count, int kind,
                  scalar_t gamma, scalar_t lamb, scalar_t scale) {
  using V = Vec<scalar_t>;
  const V zero(scalar_t(0)), g(gamma), l(lamb), two_l(scalar_t(2) * lamb), three(scalar_t(3)), s(scale);
  V lanes(scalar_t(0));
  double partial = 0.0;
  const int64_t width = V::size();
  for (int64_t i = 0; i < count; i += width) {
    const int64_t w = std::min(width, count - i);
    const V is_pos = load(pos + i, w) > zero;
    const Logistic<scalar_t> f(load(u + i, w));  // sigmoid(u): p_m on positives, p elsewhere
    const V sg = power(f.sigmoid, kind, g);
    const V p2 = f.sigmoid * f.sigmoid;
    const V loss = V::blendv((l - f.sigmoid) * p2, sg * f.softplus, is_pos);
    if (w == width) lanes = lanes + loss; else partial += lane_sum(loss, w);
    if (grad != nullptr) {
      const V dlda = kind == 0 ? f.sigmoid : sg * (g * f.complement * f.softplus + f.sigmoid);
      const V negative_grad = (two_l - three * f.sigmoid) * p2 * f.complement;
      store(V(V::blendv(negative_grad, dlda.neg(), is_pos) * s), grad + i, w);
    }
  }
  return partial + lane_sum(lanes, width);
}

template <typename scalar_t>
std::vector<at::Tensor> hill_impl(const at::Tensor& z, const at::Tensor& t, double margin, double gamma,
                                  double lamb, double divisor, bool need_grad) {
  const Batch<scalar_t> b(z, t, divisor, need_grad);
  const scalar_t* zp = b.z;
  const int8_t* tp = b.t;
  const scalar_t m = static_cast<scalar_t>(margin);
  const int kind = gamma_kind(gamma);
  const double total = sum_over_blocks(b.n, [&](int64_t first, int64_t count) {
    scalar_t u[kBlock], pos[kBlock];
    for (int64_t j = 0; j < count; ++j) {  // selects, no branch: vectorizable
      const int64_t i = first + j;
      const bool positive = tp[i] == 1;
      const scalar_t zi = zp[i];
      u[j] = positive ? m - zi : zi;
      pos[j] = scalar_t(positive);
    }
    return hill_block<scalar_t>(u, pos, b.grad_at(first), count, kind, static_cast<scalar_t>(gamma),
                                static_cast<scalar_t>(lamb), b.scale);
  });
  return {at::scalar_tensor(total / divisor, z.options()), b.grad};
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
