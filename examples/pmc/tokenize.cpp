// SPDX-License-Identifier: MIT
// `pmc tokenize`: text lines on stdin -> lines of SentencePiece ids (or ids -> text with --decode).
#include <charconv>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/tokenizer/tokenizer.hpp>

#include "command.hpp"
#include "tokenizer_files.hpp"

namespace {

void write_out(const std::string& s) {
  if (!s.empty() && std::fwrite(s.data(), 1, s.size(), stdout) != s.size()) pmc::fail("tokenize: write error on stdout");
}

const pmc::cli::Command tokenize_command{
    "tokenize", "Encode text lines from stdin to token ids with a SentencePiece .model (or decode ids)",
    [](CLI::App& app) {
      struct Opts {
        std::string tokenizer;
        bool decode = false, bos = false, eos = false;
      };
      auto o = std::make_shared<Opts>();
      app.add_option("--tokenizer", o->tokenizer, "tokenizer.model (SentencePiece), tokenizer.json, or a model folder holding one")->required();
      app.add_flag("--decode", o->decode, "read lines of space-separated ids and print their text");
      app.add_flag("--bos", o->bos, "start each encoded line with the BOS id");
      app.add_flag("--eos", o->eos, "end each encoded line with the EOS id");
      return [o]() {
        const auto tok = pmc::cli::load_tokenizer(o->tokenizer);
        std::ios::sync_with_stdio(false);
        std::string line, out;
        std::vector<int32_t> ids;
        size_t line_no = 0;
        while (std::getline(std::cin, line)) {
          ++line_no;
          ids.clear();
          if (o->decode) {
            const char* p = line.data();
            const char* end = p + line.size();
            while (p < end) {
              if (*p == ' ' || *p == '\t' || *p == '\r') {
                ++p;
                continue;
              }
              int32_t id = 0;
              const auto [next, ec] = std::from_chars(p, end, id);
              PMC_CHECK(ec == std::errc() && (next == end || *next == ' ' || *next == '\t' || *next == '\r'),
                        "tokenize --decode: line ", line_no, ": '", std::string(p, std::min<size_t>(end - p, 20)),
                        "' is not a token id");
              ids.push_back(id);
              p = next;
            }
            out += tok.decode(ids);
          } else {
            tok.encode_append(line, ids, o->bos, o->eos);
            char buf[16];
            for (size_t i = 0; i < ids.size(); ++i) {
              if (i) out += ' ';
              const auto r = std::to_chars(buf, buf + sizeof buf, ids[i]);
              out.append(buf, r.ptr);
            }
          }
          out += '\n';
          if (out.size() > (1 << 16)) {
            write_out(out);
            out.clear();
          }
        }
        write_out(out);
        std::fflush(stdout);
        return 0;
      };
    }};

}  // namespace
