#pragma once

// The configuration structs (state, http, node, log) start_store() and the
// HTTP gateway take.

#include "config/config.hpp"
