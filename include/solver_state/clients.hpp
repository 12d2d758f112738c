#pragma once

// Blocking OrderStore and FillStore wrappers for code that is not an actor.

#include "clients/typed_stores.hpp"
