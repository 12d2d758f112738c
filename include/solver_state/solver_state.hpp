#pragma once

// Everything a CAF solver needs to run a store in its own process: the
// protocol, start-up, the blocking clients and the configuration.

#include <solver_state/clients.hpp>
#include <solver_state/config.hpp>
#include <solver_state/protocol.hpp>
#include <solver_state/store.hpp>
