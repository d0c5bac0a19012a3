// SPDX-License-Identifier: MIT
// pmc plan --inference (llama::plan_memory with training = false) against the CPU allocator's measured peak of
// an inference forward with a KV cache, with the weights in fp32, bf16, or the projections in llama.cpp's q8_0 /
// q4_0 blocks (Model::quantize_base, what pmc eval|generate --weights does): the plan's total (weights, cache,
// activations) within 10% of the peak of everything the model and the forward hold.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>

#include <pmc/backends/cpu/ops.hpp>
#include <pmc/models/llama/memory_plan.hpp>
#include <pmc/models/llama/model.hpp>
#include <support/compare.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace inference_plan_test {

using namespace pmc;

namespace {

// every projection blockable in 32s
constexpr llama::Config kBlockable{.dim = 128, .n_layers = 4, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 352,
                                   .vocab_size = 256, .max_seq_len = 256, .norm_eps = 1e-5f, .rope_theta = 1e4f};
// ffn_dim 344: down_proj's input is not a multiple of 32, so q8_0 / q4_0 keep it in the model's type
constexpr llama::Config kOddFfn{.dim = 96, .n_layers = 3, .n_heads = 3, .n_kv_heads = 3, .ffn_dim = 344,
                                .vocab_size = 300, .max_seq_len = 256, .norm_eps = 1e-5f, .rope_theta = 1e4f};

using test::random_tokens;

struct Measured {
  std::int64_t weights = 0, peak = 0;  // the model's bytes; the peak of model + cache + forward
};

/// Builds the model (random, then quantized when `q` is not none), then runs one forward of (b, t) tokens with a
/// KV cache of b × t positions under NoGrad, keeping the logits; bytes counted from before the model existed.
template <class T>
Measured measure(const llama::Config& c, llama::BaseQuant q, std::int64_t b, std::int64_t t) {
  const std::int64_t base = Allocator<Cpu>::live_bytes();
  Measured m;
  {
    llama::Model<llama::dynamic, T> model(c, false);
    model.init_random(1);
    model.quantize_base(q);
    m.weights = Allocator<Cpu>::live_bytes() - base;
    Allocator<Cpu>::reset_peak_bytes();
    {
      autograd::NoGrad no_grad;
      llama::KvCache<T, Cpu> cache(c.n_layers, b, t, c.n_kv_heads, c.head_dim());
      const auto logits = model.forward(random_tokens(b, t, 2, c.vocab_size), 0, &cache);
      CHECK(logits.shape() == Shape{b * t, c.vocab_size});
    }
    m.peak = Allocator<Cpu>::peak_bytes() - base;
  }
  CHECK(Allocator<Cpu>::live_bytes() == base);
  return m;
}

template <class T>
void check_inference_plan(const llama::Config& c, llama::BaseQuant q, std::int64_t b, std::int64_t t) {
  const auto m = measure<T>(c, q, b, t);
  llama::PlanOptions o;
  o.training = false;
  o.batch = b;
  o.seq = t;
  o.dtype = std::is_same_v<T, bf16> ? llama::PlanDtype::bf16 : llama::PlanDtype::fp32;
  o.base_quant = q;
  const auto plan = llama::plan_memory(c, o);
  const std::string what = std::string(std::is_same_v<T, bf16> ? "bf16" : "fp32") + " model, weights " +
                           std::string(llama::base_quant_name(q)) + ", batch " + std::to_string(b) + " x " + std::to_string(t);
  // the weights: the plan's byte count of every stored tensor (the allocator rounds each up to 64 bytes)
  CHECK_MESSAGE(std::abs(static_cast<double>(plan.weight_bytes - m.weights)) < 0.005 * static_cast<double>(m.weights),
                what, ": planned weights ", plan.weight_bytes, " B, allocated ", m.weights, " B");
  const double rel = std::abs(static_cast<double>(plan.total_bytes() - m.peak)) / static_cast<double>(m.peak);
  MESSAGE(what, ": measured peak ", m.peak, " B, plan ", plan.total_bytes(), " B (weights ", plan.weight_bytes,
          ", activations ", plan.activation_bytes, "), off by ", rel * 100, "%");
  CHECK_MESSAGE(rel < 0.10, what, ": plan ", plan.total_bytes(), " B against a measured peak of ", m.peak, " B");
}

}  // namespace

TEST_CASE("inference plan: the fused quantized product's row limit is autograd's") {
  CHECK(llama::kPlanFusedQuantizedRows == autograd::kQuantizedMatmulMaxRows);
}

TEST_CASE("inference plan: fp32 and bf16 weights against the measured peak") {
  check_inference_plan<float>(kBlockable, llama::BaseQuant::none, 1, 64);
  check_inference_plan<float>(kBlockable, llama::BaseQuant::none, 2, 128);
  check_inference_plan<bf16>(kBlockable, llama::BaseQuant::none, 1, 64);
  check_inference_plan<float>(kOddFfn, llama::BaseQuant::none, 1, 8);
}

TEST_CASE("inference plan: q8_0 and q4_0 projections against the measured peak") {
  for (auto q : {llama::BaseQuant::q8_0, llama::BaseQuant::q4_0}) {
    check_inference_plan<float>(kBlockable, q, 3, 128);  // 384 rows: still straight from the blocks
    check_inference_plan<float>(kBlockable, q, 1, 64);   // a prompt: straight from the blocks
    check_inference_plan<float>(kBlockable, q, 1, 8);    // few rows: straight from the blocks
    check_inference_plan<bf16>(kBlockable, q, 2, 128);
    check_inference_plan<float>(kOddFfn, q, 1, 64);      // down_proj kept in fp32
    check_inference_plan<bf16>(kOddFfn, q, 4, 4);
  }
}

TEST_CASE("inference plan: int8 and nf4 projections against the measured peak") {
  check_inference_plan<float>(kBlockable, llama::BaseQuant::int8, 1, 64);
  check_inference_plan<float>(kBlockable, llama::BaseQuant::int8, 3, 128);  // 384 rows: products dequantize
  check_inference_plan<bf16>(kBlockable, llama::BaseQuant::nf4, 1, 64);
}

TEST_CASE("inference plan: a quantized base for training still needs LoRA") {
  llama::PlanOptions o;
  o.base_quant = llama::BaseQuant::q8_0;
  o.seq = 64;
  CHECK_THROWS_WITH_AS(llama::plan_memory(kBlockable, o), doctest::Contains("give a LoRA config for training"),
                       pmc::Error);
}

}  // namespace inference_plan_test
