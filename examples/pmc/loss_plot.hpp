// SPDX-License-Identifier: MIT
// Curves of training runs as SVG plots, shared by `pmc plot`, `pmc pretrain` / `pmc instruct` (which leave
// RUN/loss.svg beside RUN/metrics.jsonl) and `pmc pipeline` (its report's loss plot).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <pmc/io/atomic_file.hpp>
#include <pmc/train/metrics.hpp>

#include "report.hpp"

namespace pmc::cli {

/// A run to plot: its legend name and its metrics.jsonl.
struct PlotRun {
  std::string name;
  std::filesystem::path metrics;
};

/// One series of `metric` per run (the moving average over `smooth` points when smooth > 1) and, with
/// `with_eval` and metric "loss", one of each run's eval loss where it has any. A run without a single value of
/// `metric` is an error naming its file and the metric.
inline std::vector<Series> metric_series(const std::vector<PlotRun>& runs, const std::string& metric,
                                               std::size_t smooth, bool with_eval) {
  std::vector<Series> series;
  for (const auto& run : runs) {
    auto curve = train::read_metric(run.metrics, metric);
    PMC_CHECK(!curve.steps.empty(), run.metrics.string(), ": no \"", metric, "\" on any line");
    std::string name = run.name;
    if (smooth > 1) {
      curve = train::moving_average(curve, smooth);
      name += " (mean of " + std::to_string(smooth) + ")";
    }
    series.push_back({name, curve.steps, curve.values});
    if (with_eval && metric == "loss") {
      const auto eval_curve = train::read_metric(run.metrics, "eval_loss");
      if (!eval_curve.steps.empty()) series.push_back({run.name + " eval", eval_curve.steps, eval_curve.values});
    }
  }
  return series;
}

/// The y-axis label of a metrics.jsonl field.
inline std::string metric_label(const std::string& metric) {
  if (metric == "loss" || metric == "eval_loss") return "loss (mean cross-entropy, nats)";
  if (metric == "lr") return "learning rate";
  if (metric == "grad_norm") return "gradient norm (before clipping)";
  if (metric == "tokens_per_s") return "tokens/s";
  return metric;
}

/// The name of a run folder or metrics file for a legend: "runs/inject/" and "runs/inject/metrics.jsonl" are
/// both "inject".
inline std::string run_name(const std::filesystem::path& run) {
  auto p = run.lexically_normal();
  if (p.has_filename() && p.filename() == "metrics.jsonl") p = p.parent_path();
  if (!p.has_filename()) p = p.parent_path();  // a trailing separator
  const auto name = p.filename().string();
  return name.empty() || name == "." ? std::filesystem::absolute(p).lexically_normal().filename().string() : name;
}

/// Writes RUN/loss.svg (train loss, and eval loss where measured) from RUN/metrics.jsonl, atomically; does
/// nothing when there is no metrics file or no step in it yet.
inline void write_run_loss_plot(const std::filesystem::path& run_dir) {
  const auto file = run_dir / "metrics.jsonl";
  if (!std::filesystem::exists(file) || train::read_metric(file, "loss").steps.empty()) return;
  const auto series = metric_series({{"train", file}}, "loss", 1, true);
  io::write_file_atomic(run_dir / "loss.svg",
                        svg_line_plot(series, run_name(run_dir) + ": loss", "step", metric_label("loss")));
}

}  // namespace pmc::cli
