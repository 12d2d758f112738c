#include "backends/atomic_batch_read.hpp"

#include "backends/codec/coded_store.hpp"
#include "backends/state_store.hpp"

namespace solver_state {

atomic_batch_read* atomic_reader_of(state_store& store) {
  // The codec layer decodes what its backend reads: it reads at once when
  // the backend does.
  if (auto* coded = dynamic_cast<coded_store*>(&store))
    return dynamic_cast<atomic_batch_read*>(&coded->inner()) ? coded : nullptr;
  return dynamic_cast<atomic_batch_read*>(&store);
}

} // namespace solver_state
