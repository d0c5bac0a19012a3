// SPDX-License-Identifier: MIT
// The whole model on the GPU against the CPU: a tiny GQA LLaMA's loss and every parameter's gradient in fp32
// and bf16, one clipped AdamW training step, incremental decoding through the KV cache, and what the evaluator
// does with a model (option scores from a shared prompt cache, greedy generation).
#include "parity.hpp"

#include <cmath>
#include <vector>

#include <pmc/eval/scoring.hpp>
#include <pmc/models/llama/generate.hpp>
#include <pmc/optim/adamw.hpp>
#include <pmc/optim/grad_clip.hpp>
#include <pmc/train/trainer.hpp>
#include <support/paths.hpp>

namespace pmc::test {
namespace {

constexpr llama::Config kTiny{.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 96,
                              .vocab_size = 80, .max_seq_len = 64, .norm_eps = 1e-5f, .rope_theta = 1e4f};

Tensor<std::int32_t> random_ids(std::int64_t b, std::int64_t t, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Tensor<std::int32_t> x({b, t});
  for (auto& v : x.span()) v = static_cast<std::int32_t>(rng() % kTiny.vocab_size);
  return x;
}

template <class T>
void check_loss_and_grads() {
  llama::Model<kTiny, T, Cpu> cpu;
  llama::Model<kTiny, T, Cuda> gpu;
  cpu.init_random(7);
  gpu.init_random(7);  // drawn on the host: the same weights
  const auto tokens = random_ids(2, 24, 1), targets = random_ids(2, 24, 2);
  double loss_cpu = 0, loss_gpu = 0;
  autograd::backward(cpu.loss(tokens, targets, nullptr, &loss_cpu));
  autograd::backward(gpu.loss(dev(tokens), dev(targets), nullptr, &loss_gpu));
  INFO(type_name<T>(), ": loss cpu ", loss_cpu, ", gpu ", loss_gpu);
  CHECK(std::abs(loss_gpu - loss_cpu) / loss_cpu <= parity_bound<T>());
  const auto pc = cpu.named_parameters();
  const auto pg = gpu.named_parameters();
  for (std::size_t i = 0; i < pc.size(); ++i) PMC_CHECK_PARITY(T, pg[i].var.grad(), pc[i].var.grad(), pc[i].name);
}

}  // namespace

TEST_CASE("model/loss and every gradient, fp32") { check_loss_and_grads<float>(); }
TEST_CASE("model/loss and every gradient, bf16") { check_loss_and_grads<bf16>(); }

namespace {

template <class T>
void check_lora(llama::BaseQuant quant) {
  llama::Model<kTiny, T, Cpu> cpu;
  llama::Model<kTiny, T, Cuda> gpu;
  cpu.init_random(9);
  gpu.init_random(9);
  llama::LoraConfig lc;
  lc.rank = 4;
  lc.alpha = 8;
  lc.targets = llama::parse_lora_targets("all");
  cpu.add_lora(lc, 11);
  gpu.add_lora(lc, 11);  // drawn on the host: the same adapters
  std::mt19937 rng(12);
  const auto pc = cpu.lora_parameters();
  const auto pg = gpu.lora_parameters();
  for (std::size_t i = 0; i < pc.size(); ++i) {  // B ≠ 0, so that the adapters count
    const auto t = rnd<T>(pc[i].var.shape(), rng, -0.1, 0.1);
    pmc::copy(t, pc[i].var.value());
    pmc::copy(dev(t), pg[i].var.value());
  }
  cpu.quantize_base(quant);
  gpu.quantize_base(quant);
  const auto tokens = random_ids(2, 24, 13), targets = random_ids(2, 24, 14);
  double loss_cpu = 0, loss_gpu = 0;
  autograd::backward(cpu.loss(tokens, targets, nullptr, &loss_cpu));
  autograd::backward(gpu.loss(dev(tokens), dev(targets), nullptr, &loss_gpu));
  INFO(type_name<T>(), " base ", llama::base_quant_name(quant), ": loss cpu ", loss_cpu, ", gpu ", loss_gpu);
  CHECK(std::abs(loss_gpu - loss_cpu) / loss_cpu <= parity_bound<T>());
  for (std::size_t i = 0; i < pc.size(); ++i) PMC_CHECK_PARITY(T, pg[i].var.grad(), pc[i].var.grad(), pc[i].name);
}

}  // namespace

TEST_CASE("model/LoRA on all projections: loss and adapter gradients, fp32 and bf16 base") {
  check_lora<float>(llama::BaseQuant::none);
  check_lora<bf16>(llama::BaseQuant::none);
}
TEST_CASE("model/QLoRA: loss and adapter gradients on an int8 and an NF4 base (bf16)") {
  check_lora<bf16>(llama::BaseQuant::int8);
  check_lora<bf16>(llama::BaseQuant::nf4);
}

TEST_CASE("model/one clipped AdamW training step, fp32") {
  llama::Model<kTiny, float, Cpu> cpu;
  llama::Model<kTiny, float, Cuda> gpu;
  cpu.init_random(3);
  gpu.init_random(3);
  auto params = [](auto& model) {
    using D = typename std::decay_t<decltype(model)>::device_type;
    std::vector<optim::Param<float, D>> ps;
    for (const auto& p : model.named_parameters())
      ps.push_back({p.name, p.var.value(), p.var.state()->grad_buffer(), 0});
    return ps;
  };
  auto ps_cpu = params(cpu);
  auto ps_gpu = params(gpu);
  std::vector<Tensor<float>> initial;
  for (const auto& p : ps_cpu) initial.push_back(p.value.clone());
  optim::AdamW<float, Cpu> opt_cpu({}, optim::no_decay_for_norms_and_embeddings(ps_cpu, 0.1));
  optim::AdamW<float, Cuda> opt_gpu({}, optim::no_decay_for_norms_and_embeddings(ps_gpu, 0.1));
  constexpr int steps = 2;
  constexpr float lr = 1e-3f;
  for (int step = 0; step < steps; ++step) {
    const auto tokens = random_ids(4, 16, 10 + step), targets = random_ids(4, 16, 20 + step);
    cpu.zero_grad();
    gpu.zero_grad();
    autograd::backward(cpu.loss(tokens, targets));
    autograd::backward(gpu.loss(dev(tokens), dev(targets)));
    const double n_cpu = optim::clip_grad_norm(ps_cpu, 0.5), n_gpu = optim::clip_grad_norm(ps_gpu, 0.5);
    CHECK(std::abs(n_gpu - n_cpu) / n_cpu <= 1e-5);
    opt_cpu.step(std::span<optim::Param<float, Cpu>>(ps_cpu), lr);
    opt_gpu.step(std::span<optim::Param<float, Cuda>>(ps_gpu), lr);
  }
  // The gradients agree to fp32 rounding (the norms above; every gradient in "loss and every gradient"), but
  // Adam's step is m / (√v + ε): where a gradient is near ε or cancels (lm_head rows of tokens absent from the
  // batch), its rounding on either side moves that element's step by a visible fraction of lr (first run on an
  // H200: lm_head 1.0e-4 of max |w| where the weights' bound would be 1e-5). So the steps are compared as steps:
  // |Δw_gpu − Δw_cpu| ≤ 2% of the steps' total lr (a wrong step is off by ~100%), every element of every parameter.
  for (std::size_t i = 0; i < ps_cpu.size(); ++i) {
    CAPTURE(ps_cpu[i].name);
    const auto g = cuda::to_host(ps_gpu[i].value);
    double worst = 0;
    for (std::int64_t j = 0; j < g.numel(); ++j) {
      const double w0 = initial[i].data()[j];
      worst = std::max(worst, std::abs((g.data()[j] - w0) - (ps_cpu[i].value.data()[j] - w0)));
    }
    CHECK(worst <= 0.02 * steps * lr);
  }
}

TEST_CASE("model/prefill and decode through the KV cache, fp32") {
  llama::Model<kTiny, float, Cpu> cpu;
  llama::Model<kTiny, float, Cuda> gpu;
  cpu.init_random(5);
  gpu.init_random(5);
  autograd::NoGrad no_grad;
  llama::KvCache<float, Cpu> cache_cpu(kTiny.n_layers, 2, 32, kTiny.n_kv_heads, kTiny.head_dim());
  llama::KvCache<float, Cuda> cache_gpu(kTiny.n_layers, 2, 32, kTiny.n_kv_heads, kTiny.head_dim());
  const auto prompt = random_ids(2, 10, 30);
  PMC_CHECK_PARITY(float, gpu.forward(dev(prompt), 0, &cache_gpu).value(), cpu.forward(prompt, 0, &cache_cpu).value(),
                   "prefill logits");
  for (int s = 0; s < 3; ++s) {
    const auto next = random_ids(2, 1, 40 + s);
    const std::int64_t pos = 10 + s;
    const std::string what = "decode logits at position " + std::to_string(pos);
    PMC_CHECK_PARITY(float, gpu.forward(dev(next), pos, &cache_gpu).value(), cpu.forward(next, pos, &cache_cpu).value(),
                     what);
  }
}

namespace {
std::vector<std::int32_t> random_list(std::size_t n, std::uint32_t seed) {
  const auto t = random_ids(1, static_cast<std::int64_t>(n), seed);
  return {t.span().begin(), t.span().end()};
}

/// score_continuations (the option-likelihood scorer: one prompt forward into a KV cache, copied into a
/// batch cache for the options, padded batches) and greedy llama::generate on the GPU against the CPU.
template <class T>
void check_scoring_and_decoding() {
  llama::Model<kTiny, T, Cpu> cpu;
  llama::Model<kTiny, T, Cuda> gpu;
  cpu.init_random(13);
  gpu.init_random(13);
  const auto context = random_list(12, 50);
  std::vector<std::vector<std::int32_t>> options;
  for (std::uint32_t i = 0; i < 5; ++i) options.push_back(random_list(1 + i, 60 + i));  // 1..5 tokens
  const auto on_cpu = eval::score_continuations(cpu, context, options, 2);
  const auto on_gpu = eval::score_continuations(gpu, context, options, 2);
  REQUIRE(on_gpu.size() == options.size());
  for (std::size_t i = 0; i < options.size(); ++i) {
    REQUIRE(on_gpu[i].token_logprobs.size() == options[i].size());
    for (std::size_t j = 0; j < options[i].size(); ++j) {
      const double c = on_cpu[i].token_logprobs[j], g = on_gpu[i].token_logprobs[j];
      INFO(type_name<T>(), ": option ", i, " token ", j, ": log-prob cpu ", c, ", gpu ", g);
      CHECK(std::abs(g - c) <= parity_bound<T>() * std::max(1.0, std::abs(c)));
    }
  }
  if constexpr (std::is_same_v<T, float>) {  // bf16 logits differ by an ulp, enough to flip a near tie
    llama::GenerateOptions go;
    go.max_new_tokens = 20;
    go.stop_tokens = {};
    const auto text_cpu = llama::generate(cpu, std::span<const std::int32_t>(context), go);
    const auto text_gpu = llama::generate(gpu, std::span<const std::int32_t>(context), go);
    CHECK(text_cpu.size() == 20);
    CHECK(text_gpu == text_cpu);
  }
}
}  // namespace

TEST_CASE("model/option-likelihood scores and greedy decoding, fp32") { check_scoring_and_decoding<float>(); }
TEST_CASE("model/option-likelihood scores, bf16") { check_scoring_and_decoding<bf16>(); }

namespace {
/// Runs `steps` trainer steps (fp32 or bf16 mixed) on device D from the same weights and data; the loss log.
template <class T, Device D>
std::vector<double> trainer_losses(const data::TokenFile& tf, const std::string& name, int steps) {
  llama::Model<kTiny, T, D> model;
  model.init_random(11);
  train::TrainOptions o;
  o.seq_len = 16;
  o.batch = 4;
  o.grad_accum = 2;
  o.steps = steps;
  o.lr = 3e-3;
  o.warmup = 1;
  o.weight_decay = 0.1;
  o.seed = 2;
  o.out_dir = test::tmp_dir() / name;
  o.progress = false;
  std::filesystem::remove_all(o.out_dir);
  train::Trainer<kTiny, T, D> trainer(model, tf, nullptr, o);
  std::vector<double> out;
  for (int s = 0; s < steps; ++s) out.push_back(trainer.train_step().loss);
  trainer.save_checkpoint();  // through the host
  llama::Model<kTiny, T, D> again;
  train::Trainer<kTiny, T, D> resumed(again, tf, nullptr, o);
  CHECK(resumed.resume_if_present());
  CHECK(resumed.step() == steps);
  return out;
}
}  // namespace

TEST_CASE("model/trainer steps on the GPU follow the CPU's loss log, fp32 and bf16 mixed") {
  std::mt19937 rng(9);
  std::vector<std::vector<std::int32_t>> docs;
  for (int d = 0; d < 30; ++d) {
    std::vector<std::int32_t> doc{1};
    for (int i = 0; i < 40; ++i) doc.push_back(static_cast<std::int32_t>(3 + (doc.back() * 7 + rng() % 3) % 70));
    docs.push_back(doc);
  }
  const auto path = test::tmp_dir() / "gpu_trainer.tokens";
  data::write_token_file(path, docs, kTiny.vocab_size);
  const auto tf = data::TokenFile::open(path);
  const auto cpu = trainer_losses<float, Cpu>(tf, "trainer_cpu", 4), gpu = trainer_losses<float, Cuda>(tf, "trainer_gpu", 4);
  const auto cpu16 = trainer_losses<bf16, Cpu>(tf, "trainer_cpu16", 4);
  const auto gpu16 = trainer_losses<bf16, Cuda>(tf, "trainer_gpu16", 4);
  for (std::size_t s = 0; s < cpu.size(); ++s) {
    INFO("step ", s + 1, ": fp32 cpu ", cpu[s], " gpu ", gpu[s], "; bf16 cpu ", cpu16[s], " gpu ", gpu16[s]);
    CHECK(std::abs(gpu[s] - cpu[s]) / cpu[s] <= 1e-5);
    CHECK(std::abs(gpu16[s] - cpu16[s]) / cpu16[s] <= 2e-2);
  }
}

}  // namespace pmc::test
