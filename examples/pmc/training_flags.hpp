// SPDX-License-Identifier: MIT
// The command-line flags of the training subcommands (`pmc pretrain`, `pmc instruct`), into a TrainArgs.
#pragma once

#include "command.hpp"
#include "training.hpp"

namespace pmc::cli {

inline void add_training_flags(CLI::App& app, TrainArgs& a) {
  auto* cfg = app.add_option("--config", a.config, "start from random weights of this architecture: a config name or a config.json");
  auto* init = app.add_option("--init", a.init, "start from this model (HF folder, .safetensors, llama2.c .bin)");
  cfg->excludes(init);
  app.add_option("--tokenizer", a.tokenizer, "tokenizer.model (SentencePiece), tokenizer.json, or a model folder holding one")->required()->check(CLI::ExistingPath);
  app.add_option("--seq-len", a.seq_len, "tokens per sequence")->check(CLI::PositiveNumber);
  app.add_option("--batch", a.batch, "sequences per optimizer step")->check(CLI::PositiveNumber);
  app.add_option("--grad-accum", a.grad_accum, "micro-batches per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", a.lr, "peak learning rate")->check(positive_number());
  app.add_option("--min-lr", a.min_lr, "floor of the cosine decay")->check(finite_number(0));
  app.add_option("--warmup", a.warmup, "warmup steps (default 3% of steps)")->check(CLI::NonNegativeNumber);
  app.add_option("--weight-decay", a.weight_decay, "AdamW weight decay on 2-D weights")->check(finite_number(0));
  app.add_option("--clip", a.clip, "global gradient-norm clip (0: off)")->check(finite_number(0));
  auto* steps = app.add_option("--steps", a.steps, "optimizer steps")->check(CLI::PositiveNumber);
  app.add_option("--epochs", a.epochs, "epochs over the data (instead of --steps)")
      ->excludes(steps)
      ->check(positive_number());
  app.add_option("--seed", a.seed, "seed of initialization and data order")->check(CLI::NonNegativeNumber);
  app.add_option("--init-std", a.init_std, "std of random initialization")->check(finite_number(0));
  app.add_option("--eval-fraction", a.eval_fraction, "share of documents held out for the evaluation loss")
      ->check(finite_number(0, 0.5));
  app.add_option("--eval-every", a.eval_every, "evaluation loss every N steps")->check(CLI::NonNegativeNumber);
  app.add_option("--save-every", a.save_every, "checkpoint every N steps")->check(CLI::NonNegativeNumber);
  app.add_option("--out", a.out, "output folder")->required();
  app.add_option("--resume", a.resume, "resume from this run folder's checkpoints");
  app.add_option("--tensorboard", a.tensorboard, "also write the metrics as TensorBoard event files into this folder");
  app.add_option("--precision", a.precision,
                 "fp32, or bf16 (bf16 forward/backward with fp32 master weights, grads and AdamW state)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  add_device_flag(app, a.device);
  app.add_option("--shard", a.shard,
                 "with several MPI ranks: what they split between them: none (every rank a replica), optimizer "
                 "(ZeRO-1: fp32 masters and AdamW state), gradients (ZeRO-2: also the fp32 gradients) or full "
                 "(ZeRO-3: also the weights, each block's gathered when it runs; needs --recompute); "
                 "docs/distributed.md")
      ->check(CLI::IsMember({"none", "optimizer", "gradients", "full"}));
  app.add_flag("--recompute", a.recompute,
               "recompute each transformer block's activations during backward (keeps only block inputs)");
  app.add_option("--lora-rank", a.lora_rank,
                 "train LoRA adapters of this rank on a frozen base (0: train the whole model); the run folder "
                 "ends as a PEFT adapter (adapter_config.json, adapter_model.safetensors)")
      ->check(CLI::Range(0, 65536));
  app.add_option("--lora-alpha", a.lora_alpha, "LoRA's alpha: the adapters are scaled by alpha / rank")
      ->check(positive_number());
  app.add_option("--lora-dropout", a.lora_dropout, "dropout on the adapters' input while training")
      ->check(finite_number(0, 0.99));
  app.add_option("--lora-targets", a.lora_targets,
                 "projections given adapters: a list of q, k, v, o, gate, up, down, or all, attention, mlp");
  app.add_option("--base-quant", a.base_quant,
                 "the frozen base's storage under LoRA: none (the model's precision), int8 or nf4 (QLoRA)")
      ->check(CLI::IsMember({"none", "int8", "nf4"}));
}

}  // namespace pmc::cli
