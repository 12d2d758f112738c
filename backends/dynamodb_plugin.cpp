#include "backends/dynamodb_store.hpp"
#include "backends/dynamodb_table.hpp"
#include "backends/plugin.hpp"

namespace solver_state {

namespace {

/// How long start-up waits for a new table to become ACTIVE (AWS takes
/// seconds, dynalite --createTableMs).
constexpr std::chrono::seconds table_patience{60};

class dynamodb_plugin final : public state_backend_plugin {
public:
  std::string_view name() const override { return "dynamodb"; }

  bool blocking() const override { return true; }

  caf::expected<store_list> create_stores(const state_config& cfg) override {
    auto ep = dynamodb::parse_endpoint(cfg.type);
    if (!ep)
      return std::move(ep.error());
    if (ep->tls)
      return make_state_error(
        state_errc::bad_request,
        "state.type '" + cfg.type
          + "': HTTPS (tls=1) is not supported by this build; use an HTTP "
            "endpoint (dynalite, DynamoDB Local, or a local TLS proxy)");
    auto creds = aws::credentials::from_environment();
    dynamodb::api_client setup{*ep, creds};
    if (auto err = dynamodb::ensure_table(setup, table_patience))
      return make_state_error(code_of(err),
                              "state.type '" + cfg.type
                                + "': " + message_of(err));
    store_list stores;
    for (size_t i = 0; i < cfg.shards; ++i)
      stores.push_back(
        std::make_unique<dynamodb::dynamodb_store>(*ep, creds, i, cfg.shards));
    return stores;
  }
};

} // namespace

std::unique_ptr<state_backend_plugin> make_dynamodb_plugin() {
  return std::make_unique<dynamodb_plugin>();
}

} // namespace solver_state
