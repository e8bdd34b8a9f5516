#include "train/adamw.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/thread_pool.h"

// SSE2 is part of baseline x86-64: four lanes of the same IEEE operations as the scalar loop
// (sqrt and division are correctly rounded either way), so both give identical results. The
// scalar std::sqrt cannot be vectorised by the compiler (it keeps errno semantics).
#include <emmintrin.h>

namespace nova::train {

AdamW::AdamW(ParamStore& params, AdamWConfig config) : params_(params), config_(config) {
  for (const Param& p : params_.params()) {
    m_.push_back(Tensor::zeros(DType::F32, p.value.shape()));
    v_.push_back(Tensor::zeros(DType::F32, p.value.shape()));
  }
}

AdamWScalars adamw_scalars(const AdamWConfig& config, double lr, int64_t step) {
  const double t = static_cast<double>(step);
  const double bias1 = 1.0 - std::pow(config.beta1, t);
  const double bias2 = 1.0 - std::pow(config.beta2, t);
  AdamWScalars s;
  s.neg_step_size = static_cast<float>(-(lr / bias1));
  s.bias2_sqrt = static_cast<float>(std::sqrt(bias2));
  s.one_minus_b1 = static_cast<float>(1.0 - config.beta1);
  s.b2 = static_cast<float>(config.beta2);
  s.one_minus_b2 = static_cast<float>(1.0 - config.beta2);
  s.eps = static_cast<float>(config.eps);
  s.decay = static_cast<float>(1.0 - lr * config.weight_decay);
  return s;
}

void AdamW::step(double lr) {
  require(m_.size() == params_.size(), "adamw", "the parameter set changed after the optimiser was made");
  ++step_;
  const AdamWScalars sc = adamw_scalars(config_, lr, step_);
  const float neg_step_size = sc.neg_step_size, bias2_sqrt = sc.bias2_sqrt, one_minus_b1 = sc.one_minus_b1, b2 = sc.b2,
              one_minus_b2 = sc.one_minus_b2, eps = sc.eps, decay = sc.decay;
  size_t i = 0;
  for (Param& p : params_.params()) {
    float* w = p.data();
    const float* g = p.grad_data();
    float* m = m_[i].data_as<float>();
    float* v = v_[i].data_as<float>();
    ++i;
    const bool decays = p.decays() && config_.weight_decay != 0.0;
    ThreadPool::global().parallel_for(p.numel(), [&](int64_t b, int64_t e) {
      int64_t j = b;
      const __m128 vdecay = _mm_set1_ps(decays ? decay : 1.0f), vb1 = _mm_set1_ps(one_minus_b1), vb2 = _mm_set1_ps(b2),
                   v1mb2 = _mm_set1_ps(one_minus_b2), vb2s = _mm_set1_ps(bias2_sqrt), veps = _mm_set1_ps(eps),
                   vstep = _mm_set1_ps(neg_step_size);
      for (; j + 4 <= e; j += 4) {
        __m128 wj = _mm_loadu_ps(w + j);
        if (decays) wj = _mm_mul_ps(wj, vdecay);
        const __m128 gj = _mm_loadu_ps(g + j);
        __m128 mj = _mm_loadu_ps(m + j), vj = _mm_loadu_ps(v + j);
        mj = _mm_add_ps(mj, _mm_mul_ps(vb1, _mm_sub_ps(gj, mj)));
        vj = _mm_add_ps(_mm_mul_ps(vj, vb2), _mm_mul_ps(_mm_mul_ps(v1mb2, gj), gj));
        const __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vj), vb2s), veps);
        wj = _mm_add_ps(wj, _mm_div_ps(_mm_mul_ps(vstep, mj), denom));
        _mm_storeu_ps(m + j, mj);
        _mm_storeu_ps(v + j, vj);
        _mm_storeu_ps(w + j, wj);
      }
      for (; j < e; ++j) {
        if (decays) w[j] = w[j] * decay;
        // torch.lerp with weight < 0.5: start + weight * (end - start).
        m[j] = m[j] + one_minus_b1 * (g[j] - m[j]);
        v[j] = v[j] * b2 + one_minus_b2 * g[j] * g[j];
        const float denom = std::sqrt(v[j]) / bias2_sqrt + eps;
        w[j] = w[j] + neg_step_size * m[j] / denom;
      }
    }, 1 << 14);
  }
}

std::map<std::string, Tensor> AdamW::state_tensors() const {
  std::map<std::string, Tensor> s;
  size_t i = 0;
  for (const Param& p : params_.params()) {
    s["exp_avg." + p.name] = m_[i];
    s["exp_avg_sq." + p.name] = v_[i];
    ++i;
  }
  Tensor step = Tensor::zeros(DType::I64, {1});
  step.data_as<int64_t>()[0] = step_;
  s["step"] = step;
  return s;
}

void AdamW::load_state(const std::map<std::string, Tensor>& state, const std::string& where) {
  auto get = [&](const std::string& name, DType dtype, const std::vector<int64_t>& shape) -> const Tensor& {
    auto it = state.find(name);
    require(it != state.end(), where, "missing optimiser state tensor " + name);
    require(it->second.dtype() == dtype && it->second.shape() == shape && it->second.is_contiguous(), where,
            "optimiser state tensor " + name + " has dtype " + std::string(dtype_name(it->second.dtype())) + " and shape " +
                it->second.shape_string() + ", expected " + std::string(dtype_name(dtype)) + " " +
                Tensor::zeros(dtype, shape).shape_string());
    return it->second;
  };
  const int64_t step = get("step", DType::I64, {1}).data_as<int64_t>()[0];
  require(step >= 0, where, "negative optimiser step count");
  // Validate everything before changing anything.
  std::vector<const Tensor*> ms, vs;
  for (const Param& p : params_.params()) {
    ms.push_back(&get("exp_avg." + p.name, DType::F32, p.value.shape()));
    vs.push_back(&get("exp_avg_sq." + p.name, DType::F32, p.value.shape()));
  }
  for (size_t i = 0; i < ms.size(); ++i) {
    std::copy_n(ms[i]->data_as<float>(), ms[i]->numel(), m_[i].data_as<float>());
    std::copy_n(vs[i]->data_as<float>(), vs[i]->numel(), v_[i].data_as<float>());
  }
  step_ = step;
}

}  // namespace nova::train
