// SPDX-License-Identifier: MIT
// `pmc convert`: any model pmc reads (HF folder, .safetensors, llama2.c .bin), or a training checkpoint (sharded
// or not), to a Hugging Face folder.
#include <cstdio>
#include <filesystem>
#include <string>

#include <pmc/models/llama/checkpoint.hpp>
#include <pmc/models/llama/lora.hpp>
#include <pmc/pmc.hpp>
#include <pmc/tokenizer/tokenizer.hpp>
#include <pmc/train/consolidate.hpp>

#include "command.hpp"
#include "tokenizer_files.hpp"

namespace {

const pmc::cli::Command convert_command{
    "convert", "Convert a model (HF folder, .safetensors, llama2.c .bin) or a training checkpoint to a Hugging Face folder",
    [](CLI::App& app) {
      struct Opts {
        std::string model, checkpoint, out, dtype = "fp32", tokenizer, adapter;
      };
      auto o = std::make_shared<Opts>();
      auto* model_opt = app.add_option("--model", o->model, "HF folder, .safetensors file or llama2.c .bin");
      auto* checkpoint_opt = app.add_option(
          "--checkpoint", o->checkpoint,
          "a training checkpoint written whole, sharded or not: a checkpoint folder (RUN/checkpoints/step_N), a "
          "checkpoints folder or a run folder (its latest checkpoint); the fp32 weights (a bf16 run's masters)");
      model_opt->excludes(checkpoint_opt);  // (one of the two is required: checked when the command runs)
      checkpoint_opt->excludes(model_opt);
      app.add_option("--out", o->out, "output folder (config.json + model.safetensors)")->required();
      app.add_option("--adapter", o->adapter,
                     "a PEFT LoRA adapter folder for --model (pmc's or PEFT's): merged into the weights "
                     "(W + alpha/r * B*A, in fp32), so --out is a plain model");
      app.add_option("--dtype", o->dtype, "fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
      app.add_option("--tokenizer", o->tokenizer,
                     "tokenizer.model, tokenizer.json or a folder holding one, written into --out as tokenizer.json "
                     "(+ tokenizer.model) and tokenizer_config.json (default: --model's folder's, when it has one)")
          ->check(CLI::ExistingPath);
      return [o]() {
        {
          PMC_CHECK(!o->model.empty() || !o->checkpoint.empty(),
                    "pmc convert: give --model (a model to convert) or --checkpoint (a training checkpoint)");
          PMC_CHECK(o->adapter.empty() || o->checkpoint.empty(), "--adapter merges into --model, not into ",
                    "--checkpoint (convert the checkpoint first, then merge into the folder it makes)");
          if (!o->adapter.empty()) (void)pmc::llama::read_peft_config(o->adapter);  // fail before loading the base
          // a training checkpoint: its shards read into one fp32 model (train/consolidate.hpp)
          std::string source = o->model;
          auto model = [&] {
            if (o->checkpoint.empty()) return pmc::llama::load_model<float>(o->model);
            auto c = pmc::train::consolidate_checkpoint(o->checkpoint);
            const auto& s = c.state;
            source = pmc::detail::concat("checkpoint ", c.dir.string(), " (step ", s.step, ", ", s.shards,
                                         s.shards == 1 ? " shard, " : " shards, ", s.precision, ", ", s.rope_layout,
                                         " RoPE)");
            return std::move(c.model);
          }();
          const pmc::llama::Config C = model.config();
          if (!o->adapter.empty()) {
            const auto lora = pmc::llama::load_peft_adapter(model, o->adapter, /*trainable=*/false);
            model.merge_lora();  // in fp32, before --dtype rounds the merged weights
            std::string targets;
            for (const auto& m : pmc::llama::lora_target_modules(lora)) targets += (targets.empty() ? "" : ",") + m;
            std::printf("pmc convert: merged LoRA adapter %s (rank %d, alpha %g, %s) into %s\n", o->adapter.c_str(),
                        lora.rank, lora.alpha, targets.c_str(), o->model.c_str());
          }
          if (o->dtype == "bf16") {
            pmc::llama::Model<pmc::llama::dynamic, pmc::bf16> half(C, false);
            auto src = model.named_parameters();
            auto dst = half.named_parameters();
            for (std::size_t i = 0; i < src.size(); ++i) src[i].var.value().copy_to(dst[i].var.value());
            half.set_rope_layout(model.rope_layout());
            half.set_special_tokens(model.special_tokens());
            pmc::llama::save_hf(half, o->out);
          } else {
            pmc::llama::save_hf(model, o->out);
          }
          std::printf("pmc convert: %s (%s, %lld parameters) -> %s\n", source.c_str(),
                      pmc::llama::config_label(C).c_str(), static_cast<long long>(C.parameters()), o->out.c_str());
          std::string tok = o->tokenizer;
          std::error_code ec;
          if (tok.empty() && std::filesystem::is_directory(o->model, ec) &&
              (std::filesystem::exists(std::filesystem::path(o->model) / "tokenizer.json", ec) ||
               std::filesystem::exists(std::filesystem::path(o->model) / "tokenizer.model", ec)))
            tok = o->model;
          if (!tok.empty()) {
            std::string files;
            for (const auto& f : pmc::cli::save_hf_tokenizer(tok, o->out)) files += (files.empty() ? "" : ", ") + f;
            std::printf("pmc convert: tokenizer %s -> %s\n", tok.c_str(), files.c_str());
          }
          return 0;
        }
      };
    }};

}  // namespace
