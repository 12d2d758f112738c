#pragma once

// The HTTP/JSON gateway as a component (find_package(solver_state COMPONENTS
// http)): serve the HTTP API v1 from a CAF program of your own.

#include "http/server.hpp"
