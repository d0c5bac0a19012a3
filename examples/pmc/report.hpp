// SPDX-License-Identifier: MIT
// Reports a person can open: SVG line plots (loss curves) and a self-contained HTML page with tables
// (`pmc plot`, the loss.svg of a training run, the report folder of `pmc pipeline`).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace pmc::cli {

struct Series {
  std::string name;
  std::vector<double> x, y;
};

inline std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

/// The colour of series k in a line plot (SVG and PNG alike).
inline const char* plot_color(std::size_t k) {
  static const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
  return colors[k % 6];
}

/// The geometry of a line plot: data ranges (y padded by 5%), the plot area inside the margins, tick steps at
/// round values, and the data-to-pixel maps. Shared by the SVG and the PNG (png.hpp) of a plot.
struct PlotFrame {
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1, xs = 1, ys = 1;
  int left = 60, right = 160, top = 30, bottom = 45;
  double pw = 0, ph = 0;
  double px(double x) const { return left + (x - x0) / (x1 - x0) * pw; }
  double py(double y) const { return top + (1 - (y - y0) / (y1 - y0)) * ph; }
};

inline PlotFrame plot_frame(const std::vector<Series>& series, int width, int height) {
  PlotFrame f;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]);
      y1 = std::max(y1, s.y[i]);
    }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad;
  y1 += pad;
  f.x0 = x0, f.x1 = x1, f.y0 = y0, f.y1 = y1;
  f.pw = width - f.left - f.right, f.ph = height - f.top - f.bottom;
  auto nice_step = [](double range) {
    const double raw = range / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
      if (raw <= m * mag) return m * mag;
    return 10 * mag;
  };
  f.xs = nice_step(x1 - x0), f.ys = nice_step(y1 - y0);
  return f;
}

/// An SVG line plot of the series on shared axes (ticks at round values), with a legend.
inline std::string svg_line_plot(const std::vector<Series>& series, const std::string& title, const std::string& xlabel,
                                 const std::string& ylabel, int width = 640, int height = 360) {
  const PlotFrame f = plot_frame(series, width, height);
  const double x0 = f.x0, x1 = f.x1, y0 = f.y0, y1 = f.y1, pw = f.pw, ph = f.ph;
  const int left = f.left, top = f.top;
  auto px = [&](double x) { return f.px(x); };
  auto py = [&](double y) { return f.py(y); };
  char buf[256];
  std::string svg;
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "font-family=\"sans-serif\" font-size=\"12\">\n",
                width, height, width, height);
  svg += buf;
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  std::snprintf(buf, sizeof buf, "<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\">", left);
  svg += buf + html_escape(title) + "</text>\n";
  const double xs = f.xs, ys = f.ys;
  for (double v = std::ceil(x0 / xs) * xs; v <= x1 + 1e-9; v += xs) {
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"%.1f\" y=\"%.1f\" "
                  "text-anchor=\"middle\">%g</text>\n",
                  px(v), top, px(v), top + ph, px(v), top + ph + 16, std::abs(v) < 1e-9 * xs ? 0.0 : v);
    svg += buf;
  }
  for (double v = std::ceil(y0 / ys) * ys; v <= y1 + 1e-9; v += ys) {
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"%d\" y=\"%.1f\" "
                  "text-anchor=\"end\">%g</text>\n",
                  left, py(v), left + pw, py(v), left - 6, py(v) + 4, std::abs(v) < 1e-9 * ys ? 0.0 : v);
    svg += buf;
  }
  std::snprintf(buf, sizeof buf, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n",
                left, top, pw, ph);
  svg += buf;
  std::snprintf(buf, sizeof buf, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", left + pw / 2, height - 8);
  svg += buf + html_escape(xlabel) + "</text>\n";
  std::snprintf(buf, sizeof buf, "<text transform=\"translate(14,%.1f) rotate(-90)\" text-anchor=\"middle\">", top + ph / 2);
  svg += buf + html_escape(ylabel) + "</text>\n";
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const char* color = plot_color(k);
    std::string points;
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      std::snprintf(buf, sizeof buf, "%.1f,%.1f ", px(s.x[i]), py(s.y[i]));
      points += buf;
    }
    svg += "<polyline fill=\"none\" stroke=\"" + std::string(color) + "\" stroke-width=\"1.5\" points=\"" + points + "\"/>\n";
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/><text x=\"%.1f\" "
                  "y=\"%d\">",
                  left + pw + 12, top + 12 + 18 * static_cast<int>(k), left + pw + 32, top + 12 + 18 * static_cast<int>(k),
                  color, left + pw + 38, top + 16 + 18 * static_cast<int>(k));
    svg += buf + html_escape(s.name) + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

/// A table as HTML; cells are escaped.
inline std::string html_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::string t = "<table>\n<tr>";
  for (const auto& h : header) t += "<th>" + html_escape(h) + "</th>";
  t += "</tr>\n";
  for (const auto& r : rows) {
    t += "<tr>";
    for (const auto& c : r) t += "<td>" + html_escape(c) + "</td>";
    t += "</tr>\n";
  }
  return t + "</table>\n";
}

/// A standalone page: title, then the given HTML sections (plots inline as SVG).
inline std::string html_page(const std::string& title, const std::vector<std::string>& sections) {
  std::string p =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
      "</title>\n<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
      "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
      "th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}</style></head><body>\n<h1>" +
      html_escape(title) + "</h1>\n";
  for (const auto& s : sections) p += s + "\n";
  return p + "</body></html>\n";
}

}  // namespace pmc::cli
