// SPDX-License-Identifier: MIT
// Training a tiny LLaMA from scratch: a BPE tokenizer learned from a few embedded medical sentences, the
// pmc::llama::tiny model (2 layers, width 64) trained with AdamW on random windows of the tokenized text, the
// weights saved as a Hugging Face folder (config.json + model.safetensors) and loaded into a fresh model with
// identical logits, and a greedy continuation of a prompt. Exits 1 if the loss did not fall clearly or the
// reloaded model differs. OUT_DIR (default: pmc_train_tiny_llama in the temp folder) then also holds
// tokenizer.model, so that `pmc generate --model OUT_DIR/model --tokenizer OUT_DIR/tokenizer.model` works.
//
//   cmake --build build/release --target example_train_tiny_llama
//   build/release/bin/train_tiny_llama [OUT_DIR]
#include <cstdio>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <pmc/pmc.hpp>
#include <pmc/tokenizer/bpe_trainer.hpp>

namespace fs = std::filesystem;

namespace {

using TinyLlama = pmc::llama::Model<pmc::llama::tiny, float>;

const std::vector<std::string> kMedicalText{
    "Insulin is a hormone made by the beta cells of the pancreas.",
    "Insulin lowers blood glucose by helping muscle and fat cells take up sugar.",
    "Type 1 diabetes follows the autoimmune destruction of the beta cells.",
    "Metformin is the usual first drug for type 2 diabetes.",
    "Hypertension is a lasting rise of the blood pressure in the arteries.",
    "Untreated hypertension damages the heart, the kidneys and the brain.",
    "Iron deficiency is the most common cause of anemia in the world.",
    "A lack of vitamin C causes scurvy, with bleeding gums and slow healing of wounds.",
};

}  // namespace

int main(int argc, char** argv) {
  const fs::path out = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path() / "pmc_train_tiny_llama";

  // A tokenizer with at most the model's 256 pieces; without byte fallback, as the text has few characters.
  const auto vocabulary = pmc::tokenizer::train_bpe(
      kMedicalText, {.vocab_size = pmc::llama::tiny.vocab_size, .byte_fallback = false});
  const pmc::tokenizer::BpeTokenizer tok(vocabulary);
  std::vector<std::int32_t> text;  // every sentence as <s> ... </s>
  for (const auto& sentence : kMedicalText) tok.encode_append(sentence, text, /*bos=*/true, /*eos=*/true);
  std::printf("tokenizer: %d pieces; text: %zu tokens\n", tok.vocab_size(), text.size());

  TinyLlama model;  // parameters allocated, requiring grad
  model.init_random(/*seed=*/1);
  // The optimizer sees each parameter as a name, a value and a gradient buffer, all updated in place.
  auto params = pmc::train::trainable_parameters(model);
  pmc::optim::AdamW<float> adamw({.beta2 = 0.95});
  const std::int64_t steps = 60, batch = 8, seq_len = 32;
  const pmc::optim::WarmupCosine schedule{.peak = 1e-2, .floor = 1e-3, .warmup_steps = 5, .total_steps = steps};

  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> window_start(0, text.size() - seq_len - 1);
  double first_loss = 0, last_loss = 0;
  for (std::int64_t step = 0; step < steps; ++step) {
    pmc::Tensor<std::int32_t> tokens({batch, seq_len}), targets({batch, seq_len});  // targets: the next tokens
    for (std::int64_t b = 0; b < batch; ++b) {
      const std::size_t start = window_start(rng);
      for (std::int64_t t = 0; t < seq_len; ++t) {
        tokens.at({b, t}) = text[start + static_cast<std::size_t>(t)];
        targets.at({b, t}) = text[start + static_cast<std::size_t>(t) + 1];
      }
    }
    model.zero_grad();
    const auto loss = model.loss(tokens, targets);
    pmc::autograd::backward(loss);
    pmc::optim::clip_grad_norm(params, 1.0);
    adamw.step(params, schedule.lr(step));
    last_loss = loss.value()[0];
    if (step == 0) first_loss = last_loss;
    if (step % 10 == 0 || step == steps - 1)
      std::printf("step %2lld  loss %.4f\n", static_cast<long long>(step), last_loss);
  }
  if (!(last_loss < 0.5 * first_loss)) {
    std::printf("FAILED: the loss went from %.4f to %.4f only\n", first_loss, last_loss);
    return 1;
  }

  // Save, then load into a model whose weights are memory-mapped from the file: the logits must be identical.
  pmc::llama::save_hf(model, out / "model");
  pmc::tokenizer::save_bpe_model(vocabulary, out / "tokenizer.model");
  auto reloaded = TinyLlama::unallocated(/*trainable=*/false);
  pmc::llama::load_weights(reloaded, out / "model");
  const std::vector<std::int32_t> prompt = tok.encode("Insulin is a hormone", /*bos=*/true);
  const auto prompt_tokens = pmc::Tensor<std::int32_t>::from({1, static_cast<std::int64_t>(prompt.size())}, prompt);
  {
    pmc::autograd::NoGrad no_grad;
    if (model.forward(prompt_tokens).value().to_vector() != reloaded.forward(prompt_tokens).value().to_vector()) {
      std::printf("FAILED: the reloaded model's logits differ\n");
      return 1;
    }
  }
  std::printf("saved to %s and reloaded: identical logits\n", (out / "model").c_str());

  pmc::llama::GenerateOptions greedy;  // temperature 0: argmax at every step
  greedy.max_new_tokens = 16;
  greedy.stop_tokens = {tok.eos_id()};
  const auto continuation = pmc::llama::generate(reloaded, std::span<const std::int32_t>(prompt), greedy);
  std::vector<std::int32_t> all = prompt;
  all.insert(all.end(), continuation.begin(), continuation.end());
  std::printf("greedy: %s\n", tok.decode(all).c_str());
  return 0;
}
