// SPDX-License-Identifier: MIT
// The include graph of include/pmc/ against docs/architecture.md's rules:
//   - each layer (a folder of include/pmc/) includes only the layers below it (kAllowed);
//   - only backends/ and the umbrella headers (pmc.hpp, cuda.hpp) include backends/;
//   - only core/ (which defines the devices) and backends/ test for a device (std::is_same_v<D, Cpu>, ...).
// The checker runs on the real tree, and on small made-up trees that break each rule (so it can fail).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/paths.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace include_graph_test {

namespace {

namespace fs = std::filesystem;

/// Every layer and the layers it may include besides itself (config.hpp is the `config` layer).
const std::map<std::string, std::set<std::string>>& allowed_includes() {
  static const std::map<std::string, std::set<std::string>> kAllowed{
      {"config", {}},
      {"core", {"config"}},
      {"ops", {"config", "core"}},
      {"backends", {"config", "core", "ops"}},
      {"autograd", {"config", "core", "ops"}},
      {"io", {"config", "core"}},
      {"tokenizer", {"config", "core", "io"}},
      {"dist", {"config", "core"}},
      {"optim", {"config", "core", "ops"}},
      {"models", {"config", "core", "ops", "autograd", "io"}},
      {"eval", {"config", "core", "ops", "autograd", "io", "tokenizer", "models"}},
      {"data", {"config", "core", "ops", "io", "tokenizer", "eval"}},
      {"train", {"config", "core", "ops", "autograd", "io", "tokenizer", "dist", "optim", "models", "data"}},
  };
  return kAllowed;
}

/// The layer of a header path relative to include/pmc ("optim/adamw.hpp" -> "optim"); umbrella headers: "".
std::string layer_of(const std::string& rel) {
  if (rel == "pmc.hpp" || rel == "cuda.hpp") return "";
  if (rel == "config.hpp") return "config";
  return rel.substr(0, rel.find('/'));
}

/// Every rule broken under `root` (an include/pmc folder), one line each: "FILE:LINE: problem".
std::vector<std::string> violations(const fs::path& root) {
  std::vector<std::string> out;
  const std::regex include_re(R"(^\s*#\s*include\s*<pmc/([^>]+)>)");
  const std::regex device_test_re(R"(is_same(_v)?\s*<\s*\w+\s*,\s*(pmc::)?(Cpu|Cuda)\s*>)");
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const std::string ext = entry.path().extension().string();
    if (ext != ".hpp" && ext != ".cuh" && ext != ".h") continue;
    const std::string rel = fs::relative(entry.path(), root).generic_string();
    const std::string from = layer_of(rel);
    std::ifstream in(entry.path());
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      const std::string where = rel + ":" + std::to_string(n) + ": ";
      std::smatch m;
      if (std::regex_search(line, m, include_re)) {
        const std::string target = m[1].str();
        const std::string to = layer_of(target);
        if (from.empty() || to == from) continue;  // umbrella headers include anything; a layer includes itself
        if (to == "backends") {
          out.push_back(where + "only backends/ and the umbrella headers include backends/ (" + target + ")");
          continue;
        }
        const auto rule = allowed_includes().find(from);
        if (rule == allowed_includes().end()) {
          out.push_back(where + "folder '" + from + "' is not a layer of docs/architecture.md");
        } else if (to.empty() || !rule->second.contains(to)) {
          out.push_back(where + "layer '" + from + "' may not include '" + (to.empty() ? target : to) + "' (" +
                        target + ")");
        }
      }
      if (from != "core" && from != "backends" && !from.empty() && std::regex_search(line, device_test_re))
        out.push_back(where + "only core/ and backends/ test for a device: " + line);
    }
  }
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::ostringstream s;
  for (const auto& l : lines) s << l << "\n";
  return s.str();
}

/// A made-up include/pmc tree with the given files, under the test scratch folder.
fs::path make_tree(const std::string& name, const std::map<std::string, std::string>& files) {
  const fs::path root = pmc::test::tmp_dir() / "architecture" / name;
  fs::remove_all(root);
  for (const auto& [rel, text] : files) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text;
  }
  return root;
}

}  // namespace

TEST_CASE("include/pmc keeps the layering of docs/architecture.md") {
  const fs::path root = pmc::test::source_dir() / "include" / "pmc";
  REQUIRE(fs::is_directory(root));
  const auto found = violations(root);
  INFO(joined(found));
  CHECK(found.empty());
  // every folder of include/pmc is a known layer
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) CHECK_MESSAGE(allowed_includes().contains(entry.path().filename().string()),
                                            entry.path().filename().string() << " is not a layer");
}

TEST_CASE("the include-graph checker finds each kind of violation") {
  SUBCASE("a clean tree passes") {
    const auto root = make_tree("clean", {{"core/tensor.hpp", "#include <pmc/config.hpp>\n"},
                                          {"optim/adamw.hpp", "#include <pmc/ops/optimizer.hpp>\n"},
                                          {"backends/cpu/adamw.hpp", "#include <pmc/ops/optimizer.hpp>\n"},
                                          {"pmc.hpp", "#include <pmc/backends/cpu/ops.hpp>\n"}});
    CHECK(violations(root).empty());
  }
  SUBCASE("a lower layer including a higher one") {
    const auto root = make_tree("upward", {{"models/llama/generate.hpp", "#include <pmc/eval/sampler.hpp>\n"}});
    const auto found = violations(root);
    REQUIRE(found.size() == 1);
    CHECK(found[0].find("layer 'models' may not include 'eval'") != std::string::npos);
    CHECK(found[0].find("generate.hpp:1") != std::string::npos);
  }
  SUBCASE("a layer including backends/") {
    const auto root = make_tree("backend", {{"train/trainer.hpp", "\n#include <pmc/backends/cpu/ops.hpp>\n"}});
    const auto found = violations(root);
    REQUIRE(found.size() == 1);
    CHECK(found[0].find("trainer.hpp:2: only backends/") != std::string::npos);
  }
  SUBCASE("a device test outside core/ and backends/") {
    const auto root = make_tree("device", {{"train/trainer.hpp", "if constexpr (std::is_same_v<D, Cpu>) {}\n"},
                                           {"core/transfer.hpp", "if constexpr (std::is_same_v<D, Cpu>) {}\n"}});
    const auto found = violations(root);
    REQUIRE(found.size() == 1);
    CHECK(found[0].find("trainer.hpp:1: only core/ and backends/ test for a device") != std::string::npos);
  }
  SUBCASE("an unknown folder") {
    const auto root = make_tree("unknown", {{"nn/linear.hpp", "#include <pmc/core/tensor.hpp>\n"}});
    const auto found = violations(root);
    REQUIRE(found.size() == 1);
    CHECK(found[0].find("'nn' is not a layer") != std::string::npos);
  }
}

}  // namespace include_graph_test
