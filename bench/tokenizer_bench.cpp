// SPDX-License-Identifier: MIT
// Tokenizer throughput: pmc's BpeTokenizer and libsentencepiece encode (and decode) the same shared corpora
// with LLaMA's tokenizer.model on one thread; prints MB/s for each and the pmc / sentencepiece ratio.
// pmc's HfTokenizer encodes the same text with tokenizer.json files: LLaMA's model converted by pmc
// (SentencePiece-style BPE) and the byte-level golden tests/golden/tokenizer_json/llama3_style.json; the
// `tokenizers` library's figures on the same text come from tools/make_tokenizer_json_golden.py --speed.
// Rates are bytes per CPU second of the benchmark thread, so that a busy shared machine skews both alike.
//   bench/tokenizer_bench [--benchmark_filter=...]      (needs ../shared; PMC_TOKENIZER_MODEL overrides the model)
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <pmc/tokenizer/bpe.hpp>
#include <pmc/tokenizer/hf_tokenizer.hpp>

#ifdef PMC_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

namespace {

namespace fs = std::filesystem;

fs::path model_path() {
  if (const char* env = std::getenv("PMC_TOKENIZER_MODEL")) return env;
  return fs::path(PMC_SHARED_DIR) / "data/tokenizer/llama/tokenizer.model";
}

struct Corpus {
  std::string name;
  std::vector<std::string> lines;
  size_t bytes = 0;
};

std::vector<Corpus> load_corpora() {
  const fs::path dir = fs::path(PMC_SHARED_DIR) / "data/corpus";
  std::vector<Corpus> out;
  Corpus all{"all_corpora", {}, 0};
  if (!fs::exists(dir)) return out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".txt" && e.path().stem() != "SOURCES") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    Corpus c{f.stem().string(), {}, 0};
    std::ifstream in(f, std::ios::binary);
    for (std::string line; std::getline(in, line);) {
      c.bytes += line.size();
      c.lines.push_back(line);
    }
    all.lines.insert(all.lines.end(), c.lines.begin(), c.lines.end());
    all.bytes += c.bytes;
    out.push_back(std::move(c));
  }
  out.push_back(std::move(all));
  return out;
}

const std::vector<Corpus>& corpora() {
  static const std::vector<Corpus> c = load_corpora();
  return c;
}

const pmc::tokenizer::BpeTokenizer& pmc_tokenizer() {
  static const auto tok = pmc::tokenizer::BpeTokenizer::load(model_path());
  return tok;
}

const pmc::tokenizer::HfTokenizer& hf_tokenizer(const std::string& name) {
  static const auto converted = pmc::tokenizer::HfTokenizer::from_json(
      pmc::tokenizer::tokenizer_json_from_sentencepiece(pmc_tokenizer()).dump(), "llama_converted");
  static const auto llama3 =
      pmc::tokenizer::HfTokenizer::load(fs::path(PMC_SOURCE_DIR) / "tests/golden/tokenizer_json/llama3_style.json");
  return name == "llama_converted" ? converted : llama3;
}

void set_rate(benchmark::State& state, size_t bytes, size_t ids) {
  state.counters["bytes_per_second"] = benchmark::Counter(static_cast<double>(bytes) * static_cast<double>(state.iterations()),
                                                          benchmark::Counter::kIsRate);
  state.counters["ids"] = static_cast<double>(ids);
}

// Steady state: the per-thread word cache is warm after the first pass, as when tokenizing a large corpus.
void BM_PmcEncode(benchmark::State& state, const Corpus* c) {
  const auto& tok = pmc_tokenizer();
  std::vector<int32_t> ids;
  size_t n = 0;
  for (auto _ : state) {
    n = 0;
    for (const auto& l : c->lines) {
      ids.clear();
      tok.encode_append(l, ids);
      n += ids.size();
    }
    benchmark::DoNotOptimize(ids.data());
  }
  set_rate(state, c->bytes, n);
}

// Every pass starts with an empty word cache: the cost of one pass over unseen text.
void BM_PmcEncodeCold(benchmark::State& state, const Corpus* c) {
  const auto& tok = pmc_tokenizer();
  std::vector<int32_t> ids;
  size_t n = 0;
  for (auto _ : state) {
    pmc::tokenizer::BpeTokenizer::clear_thread_cache();
    n = 0;
    for (const auto& l : c->lines) {
      ids.clear();
      tok.encode_append(l, ids);
      n += ids.size();
    }
    benchmark::DoNotOptimize(ids.data());
  }
  set_rate(state, c->bytes, n);
}

// tokenizer.json: warm (steady state) or cold (the word cache emptied before each pass).
void BM_HfEncode(benchmark::State& state, const Corpus* c, std::string name, bool cold) {
  const auto& tok = hf_tokenizer(name);
  std::vector<int32_t> ids;
  size_t n = 0;
  for (auto _ : state) {
    if (cold) pmc::tokenizer::HfTokenizer::clear_thread_cache();
    n = 0;
    for (const auto& l : c->lines) {
      ids.clear();
      tok.encode_append(l, ids);
      n += ids.size();
    }
    benchmark::DoNotOptimize(ids.data());
  }
  set_rate(state, c->bytes, n);
}

void BM_PmcDecode(benchmark::State& state, const Corpus* c) {
  const auto& tok = pmc_tokenizer();
  std::vector<std::vector<int32_t>> all;
  for (const auto& l : c->lines) all.push_back(tok.encode(l));
  for (auto _ : state)
    for (const auto& ids : all) benchmark::DoNotOptimize(tok.decode(ids));
  set_rate(state, c->bytes, 0);
}

#ifdef PMC_HAVE_SENTENCEPIECE
const sentencepiece::SentencePieceProcessor& sp_processor() {
  static const auto sp = [] {
    auto p = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto st = p->Load(model_path().string());
    if (!st.ok()) {
      std::fprintf(stderr, "libsentencepiece cannot load %s: %s\n", model_path().c_str(), st.ToString().c_str());
      std::exit(1);
    }
    return p;
  }();
  return *sp;
}

void BM_SentencepieceEncode(benchmark::State& state, const Corpus* c) {
  const auto& sp = sp_processor();
  std::vector<int> ids;
  size_t n = 0;
  for (auto _ : state) {
    n = 0;
    for (const auto& l : c->lines) {
      sp.Encode(l, &ids).IgnoreError();
      n += ids.size();
    }
    benchmark::DoNotOptimize(ids.data());
  }
  set_rate(state, c->bytes, n);
}

void BM_SentencepieceDecode(benchmark::State& state, const Corpus* c) {
  const auto& sp = sp_processor();
  std::vector<std::vector<int>> all;
  for (const auto& l : c->lines) {
    std::vector<int> ids;
    sp.Encode(l, &ids).IgnoreError();
    all.push_back(ids);
  }
  std::string text;
  for (auto _ : state)
    for (const auto& ids : all) {
      sp.Decode(ids, &text).IgnoreError();
      benchmark::DoNotOptimize(text.data());
    }
  set_rate(state, c->bytes, 0);
}
#endif

/// Console output as usual, plus the pmc / sentencepiece ratios of bytes_per_second at the end.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      const auto it = r.counters.find("bytes_per_second");
      if (it != r.counters.end() && r.run_type == Run::RT_Iteration) rates_[r.benchmark_name()] = it->second.value;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\ntokenizer.json throughput (MB/s, 1 thread; compare with the tokenizers library's figures):\n");
    for (const char* name : {"llama_converted", "llama3_style"})
      for (const char* variant : {"warm", "cold"}) {
        const double r = rate(std::string("BM_HfEncode/") + name + "/" + variant + "/all_corpora");
        if (r > 0) std::printf("  Encode %-16s %-5s %8.2f MB/s\n", name, variant, r / 1e6);
      }
    std::printf("\nthroughput (MB/s, 1 thread) and pmc / sentencepiece ratio:\n");
    for (const auto& c : corpora()) {
      for (const char* op : {"Encode", "Decode"}) {
        const double sp = rate(std::string("BM_Sentencepiece") + op + "/" + c.name);
        for (const char* variant : {"", "Cold"}) {
          const double mine = rate(std::string("BM_Pmc") + op + variant + "/" + c.name);
          if (mine <= 0) continue;
          std::printf("  %-6s %-34s pmc%-5s %8.2f MB/s   sentencepiece %8.2f MB/s   ratio %6.2fx\n", op, c.name.c_str(),
                      variant, mine / 1e6, sp / 1e6, sp > 0 ? mine / sp : 0.0);
        }
      }
    }
  }

 private:
  double rate(const std::string& name) const {
    for (const auto& [k, v] : rates_)
      if (k.rfind(name, 0) == 0) return v;
    return 0.0;
  }
  std::map<std::string, double> rates_;
};

}  // namespace

int main(int argc, char** argv) {
  if (!std::filesystem::exists(model_path()) || corpora().empty()) {
    std::printf("[pmc-skip] tokenizer benchmark needs ../shared (tokenizer.model and data/corpus)\n");
    return 0;
  }
  const Corpus& all = corpora().back();
  for (const char* name : {"llama_converted", "llama3_style"})
    for (const bool cold : {false, true})
      benchmark::RegisterBenchmark((std::string("BM_HfEncode/") + name + (cold ? "/cold/" : "/warm/") + all.name).c_str(),
                                   BM_HfEncode, &all, std::string(name), cold)
          ->MinTime(1.0);
  for (const auto& c : corpora()) {
    benchmark::RegisterBenchmark(("BM_PmcEncode/" + c.name).c_str(), BM_PmcEncode, &c)->MinTime(1.0);
    benchmark::RegisterBenchmark(("BM_PmcEncodeCold/" + c.name).c_str(), BM_PmcEncodeCold, &c)->MinTime(1.0);
#ifdef PMC_HAVE_SENTENCEPIECE
    benchmark::RegisterBenchmark(("BM_SentencepieceEncode/" + c.name).c_str(), BM_SentencepieceEncode, &c)
        
        ->MinTime(1.0);
#endif
    benchmark::RegisterBenchmark(("BM_PmcDecode/" + c.name).c_str(), BM_PmcDecode, &c)->MinTime(0.5);
#ifdef PMC_HAVE_SENTENCEPIECE
    benchmark::RegisterBenchmark(("BM_SentencepieceDecode/" + c.name).c_str(), BM_SentencepieceDecode, &c)
        
        ->MinTime(0.5);
#endif
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
