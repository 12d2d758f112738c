// export and import: the whole store (or a prefix of it) as NDJSON, one
// {"key","value","expires_at_ms"} per line. Neither holds the data whole:
// an export is written as it arrives, an import is checked line by line and
// then sent a body of at most --chunk-bytes at a time.

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include <boost/json.hpp>

#include "cli/answer_json.hpp"
#include "cli/commands.hpp"
#include "cli/import_file.hpp"
#include "cli/output.hpp"
#include "cli/reply_failure.hpp"
#include "util/percent.hpp"

namespace solver_state::cli {

namespace {

constexpr long long default_chunk_bytes = 4LL << 20;
constexpr long long max_chunk_bytes = 1LL << 30;

failure local_io_failure(const std::string& what) {
  return {exit_server_error, "io_error", what + ": " + std::strerror(errno)};
}

/// A file created beside `path` (or in $TMPDIR), removed on destruction
/// unless it was renamed into place: an export that fails half-way leaves
/// no file that looks complete, and a buffered stdin leaves nothing behind.
class temp_file {
public:
  static expected<std::unique_ptr<temp_file>> create(std::string pattern) {
    pattern += "XXXXXX";
    int fd = mkstemp(pattern.data());
    if (fd < 0)
      return local_io_failure("cannot create " + pattern);
    auto* f = fdopen(fd, "w+b");
    if (!f) {
      ::close(fd);
      return local_io_failure("cannot open " + pattern);
    }
    return std::unique_ptr<temp_file>(new temp_file(pattern, f));
  }

  ~temp_file() {
    if (file_)
      std::fclose(file_);
    if (!kept_)
      std::remove(path_.c_str());
  }

  const std::string& path() const {
    return path_;
  }
  FILE* file() const {
    return file_;
  }

  maybe_failure write(std::string_view bytes) {
    if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size())
      return local_io_failure("cannot write " + path_);
    return std::nullopt;
  }

  /// Flushes, syncs and closes; the file keeps its temporary name.
  maybe_failure close() {
    bool ok = std::fflush(file_) == 0 && fsync(fileno(file_)) == 0;
    ok = std::fclose(file_) == 0 && ok;
    file_ = nullptr;
    if (!ok)
      return local_io_failure("cannot write " + path_);
    return std::nullopt;
  }

  /// Closes and moves the file to `target`.
  maybe_failure rename_to(const std::string& target) {
    if (auto f = close())
      return f;
    if (std::rename(path_.c_str(), target.c_str()) != 0)
      return local_io_failure("cannot rename " + path_ + " to " + target);
    kept_ = true;
    return std::nullopt;
  }

private:
  temp_file(std::string path, FILE* f) : path_(std::move(path)), file_(f) {
  }

  std::string path_;
  FILE* file_;
  bool kept_ = false;
};

std::string temp_dir() {
  auto* dir = std::getenv("TMPDIR");
  return dir && *dir ? dir : "/tmp";
}

/// Copies stdin into a temporary file, so that it can be read twice (once
/// to check, once to send) without holding it in memory.
expected<std::unique_ptr<temp_file>> buffer_stdin() {
  auto tmp = temp_file::create(temp_dir() + "/solver-state-import-");
  if (!tmp)
    return tmp.error();
  char buf[65536];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0)
    if (auto f = (*tmp)->write({buf, n}))
      return *f;
  if (std::ferror(stdin))
    return local_io_failure("cannot read stdin");
  if (auto f = (*tmp)->close())
    return *f;
  return tmp;
}

struct import_counts {
  long long imported = 0;
  long long expired = 0;
};

/// The counts of an import reply: {"imported":N,"expired":M}.
std::optional<import_counts> counts_of(const std::string& body) {
  boost::json::error_code ec;
  auto doc = parse_answer(body, ec);
  if (ec || !doc.is_object())
    return std::nullopt;
  auto count = [&](const char* name) -> std::optional<long long> {
    auto* n = doc.as_object().if_contains(name);
    if (!n || !(n->is_int64() || n->is_uint64()))
      return std::nullopt;
    return n->is_int64() ? n->as_int64()
                          : static_cast<long long>(n->as_uint64());
  };
  auto imported = count("imported");
  auto expired = count("expired");
  if (!imported || !expired)
    return std::nullopt;
  return import_counts{*imported, *expired};
}

maybe_failure print_count(context& cx, const char* member, long long n,
                          const std::string& human) {
  maybe_failure written;
  if (cx.json) {
    boost::json::object doc;
    doc[member] = n;
    written = write_json(doc);
  } else {
    written = write_stdout(human + "\n");
  }
  return written ? written : flush_stdout();
}

} // namespace

/// What ?skip_unreadable=true left out (the trailer field), or -1 when the
/// service did not say.
long long skipped_of(const http_reply& r) {
  auto field = r.header("x-unreadable-skipped");
  if (field.empty())
    return -1;
  char* end = nullptr;
  auto n = std::strtoll(field.c_str(), &end, 10);
  return end && *end == '\0' && n >= 0 ? n : -1;
}

int run_export(context& cx, const parsed_args& args) {
  if (auto f = check_arity(args, 0, 1,
                           "export [PREFIX] [-o FILE] [--skip-unreadable]"))
    return report(*f, cx.json);
  bool skip_unreadable = args.has("--skip-unreadable");
  auto prefix = args.positionals.empty() ? std::string{} : args.positionals[0];
  auto* output = args.value("--output");
  std::unique_ptr<temp_file> file;
  if (output) {
    auto tmp = temp_file::create(*output + ".partial-");
    if (!tmp)
      return report(tmp.error(), cx.json);
    file = std::move(*tmp);
  }
  long long lines = 0;
  char last_byte = '\n'; // an empty export is whole
  auto sink = [&](std::string_view piece) -> maybe_failure {
    lines += std::count(piece.begin(), piece.end(), '\n');
    if (!piece.empty())
      last_byte = piece.back();
    return file ? file->write(piece) : write_stdout(piece);
  };
  auto target = "/v1/export?prefix=" + percent_encode(prefix);
  stream_options options;
  // A backup must be known whole: a body that ends with the connection
  // could be one cut short.
  options.framed_only = true;
  if (skip_unreadable) {
    target += "&skip_unreadable=true";
    options.headers = {{"TE", "trailers"}}; // for a proxy between
  }
  auto r = cx.http.stream(target, sink, options);
  if (!r)
    return report(r.error(), cx.json);
  if (r->status != 200)
    return report(route_failure_of(*r), cx.json);
  // Every line of an export ends in a newline: a body that does not was cut
  // short before it was framed (by a proxy between), and is no backup.
  // The body came whole by its framing: what cut it was not the connection
  // but the answer itself (a proxy that rewrote it), so no retry helps.
  if (last_byte != '\n')
    return report(failure{exit_server_error, "bad_answer",
                          cx.http.url().text + ": GET " + target
                            + ": the export ends in the middle of a line "
                              "(cut short)"},
                  cx.json);
  // The transfer is complete: every value the service could read is here,
  // also when the count of the others did not come through (a proxy may
  // drop trailer fields): the file is kept, and the exit says so.
  auto skipped = skip_unreadable ? skipped_of(*r) : 0;
  if (!file) {
    if (auto f = flush_stdout())
      return report(*f, false);
  } else {
    if (auto f = file->rename_to(*output))
      return report(*f, cx.json);
    maybe_failure printed;
    if (cx.json && skip_unreadable) {
      boost::json::object doc;
      doc["exported"] = lines;
      if (skipped >= 0)
        doc["skipped_unreadable"] = skipped;
      else
        doc["skipped_unreadable"] = nullptr;
      printed = write_json(doc);
      if (!printed)
        printed = flush_stdout();
    } else {
      printed = print_count(cx, "exported", lines,
                            "exported " + std::to_string(lines) + " keys to "
                              + *output);
    }
    if (printed)
      return report(*printed, cx.json);
  }
  // On stderr only: stdout holds the export or its count.
  if (skipped > 0)
    return report(failure{exit_server_error, "unreadable_values",
                          "export: " + std::to_string(skipped)
                            + " values the service cannot read were left "
                              "out (its log names them)"},
                  false);
  if (skipped < 0)
    return report(failure{exit_server_error, "unreadable_values",
                          "export: the service did not say whether it left "
                          "out values it cannot read (no "
                          "X-Unreadable-Skipped trailer: does a proxy "
                          "between drop trailer fields?); its log names "
                          "any it did"},
                  false);
  return exit_ok;
}

int run_import(context& cx, const parsed_args& args) {
  if (auto f = check_arity(args, 1, 1,
                           "import FILE|- [--chunk-bytes N] "
                           "[--max-value-bytes N]"))
    return report(*f, cx.json);
  auto chunk_bytes = default_chunk_bytes;
  if (auto* v = args.value("--chunk-bytes")) {
    auto n = parse_count("--chunk-bytes", *v, 2, max_chunk_bytes);
    if (!n)
      return report(n.error(), cx.json);
    chunk_bytes = *n;
  }
  auto max_value_bytes = static_cast<long long>(default_max_value_bytes);
  if (auto* v = args.value("--max-value-bytes")) {
    // The service's bounds of state.max_value_bytes (config/load.cpp).
    auto n = parse_count("--max-value-bytes", *v, 1, 1LL << 30);
    if (!n)
      return report(n.error(), cx.json);
    max_value_bytes = *n;
  }
  auto source = args.positionals[0];
  std::unique_ptr<temp_file> buffered;
  auto path = source;
  if (source == "-") {
    auto tmp = buffer_stdin();
    if (!tmp)
      return report(tmp.error(), cx.json);
    buffered = std::move(*tmp);
    path = buffered->path();
  }
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return report({exit_usage, "bad_import_file",
                   "cannot open " + source + ": " + std::strerror(errno)
                     + " (nothing was imported)"},
                  cx.json);
  auto checked = check_import(in, static_cast<size_t>(chunk_bytes),
                              static_cast<size_t>(max_value_bytes));
  auto name = source == "-" ? std::string{"stdin"} : source;
  if (!checked.read_error.empty())
    return report({exit_usage, "bad_import_file",
                   "cannot read " + name + ": " + checked.read_error
                     + " (after " + std::to_string(checked.lines)
                     + " lines; nothing was imported)"},
                  cx.json);
  if (!checked.ok())
    return report({exit_usage, "bad_import_file",
                   name + ":"
                     + std::to_string(checked.bad_line) + ": "
                     + checked.problem + " (nothing was imported)"},
                  cx.json);
  // Nothing on stdin is what a failed export piped in leaves (its own
  // status is lost in a pipeline without pipefail): say so rather than
  // report an import of nothing as done.
  if (source == "-" && checked.keys == 0)
    return report({exit_usage, "bad_import_file",
                   "stdin is empty: nothing was imported (piped from an "
                   "export, that export failed or found no key)"},
                  cx.json);
  in.clear();
  in.seekg(0);
  import_chunker chunks{in, static_cast<size_t>(chunk_bytes)};
  import_counts total;
  while (auto chunk = chunks.next()) {
    auto last = chunk->first_line + chunk->lines - 1;
    auto lines = chunk->lines == 1
                   ? "line " + std::to_string(last)
                   : "lines " + std::to_string(chunk->first_line) + "-"
                       + std::to_string(last);
    auto r = cx.http.send("POST", "/v1/import", std::move(chunk->body),
                          {{"Content-Type", "application/x-ndjson"}});
    failure f;
    if (!r) {
      f = r.error();
    } else if (r->status != 200) {
      f = route_failure_of(*r);
      if (r->status == 413)
        f.message += " (a smaller --chunk-bytes fits http.max_import_bytes)";
    } else if (auto n = counts_of(r->body)) {
      total.imported += n->imported;
      total.expired += n->expired;
      continue;
    } else {
      f = {exit_server_error, "bad_answer",
           "an import reply without \"imported\" and \"expired\""};
    }
    f.message = lines + ": " + f.message + "; "
                + std::to_string(total.imported)
                + " keys were imported before";
    return report(f, cx.json);
  }
  // The second read must see what the check saw: a file rewritten in
  // between, or a read error, would otherwise end the import early and
  // look like its end.
  if (in.bad() || chunks.lines_read() != checked.lines)
    return report({exit_usage, "bad_import_file",
                   name
                     + (chunks.read_error().empty()
                          ? " changed or could not be read"
                          : " could not be read (" + chunks.read_error()
                              + ")")
                     + " after it was checked: "
                     + std::to_string(chunks.lines_read()) + " of "
                     + std::to_string(checked.lines) + " lines were read, "
                     + std::to_string(total.imported)
                     + " keys imported from them; import it again"},
                  cx.json);
  maybe_failure written;
  if (cx.json) {
    boost::json::object doc;
    doc["imported"] = total.imported;
    doc["expired"] = total.expired;
    written = write_json(doc);
  } else {
    // An expired line is not written: the sweep would only delete it.
    written = write_stdout("imported " + std::to_string(total.imported)
                           + " keys, skipped "
                           + std::to_string(total.expired)
                           + " already expired\n");
  }
  if (!written)
    written = flush_stdout();
  if (written)
    return report(*written, cx.json);
  return exit_ok;
}

} // namespace solver_state::cli
