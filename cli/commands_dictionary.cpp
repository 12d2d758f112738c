// train-dictionary: a zstd dictionary trained on the values a store holds
// under a prefix, for state.compression.dictionaries. Values are read
// through the export (streamed, never all of the store: it stops once it
// has enough samples), trained with zstd's own trainer, and written under
// a temporary name, then renamed.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <zdict.h>

#include "backends/codec/hex_runs.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/record_splitter.hpp"
#include "cli/reply_failure.hpp"
#include "http/backup_line.hpp"
#include "util/percent.hpp"

namespace solver_state::cli {

namespace {

/// What train-dictionary reads at most.
struct sample_limits {
  long long values = 10'000;
  long long bytes = 64LL << 20;
};

/// The values of an export, concatenated as ZDICT_trainFromBuffer wants
/// them: one buffer and each value's size.
struct samples {
  std::string bytes;
  std::vector<size_t> sizes;
  record_splitter lines{"\n"};
  std::string problem; // the first bad line, if any

  bool enough(const sample_limits& limits) const {
    return static_cast<long long>(sizes.size()) >= limits.values
           || static_cast<long long>(bytes.size()) >= limits.bytes;
  }

  void add_line(std::string_view line) {
    std::string why;
    auto parsed = gateway::parse_backup_line(line, size_t{1} << 30, why);
    if (!parsed) {
      if (problem.empty())
        problem = why;
      return;
    }
    // What the codec hands zstd: the value with its hex runs packed.
    auto packed = pack_hex_runs(parsed->value);
    const auto& sample = packed.empty() ? parsed->value : packed;
    bytes += sample;
    sizes.push_back(sample.size());
  }
};

/// Stops the export once there are enough samples (not an error).
const char* enough_samples = "enough_samples";

failure write_failure(const std::string& path) {
  return {exit_server_error, "io_error",
          "cannot write " + path + ": " + std::strerror(errno)};
}

/// Writes `bytes` to `path` through a temporary file, synced and renamed,
/// readable by its owner only: a dictionary holds fragments of the values
/// it was trained on in plaintext (hex runs packed two digits to a byte,
/// which unpacks), and the service refuses one that others may read when
/// it encrypts.
maybe_failure write_file(const std::string& path, const std::string& bytes) {
  auto tmp = path + ".partial";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return write_failure(tmp);
  // A .partial left by an earlier run keeps its mode through O_TRUNC.
  bool ok = ::fchmod(fd, 0600) == 0
            && ::write(fd, bytes.data(), bytes.size())
                 == static_cast<ssize_t>(bytes.size())
            && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    auto f = write_failure(path);
    ::unlink(tmp.c_str());
    return f;
  }
  return {};
}

} // namespace

int run_train_dictionary(context& cx, const parsed_args& args) {
  const char* usage = "train-dictionary PREFIX -o FILE [--size BYTES] "
                      "[--samples N]";
  if (auto f = check_arity(args, 1, 1, usage))
    return report(*f, cx.json);
  auto* output = args.value("--output");
  if (!output)
    return report(usage_failure(std::string{"-o FILE is required: "} + usage),
                  cx.json);
  long long size = 16'384;
  if (auto* v = args.value("--size")) {
    auto n = parse_count("--size", *v, 1'024, 1LL << 24);
    if (!n)
      return report(n.error(), cx.json);
    size = *n;
  }
  sample_limits limits;
  if (auto* v = args.value("--samples")) {
    auto n = parse_count("--samples", *v, 10, 1'000'000);
    if (!n)
      return report(n.error(), cx.json);
    limits.values = *n;
  }
  auto& prefix = args.positionals[0];
  samples got;
  auto sink = [&](std::string_view piece) -> maybe_failure {
    auto fed = got.lines.feed(piece, [&](std::string_view line) {
      got.add_line(line);
      return !got.enough(limits);
    });
    if (fed == record_splitter::status::stopped)
      return failure{exit_ok, enough_samples, ""};
    if (fed == record_splitter::status::too_long)
      return odd_answer("an export line longer than "
                        + std::to_string(max_record_bytes) + " bytes");
    return {};
  };
  auto r = cx.http.stream("/v1/export?prefix=" + percent_encode(prefix), sink);
  if (!r && r.error().error != enough_samples)
    return report(r.error(), cx.json);
  if (r && r->status != 200)
    return report(route_failure_of(*r), cx.json);
  if (!got.problem.empty())
    return report(odd_answer("an export line: " + got.problem), cx.json);
  auto cannot_train = [&](const std::string& why) {
    return report(failure{exit_server_error, "cannot_train",
                          "cannot train a dictionary from the "
                            + std::to_string(got.sizes.size())
                            + " values under '" + prefix + "'" + why
                            + " (zstd needs many values, a few hundred at "
                              "least, that share content)"},
                  cx.json);
  };
  if (got.sizes.empty())
    return cannot_train("");
  std::string dict(static_cast<size_t>(size), '\0');
  auto n = ZDICT_trainFromBuffer(dict.data(), dict.size(), got.bytes.data(),
                                 got.sizes.data(),
                                 static_cast<unsigned>(got.sizes.size()));
  if (ZDICT_isError(n))
    return cannot_train(std::string{": "} + ZDICT_getErrorName(n));
  dict.resize(n);
  if (auto f = write_file(*output, dict))
    return report(*f, cx.json);
  auto id = ZDICT_getDictID(dict.data(), dict.size());
  maybe_failure written;
  if (cx.json) {
    boost::json::object doc;
    doc["dictionary_bytes"] = static_cast<long long>(dict.size());
    doc["id"] = id;
    doc["values"] = static_cast<long long>(got.sizes.size());
    doc["value_bytes"] = static_cast<long long>(got.bytes.size());
    written = write_json(doc);
  } else {
    written = write_stdout(
      "trained a " + std::to_string(dict.size()) + "-byte dictionary (id "
      + std::to_string(id) + ") from " + std::to_string(got.sizes.size())
      + " values (" + std::to_string(got.bytes.size()) + " bytes) under '"
      + prefix + "': " + *output + "\n");
  }
  if (!written)
    written = flush_stdout();
  return written ? report(*written, cx.json) : exit_ok;
}

} // namespace solver_state::cli
