// SPDX-License-Identifier: MIT
// `pmc pretrain`: knowledge injection (continued pretraining) of a LLaMA on text or JSONL corpora.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <pmc/data/corpus.hpp>
#include <pmc/pmc.hpp>

#include "command.hpp"

namespace {

struct PretrainArgs {
  std::string config, init, tokenizer, out, resume, packing = "plain";
  std::vector<std::string> corpus;
  std::int64_t seq_len = 128, batch = 8, grad_accum = 1, steps = 0, warmup = -1, save_every = 0, eval_every = 0;
  double epochs = 0, lr = 3e-4, min_lr = 0, weight_decay = 0, clip = 1.0, eval_fraction = 0.05;
  std::uint64_t seed = 0;
  float init_std = 0.02f;
};

/// Every 1/eval_fraction-th document goes to the evaluation file (none if the fraction is 0).
void split_documents(const std::vector<std::vector<std::int32_t>>& docs, double eval_fraction,
                     std::vector<std::vector<std::int32_t>>& train, std::vector<std::vector<std::int32_t>>& eval) {
  const std::size_t every = eval_fraction > 0 ? static_cast<std::size_t>(std::llround(1.0 / eval_fraction)) : 0;
  for (std::size_t i = 0; i < docs.size(); ++i) (every && i % every == every - 1 ? eval : train).push_back(docs[i]);
  if (eval.empty() && every) eval.push_back(docs.back());
}

template <pmc::llama::Config C>
int run_pretrain(const PretrainArgs& a) {
  namespace fs = std::filesystem;
  const auto tok = pmc::tokenizer::BpeTokenizer::load(a.tokenizer);
  PMC_CHECK(tok.vocab_size() <= C.vocab_size, a.tokenizer, ": ", tok.vocab_size(), " pieces do not fit the model's ",
            C.vocab_size, " embeddings");
  pmc::llama::Model<C, float> model;
  if (!a.init.empty()) {
    model = pmc::llama::Model<C, float>::unallocated(true);
    pmc::llama::load_weights(model, a.init);
  } else {
    model.init_random(a.seed, a.init_std);
  }
  const fs::path out = a.out;
  fs::create_directories(out / "data");
  const fs::path train_path = out / "data/train.tokens", eval_path = out / "data/eval.tokens";
  const bool resuming = !a.resume.empty() || fs::exists(out / "checkpoints/latest");
  if (!(resuming && fs::exists(train_path) && fs::exists(eval_path))) {
    std::vector<fs::path> files(a.corpus.begin(), a.corpus.end());
    PMC_CHECK(!files.empty(), "pretrain: --corpus is required");
    const auto docs = pmc::data::tokenize_documents(files, tok);
    std::vector<std::vector<std::int32_t>> train, eval;
    split_documents(docs, a.eval_fraction, train, eval);
    pmc::data::write_token_file(train_path, train, C.vocab_size);
    pmc::data::write_token_file(eval_path, eval, C.vocab_size);
  }
  const auto train_file = pmc::data::TokenFile::open(train_path);
  const auto eval_file = pmc::data::TokenFile::open(eval_path);
  pmc::train::TrainOptions o;
  o.seq_len = a.seq_len;
  o.batch = a.batch;
  o.grad_accum = a.grad_accum;
  o.lr = a.lr;
  o.min_lr = a.min_lr;
  o.warmup = a.warmup;
  o.weight_decay = a.weight_decay;
  o.clip = a.clip;
  o.seed = a.seed;
  o.packing = a.packing == "doc-window" ? pmc::data::Packing::doc_window : pmc::data::Packing::plain;
  o.save_every = a.save_every;
  o.eval_every = a.eval_every;
  o.out_dir = out;
  const pmc::data::WindowSampler probe(train_file, o.seq_len, o.packing, o.seed);
  o.steps = a.steps > 0 ? a.steps
                        : static_cast<std::int64_t>(std::ceil(a.epochs * static_cast<double>(probe.windows_per_epoch()) /
                                                              static_cast<double>(o.batch)));
  PMC_CHECK(o.steps > 0, "pretrain: give --steps or --epochs");
  std::fprintf(stderr, "pretrain: %lld train tokens in %lld documents (%lld windows of %lld per epoch), %lld steps\n",
               static_cast<long long>(train_file.n_tokens()), static_cast<long long>(train_file.n_docs()),
               static_cast<long long>(probe.windows_per_epoch()), static_cast<long long>(o.seq_len),
               static_cast<long long>(o.steps));
  pmc::train::Trainer trainer(model, train_file, &eval_file, o);
  if (!a.resume.empty()) {
    PMC_CHECK(trainer.resume_if_present(fs::path(a.resume)), a.resume, ": no checkpoints/latest to resume from");
  } else if (trainer.resume_if_present()) {
    std::fprintf(stderr, "pretrain: resuming %s at step %lld\n", out.string().c_str(),
                 static_cast<long long>(trainer.step()));
  }
  const bool finished = trainer.run();
  if (finished) {
    std::fprintf(stderr, "pretrain: final eval loss %.4f; model saved in %s (Hugging Face layout)\n",
                 trainer.eval_loss(), out.string().c_str());
  }
  return finished ? 0 : 130;
}

}  // namespace

/// The configs `pmc pretrain` and `pmc instruct` are built for (fp32 CPU training).
template <class F>
int with_trainable_config(const std::string& name, F&& f) {
  using namespace pmc::llama;
  return dispatch_config<tiny, stories260k, small_20m, hf_test_train>(name, std::forward<F>(f));
}

namespace {

const pmc::cli::Command pretrain_command{
    "pretrain", "Knowledge injection: continued pretraining on text or JSONL corpora", [](CLI::App& app) {
      auto a = std::make_shared<PretrainArgs>();
      auto* cfg = app.add_option("--config", a->config, "start from random weights of this config");
      auto* init = app.add_option("--init", a->init, "start from this model (HF folder, .safetensors, llama2.c .bin)");
      cfg->excludes(init);
      app.add_option("--tokenizer", a->tokenizer, "SentencePiece .model")->required()->check(CLI::ExistingFile);
      app.add_option("--corpus", a->corpus, "text (blank-line separated documents) or JSONL {\"text\":...} files")
          ->check(CLI::ExistingFile);
      app.add_option("--seq-len", a->seq_len, "tokens per window");
      app.add_option("--batch", a->batch, "sequences per optimizer step");
      app.add_option("--grad-accum", a->grad_accum, "micro-batches per step");
      app.add_option("--lr", a->lr, "peak learning rate");
      app.add_option("--min-lr", a->min_lr, "floor of the cosine decay");
      app.add_option("--warmup", a->warmup, "warmup steps (default 3% of steps)");
      app.add_option("--weight-decay", a->weight_decay, "AdamW weight decay on 2-D weights");
      app.add_option("--clip", a->clip, "global gradient-norm clip (0: off)");
      auto* steps = app.add_option("--steps", a->steps, "optimizer steps");
      app.add_option("--epochs", a->epochs, "epochs over the corpus (instead of --steps)")->excludes(steps);
      app.add_option("--packing", a->packing, "plain, or doc-window (one random window per document per epoch)")
          ->check(CLI::IsMember({"plain", "doc-window"}));
      app.add_option("--seed", a->seed, "seed of initialization and data order");
      app.add_option("--init-std", a->init_std, "std of random initialization");
      app.add_option("--eval-fraction", a->eval_fraction, "share of documents held out for evaluation loss");
      app.add_option("--eval-every", a->eval_every, "evaluation loss every N steps");
      app.add_option("--save-every", a->save_every, "checkpoint every N steps");
      app.add_option("--out", a->out, "output folder")->required();
      app.add_option("--resume", a->resume, "resume from this run folder's checkpoints");
      return [a]() {
        std::string name = a->config;
        if (!a->init.empty()) name = pmc::llama::checkpoint_config_name(a->init);
        PMC_CHECK(!name.empty(), "pretrain: give --config NAME or --init PATH");
        return with_trainable_config(name, [&]<pmc::llama::Config C>() { return run_pretrain<C>(*a); });
      };
    }};

}  // namespace
