// SPDX-License-Identifier: MIT
// Reads tests/golden/optim/optim_golden.json (written by tools/make_golden_optim.py) and replays a case.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <pmc/backends/cpu/ops.hpp>
#include <pmc/optim/optim.hpp>
#include <support/paths.hpp>

namespace pmc::test {

inline const nlohmann::json& optim_golden() {
  static const nlohmann::json doc = [] {
    const auto path = source_dir() / "tests/golden/optim/optim_golden.json";
    std::ifstream in(path);
    PMC_CHECK(in.good(), "cannot open ", path.string(), " (run tools/make_golden_optim.py)");
    return nlohmann::json::parse(in);
  }();
  return doc;
}

inline const nlohmann::json& optim_case(const std::string& name) {
  for (const auto& c : optim_golden().at("cases"))
    if (c.at("name") == name) return c;
  fail("optim golden: no case '", name, "'");
}

template <class T>
Tensor<T> tensor_from(const nlohmann::json& shape, const nlohmann::json& values) {
  Shape s;
  for (const auto& d : shape) s.push_back(d.get<std::int64_t>());
  Tensor<T> t(s);
  PMC_CHECK(static_cast<std::int64_t>(values.size()) == t.numel(), "golden: size mismatch");
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(values[static_cast<std::size_t>(i)].get<double>());
  return t;
}

/// Normwise relative error max|a - b| / max|b| (per tensor; params near 0 make elementwise ratios meaningless).
template <class T>
double rel_error(const Tensor<T>& a, const nlohmann::json& expected) {
  double num = 0, den = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double e = expected[static_cast<std::size_t>(i)].get<double>();
    num = std::max(num, std::abs(static_cast<double>(a[i]) - e));
    den = std::max(den, std::abs(e));
  }
  return num / den;
}

struct ReplayResult {
  double max_rel_error_per_step = 0;  // against the float64 torch run, every step (T = double)
  double final_rel_error = 0;         // against the run of T's precision, final step
  double max_norm_rel_error = 0;      // clip cases: the pre-clip norms
  bool bit_identical = true;          // every step's params equal torch's bit for bit
};

/// Runs a golden case with the C++ optimizer `Opt` in precision T and compares with torch's results.
template <class T, class MakeOpt>
ReplayResult replay(const nlohmann::json& c, MakeOpt&& make_opt) {
  std::vector<optim::Param<T>> params;
  for (const auto& p : c.at("params")) {
    auto v = tensor_from<T>(p.at("shape"), p.at("init"));
    params.push_back({.name = p.at("name"), .value = v, .grad = Tensor<T>(v.shape()), .group = p.at("group")});
  }
  std::vector<optim::ParamGroup> groups;
  for (const auto& g : c.at("groups"))
    groups.push_back({.lr_scale = g.at("lr_scale").get<double>(), .weight_decay = g.at("weight_decay").get<double>()});
  auto opt = make_opt(c.at("options"), groups);
  const bool clip = !c.at("max_norm").is_null();
  const bool f64 = std::is_same_v<T, double>;
  ReplayResult r;
  const auto& steps = c.at("lr");
  for (std::size_t s = 0; s < steps.size(); ++s) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto g = tensor_from<T>(c.at("params")[i].at("shape"), c.at("grads")[s][i]);
      g.copy_to(params[i].grad);
    }
    if (clip) {
      const double norm = optim::clip_grad_norm(params, c.at("max_norm").get<double>());
      const double want = c.at(f64 ? "norms" : "norms_f32")[s].get<double>();
      r.max_norm_rel_error = std::max(r.max_norm_rel_error, std::abs(norm - want) / want);
    }
    opt.step(std::span<optim::Param<T>>(params), steps[s].get<double>());
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto& want = c.at("expected")[s][i];
      if (f64) {
        r.max_rel_error_per_step = std::max(r.max_rel_error_per_step, rel_error(params[i].value, want));
        for (std::int64_t k = 0; k < params[i].value.numel(); ++k)
          r.bit_identical = r.bit_identical && static_cast<double>(params[i].value[k]) ==
                                                   want[static_cast<std::size_t>(k)].get<double>();
      }
    }
  }
  for (std::size_t i = 0; i < params.size(); ++i)
    r.final_rel_error = std::max(r.final_rel_error,
                                 rel_error(params[i].value, f64 ? c.at("expected").back()[i]
                                                                : c.at("expected_f32_final")[i]));
  return r;
}

inline optim::AdamW<double> make_adamw_f64(const nlohmann::json& o, std::vector<optim::ParamGroup> g) {
  return optim::AdamW<double>({.beta1 = o.at("beta1"), .beta2 = o.at("beta2"), .eps = o.at("eps")}, std::move(g));
}
inline optim::AdamW<float> make_adamw_f32(const nlohmann::json& o, std::vector<optim::ParamGroup> g) {
  return optim::AdamW<float>({.beta1 = o.at("beta1"), .beta2 = o.at("beta2"), .eps = o.at("eps")}, std::move(g));
}
template <class T>
optim::Sgd<T> make_sgd(const nlohmann::json& o, std::vector<optim::ParamGroup> g) {
  return optim::Sgd<T>({.momentum = o.at("momentum"), .dampening = o.at("dampening"), .nesterov = o.at("nesterov")},
                       std::move(g));
}

}  // namespace pmc::test
