// SPDX-License-Identifier: MIT
// Reading a training run's metrics.jsonl (written by train::Trainer, one JSON object a line: step, loss, lr,
// grad_norm, tokens_per_s, epoch, and eval_loss on the steps that evaluated) back as curves, for plots.
#pragma once

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <pmc/core/error.hpp>
#include <pmc/io/jsonl.hpp>

namespace pmc::train {

/// One metric of a run: its value at each step that recorded it.
struct MetricCurve {
  std::vector<double> steps, values;
};

/// The metrics file of a run: `run` itself when it is a file, else run/metrics.jsonl. A missing one is an error
/// naming the path.
inline std::filesystem::path metrics_file(const std::filesystem::path& run) {
  const auto file = std::filesystem::is_directory(run) ? run / "metrics.jsonl" : run;
  PMC_CHECK(std::filesystem::is_regular_file(file), file.string(), ": no such metrics file (a run folder holds ",
            "metrics.jsonl)");
  return file;
}

/// `field` at every line of a metrics.jsonl that has it (eval_loss is only on some). A null value (how a NaN
/// loss is written) reads as NaN. Errors name the file and line: a line that is not a JSON object, one without a
/// numeric "step", a value that is neither a number nor null. An unterminated last line, what a run killed
/// while writing leaves, is left out.
inline MetricCurve read_metric(const std::filesystem::path& file, std::string_view field) {
  const std::string text = io::read_text_file(file);
  MetricCurve curve;
  std::size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    const bool terminated = end != std::string::npos;
    if (!terminated) end = text.size();
    ++line_no;
    const std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!terminated && (j.is_discarded() || !j.is_object())) break;  // torn last line
    PMC_CHECK(!j.is_discarded() && j.is_object(), file.string(), ":", line_no, ": not a JSON object");
    PMC_CHECK(j.contains("step") && j["step"].is_number(), file.string(), ":", line_no, ": no numeric \"step\"");
    const auto it = j.find(field);
    if (it == j.end()) continue;
    PMC_CHECK(it->is_number() || it->is_null(), file.string(), ":", line_no, ": \"", field, "\" is ",
              it->type_name(), ", not a number");
    curve.steps.push_back(j["step"].get<double>());
    curve.values.push_back(it->is_null() ? std::numeric_limits<double>::quiet_NaN() : it->get<double>());
  }
  return curve;
}

/// The trailing moving average over `window` points (window 1: the curve itself): point i averages the finite
/// values among points max(0, i - window + 1) .. i, NaN where there are none.
inline MetricCurve moving_average(const MetricCurve& curve, std::size_t window) {
  PMC_CHECK(window >= 1, "moving_average: window must be at least 1");
  MetricCurve out{curve.steps, std::vector<double>(curve.values.size())};
  for (std::size_t i = 0; i < curve.values.size(); ++i) {
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t k = i + 1 > window ? i + 1 - window : 0; k <= i; ++k)
      if (std::isfinite(curve.values[k])) sum += curve.values[k], ++n;
    out.values[i] = n ? sum / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
  }
  return out;
}

}  // namespace pmc::train
