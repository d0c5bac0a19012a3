// SPDX-License-Identifier: MIT
// `pmc convert`: any model pmc reads (HF folder, .safetensors, llama2.c .bin, .gguf), or a training checkpoint
// (sharded or not), to a Hugging Face folder or to a llama.cpp GGUF file (--gguf, with --gguf-type's matrices).
#include <cstdio>
#include <filesystem>
#include <string>

#include <pmc/models/llama/checkpoint.hpp>
#include <pmc/models/llama/gguf_save.hpp>
#include <pmc/models/llama/lora.hpp>
#include <pmc/pmc.hpp>
#include <pmc/tokenizer/tokenizer.hpp>
#include <pmc/train/consolidate.hpp>

#include "command.hpp"
#include "tokenizer_files.hpp"

namespace {

/// The GGUF vocabulary of a SentencePiece tokenizer, padded to the model's `vocab` embeddings with unused
/// "[PAD<id>]" pieces (as convert_hf_to_gguf.py pads).
pmc::llama::GgufVocab gguf_vocab(const std::string& path, int vocab) {
  const auto tok = pmc::cli::load_tokenizer(path);
  const pmc::tokenizer::BpeTokenizer* sp = tok.sentencepiece();
  PMC_CHECK(sp != nullptr, path, ": --gguf needs a SentencePiece tokenizer (tokenizer.model); a tokenizer.json "
            "vocabulary is not written to GGUF by pmc");
  PMC_CHECK(sp->vocab_size() <= vocab, path, ": the tokenizer has ", sp->vocab_size(), " pieces but the model only ",
            vocab, " embeddings");
  pmc::llama::GgufVocab v;
  for (std::int32_t id = 0; id < vocab; ++id) {
    const bool real = id < sp->vocab_size();
    v.tokens.push_back(real ? sp->id_to_piece(id) : "[PAD" + std::to_string(id) + "]");
    v.scores.push_back(real ? sp->score(id) : -1000.f);
    v.types.push_back(real ? static_cast<std::int32_t>(sp->type(id)) : 5);  // 5: unused
  }
  v.bos = sp->bos_id();
  v.eos = sp->eos_id();
  v.unk = sp->unk_id();
  return v;
}

const pmc::cli::Command convert_command{
    "convert", "Convert a model (HF folder, .safetensors, llama2.c .bin, .gguf) or a training checkpoint to a Hugging Face folder or a GGUF file",
    [](CLI::App& app) {
      struct Opts {
        std::string model, checkpoint, out, dtype = "fp32", tokenizer, adapter, gguf, gguf_type = "f16";
      };
      auto o = std::make_shared<Opts>();
      auto* model_opt = app.add_option("--model", o->model, "HF folder, .safetensors file, llama2.c .bin or .gguf");
      auto* checkpoint_opt = app.add_option(
          "--checkpoint", o->checkpoint,
          "a training checkpoint written whole, sharded or not: a checkpoint folder (RUN/checkpoints/step_N), a "
          "checkpoints folder or a run folder (its latest checkpoint); the fp32 weights (a bf16 run's masters)");
      model_opt->excludes(checkpoint_opt);  // (one of the two is required: checked when the command runs)
      checkpoint_opt->excludes(model_opt);
      auto* out_opt = app.add_option("--out", o->out, "output folder (config.json + model.safetensors)");
      auto* gguf_opt = app.add_option("--gguf", o->gguf,
                                      "write a llama.cpp GGUF file instead (needs a SentencePiece tokenizer: --tokenizer "
                                      "or --model's folder's tokenizer.model)");
      out_opt->excludes(gguf_opt);
      gguf_opt->excludes(out_opt);
      app.add_option("--gguf-type", o->gguf_type,
                     "with --gguf: the matrices' type, f32, f16, bf16, or llama.cpp's q8_0 / q4_0 blocks (norms stay "
                     "f32; a matrix whose rows are not a multiple of 32 stays f32)")
          ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0", "q4_0"}))
          ->capture_default_str();
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
          PMC_CHECK(!o->out.empty() || !o->gguf.empty(), "pmc convert: give --out (a Hugging Face folder) or --gguf (a ",
                    "GGUF file)");
          std::string tok = o->tokenizer;
          std::error_code ec;
          if (tok.empty() && std::filesystem::is_directory(o->model, ec) &&
              (std::filesystem::exists(std::filesystem::path(o->model) / "tokenizer.json", ec) ||
               std::filesystem::exists(std::filesystem::path(o->model) / "tokenizer.model", ec)))
            tok = o->model;
          PMC_CHECK(o->gguf.empty() || !tok.empty(), "pmc convert --gguf: a GGUF file holds its vocabulary: give ",
                    "--tokenizer (a tokenizer.model)");
          PMC_CHECK(o->adapter.empty() || o->checkpoint.empty(), "--adapter merges into --model, not into ",
                    "--checkpoint (convert the checkpoint first, then merge into the folder it makes)");
          if (!o->adapter.empty()) (void)pmc::llama::read_peft_config(o->adapter);  // fail before loading the base
          // a bf16 checkpoint written as GGUF: read in bf16 (memory-mapped, exact) rather than widened to fp32, so
          // that a 7B (13.5 GB in bf16, 27 GB in fp32) converts on a 24 GiB machine
          if (!o->gguf.empty() && o->adapter.empty() && o->checkpoint.empty()) {
            const auto cfg = pmc::llama::config_json_of(o->model);
            if (cfg && pmc::io::read_hf_config(*cfg).torch_dtype == "bfloat16") {
              const auto half = pmc::llama::load_model<pmc::bf16>(o->model);
              const auto vocab = gguf_vocab(tok, half.config().vocab_size);
              pmc::llama::save_gguf(half, vocab, o->gguf, pmc::llama::parse_gguf_weights(o->gguf_type, "--gguf-type"));
              std::printf("pmc convert: %s (%s, bf16, %lld parameters) -> %s (matrices %s, vocabulary of %zu from %s)\n",
                          o->model.c_str(), pmc::llama::config_label(half.config()).c_str(),
                          static_cast<long long>(half.config().parameters()), o->gguf.c_str(), o->gguf_type.c_str(),
                          vocab.tokens.size(), tok.c_str());
              return 0;
            }
          }
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
          if (!o->gguf.empty()) {
            const auto vocab = gguf_vocab(tok, C.vocab_size);
            pmc::llama::save_gguf(model, vocab, o->gguf, pmc::llama::parse_gguf_weights(o->gguf_type, "--gguf-type"));
            std::printf("pmc convert: %s (%s, %lld parameters) -> %s (matrices %s, vocabulary of %zu from %s)\n",
                        source.c_str(), pmc::llama::config_label(C).c_str(), static_cast<long long>(C.parameters()),
                        o->gguf.c_str(), o->gguf_type.c_str(), vocab.tokens.size(), tok.c_str());
            return 0;
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
