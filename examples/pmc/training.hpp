// SPDX-License-Identifier: MIT
// What `pmc pretrain`, `pmc instruct` and `pmc pipeline` share: the training flags, preparing token files,
// and running the Trainer (with resume) for a config chosen by name.
#pragma once

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <pmc/pmc.hpp>

#include "command.hpp"

namespace pmc::cli {

struct TrainArgs {
  std::string config, init, tokenizer, out, resume, precision = "fp32";
  std::int64_t seq_len = 128, batch = 8, grad_accum = 1, steps = 0, warmup = -1, save_every = 0, eval_every = 0;
  double epochs = 0, lr = 3e-4, min_lr = 0, weight_decay = 0, clip = 1.0, eval_fraction = 0.05;
  std::uint64_t seed = 0;
  float init_std = 0.02f;
  bool quiet = false;
  bool recompute = false;
};

inline void add_training_flags(CLI::App& app, TrainArgs& a) {
  auto* cfg = app.add_option("--config", a.config, "start from random weights of this config");
  auto* init = app.add_option("--init", a.init, "start from this model (HF folder, .safetensors, llama2.c .bin)");
  cfg->excludes(init);
  app.add_option("--tokenizer", a.tokenizer, "SentencePiece .model")->required()->check(CLI::ExistingFile);
  app.add_option("--seq-len", a.seq_len, "tokens per sequence");
  app.add_option("--batch", a.batch, "sequences per optimizer step");
  app.add_option("--grad-accum", a.grad_accum, "micro-batches per step");
  app.add_option("--lr", a.lr, "peak learning rate");
  app.add_option("--min-lr", a.min_lr, "floor of the cosine decay");
  app.add_option("--warmup", a.warmup, "warmup steps (default 3% of steps)");
  app.add_option("--weight-decay", a.weight_decay, "AdamW weight decay on 2-D weights");
  app.add_option("--clip", a.clip, "global gradient-norm clip (0: off)");
  auto* steps = app.add_option("--steps", a.steps, "optimizer steps");
  app.add_option("--epochs", a.epochs, "epochs over the data (instead of --steps)")->excludes(steps);
  app.add_option("--seed", a.seed, "seed of initialization and data order");
  app.add_option("--init-std", a.init_std, "std of random initialization");
  app.add_option("--eval-fraction", a.eval_fraction, "share of documents held out for the evaluation loss");
  app.add_option("--eval-every", a.eval_every, "evaluation loss every N steps");
  app.add_option("--save-every", a.save_every, "checkpoint every N steps");
  app.add_option("--out", a.out, "output folder")->required();
  app.add_option("--resume", a.resume, "resume from this run folder's checkpoints");
  app.add_option("--precision", a.precision,
                 "fp32, or bf16 (bf16 forward/backward with fp32 master weights, grads and AdamW state)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_flag("--recompute", a.recompute,
               "recompute each transformer block's activations during backward (keeps only block inputs)");
}

/// Token documents, with per-token predict masks for instruction data.
struct PreparedData {
  std::vector<std::vector<std::int32_t>> docs;
  std::vector<std::vector<std::uint8_t>> masks;  // empty: every token is a target
};

/// Builds DIR/data/{train,eval}.tokens from `prepare` (every 1/eval_fraction-th document held out),
/// unless a run being resumed already has them; then trains a Model<C, T> (T = float: fp32; bf16: mixed
/// precision), resuming from DIR's checkpoints if present.
/// Returns 0 when training finished, 130 when interrupted (a checkpoint was saved).
template <llama::Config C, class T = float>
int run_training(const TrainArgs& a, data::Packing packing,
                 const std::function<PreparedData(const tokenizer::BpeTokenizer&)>& prepare) {
  namespace fs = std::filesystem;
  const auto tok = tokenizer::BpeTokenizer::load(a.tokenizer);
  PMC_CHECK(tok.vocab_size() <= C.vocab_size, a.tokenizer, ": ", tok.vocab_size(), " pieces do not fit the model's ",
            C.vocab_size, " embeddings");
  // a loaded model borrows the checkpoint's memory; only a fresh one allocates its weights
  auto model = a.init.empty() ? llama::Model<C, T>(true) : llama::Model<C, T>::unallocated(true);
  if (!a.init.empty()) llama::load_weights(model, a.init);
  else model.init_random(a.seed, a.init_std);
  const fs::path out = a.out;
  fs::create_directories(out / "data");
  const fs::path train_path = out / "data/train.tokens", eval_path = out / "data/eval.tokens";
  const bool resuming = !a.resume.empty() || fs::exists(out / "checkpoints/latest");
  if (!(resuming && fs::exists(train_path))) {
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
    data::write_token_file(train_path, train.docs, C.vocab_size, masked ? &train.masks : nullptr);
    if (!eval.docs.empty()) data::write_token_file(eval_path, eval.docs, C.vocab_size, masked ? &eval.masks : nullptr);
    else std::filesystem::remove(eval_path);
  }
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
  o.recompute = a.recompute;
  const data::WindowSampler probe(train_file, o.seq_len, o.packing, o.seed);
  o.steps = a.steps > 0 ? a.steps
                        : static_cast<std::int64_t>(std::ceil(a.epochs * static_cast<double>(probe.windows_per_epoch()) /
                                                              static_cast<double>(o.batch)));
  PMC_CHECK(o.steps > 0, "training: give --steps or --epochs");
  std::fprintf(stderr, "%s: %lld tokens in %lld documents (%lld windows of %lld per epoch), %lld steps, %s%s\n",
               out.filename().string().c_str(), static_cast<long long>(train_file.n_tokens()),
               static_cast<long long>(train_file.n_docs()), static_cast<long long>(probe.windows_per_epoch()),
               static_cast<long long>(o.seq_len), static_cast<long long>(o.steps),
               std::string(train::Trainer<C, T>::precision).c_str(), o.recompute ? ", activation recompute" : "");
  train::Trainer trainer(model, train_file, eval_file ? &*eval_file : nullptr, o);
  if (!a.resume.empty()) {
    PMC_CHECK(trainer.resume_if_present(fs::path(a.resume)), a.resume, ": no checkpoints/latest to resume from");
  } else if (trainer.resume_if_present()) {
    std::fprintf(stderr, "%s: resuming at step %lld\n", out.string().c_str(), static_cast<long long>(trainer.step()));
  }
  const bool finished = trainer.run();
  if (finished && eval_file)
    std::fprintf(stderr, "%s: final eval loss %.4f; model saved (Hugging Face layout)\n", out.string().c_str(),
                 trainer.eval_loss());
  return finished ? 0 : 130;
}

/// run_training in the precision of --precision (fp32 or bf16 mixed).
template <llama::Config C>
int run_training_in_precision(const TrainArgs& a, data::Packing packing,
                              const std::function<PreparedData(const tokenizer::BpeTokenizer&)>& prepare) {
  if (a.precision == "bf16") return run_training<C, bf16>(a, packing, prepare);
  PMC_CHECK(a.precision == "fp32", "--precision must be fp32 or bf16, got '", a.precision, "'");
  return run_training<C, float>(a, packing, prepare);
}

/// The configs the training subcommands are built for (CPU training; each one listed is compiled in).
template <class F>
int with_trainable_config(const std::string& name, F&& f) {
  return llama::dispatch_config<llama::tiny, llama::demo, llama::stories260k, llama::small_20m, llama::hf_test_train>(name, std::forward<F>(f));
}

/// The config of --config, or of the model given by --init.
inline std::string training_config_name(const TrainArgs& a) {
  if (!a.init.empty()) return llama::checkpoint_config_name(a.init);
  PMC_CHECK(!a.config.empty(), "give --config NAME or --init PATH");
  return a.config;
}

}  // namespace pmc::cli
