// The Catch2 main() linked into every test executable.

#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
