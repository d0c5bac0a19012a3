// SPDX-License-Identifier: MIT
// AdamW, SGD and clip_grad_norm replayed against torch (tests/golden/optim/optim_golden.json).
#include <cstdio>
#include <string>

#include <doctest/doctest.h>

#include "golden.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace golden_test {

using namespace pmc;
using pmc::test::optim_case;
using pmc::test::replay;

namespace {
void report(const char* name, const char* prec, const test::ReplayResult& r) {
  if (std::string(prec) == "f64")
    std::printf("%-20s f64: max rel err over steps %.3g, pre-clip norm %.3g, bit-identical to torch: %s\n", name,
                r.max_rel_error_per_step, r.max_norm_rel_error, r.bit_identical ? "yes" : "no");
  else
    std::printf("%-20s f32: final rel err vs torch float32 %.3g, pre-clip norm %.3g\n", name, r.final_rel_error,
                r.max_norm_rel_error);
}
}  // namespace

TEST_CASE("AdamW matches torch.optim.AdamW in double (two groups, changing lr)") {
  for (const char* name : {"adamw_default", "adamw_betas_clip"}) {
    CAPTURE(name);
    auto r = replay<double>(optim_case(name), test::make_adamw_f64);
    report(name, "f64", r);
    CHECK(r.max_rel_error_per_step < 1e-12);
    CHECK(r.max_norm_rel_error < 1e-12);
  }
}

TEST_CASE("AdamW matches torch.optim.AdamW in float") {
  for (const char* name : {"adamw_default", "adamw_betas_clip"}) {
    CAPTURE(name);
    auto r = replay<float>(optim_case(name), test::make_adamw_f32);
    report(name, "f32", r);
    CHECK(r.final_rel_error < 1e-6);
    CHECK(r.max_norm_rel_error < 1e-6);
  }
}

TEST_CASE("SGD matches torch.optim.SGD in double (momentum, Nesterov, dampening, weight decay)") {
  for (const char* name : {"sgd_momentum", "sgd_nesterov", "sgd_dampening_plain"}) {
    CAPTURE(name);
    auto r = replay<double>(optim_case(name), test::make_sgd<double>);
    report(name, "f64", r);
    CHECK(r.max_rel_error_per_step < 1e-12);
    CHECK(r.max_norm_rel_error < 1e-12);
  }
}

TEST_CASE("SGD matches torch.optim.SGD in float") {
  for (const char* name : {"sgd_momentum", "sgd_nesterov", "sgd_dampening_plain"}) {
    CAPTURE(name);
    auto r = replay<float>(optim_case(name), test::make_sgd<float>);
    report(name, "f32", r);
    CHECK(r.final_rel_error < 1e-6);
    CHECK(r.max_norm_rel_error < 1e-6);
  }
}

TEST_CASE("the golden file has the cases and steps the tests expect") {
  const auto& doc = test::optim_golden();
  CHECK(doc.at("steps") == 10);
  CHECK(doc.at("cases").size() == 5);
  // clipping is active on some steps and not on others, so both branches were compared with torch
  const auto& c = optim_case("adamw_betas_clip");
  int clipped = 0;
  for (const auto& n : c.at("norms")) clipped += n.get<double>() > c.at("max_norm").get<double>();
  CHECK(clipped > 0);
  CHECK(clipped < 10);
}

}  // namespace golden_test
