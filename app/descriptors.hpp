#pragma once

// The process's file descriptor limit: raised to what the system allows at
// start, and the connections it leaves room for. Each HTTP connection is a
// descriptor; so are the file backend's logs and value files, the network
// backends' sockets, the cluster's peers and the log file. Run out, and
// accept() fails while clients wait in the backlog; so the gateway is kept
// below the limit, and sheds what comes past it (http/listener.cpp).

#include <cstddef>
#include <cstdint>

namespace solver_state {

struct descriptor_limit {
  /// The soft RLIMIT_NOFILE the process started with.
  uint64_t before = 0;
  /// The soft limit now: the hard limit when raising it worked.
  uint64_t now = 0;
};

/// Raises the soft RLIMIT_NOFILE to the hard limit (nginx's
/// worker_rlimit_nofile, without a config key: there is no reason to serve
/// fewer connections than the system allows).
descriptor_limit raise_descriptor_limit();

/// The connections a limit of `nofile` descriptors leaves room for: the
/// limit less 64 and an eighth of it for everything that is not a
/// connection (at least 1).
size_t connections_within(uint64_t nofile);

} // namespace solver_state
