#pragma once

// The protocol of solver-state: the typed actor interfaces, their messages,
// keys and error codes. Call register_message_types(cfg) before creating the
// actor system.

#include "messages/domain.hpp"
#include "messages/errors.hpp"
#include "messages/interfaces.hpp"
#include "messages/keys.hpp"
#include "messages/protocol.hpp"
#include "messages/values.hpp"
