// SPDX-License-Identifier: MIT
// `pmc generate`: text from a prompt with a model loaded from an HF folder, a .safetensors file or a llama2.c .bin,
// on the CPU or the GPU.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <string>

#include <pmc/data/chat_format.hpp>

#include "command.hpp"
#include "inference.hpp"

namespace {

struct GenerateArgs {
  std::string model, adapter, tokenizer, prompt, stop, chat_format;
  float temperature = 0.f, top_p = 1.f;
  int top_k = 0, max_new_tokens = 128;
  std::uint64_t seed = 0;
  std::string device = "cpu", precision = "fp32";
  std::string weights;  // --weights: "" (as --precision), fp32, bf16, q8_0, q4_0
  std::string weight_memory = "auto";  // --weight-memory: auto, mapped, copied
  bool print_ids = false, no_bos = false;
};

int run_generate(const GenerateArgs& a, const pmc::tokenizer::Tokenizer& tok) {
  const bool chat = !a.chat_format.empty();
  const auto format = chat ? pmc::data::chat_format_from_name(a.chat_format) : pmc::data::ChatFormat::pmc_llama;
  auto prompt = chat ? pmc::data::chat_generation_prompt({{"user", a.prompt}}, format, tok) : tok.encode(a.prompt, !a.no_bos);
  pmc::llama::GenerateOptions go;
  go.max_new_tokens = a.max_new_tokens;
  go.sampler = {.temperature = a.temperature, .top_k = a.top_k, .top_p = a.top_p, .seed = a.seed};
  go.stop_tokens = chat ? pmc::data::chat_stop_ids(format, tok) : std::vector<std::int32_t>{};
  if (tok.eos_id() >= 0) go.stop_tokens.push_back(tok.eos_id());  // and the checkpoint's own (Llama-3 ends a turn with another id)
  for (const auto id : pmc::llama::checkpoint_eos_ids(a.model))
    if (std::find(go.stop_tokens.begin(), go.stop_tokens.end(), id) == go.stop_tokens.end()) go.stop_tokens.push_back(id);
  if (!a.stop.empty()) {
    go.stop_when = [&](std::span<const std::int32_t> ids) { return tok.decode(ids).find(a.stop) != std::string::npos; };
  }
  // timed from the first new token (the model loaded and the prompt run) to the last
  using clock = std::chrono::steady_clock;
  clock::time_point start{}, first{}, last{};
  go.on_prompt = [&] { start = clock::now(); };
  go.on_token = [&](std::int32_t) { (first == clock::time_point{} ? first : last) = clock::now(); };
  const pmc::cli::ModelTarget target{a.model,   a.device,  a.precision,
                                     a.tokenizer, a.adapter, a.weights, a.weight_memory};
  const auto out = pmc::cli::generate_on_device(target, tok, prompt, go);
  const double secs = out.size() > 1 ? std::chrono::duration<double>(last - first).count() : 0.0;
  if (a.print_ids) {
    for (std::size_t i = 0; i < prompt.size(); ++i) std::printf("%s%d", i ? " " : "", prompt[i]);
    for (auto id : out) std::printf(" %d", id);
    std::printf("\n");
  } else if (chat) {
    std::printf("%s\n", tok.decode(out).c_str());  // the assistant's turn (the prompt is the template's)
  } else {
    // Decoding prompt + continuation together keeps the space SentencePiece drops at the start of a text.
    std::vector<std::int32_t> all(prompt.begin(), prompt.end());
    all.insert(all.end(), out.begin(), out.end());
    std::string text = tok.decode(all);
    if (!a.stop.empty()) {
      const auto at = text.find(a.stop, a.prompt.size());
      if (at != std::string::npos) text.resize(at);
    }
    std::printf("%s\n", text.c_str());
  }
  std::fprintf(stderr, "pmc generate: %zu tokens on %s (%.1f tokens/s after the first)\n", out.size(), a.device.c_str(),
               secs > 0 ? static_cast<double>(out.size() - 1) / secs : 0.0);
  if (!out.empty()) {
    const double prompt_secs = std::chrono::duration<double>(first - start).count();
    std::fprintf(stderr, "pmc generate: prompt of %zu tokens in %.3f s (%.1f tokens/s, the first new token included)\n",
                 prompt.size(), prompt_secs, static_cast<double>(prompt.size()) / prompt_secs);
  }
  if (!pmc::cli::wants_cuda(a.device)) {
    // the process's peak resident memory (weights mapped from the file count once touched) beside the plan's
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    pmc::llama::PlanOptions po;
    po.dtype = a.precision == "bf16" || a.weights == "bf16" ? pmc::llama::PlanDtype::bf16 : pmc::llama::PlanDtype::fp32;
    po.seq = static_cast<std::int64_t>(prompt.size()) + a.max_new_tokens;
    po.training = false;
    if (pmc::cli::quantized_weights(a.weights)) po.base_quant = pmc::llama::parse_base_quant(a.weights, "--weights");
    const auto plan = pmc::llama::plan_memory(pmc::llama::read_architecture(a.model), po);
    std::fprintf(stderr, "pmc generate: peak memory %.2f GiB; pmc plan --inference: %.2f GiB\n",
                 static_cast<double>(u.ru_maxrss) * 1024.0 / (1ull << 30),
                 static_cast<double>(plan.total_bytes()) / (1ull << 30));
  }
  return 0;
}

const pmc::cli::Command generate_command{
    "generate", "Generate text from a prompt (greedy or sampled, with a KV cache)", [](CLI::App& app) {
      auto a = std::make_shared<GenerateArgs>();
      app.add_option("--model", a->model, "HF folder, .safetensors file, llama2.c .bin or llama.cpp .gguf")->required();
      app.add_option("--adapter", a->adapter,
                     "a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors: pmc's or PEFT's) "
                     "run on --model, not merged");
      app.add_option("--tokenizer", a->tokenizer,
                     "tokenizer.model (SentencePiece), tokenizer.json, or a folder holding one (default: --model's folder)")
          ->check(CLI::ExistingPath);
      app.add_option("--prompt", a->prompt, "prompt text");
      app.add_option("--chat-format", a->chat_format,
                     "wrap the prompt as a user turn of this chat format and print the assistant's turn: pmc_llama, "
                     "llama3, chatml or mistral (default: the prompt as it is)")
          ->check(CLI::IsMember({"pmc_llama", "llama3", "chatml", "mistral"}));
      app.add_option("--temperature", a->temperature, "0 = greedy")
          ->check(pmc::cli::finite_number(0, std::numeric_limits<float>::max()));
      app.add_option("--top-k", a->top_k, "sample among the k most likely tokens (0 = all)")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--top-p", a->top_p, "nucleus sampling mass")->check(pmc::cli::finite_number(0, 1, true));
      app.add_option("--seed", a->seed, "random seed")->check(CLI::NonNegativeNumber);
      app.add_option("--max-new-tokens", a->max_new_tokens, "tokens to generate")->check(CLI::PositiveNumber);
      app.add_option("--stop", a->stop, "stop when this text appears");
      app.add_flag("--print-ids", a->print_ids, "print token ids (prompt and continuation) instead of text");
      app.add_flag("--no-bos", a->no_bos, "do not start the prompt with BOS");
      pmc::cli::add_device_flag(app, a->device);
      pmc::cli::add_model_precision_flag(app, a->precision);
      pmc::cli::add_weights_flag(app, a->weights);
      pmc::cli::add_weight_memory_flag(app, a->weight_memory);
      return [a]() {
        if (!a->adapter.empty()) (void)pmc::llama::read_peft_config(a->adapter);  // a bad adapter fails before any work
        a->tokenizer = pmc::cli::tokenizer_or_model_folder(a->tokenizer, a->model);
        auto tok = pmc::cli::load_tokenizer(a->tokenizer);
        return run_generate(*a, tok);
      };
    }};

}  // namespace
