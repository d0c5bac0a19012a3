// SPDX-License-Identifier: MIT
// The CPU evaluator and decoder of `pmc eval`, `pmc generate` and `pmc pipeline` (inference.hpp): no
// subcommand, only the one translation unit that instantiates with_model on the CPU (Model<dynamic, float|bf16>,
// scoring by likelihood and by generation, llama::generate). Compiled here once rather than in each
// subcommand's file, it no longer dominates the build time.
#include "inference.hpp"

namespace pmc::cli {

eval::EvalReport evaluate_on_cpu(const ModelTarget& t, eval::Scorer scorer, const tokenizer::Tokenizer& tok,
                                 const std::vector<eval::McqItem>& items, const eval::EvalOptions& opt) {
  return with_model<Cpu>(t, tok, [&](const auto& model) { return evaluate(model, scorer, tok, items, opt); });
}

std::vector<std::int32_t> generate_on_cpu(const ModelTarget& t, const tokenizer::Tokenizer& tok,
                                          std::span<const std::int32_t> prompt, const llama::GenerateOptions& go) {
  return with_model<Cpu>(t, tok, [&](const auto& model) { return llama::generate(model, prompt, go); });
}

}  // namespace pmc::cli
