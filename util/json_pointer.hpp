#pragma once

// JSON pointers (RFC 6901) as state.indexes declares them: "/status",
// "/deadline/unix", "/a~1b" (the member "a/b"), "/m~0n" (the member "m~n").

#include <string>
#include <string_view>

namespace solver_state {

/// Empty when `pointer` names a field inside a document: it starts with
/// '/', and each '~' is followed by '0' or '1'. Else why not. The empty
/// pointer (the whole document) is refused: an index holds a string or a
/// number, never the object itself.
std::string json_pointer_problem(std::string_view pointer);

} // namespace solver_state
