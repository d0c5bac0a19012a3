// SPDX-License-Identifier: MIT
// `pmc eval|generate --device cuda`: the evaluator and the decoder on the GPU, compiled by nvcc into the pmc
// program when it is built with CUDA (the cuda preset), for any architecture (Model<dynamic>), as on the CPU; each runs in fp32 or bf16 (--precision).
#include <pmc/cuda.hpp>

#include "../inference.hpp"

namespace pmc::cli {
namespace {

/// f(model) for the checkpoint of `t` as a Model<dynamic, T, Cuda>.
template <class F>
decltype(auto) with_cuda_model(const ModelTarget& t, const tokenizer::Tokenizer& tok, F&& f) {
  PMC_CHECK(cuda::cuda_device_count() > 0, "--device cuda: no CUDA device (or driver) on this machine");
  return with_model<Cuda>(t, tok, f);
}

}  // namespace

eval::EvalReport evaluate_cuda(const ModelTarget& t, eval::Scorer scorer, const tokenizer::Tokenizer& tok,
                               const std::vector<eval::McqItem>& items, const eval::EvalOptions& opt) {
  return with_cuda_model(t, tok, [&](const auto& model) { return evaluate(model, scorer, tok, items, opt); });
}

std::vector<std::int32_t> generate_cuda(const ModelTarget& t, const tokenizer::Tokenizer& tok,
                                        std::span<const std::int32_t> prompt, const llama::GenerateOptions& go) {
  return with_cuda_model(t, tok, [&](const auto& model) { return llama::generate(model, prompt, go); });
}

}  // namespace pmc::cli
