// SPDX-License-Identifier: MIT
// The parts of `pmc pipeline`'s report that are not tables of results: where the run happened (commit, CPU, the
// GEMM kernel the library dispatched to) and the example items shown with each model's answer. tune_split.hpp
// builds the real-data recipe's MedMCQA split.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/utsname.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <nlohmann/json.hpp>
#include <pmc/backends/cpu/sgemm.hpp>
#include <pmc/eval/benchmarks.hpp>
#include <pmc/eval/prompt.hpp>
#include <pmc/eval/scoring.hpp>
#include <pmc/eval/subset.hpp>
#include <pmc/io/atomic_file.hpp>

#include "report.hpp"
#include "tune_split.hpp"

#ifndef PMC_GIT_COMMIT
#define PMC_GIT_COMMIT "unknown"  // set for pipeline.cpp by examples/CMakeLists.txt at configure time
#endif

namespace pmc::cli::pipeline_report {

/// The machine and build a run used, as label/value pairs (also metrics.json's "provenance").
inline nlohmann::json machine() {
  nlohmann::json j;
  std::string cpu = "unknown";
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) cpu = line.substr(line.find_first_not_of(" \t", colon + 1));
      break;
    }
  j["cpu"] = cpu;
  j["cores"] = std::thread::hardware_concurrency();
#ifdef _OPENMP
  j["threads"] = omp_get_max_threads();
#else
  j["threads"] = 1;
#endif
#if defined(PMC_HAVE_OWN_SGEMM)
  j["cpu_gemm"] = std::string(backends::cpu::sgemm::chosen_name());
#else
  j["cpu_gemm"] = "Eigen";
#endif
  utsname u{};
  if (uname(&u) == 0) j["os"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  j["compiler"] = std::string(
#if defined(__clang__)
      "clang "
#elif defined(__GNUC__)
      "g++ "
#endif
      __VERSION__);
  return j;
}

inline std::string commit() { return PMC_GIT_COMMIT; }

/// Up to `count` item indices to show: items on which the models disagree first (a seeded draw), then others
/// (a seeded draw), in item order.
inline std::vector<std::size_t> pick_examples(const std::vector<const eval::EvalReport*>& reports, std::size_t count,
                                              std::uint64_t seed) {
  if (reports.empty()) return {};
  const std::size_t n = reports[0]->items.size();
  std::vector<std::size_t> disagree, agree;
  for (std::size_t i = 0; i < n; ++i) {
    bool differs = false;
    for (const auto* r : reports)
      differs = differs || i >= r->items.size() || r->items[i].predicted != reports[0]->items[i].predicted;
    (differs ? disagree : agree).push_back(i);
  }
  eval::SplitMix64 rng(seed);
  auto draw = [&](std::vector<std::size_t>& pool, std::size_t k) {
    k = std::min(k, pool.size());
    for (std::size_t j = 0; j < k; ++j) std::swap(pool[j], pool[j + rng.below(pool.size() - j)]);
    pool.resize(k);
  };
  draw(disagree, count);
  draw(agree, count - disagree.size());
  disagree.insert(disagree.end(), agree.begin(), agree.end());
  std::sort(disagree.begin(), disagree.end());
  return disagree;
}

inline std::string shorten(const std::string& s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
  return s.substr(0, cut) + "…";
}

}  // namespace pmc::cli::pipeline_report
