// SPDX-License-Identifier: MIT
// What `pmc pretrain`, `pmc instruct` and `pmc pipeline` share: preparing token files and running the Trainer
// (with resume) for the architecture of --config or --init (any LLaMA shape: a Model<dynamic>), on the CPU or
// (built with CUDA) the GPU. No CLI11 here: the GPU
// half is compiled by nvcc (cuda/training_cuda.cu); the flags are in training_flags.hpp.
// The templates below (the Trainer and the model, in fp32 and bf16) are instantiated in one file per device:
// training.cpp (CPU) and cuda/training_cuda.cu (GPU). A subcommand calls the plain functions at the end
// (run_training_on_device, run_training_on_cpu, run_training_on_gpu), never the templates: they cost about a
// minute of compile time, and compiled once per subcommand they took most of the program's build.
#pragma once

#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <pmc/pmc.hpp>

#include "device.hpp"
#include "tokenizer_files.hpp"
#include "loss_plot.hpp"

namespace pmc::cli {

struct TrainArgs {
  std::string config, init, tokenizer, out, resume, precision = "fp32", device = "cpu", tensorboard;
  std::int64_t seq_len = 128, batch = 8, grad_accum = 1, steps = 0, warmup = -1, save_every = 0, eval_every = 0;
  double epochs = 0, lr = 3e-4, min_lr = 0, weight_decay = 0, clip = 1.0, eval_fraction = 0.05;
  std::uint64_t seed = 0;
  float init_std = 0.02f;
  bool quiet = false;
  bool recompute = false;
  // instruction data: pack the training examples several to a window (data/pack.hpp; CPU only for now)
  bool pack = false;
  // LoRA: rank 0 trains the whole model; > 0 freezes it and trains adapters (written as a PEFT adapter folder)
  int lora_rank = 0;
  double lora_alpha = 16, lora_dropout = 0;
  std::string lora_targets = "q,v", base_quant = "none";
  std::string shard = "none";  // with several ranks: none, optimizer (ZeRO-1), gradients (ZeRO-2) or full (ZeRO-3)
  dist::Communicator* comm = nullptr;  // data-parallel group (launched_group(): mpirun), or one process
};


/// Token documents, with per-token predict masks for instruction data.
struct PreparedData {
  std::vector<std::vector<std::int32_t>> docs;
  std::vector<std::vector<std::uint8_t>> masks;  // empty: every token is a target
};

/// Locks DIR (train::RunLock: a second process on it fails at once), builds DIR/data/{train,eval}.tokens from
/// `prepare` (every 1/eval_fraction-th document held out), unless a run being resumed already has them; then
/// trains a Model<dynamic, T> of `a`'s architecture (T = float: fp32; bf16: mixed precision), resuming from DIR's
/// checkpoints if present.
/// Returns 0 when training finished, 128 + the signal when Ctrl-C (130) or SIGTERM (143) stopped it (a
/// checkpoint was saved). A diverged run throws (the last checkpoint stays the last good one).
using PrepareFn = std::function<PreparedData(const tokenizer::Tokenizer&)>;

/// The LoRA settings of --lora-rank, --lora-alpha, --lora-dropout and --lora-targets (nullopt: rank 0, full
/// training), checked with the flags' names.
inline std::optional<llama::LoraConfig> lora_config_of(const TrainArgs& a) {
  if (a.lora_rank == 0) {
    PMC_CHECK(a.base_quant == "none", "--base-quant ", a.base_quant, " quantizes LoRA's frozen base: give --lora-rank");
    return std::nullopt;
  }
  llama::LoraConfig c;
  c.rank = a.lora_rank;
  c.alpha = a.lora_alpha;
  c.dropout = a.lora_dropout;
  c.targets = llama::parse_lora_targets(a.lora_targets, "--lora-targets");
  const std::string problem = c.problem();
  PMC_CHECK(problem.empty(), "--lora-rank/--lora-alpha/--lora-dropout: ", problem);
  return c;
}

/// The architecture to train: that of the model given by --init, else of --config (a name or a config.json).
inline llama::Config training_config(const TrainArgs& a) {
  if (!a.init.empty()) return llama::read_architecture(a.init);
  PMC_CHECK(!a.config.empty(), "give --config NAME or --init PATH");
  return llama::architecture_of(a.config);
}

template <class T = float, Device D = Cpu>
int run_training(const TrainArgs& a, data::Packing packing, const PrepareFn& prepare) {
  namespace fs = std::filesystem;
  const llama::Config C = training_config(a);
  using Model = llama::Model<llama::dynamic, T, D>;
  PMC_CHECK(a.seq_len <= C.max_seq_len, "--seq-len ", a.seq_len, " exceeds the model's context of ", C.max_seq_len,
            " positions");
  const auto tok = load_tokenizer(a.tokenizer);
  PMC_CHECK(tok.vocab_size() <= C.vocab_size, a.tokenizer, ": ", tok.vocab_size(), " pieces do not fit the model's ",
            C.vocab_size, " embeddings");
  // a loaded model borrows the checkpoint's memory; only a fresh one allocates its weights
  auto model = a.init.empty() ? Model(C, true) : Model::unallocated(C, true);
  if (!a.init.empty()) llama::load_weights(model, a.init);
  else model.init_random(a.seed, a.init_std);
  const auto lora = lora_config_of(a);
  if (lora) {
    model.add_lora(*lora, a.seed);
    model.quantize_base(llama::parse_base_quant(a.base_quant));
  }
  if (a.pack) autograd::check_packing_supported<D>();
  const fs::path out = a.out;
  const bool lead = dist::rank_of(a.comm) == 0;  // with data-parallel ranks, rank 0 writes the token files
  io::ensure_directory(out / "data");
  std::optional<train::RunLock> lock;  // before anything is written into the folder
  if (lead) lock.emplace(out);
  const fs::path train_path = out / "data/train.tokens", eval_path = out / "data/eval.tokens";
  const bool resuming = !a.resume.empty() || fs::exists(out / "checkpoints/latest");
  if (lead && !(resuming && fs::exists(train_path))) {
    const PreparedData d = prepare(tok);
    PMC_CHECK(!d.docs.empty(), "training: no documents");
    const bool masked = !d.masks.empty();
    const std::size_t every =
        a.eval_fraction > 0 ? static_cast<std::size_t>(std::llround(1.0 / a.eval_fraction)) : 0;
    PreparedData train, eval;
    for (std::size_t i = 0; i < d.docs.size(); ++i) {
      PreparedData& dst = every && i % every == every - 1 ? eval : train;
      dst.docs.push_back(d.docs[i]);
      if (masked) dst.masks.push_back(d.masks[i]);
    }
    if (a.pack) {  // the training examples several to a window; the evaluation's stay one per window
      // an example longer than a window (not fit by the caller) keeps its first T + 1 tokens, as read unpacked
      for (std::size_t i = 0; i < train.docs.size(); ++i)
        if (static_cast<std::int64_t>(train.docs[i].size()) > a.seq_len + 1) {
          train.docs[i].resize(static_cast<std::size_t>(a.seq_len + 1));
          if (masked) train.masks[i].resize(static_cast<std::size_t>(a.seq_len + 1));
        }
      const auto packed = data::pack_examples(train.docs, train.masks, a.seq_len + 1, a.seed);
      std::fprintf(stderr,
                   "%s: packed %lld examples into %lld windows of %lld tokens (fill %.1f%%; unpacked: %lld windows)\n",
                   out.filename().string().c_str(), static_cast<long long>(packed.examples),
                   static_cast<long long>(packed.windows()), static_cast<long long>(a.seq_len + 1),
                   100.0 * packed.fill(), static_cast<long long>(packed.examples));
      data::write_token_file(train_path, packed.docs, C.vocab_size, masked ? &packed.masks : nullptr, &packed.segments);
    } else {
      data::write_token_file(train_path, train.docs, C.vocab_size, masked ? &train.masks : nullptr);
    }
    if (!eval.docs.empty()) data::write_token_file(eval_path, eval.docs, C.vocab_size, masked ? &eval.masks : nullptr);
    else std::filesystem::remove(eval_path);
  }
  dist::barrier(a.comm);  // the other ranks open the files rank 0 wrote
  const auto train_file = data::TokenFile::open(train_path);
  std::optional<data::TokenFile> eval_file;
  if (fs::exists(eval_path)) eval_file = data::TokenFile::open(eval_path);
  train::TrainOptions o;
  o.seq_len = a.seq_len;
  o.batch = a.batch;
  o.grad_accum = a.grad_accum;
  o.lr = a.lr;
  o.min_lr = a.min_lr;
  o.warmup = a.warmup;
  o.weight_decay = a.weight_decay;
  o.clip = a.clip;
  o.seed = a.seed;
  o.packing = packing;
  o.save_every = a.save_every;
  o.eval_every = a.eval_every;
  o.out_dir = out;
  o.tensorboard_dir = a.tensorboard;
  o.recompute = a.recompute;
  o.comm = a.comm;
  o.base_model = a.init;
  o.shard = train::parse_shard_level(a.shard, "--shard");
  const data::WindowSampler probe(train_file, o.seq_len, o.packing, o.seed);
  o.steps = a.steps > 0 ? a.steps
                        : static_cast<std::int64_t>(std::ceil(a.epochs * static_cast<double>(probe.windows_per_epoch()) /
                                                              static_cast<double>(o.batch)));
  PMC_CHECK(o.steps > 0, "training: give --steps or --epochs");
  if (lead)
    std::fprintf(stderr, "%s: %lld tokens in %lld documents (%lld windows of %lld per epoch), %lld steps, %s%s\n",
               out.filename().string().c_str(), static_cast<long long>(train_file.n_tokens()),
               static_cast<long long>(train_file.n_docs()), static_cast<long long>(probe.windows_per_epoch()),
               static_cast<long long>(o.seq_len), static_cast<long long>(o.steps),
               std::string(train::Trainer<llama::dynamic, T, D>::precision).c_str(), o.recompute ? ", activation recompute" : "");
  if (lead && lora) {
    std::int64_t adapters = 0;
    for (const auto& p : model.lora_parameters()) adapters += p.var.value().numel();
    std::fprintf(stderr, "%s: LoRA rank %d, alpha %g, dropout %g on %s: %lld trainable parameters (%.3f%% of %lld), base %s frozen\n",
                 out.filename().string().c_str(), lora->rank, lora->alpha, lora->dropout, a.lora_targets.c_str(),
                 static_cast<long long>(adapters), 100.0 * static_cast<double>(adapters) / static_cast<double>(model.parameter_count()),
                 static_cast<long long>(model.parameter_count()), a.base_quant.c_str());
  }
  if constexpr (!std::is_same_v<D, Cpu>) std::fprintf(stderr, "%s: training on %s\n", out.string().c_str(), D::name.data());
  if (a.comm && lead)
    std::fprintf(stderr, "%s: data parallel over %d %s ranks, %lld of the %lld windows of a batch each, sharding %s\n",
                 out.string().c_str(), a.comm->size(), a.comm->name().c_str(),
                 static_cast<long long>(o.batch / a.comm->size()), static_cast<long long>(o.batch),
                 std::string(train::shard_level_name(o.shard)).c_str());
  train::Trainer<llama::dynamic, T, D> trainer(model, train_file, eval_file ? &*eval_file : nullptr, o);
  if (!a.resume.empty()) {
    PMC_CHECK(trainer.resume_if_present(fs::path(a.resume)), a.resume, ": no checkpoints/latest to resume from");
  } else if (trainer.resume_if_present() && lead) {
    std::fprintf(stderr, "%s: resuming at step %lld\n", out.string().c_str(), static_cast<long long>(trainer.step()));
  }
  const bool finished = trainer.run();
  const int code = finished ? 0 : 128 + (trainer.stop_signal() != 0 ? trainer.stop_signal() : SIGINT);
  if (!lead) return code;
  write_run_loss_plot(out);  // RUN/loss.svg, also after an interruption
  if (finished && eval_file)
    std::fprintf(stderr, "%s: final eval loss %.4f; %s\n", out.string().c_str(), trainer.eval_loss(),
                 lora ? "adapter saved (PEFT layout: adapter_config.json, adapter_model.safetensors)"
                      : "model saved (Hugging Face layout)");
  return code;
}

/// run_training on device D in the precision of --precision (fp32 or bf16 mixed).
template <Device D = Cpu>
int run_training_in_precision(const TrainArgs& a, data::Packing packing, const PrepareFn& prepare) {
  if (a.precision == "bf16") return run_training<bf16, D>(a, packing, prepare);
  PMC_CHECK(a.precision == "fp32", "--precision must be fp32 or bf16, got '", a.precision, "'");
  return run_training<float, D>(a, packing, prepare);
}

/// run_training on the CPU in --precision (training.cpp: the CPU instantiations, compiled once).
int run_training_on_cpu(const TrainArgs& a, data::Packing packing, const PrepareFn& prepare);

#if defined(PMC_CLI_WITH_CUDA)
/// run_training on the GPU (cuda/training_cuda.cu, compiled by nvcc).
PMC_CLI_CUDA_ENTRY int run_training_cuda(const TrainArgs& a, data::Packing packing, const PrepareFn& prepare);
#endif

/// run_training on the GPU, or fails saying why this program cannot.
inline int run_training_on_gpu(const TrainArgs& a, data::Packing packing, const PrepareFn& prepare) {
#if defined(PMC_CLI_WITH_CUDA)
  return run_training_cuda(a, packing, prepare);
#else
  (void)a, (void)packing, (void)prepare;
  fail_without_cuda();
#endif
}

/// Trains the config of `a` on --device (cpu, or cuda when this program was built with CUDA) in --precision.
inline int run_training_on_device(const TrainArgs& a, data::Packing packing, const PrepareFn& prepare) {
  if (wants_cuda(a.device)) return run_training_on_gpu(a, packing, prepare);
  return run_training_on_cpu(a, packing, prepare);
}

}  // namespace pmc::cli
