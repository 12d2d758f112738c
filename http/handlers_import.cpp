// POST /v1/import: every line is checked before anything is written (a bad
// line is 400 naming it, and the store is untouched), then the lines are
// written in order with a bounded window of writes in flight, each to the
// key's owner, keeping its absolute expiry. An expired line is skipped,
// unless an earlier line of the import wrote its key: that key is deleted,
// so every key ends as its last line says.

#include "http/handlers.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <unordered_set>

#include <boost/json.hpp>

#include "http/backup_line.hpp"
#include "http/responses.hpp"
#include "http/store_call.hpp"
#include "util/wall_clock.hpp"

namespace solver_state::gateway {

namespace {

/// Writes in flight per import: enough to keep the shards' pipelined
/// batches and group commits full, few enough for CAF's reply matching
/// (CAF-0.17 notes: a window of at most 128).
constexpr size_t import_window = 64;

/// The lines of an NDJSON body, one at a time, numbered from 1. A "\r"
/// before the "\n" is dropped.
class line_reader {
public:
  explicit line_reader(std::string_view body) : body_(body) {}

  /// The next line; false at the end of the body.
  bool next(std::string_view& line) {
    if (pos_ >= body_.size())
      return false;
    auto end = body_.find('\n', pos_);
    if (end == std::string_view::npos)
      end = body_.size();
    line = body_.substr(pos_, end - pos_);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    pos_ = end + 1;
    ++number_;
    return true;
  }

  size_t number() const { return number_; }

  /// True when nothing but empty lines is left.
  bool only_blank_left() const {
    return body_.find_first_not_of("\r\n", pos_) == std::string_view::npos;
  }

private:
  std::string_view body_;
  size_t pos_ = 0;
  size_t number_ = 0;
};

/// Lines checked per step: a 64 MiB body is checked in slices, so the io
/// thread serves other connections in between and http.request_timeout
/// bounds each slice.
constexpr size_t check_slice = 16'384;

/// Checks the lines of an NDJSON body a slice at a time.
class line_checker {
public:
  line_checker(std::string_view body, size_t max_value_bytes)
    : reader_(body), max_value_bytes_(max_value_bytes) {
  }

  /// Checks up to check_slice more lines. False when the body is bad
  /// (problem() names the line) or fully checked (done()).
  bool check_some() {
    std::string_view line;
    for (size_t n = 0; n < check_slice; ++n) {
      if (!reader_.next(line)) {
        done_ = true;
        return false;
      }
      if (line.empty()) {
        if (reader_.only_blank_left()) {
          done_ = true;
          return false;
        }
        return refuse("empty line");
      }
      std::string why;
      if (!parse_backup_line(line, max_value_bytes_, why))
        return refuse(why);
      ++lines_;
    }
    return true;
  }

  bool done() const { return done_; }
  const std::string& problem() const { return problem_; }
  size_t lines() const { return lines_; }

private:
  bool refuse(const std::string& why) {
    problem_ = "line " + std::to_string(reader_.number()) + ": " + why;
    return false;
  }

  line_reader reader_;
  size_t max_value_bytes_;
  size_t lines_ = 0;
  bool done_ = false;
  std::string problem_;
};

/// One import in progress. Its state is touched only on the io thread: the
/// write replies come back through next_step.
class import_run : public std::enable_shared_from_this<import_run> {
public:
  import_run(const handler_env& env, sink_ptr sink, std::string body)
    : env_(env),
      sink_(std::move(sink)),
      body_(std::move(body)),
      checker_(body_, env.limits.max_value_bytes),
      reader_(body_) {
  }

  /// Checks every line, a slice per step, then writes them (pump) or
  /// answers 400 naming the first bad one.
  void check() {
    if (checker_.check_some()) {
      auto self = shared_from_this();
      return sink_->next_step([self] { self->check(); });
    }
    if (!checker_.done())
      return sink_->reply(error_response(state_errc::bad_request,
                                         "nothing imported: "
                                           + checker_.problem()));
    lines_ = checker_.lines();
    pump();
  }

private:
  /// Starts writes until the window is full, the next line's key is still
  /// being written (a later line for it must land after the earlier one),
  /// or every line is out; answers once the last write is back.
  void pump() {
    size_t skips_left = check_slice;
    while (!failure_ && in_flight_.size() < import_window) {
      if (!next_line(skips_left)) {
        if (skips_left == 0)
          return resume_later();
        break;
      }
      if (in_flight_.count(pending_->key))
        break; // resumes when that key's write is back
      if (!(pending_removal_ ? send_removal(pending_->key) : send(*pending_)))
        break;
      pending_.reset();
      pending_removal_ = false;
    }
    finish_if_done();
  }

  /// A slice of expired lines was passed over in this step: the rest
  /// waits for the next one, so the io thread serves other connections in
  /// between (a body of a million expired lines is parsed again here, as
  /// the check parsed it) and http.request_timeout bounds each step.
  void resume_later() {
    if (resume_due_)
      return;
    resume_due_ = true;
    auto self = shared_from_this();
    sink_->next_step([self] {
      self->resume_due_ = false;
      self->pump();
    });
  }

  /// Reads the next line into pending_ (unless one is waiting there),
  /// passing over at most `skips_left` expired lines (counted down; false
  /// at 0, with lines perhaps left). An expired line whose key this import
  /// wrote is not passed over: it is pending_ as a removal of that key.
  bool next_line(size_t& skips_left) {
    if (pending_)
      return true;
    std::string_view line;
    while (skips_left > 0 && reader_.next(line)) {
      if (line.empty())
        continue; // only trailing blank lines passed the check
      std::string problem;
      pending_ = parse_backup_line(line, env_.limits.max_value_bytes, problem);
      if (!pending_) { // the check passed it: cannot happen
        failure_ = make_state_error(state_errc::backend_error,
                                    "line " + std::to_string(reader_.number())
                                      + ": " + problem);
        return false;
      }
      // Already expired: restoring it would only have the sweep delete it.
      // But the value an earlier line wrote would outlive it: the key is
      // deleted instead (after that write, as a later line waits for an
      // earlier one), and ends as its last line says.
      if (pending_->expires_at_ms > 0
          && pending_->expires_at_ms <= unix_now_ms()) {
        ++expired_;
        if (wrote(pending_->key)) {
          pending_removal_ = true;
          return true;
        }
        pending_.reset();
        --skips_left;
        continue;
      }
      return true;
    }
    return false;
  }

  /// Sends one write; false when the bridge is full (tried again when a
  /// write of ours is back, or 503 when none is out). Copies the line: a
  /// refused ask consumes its message, and the line must stay for the retry.
  bool send(const backup_line& line) {
    set_request sr{line.key, line.value, 0, condition::always()};
    sr.expires_at_ms = line.expires_at_ms;
    auto key = sr.key;
    auto self = shared_from_this();
    auto on_result = [self, key](caf::expected<write_result> w) {
      caf::error err = w ? caf::error{} : std::move(w.error());
      self->sink_->next_step([self, key, err = std::move(err)] {
        self->landed(key, err, true);
      });
    };
    auto& owner = owner_of(env_, sr.key);
    if (!env_.bridge.ask<write_result>(owner, on_result, put_atom_v,
                                       std::move(sr)))
      return bridge_full();
    written_.insert(key_hash(key));
    in_flight_.insert(std::move(key));
    return true;
  }

  /// Sends the removal of `key`, which an earlier line wrote and whose last
  /// line so far is expired; false when the bridge is full, as send().
  bool send_removal(const std::string& key) {
    auto self = shared_from_this();
    auto on_result = [self, key](caf::expected<bool> removed) {
      caf::error err = removed ? caf::error{} : std::move(removed.error());
      self->sink_->next_step([self, key, err = std::move(err)] {
        self->landed(key, err, false);
      });
    };
    auto& owner = owner_of(env_, key);
    if (!env_.bridge.ask<bool>(owner, on_result, delete_atom_v,
                               delete_request{key, condition::always()}))
      return bridge_full();
    in_flight_.insert(key);
    return true;
  }

  /// The bridge refused a call: false, and 503 when none of ours is out
  /// (no reply would pump again).
  bool bridge_full() {
    if (in_flight_.empty())
      failure_ = make_state_error(state_errc::backend_unavailable,
                                  "too many requests in flight "
                                  "(http.max_in_flight="
                                    + std::to_string(
                                      env_.bridge.max_in_flight())
                                    + ")");
    return false;
  }

  /// A write (`imported`: a line's value) or a removal of `key` is back.
  void landed(const std::string& key, const caf::error& err, bool imported) {
    in_flight_.erase(key);
    if (err) {
      if (!failure_)
        failure_ = err;
    } else if (imported) {
      ++imported_;
    }
    pump();
  }

  static size_t key_hash(const std::string& key) {
    return std::hash<std::string>{}(key);
  }

  /// True when a line of this import wrote `key` (or one of the same
  /// hash: about one pair in 2^64, and then a key whose last line so far is
  /// expired is deleted, as that line says, instead of left as it was).
  bool wrote(const std::string& key) const {
    return written_.count(key_hash(key)) != 0;
  }

  void finish_if_done() {
    if (!in_flight_.empty() || done_ || resume_due_)
      return;
    if (failure_) {
      done_ = true;
      // Every write sent is back, so the count is exact.
      return sink_->reply(error_response(
        code_of(failure_),
        message_of(failure_) + "; " + std::to_string(imported_) + " of "
          + std::to_string(lines_)
          + " lines were imported before the failure"));
    }
    if (pending_)
      return; // the bridge was full: a reply of ours will pump again
    done_ = true;
    boost::json::object out;
    out["imported"] = imported_;
    out["expired"] = expired_;
    sink_->reply(json_response(200, boost::json::serialize(out)));
  }

  const handler_env& env_;
  sink_ptr sink_;
  std::string body_;
  line_checker checker_;
  line_reader reader_;
  size_t lines_ = 0;
  /// The next line to write, read but not sent yet.
  std::optional<backup_line> pending_;
  /// pending_ is an expired line whose key an earlier line wrote: its key
  /// is deleted, not written.
  bool pending_removal_ = false;
  /// Keys whose write (or removal) is out.
  std::unordered_set<std::string> in_flight_;
  /// Hashes of the keys this import wrote: hashes, not keys, so that the
  /// memory an import holds stays near its body's (a line is a key and a
  /// value; an entry here is a few words, whatever the key's length).
  std::unordered_set<size_t> written_;
  caf::error failure_;
  bool done_ = false;
  /// A step that goes on passing over expired lines is due.
  bool resume_due_ = false;
  uint64_t imported_ = 0;
  uint64_t expired_ = 0;
};

} // namespace

void import_keys(const handler_env& env, request_t& req, const route_match& m,
                 const sink_ptr& sink) {
  if (reject_query(m, sink))
    return;
  std::make_shared<import_run>(env, sink, std::move(req.body()))->check();
}

} // namespace solver_state::gateway
