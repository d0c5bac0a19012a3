// SPDX-License-Identifier: MIT
// `pmc pretrain`: knowledge injection (continued pretraining) of a LLaMA on text or JSONL corpora.
#include <pmc/data/corpus.hpp>

#include "data_parallel.hpp"
#include "training_flags.hpp"

namespace {

const pmc::cli::Command pretrain_command{
    "pretrain", "Knowledge injection: continued pretraining on text or JSONL corpora", [](CLI::App& app) {
      struct Args : pmc::cli::TrainArgs {
        std::vector<std::string> corpus;
        std::string packing = "plain";
      };
      auto a = std::make_shared<Args>();
      pmc::cli::add_training_flags(app, *a);
      app.add_option("--corpus", a->corpus, "text (blank-line separated documents) or JSONL {\"text\":...} files")
          ->required()->check(CLI::ExistingFile);
      app.add_option("--packing", a->packing, "plain, or doc-window (one random window per document per epoch)")
          ->check(CLI::IsMember({"plain", "doc-window"}));
      return [a]() {
        const auto packing = a->packing == "doc-window" ? pmc::data::Packing::doc_window : pmc::data::Packing::plain;
        auto prepare = [a](const pmc::tokenizer::Tokenizer& tok) {
          std::vector<std::filesystem::path> files(a->corpus.begin(), a->corpus.end());
          return pmc::cli::PreparedData{pmc::data::tokenize_documents(files, tok), {}};
        };
        a->comm = pmc::cli::launched_group();  // mpirun -np N: data parallel over N processes
        return pmc::cli::run_training_on_device(*a, packing, prepare);
      };
    }};

}  // namespace
