// SPDX-License-Identifier: MIT
// Comma-separated values (RFC 4180) parsed into records that know the line they start on, so that a reader's
// errors can name the file and line (MMLU's CSV files: eval/benchmarks.hpp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <pmc/core/error.hpp>

namespace pmc::io {

/// One CSV record with the line it starts on.
struct CsvRecord {
  std::vector<std::string> fields;
  std::size_t line = 0;
};

/// RFC 4180 CSV: fields separated by commas, optionally quoted with '"'; inside quotes "" is a quote and
/// commas and line breaks are data. CRLF or LF ends a record. A quote opened and never closed is an error.
inline std::vector<CsvRecord> parse_csv(std::string_view text, const std::string& what) {
  std::vector<CsvRecord> out;
  CsvRecord rec;
  std::string field;
  std::size_t line = 1;
  rec.line = 1;
  bool in_quotes = false, field_started = false, quoted_field = false;
  std::size_t quote_line = 0;
  auto end_field = [&] {
    rec.fields.push_back(std::move(field));
    field.clear();
    field_started = quoted_field = false;
  };
  auto end_record = [&] {
    end_field();
    // a blank line is no record (MMLU files end with a newline)
    if (!(rec.fields.size() == 1 && rec.fields[0].empty())) out.push_back(std::move(rec));
    rec = CsvRecord{};
    rec.line = line;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_quotes) {
      if (ch == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (ch == '\n') ++line;
        field += ch;
      }
      continue;
    }
    if (ch == '"' && !field_started) {
      in_quotes = quoted_field = field_started = true;
      quote_line = line;
    } else if (ch == ',') {
      end_field();
    } else if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      continue;  // the \n ends the record
    } else if (ch == '\n') {
      ++line;
      end_record();
    } else {
      PMC_CHECK(!quoted_field, what, ":", line, ": text after a closing quote (write \"\" for a quote inside a field)");
      field += ch;
      field_started = true;
    }
  }
  PMC_CHECK(!in_quotes, what, ":", quote_line, ": quoted field never closed");
  if (field_started || !rec.fields.empty()) end_record();
  return out;
}

}  // namespace pmc::io
