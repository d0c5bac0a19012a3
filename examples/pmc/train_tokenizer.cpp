// SPDX-License-Identifier: MIT
// `pmc train-tokenizer`: learns a SentencePiece-compatible BPE `.model` from text files.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <pmc/tokenizer/bpe_trainer.hpp>

#include "command.hpp"

namespace {

const pmc::cli::Command train_tokenizer_command{
    "train-tokenizer", "Train a SentencePiece-compatible BPE tokenizer (.model) on text files", [](CLI::App& app) {
      struct Opts {
        std::vector<std::string> corpus;
        std::string out;
        pmc::tokenizer::BpeTrainerOptions train;
        bool no_byte_fallback = false;
      };
      auto o = std::make_shared<Opts>();
      app.add_option("--corpus", o->corpus, "text files, one sentence per line")->required()->check(CLI::ExistingFile);
      app.add_option("--vocab-size", o->train.vocab_size, "pieces in the vocabulary (meta and byte pieces included)")
          ->required()
          ->check(CLI::Range(16, 1 << 20));
      app.add_option("--out", o->out, "output .model file")->required();
      app.add_option("--character-coverage", o->train.character_coverage,
                     "fraction of characters the alphabet covers; the rest use byte fallback")
          ->check(pmc::cli::finite_number(0.5, 1));
      app.add_option("--max-piece-length", o->train.max_piece_length, "longest piece, in characters")
          ->check(CLI::PositiveNumber);
      app.add_flag("--no-byte-fallback", o->no_byte_fallback, "no <0xXX> pieces: unknown characters become <unk>");
      return [o]() {
        o->train.byte_fallback = !o->no_byte_fallback;
        const auto t0 = std::chrono::steady_clock::now();
        pmc::tokenizer::BpeTrainer trainer(o->train);
        for (const auto& f : o->corpus) trainer.add_file(f);
        const auto model = trainer.train();
        pmc::tokenizer::save_bpe_model(model, o->out);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("pmc train-tokenizer: %zu lines, %zu distinct words -> %zu pieces in %.2f s -> %s\n",
                    trainer.sentences(), trainer.distinct_words(), model.pieces.size(), s, o->out.c_str());
        if (static_cast<int32_t>(model.pieces.size()) < o->train.vocab_size)
          std::printf("note: the corpus ran out of pairs to merge before reaching --vocab-size %d\n",
                      o->train.vocab_size);
        return 0;
      };
    }};

}  // namespace
