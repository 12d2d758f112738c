// The handoff marker: written when a handoff ends, read at start.

#include "actors/cluster/handoff_marker.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "actors/cluster/membership.hpp"

namespace solver_state {

namespace {

// The first line is the hash of the member list (alone: the format of the
// builds before node.leaving counted, whose markers still read right); a
// line "drained <host:port>" follows for each leaving node this node pulled
// from under that list, then a line "member <host:port>" for each member.
// A start skips the handoff when the members are the same and every node of
// its node.leaving was drained: a leaving node added to node.leaving (or
// forgotten there before) makes it pull again, and dropping a drained node
// from node.leaving, the last step of removing it, needs no new pass. The
// members' names let a start tell a member dropped without being drained.
// Builds before them read a marker with names as not theirs and pull again
// (harmless, slower).

const std::string drained_tag = "drained ";
const std::string member_tag = "member ";

std::string hash_line(uint64_t members_hash) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(members_hash));
  return buf;
}

std::string marker_text(const membership& m) {
  std::string text = hash_line(m.members_hash()) + "\n";
  for (auto& name : m.leaving())
    text += drained_tag + name + "\n";
  for (auto& name : m.members())
    text += member_tag + name + "\n";
  return text;
}

/// What a marker holds.
struct marker_content {
  std::string hash;
  std::vector<std::string> drained;
  std::vector<std::string> members;
};

/// The marker at `path`, or false when there is none or it is not one of
/// ours (an unknown line: pull again rather than guess).
bool read_marker(const std::string& path, marker_content& out) {
  if (path.empty())
    return false;
  std::ifstream in{path};
  if (!in || !std::getline(in, out.hash))
    return false;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(drained_tag, 0) == 0)
      out.drained.push_back(line.substr(drained_tag.size()));
    else if (line.rfind(member_tag, 0) == 0)
      out.members.push_back(line.substr(member_tag.size()));
    else
      return false;
  }
  return true;
}

bool contains(const std::vector<std::string>& names, const std::string& x) {
  return std::find(names.begin(), names.end(), x) != names.end();
}

/// Syncs the directory holding `path`: a rename or an unlink in it lasts.
void sync_parent_directory(const std::string& path) {
  auto slash = path.find_last_of('/');
  auto dir = slash == std::string::npos ? std::string{"."}
                                        : path.substr(0, slash + 1);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

} // namespace

bool marker_says_done(const std::string& path, const membership& m) {
  marker_content marker;
  if (!read_marker(path, marker) || marker.hash != hash_line(m.members_hash()))
    return false;
  for (auto& name : m.leaving())
    if (!contains(marker.drained, name))
      return false;
  return true;
}

void write_marker(const std::string& path, const membership& m) {
  if (path.empty())
    return;
  auto tmp = path + ".tmp";
  auto text = marker_text(m);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0
            && ::write(fd, text.data(), text.size())
                 == static_cast<ssize_t>(text.size())
            && ::fsync(fd) == 0;
  if (fd >= 0)
    ::close(fd);
  ok = ok && ::rename(tmp.c_str(), path.c_str()) == 0;
  if (ok)
    sync_parent_directory(path);
  if (!ok)
    spdlog::warn("handoff: cannot record the finished handoff in {} ({}); "
                 "the next start pulls again (harmless, slower)",
                 path, std::strerror(errno));
}

void remove_marker(const std::string& path) {
  if (path.empty())
    return;
  if (::unlink(path.c_str()) != 0) {
    if (errno != ENOENT)
      spdlog::warn("handoff: cannot remove {} ({}): delete it before this "
                   "node is added back, or it will skip its handoff",
                   path, std::strerror(errno));
    return;
  }
  sync_parent_directory(path);
  spdlog::info("handoff: leaving, {} removed: added back, this node pulls "
               "what it owns again", path);
}

std::vector<std::string> members_dropped_undrained(
  const std::string& path, const std::vector<std::string>& members,
  const std::vector<std::string>& leaving) {
  marker_content marker;
  std::vector<std::string> dropped;
  if (!read_marker(path, marker))
    return dropped;
  for (auto& name : marker.members)
    if (!contains(members, name) && !contains(leaving, name))
      dropped.push_back(name);
  return dropped;
}

} // namespace solver_state
