// SPDX-License-Identifier: MIT
// The evaluation API on one MedQA-style question: the item (pmc::eval::McqItem), PMC-LLaMA's prompt for it, and
// option-likelihood scoring: each option's text is scored as a continuation of the prompt, log p(option | prompt)
// summed over its tokens (and averaged per token), and the option with the highest sum is the model's answer.
// The score of the chosen option is then recomputed from a plain forward pass, to show what it is; the program
// exits 1 if the two disagree.
//
// The model is random and tiny, so its choice is meaningless (chance is 25%): this shows the API, not medicine.
// `pmc eval` scores whole benchmarks (MedQA, MedMCQA, PubMedQA, MMLU) the same way with a trained model.
//
//   cmake --build build/release --target example_score_medical_mcq
//   build/release/bin/score_medical_mcq
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <pmc/eval/prompt.hpp>
#include <pmc/eval/scoring.hpp>
#include <pmc/pmc.hpp>
#include <pmc/tokenizer/bpe_trainer.hpp>

// Any valid architecture can be a template argument; this one is not among the named configs.
constexpr pmc::llama::Config kSmall{.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 172,
                                    .vocab_size = 512, .max_seq_len = 512};

int main() {
  const pmc::eval::McqItem item{
      .id = "anemia-1",
      .question = "A 24-year-old woman has fatigue, pallor and brittle nails. Her hemoglobin is 9.1 g/dL with a low "
                  "mean corpuscular volume and a low serum ferritin. What is the most likely cause of her anemia?",
      .options = {"Vitamin B12 deficiency", "Iron deficiency", "Folate deficiency", "Hereditary spherocytosis"},
      .answer = 1,
      .subject = "hematology"};
  const std::string instruction = pmc::eval::default_instruction(pmc::eval::Benchmark::medqa);
  const std::string prompt = pmc::eval::format_prompt(item, instruction);  // the options continue it
  std::printf("%s\n\n", prompt.c_str());

  // A tokenizer learned from the prompt's lines (byte fallback encodes any other text), and a random model.
  std::vector<std::string> lines;
  std::istringstream prompt_stream(prompt);
  for (std::string line; std::getline(prompt_stream, line);) lines.push_back(line);
  const pmc::tokenizer::Tokenizer tok(pmc::tokenizer::BpeTokenizer(pmc::tokenizer::train_bpe(lines, {.vocab_size = kSmall.vocab_size})));
  pmc::llama::Model<kSmall, float> model(/*trainable=*/false);
  model.init_random(/*seed=*/3);

  // Defaults: each option's text scored by its summed log-probability, which favours short options;
  // options.choice = ScoreChoice::mean normalizes by length, options.continuation = Continuation::pmc_answer scores
  // PMC-LLaMA's answer sentence ("###Answer: OPTION B IS CORRECT.") instead of the option's text.
  pmc::eval::EvalOptions options;
  options.benchmark = pmc::eval::Benchmark::medqa;
  const auto report = pmc::eval::evaluate_likelihood(model, tok, {item}, options);
  if (report.items.size() != 1) {
    std::printf("FAILED: the item was not scored (%s)\n", report.skipped.empty() ? "?" : report.skipped[0].c_str());
    return 1;
  }
  const auto& result = report.items[0];
  std::printf("%lld prompt tokens; option scores (log-probabilities):\n", static_cast<long long>(result.prompt_tokens));
  for (std::size_t i = 0; i < item.options.size(); ++i) {
    std::printf("  %s. %-26s sum %8.3f   mean %7.3f over %d tokens\n", pmc::eval::option_label(i).c_str(),
                item.options[i].c_str(), result.option_sum[i], result.option_mean[i], result.option_tokens[i]);
  }
  const auto chosen = static_cast<std::size_t>(result.predicted), key = static_cast<std::size_t>(item.answer);
  std::printf("chosen: %s (%s); answer key: %s\n", pmc::eval::option_label(chosen).c_str(),
              result.correct ? "correct" : "wrong", pmc::eval::option_label(key).c_str());
  std::printf("\n%s\n", pmc::eval::format_table(report).c_str());

  // What the score is: for each option token, log softmax of the logits at the position before it, summed. The
  // scorer runs the prompt once into a KV cache that all options share; here, one plain forward of prompt + option.
  std::vector<std::int32_t> ids = tok.encode(prompt, /*bos=*/true);
  const std::vector<std::int32_t> option_ids = tok.encode(item.options[chosen]);
  const std::size_t prompt_length = ids.size();
  ids.insert(ids.end(), option_ids.begin(), option_ids.end());
  pmc::autograd::NoGrad no_grad;
  const auto logits = model.forward(pmc::Tensor<std::int32_t>::from({1, static_cast<std::int64_t>(ids.size())}, ids))
                          .value();  // (prompt + option tokens, vocabulary)
  double sum = 0;
  for (std::size_t j = 0; j < option_ids.size(); ++j) {
    const auto row = logits.select(0, static_cast<std::int64_t>(prompt_length + j - 1)).span();  // predicts token j
    const double max = *std::max_element(row.begin(), row.end());
    double total = 0;
    for (const float logit : row) total += std::exp(logit - max);
    sum += row[static_cast<std::size_t>(option_ids[j])] - max - std::log(total);
  }
  const double difference = std::abs(sum - result.option_sum[chosen]);
  const bool agree = difference < 1e-3;
  std::printf("option %s recomputed from a plain forward: sum %.3f, difference %.1e: %s\n",
              pmc::eval::option_label(chosen).c_str(), sum, difference, agree ? "the scores agree" : "FAILED");
  return agree ? 0 : 1;
}
