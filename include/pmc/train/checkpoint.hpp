// SPDX-License-Identifier: MIT
// A training run's checkpoints: checkpoints/step_NNNNNNNN/ folders, each written through a temporary folder
// renamed into place, and `latest` naming the newest. A checkpoint is opened and checked whole (its manifest's
// sizes and checksums, every trainer-state key and its range, the names and shapes of every tensor) before
// anything is restored from it, so a bad one is an error that names the file and changes nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/shape.hpp>
#include <pmc/data/windows.hpp>
#include <pmc/dist/communicator.hpp>
#include <pmc/io/atomic_file.hpp>
#include <pmc/io/checksum.hpp>
#include <pmc/io/jsonl.hpp>
#include <pmc/io/safetensors.hpp>

namespace pmc::train {

/// trainer.json: where training stands. Every key is required to resume, except the optional ones below
/// (absent in the checkpoints of an older pmc: read as unknown).
struct TrainerState {
  std::int64_t step = 0;                            // "step": updates done
  std::int64_t optimizer_step = 0;                  // "optimizer_step": the optimizer's step() calls, <= step
  data::DataPosition position{};                    // "epoch", "index": the next window to draw
  std::uint64_t seed = 0;                           // "seed" of the data order
  std::string config;                               // "config": llama::describe of the architecture
  std::string precision;                            // "precision": Trainer::precision
  std::map<std::string, std::int64_t> param_steps;  // "param_steps": each parameter's updates, <= optimizer_step
  int shards = 1;  // "shards": the ranks whose files hold the weights and optimizer state (1: one pair of files)
  // "rope_layout" (optional): "rotate_half" (Hugging Face) or "interleaved" (llama2.c / Meta) rows of the q and
  // k projections in the stored weights; empty when the checkpoint does not say (written before it was recorded)
  std::string rope_layout;

  /// Whether the run trained LoRA adapters (its weights are the adapters only, the base being frozen and not
  /// saved): the trainer's description of the run says so.
  bool lora() const { return config.find(kLoraMarker) != std::string::npos; }
  /// What the trainer appends to "config" for a LoRA run ("; LoRA rank 8, alpha 16, ...").
  static constexpr std::string_view kLoraMarker = "; LoRA rank ";
};

/// What a run resumes from: its architecture and precision, the names and shapes of the tensors it saves, and
/// the number of windows in an epoch of its data (the position's index is below it).
struct CheckpointSpec {
  std::string config, precision;
  std::map<std::string, Shape> weights;    // model.safetensors: the parameters the optimizer updates
  std::map<std::string, Shape> optimizer;  // optimizer.safetensors: the optimizer's state tensors
  std::int64_t windows_per_epoch = 0;
  std::string rope_layout;  // the run's RoPE layout ("rotate_half" or "interleaved"; empty: not checked)
};

/// One checkpoint folder, checkpoints/step_NNNNNNNN/:
///   model.safetensors      the weights the optimizer updates (the fp32 masters in mixed precision)
///   optimizer.safetensors  the optimizer's state (AdamW: m.<name>, v.<name>)
///   trainer.json           TrainerState
///   config.json            the model's Hugging Face config.json (architecture, bos/eos ids), so that the weights can
///                          be written whole without the model the run started from (consolidate.hpp, `pmc convert
///                          --checkpoint`); absent in the checkpoints of an older pmc
///   manifest.json          {"files": {name: {"bytes": size, "crc32c": "8 hex digits"}}} of the others, written last
/// A sharded run (train/sharding.hpp: R ranks, each owning chunk r of every parameter, dist::shard_range) writes
/// instead one pair per rank, model-rank-0000r-of-0000R.safetensors and optimizer-rank-..., each holding that
/// rank's chunks as 1-D tensors under the parameters' names; trainer.json's "shards" says R. Any run reads
/// any checkpoint by ranges of the flattened tensors (read_range), so a run resumes on another rank count.
///
///   TrainingCheckpoint::save(root, state, weights, optimizer);   // then rotate(root, keep)
///   if (auto c = TrainingCheckpoint::open_latest(root)) { c->validate(spec); ... c->read_range(...) ... }
class TrainingCheckpoint {
 public:
  static constexpr const char* kWeights = "model.safetensors";
  static constexpr const char* kOptimizer = "optimizer.safetensors";
  static constexpr const char* kState = "trainer.json";
  static constexpr const char* kConfig = "config.json";
  static constexpr const char* kManifest = "manifest.json";
  static constexpr const char* kLatest = "latest";

  /// The file of rank `rank` of `ranks` in a sharded checkpoint: "model" or "optimizer" -rank-00001-of-00002.safetensors.
  static std::string shard_file(std::string_view kind, int rank, int ranks) {
    char name[96];
    std::snprintf(name, sizeof name, "%.*s-rank-%05d-of-%05d.safetensors", static_cast<int>(kind.size()), kind.data(),
                  rank, ranks);
    return name;
  }

  /// The folder name of the checkpoint after `step` updates: step_00000012.
  static std::string folder_name(std::int64_t step) {
    char name[32];
    std::snprintf(name, sizeof name, "step_%08lld", static_cast<long long>(step));
    return name;
  }

  /// Writes root/step_N (N = state.step) through root/step_N.tmp, renamed into place once its files and
  /// manifest are on disk, then points root/latest at it (an atomic file). Returns the folder. `config_json`,
  /// when not empty, is written as config.json (listed in the manifest).
  static std::filesystem::path save(const std::filesystem::path& root, const TrainerState& state,
                                    const std::vector<io::SafetensorsEntry>& weights,
                                    const std::vector<io::SafetensorsEntry>& optimizer,
                                    const std::string& config_json = {}) {
    namespace fs = std::filesystem;
    const std::string name = folder_name(state.step);
    const fs::path final_dir = root / name, tmp = root / (name + ".tmp");
    fs::remove_all(tmp);
    io::ensure_directory(tmp);
    io::write_safetensors(tmp / kWeights, weights);
    io::write_safetensors(tmp / kOptimizer, optimizer);
    io::write_file_atomic(tmp / kState, state_json(state).dump(2) + "\n");
    if (!config_json.empty()) io::write_file_atomic(tmp / kConfig, config_json);
    write_manifest(tmp);
    fs::remove_all(final_dir);
    fs::rename(tmp, final_dir);
    io::write_file_atomic(root / kLatest, name);
    return final_dir;
  }

  /// The sharded save: every rank of `comm` calls it with its own chunks (the same state on every rank). Rank 0
  /// makes root/step_N.tmp; every rank writes its pair of files there; after a barrier rank 0 writes trainer.json
  /// (and config.json, when `config_json` is not empty) and the manifest, renames the folder into place and
  /// points latest at it; a last barrier. A rank killed before the end leaves only the .tmp folder: the
  /// previous checkpoint stays the latest.
  static std::filesystem::path save_sharded(const std::filesystem::path& root, TrainerState state,
                                            dist::Communicator* comm, const std::vector<io::SafetensorsEntry>& weights,
                                            const std::vector<io::SafetensorsEntry>& optimizer,
                                            const std::string& config_json = {}) {
    namespace fs = std::filesystem;
    const int rank = dist::rank_of(comm), ranks = dist::size_of(comm);
    state.shards = ranks;
    const std::string name = folder_name(state.step);
    const fs::path final_dir = root / name, tmp = root / (name + ".tmp");
    if (rank == 0) {
      fs::remove_all(tmp);
      io::ensure_directory(tmp);
    }
    dist::barrier(comm);
    io::write_safetensors(tmp / shard_file("model", rank, ranks), weights);
    io::write_safetensors(tmp / shard_file("optimizer", rank, ranks), optimizer);
    dist::barrier(comm);
    if (rank == 0) {
      io::write_file_atomic(tmp / kState, state_json(state).dump(2) + "\n");
      if (!config_json.empty()) io::write_file_atomic(tmp / kConfig, config_json);
      write_manifest(tmp);
      fs::remove_all(final_dir);
      fs::rename(tmp, final_dir);
      io::write_file_atomic(root / kLatest, name);
    }
    dist::barrier(comm);
    return final_dir;
  }

  /// Writes dir/manifest.json: the size and CRC-32C of trainer.json, of config.json when there is one, and of
  /// every .safetensors file in `dir` (save does; after editing a checkpoint by hand, this seals it again).
  static void write_manifest(const std::filesystem::path& dir) {
    std::vector<std::string> names{kState};
    if (std::filesystem::is_regular_file(dir / kConfig)) names.push_back(kConfig);
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ".safetensors") names.push_back(e.path().filename().string());
    nlohmann::json files = nlohmann::json::object();
    for (const auto& file : names) {
      const auto sum = io::checksum_file(dir / file);
      files[file] = {{"bytes", sum.bytes}, {"crc32c", hex(sum.crc32c)}};
    }
    io::write_file_atomic(dir / kManifest, nlohmann::json{{"files", files}}.dump(2) + "\n");
  }

  /// Removes the oldest step folders until `keep` (at least 1) are left; never the one `latest` names.
  static void rotate(const std::filesystem::path& root, std::int64_t keep) {
    namespace fs = std::filesystem;
    const auto latest = latest_name(root);
    std::vector<fs::path> others;
    for (const auto& e : fs::directory_iterator(root)) {
      const std::string n = e.path().filename().string();
      if (e.is_directory() && n.starts_with("step_") && !n.ends_with(".tmp") && n != latest) others.push_back(e.path());
    }
    std::sort(others.begin(), others.end());
    const auto kept_others = static_cast<std::size_t>(std::max<std::int64_t>(1, keep) - 1);
    for (std::size_t i = 0; i + kept_others < others.size(); ++i) fs::remove_all(others[i]);
  }

  /// Removes the step_*.tmp folders of saves that a killed process left unfinished; returns how many.
  static int remove_unfinished(const std::filesystem::path& root) {
    namespace fs = std::filesystem;
    if (!fs::is_directory(root)) return 0;
    std::vector<fs::path> tmp;
    for (const auto& e : fs::directory_iterator(root)) {
      const std::string n = e.path().filename().string();
      if (e.is_directory() && n.starts_with("step_") && n.ends_with(".tmp")) tmp.push_back(e.path());
    }
    for (const auto& p : tmp) fs::remove_all(p);
    return static_cast<int>(tmp.size());
  }

  /// The checkpoint root/latest names, opened (see open); nullopt when there is no root/latest.
  static std::optional<TrainingCheckpoint> open_latest(const std::filesystem::path& root) {
    if (!std::filesystem::exists(root / kLatest)) return std::nullopt;
    const std::string name = latest_name(root);
    PMC_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "." && name != "..",
              (root / kLatest).string(), ": does not name a checkpoint folder ('", name, "')");
    PMC_CHECK(std::filesystem::is_directory(root / name), (root / kLatest).string(), " names ", name,
              ", which is not there");
    return open(root / name);
  }

  /// Opens the checkpoint folder `dir`: every file of the manifest has its size and CRC-32C (a corrupt, truncated
  /// or missing file is an error naming it), trainer.json has every key with a value in range, and both
  /// safetensors files are well-formed.
  static TrainingCheckpoint open(const std::filesystem::path& dir) {
    const auto listed = verify_manifest(dir);
    TrainerState state = parse_state(dir / kState);
    std::vector<io::SafetensorsFile> weights, optimizer;
    for (int q = 0; q < state.shards; ++q) {
      const std::string w = state.shards == 1 ? kWeights : shard_file("model", q, state.shards);
      const std::string o = state.shards == 1 ? kOptimizer : shard_file("optimizer", q, state.shards);
      for (const auto& file : {w, o})
        PMC_CHECK(listed.count(file), (dir / kManifest).string(), ": does not list ", file, " (trainer.json says ",
                  state.shards, state.shards == 1 ? " shard)" : " shards)");
      weights.push_back(io::SafetensorsFile::open(dir / w));
      optimizer.push_back(io::SafetensorsFile::open(dir / o));
    }
    return TrainingCheckpoint(dir, std::move(state), std::move(weights), std::move(optimizer), listed);
  }

  /// Throws, naming the file and the problem, unless a run of `spec` can resume from this checkpoint: the same
  /// architecture and precision, a data position inside its epoch, a step count for each of its parameters, and
  /// exactly its tensors with its shapes.
  void validate(const CheckpointSpec& spec) const {
    const std::string file = (dir_ / kState).string();
    PMC_CHECK(state_.config == spec.config, file, ": the checkpoint is of another architecture (", state_.config,
              ") than this run's (", spec.config, ")");
    PMC_CHECK(state_.precision == spec.precision, file, ": the checkpoint was trained in ", state_.precision,
              " but this run is ", spec.precision, " (its optimizer state would not carry over)");
    PMC_CHECK(state_.rope_layout.empty() || spec.rope_layout.empty() || state_.rope_layout == spec.rope_layout, file,
              ": the checkpoint's q and k weights are in the ", state_.rope_layout, " RoPE layout but this run's model ",
              "is ", spec.rope_layout, " (another model format?)");
    PMC_CHECK(state_.position.index < spec.windows_per_epoch, file, ": \"index\" ", state_.position.index,
              " is past the ", spec.windows_per_epoch, " windows of an epoch of this run's data (other data, or ",
              "another sequence length?)");
    for (const auto& [name, shape] : spec.weights)
      PMC_CHECK(state_.param_steps.count(name), file, ": \"param_steps\" has no entry for parameter ", name);
    for (const auto& [name, steps] : state_.param_steps)
      PMC_CHECK(spec.weights.count(name), file, ": \"param_steps\" names ", name, ", which this model does not have");
    const int shards = state_.shards;
    for (int q = 0; q < shards; ++q) {
      // one shard: the whole tensors; several: rank q's chunk of each, flattened (none when it is empty)
      auto expected = [&](const std::map<std::string, Shape>& whole) {
        if (shards == 1) return whole;
        std::map<std::string, Shape> chunks;
        for (const auto& [name, shape] : whole) {
          const auto r = dist::shard_range(shape.numel(), shards, q);
          if (r.size() > 0) chunks.emplace(name, Shape{r.size()});
        }
        return chunks;
      };
      const auto& w = weights_[static_cast<std::size_t>(q)];
      const auto& o = optimizer_[static_cast<std::size_t>(q)];
      io::check_tensors(w, expected(spec.weights), w.path().string());
      io::check_tensors(o, expected(spec.optimizer), o.path().string());
    }
  }

  const std::filesystem::path& dir() const { return dir_; }
  const TrainerState& state() const { return state_; }
  /// Whether manifest.json lists `file` (and so open checked its size and checksum).
  bool lists(const std::string& file) const { return listed_.count(file) != 0; }
  /// The weights files, one per shard (rank q's chunks, or the whole tensors when there is one).
  const std::vector<io::SafetensorsFile>& weight_shards() const { return weights_; }
  /// The weights and optimizer files of a checkpoint of one shard (the whole tensors).
  const io::SafetensorsFile& weights() const { return weights_.front(); }
  const io::SafetensorsFile& optimizer() const { return optimizer_.front(); }

  enum class Part { weights, optimizer };
  /// Elements [begin, end) of tensor `name` (`numel` elements in all, flattened) of the weights or the optimizer
  /// state, read from whichever shards hold them (converted to T) into `dst` (end - begin elements, contiguous,
  /// on any device). A validated checkpoint has every range.
  template <class T, Device D>
  void read_range(Part part, const std::string& name, std::int64_t numel, std::int64_t begin, std::int64_t end,
                  const Tensor<T, D>& dst) const {
    PMC_CHECK(0 <= begin && begin <= end && end <= numel && dst.numel() == end - begin && dst.is_contiguous(),
              dir_.string(), ": read_range of ", name, " [", begin, ", ", end, ") of ", numel, " into ",
              dst.shape().str());
    const auto& files = part == Part::weights ? weights_ : optimizer_;
    Tensor<T, Cpu> host(dst.shape());
    const int shards = state_.shards;
    for (int q = 0; q < shards; ++q) {
      const auto r = shards == 1 ? dist::ShardRange{0, numel, numel} : dist::shard_range(numel, shards, q);
      const std::int64_t lo = std::max(begin, r.begin), hi = std::min(end, r.end);
      if (lo >= hi) continue;
      const auto& file = files[static_cast<std::size_t>(q)];
      const auto& info = file.info(name);
      PMC_CHECK(info.shape.numel() == r.size(), file.path().string(), ": tensor '", name, "' holds ",
                info.shape.numel(), " elements, not the ", r.size(), " of shard ", q, " of ", shards);
      io::detail::convert_elements<T>(info.dtype, file.raw(name).data() + (lo - r.begin) * dtype_size(info.dtype),
                                      host.data() + (lo - begin), static_cast<std::size_t>(hi - lo),
                                      file.path().string() + ": tensor '" + name + "'");
    }
    if (host.data() != dst.data()) pmc::copy(pmc::to_device<D>(host), dst);
  }

 private:
  TrainingCheckpoint(std::filesystem::path dir, TrainerState state, std::vector<io::SafetensorsFile> weights,
                     std::vector<io::SafetensorsFile> optimizer, std::set<std::string> listed)
      : dir_(std::move(dir)), state_(std::move(state)), weights_(std::move(weights)), optimizer_(std::move(optimizer)),
        listed_(std::move(listed)) {}

  static std::string latest_name(const std::filesystem::path& root) {
    if (!std::filesystem::exists(root / kLatest)) return {};
    std::string name = io::read_text_file(root / kLatest);
    while (!name.empty() && (name.back() == '\n' || name.back() == '\r' || name.back() == ' ')) name.pop_back();
    return name;
  }

  static std::string hex(std::uint32_t crc) {
    char text[16];
    std::snprintf(text, sizeof text, "%08x", crc);
    return text;
  }

  static nlohmann::json state_json(const TrainerState& s) {
    nlohmann::json j{{"step", s.step},         {"optimizer_step", s.optimizer_step},
                     {"epoch", s.position.epoch}, {"index", s.position.index},
                     {"seed", s.seed},         {"config", s.config},
                     {"precision", s.precision}, {"param_steps", s.param_steps}, {"shards", s.shards}};
    if (!s.rope_layout.empty()) j["rope_layout"] = s.rope_layout;
    return j;
  }

  static nlohmann::json read_json(const std::filesystem::path& path) {
    try {
      return nlohmann::json::parse(io::read_text_file(path));
    } catch (const nlohmann::json::exception& e) {
      fail(path.string(), ": malformed JSON: ", e.what());
    }
  }

  // Checks every listed file's size and checksum; returns the names listed.
  static std::set<std::string> verify_manifest(const std::filesystem::path& dir) {
    const auto path = dir / kManifest;
    const std::string where = path.string();
    PMC_CHECK(std::filesystem::exists(path), where, ": missing (every checkpoint lists the sizes and checksums of ",
              "its files; an incomplete copy, or a checkpoint of an older pmc?)");
    const auto j = read_json(path);
    PMC_CHECK(j.is_object() && j.contains("files") && j["files"].is_object(), where, ": no \"files\" object");
    const auto& files = j["files"];
    PMC_CHECK(files.contains(kState), where, ": does not list ", kState);
    std::set<std::string> listed;
    for (const auto& [name, entry] : files.items()) {
      listed.insert(name);
      PMC_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "." && name != "..", where,
                ": \"", name, "\" is not a file of the checkpoint folder");
      PMC_CHECK(entry.is_object() && entry.contains("bytes") && entry["bytes"].is_number_unsigned() &&
                    entry.contains("crc32c") && entry["crc32c"].is_string(),
                where, ": the entry of ", name, " needs \"bytes\" (a count) and \"crc32c\" (8 hex digits)");
      const auto file = dir / name;
      PMC_CHECK(std::filesystem::is_regular_file(file), file.string(), ": missing (listed in ", kManifest, ")");
      const auto sum = io::checksum_file(file);
      const auto bytes = entry["bytes"].get<std::uint64_t>();
      PMC_CHECK(sum.bytes == bytes, file.string(), ": ", sum.bytes, " bytes, but ", kManifest, " says ", bytes,
                " (truncated or replaced)");
      const auto crc = entry["crc32c"].get<std::string>();
      PMC_CHECK(hex(sum.crc32c) == crc, file.string(), ": corrupt: its CRC-32C is ", hex(sum.crc32c), " but ",
                kManifest, " says ", crc);
    }
    return listed;
  }

  static TrainerState parse_state(const std::filesystem::path& path) {
    const std::string where = path.string();
    const auto j = read_json(path);
    PMC_CHECK(j.is_object(), where, ": not a JSON object");
    auto field = [&](const char* key) -> const nlohmann::json& {
      PMC_CHECK(j.contains(key), where, ": no \"", key, "\" (a checkpoint needs every trainer-state key)");
      return j[key];
    };
    auto count = [&](const char* key, const nlohmann::json& v, std::int64_t most) {
      const bool ok = v.is_number_integer() && v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() <= most;
      if (!ok && most == std::numeric_limits<std::int64_t>::max())
        fail(where, ": \"", key, "\" is ", v.dump(), ", not a non-negative integer");
      PMC_CHECK(ok, where, ": \"", key, "\" is ", v.dump(), ", not an integer in [0, ", most, "]");
      return v.get<std::int64_t>();
    };
    auto text = [&](const char* key) {
      const auto& v = field(key);
      PMC_CHECK(v.is_string(), where, ": \"", key, "\" is ", v.type_name(), ", not a string");
      return v.get<std::string>();
    };
    constexpr std::int64_t kMost = std::numeric_limits<std::int64_t>::max();
    TrainerState s;
    s.step = count("step", field("step"), kMost);
    s.optimizer_step = count("optimizer_step", field("optimizer_step"), s.step);
    s.position.epoch = count("epoch", field("epoch"), kMost);
    s.position.index = count("index", field("index"), kMost);
    const auto& seed = field("seed");
    PMC_CHECK(seed.is_number_unsigned(), where, ": \"seed\" is ", seed.dump(), ", not a non-negative integer");
    s.seed = seed.get<std::uint64_t>();
    s.config = text("config");
    s.precision = text("precision");
    const auto& steps = field("param_steps");
    PMC_CHECK(steps.is_object(), where, ": \"param_steps\" is ", steps.type_name(), ", not an object");
    for (const auto& [name, v] : steps.items())
      s.param_steps[name] = count(("param_steps." + name).c_str(), v, s.optimizer_step);
    // absent in the checkpoints of unsharded runs before sharding existed: one shard
    if (j.contains("shards")) s.shards = static_cast<int>(count("shards", j["shards"], 1 << 20));
    PMC_CHECK(s.shards >= 1, where, ": \"shards\" is 0; a checkpoint has at least one shard");
    // absent in the checkpoints of a pmc before it was recorded: unknown
    if (j.contains("rope_layout")) {
      s.rope_layout = text("rope_layout");
      PMC_CHECK(s.rope_layout == "rotate_half" || s.rope_layout == "interleaved", where, ": \"rope_layout\" is '",
                s.rope_layout, "', not rotate_half or interleaved");
    }
    return s;
  }

  std::filesystem::path dir_;
  TrainerState state_;
  std::vector<io::SafetensorsFile> weights_, optimizer_;  // one per shard
  std::set<std::string> listed_;                           // the files manifest.json lists
};

}  // namespace pmc::train
