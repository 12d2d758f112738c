// The dynamodb/dynamodbs plugin: refuses max_items, builds the shared TLS
// context, creates the table if missing and opens one store per shard.

#include <spdlog/spdlog.h>

#include "backends/dynamodb/store.hpp"
#include "backends/dynamodb/table.hpp"
#include "backends/dynamodb/tls.hpp"
#include "backends/dynamodb/plugin.hpp"

namespace solver_state {

namespace {

/// How long start-up waits for a new table to become ACTIVE (AWS takes
/// seconds, dynalite --createTableMs).
constexpr std::chrono::seconds table_patience{60};

caf::error start_up_error(const state_config& cfg, const caf::error& err) {
  return make_state_error(code_of(err), "state.type '" + cfg.type
                                          + "': " + message_of(err));
}

/// "https://host:port (CA file /x.pem)" or "http://host:port".
std::string describe(const dynamodb::endpoint& ep) {
  auto where = std::string{ep.tls ? "https://" : "http://"}
               + ep.host_header();
  return ep.tls ? where + " (" + dynamodb::trust_source(ep) + ")" : where;
}

/// Registered twice: as "dynamodb" and as "dynamodbs" (HTTPS), the two URL
/// schemes parse_endpoint accepts.
class dynamodb_plugin final : public state_backend_plugin {
public:
  explicit dynamodb_plugin(std::string_view scheme) : scheme_(scheme) {}

  std::string_view name() const override { return scheme_; }

  bool blocking() const override { return true; }

  /// The URL's own rules (table, region, endpoint), for --check-config.
  caf::error check(const state_config& cfg) const override {
    auto ep = dynamodb::parse_endpoint(cfg.type);
    return ep ? caf::error{} : std::move(ep.error());
  }

  /// Every node given the same URL reads and writes the same data.
  bool shared(const state_config&) const override { return true; }

  /// No change feed is read here (DynamoDB Streams; dynalite has none):
  /// watches of a table that other nodes may write would miss their
  /// changes, so they are refused unless the URL says watches=local.
  watch_support watches(const state_config& cfg) const override {
    auto ep = dynamodb::parse_endpoint(cfg.type);
    if (ep && ep->local_watches)
      return {};
    return {watch_support::refused,
            "watches are not available on the dynamodb backend: it reads no "
            "change feed (DynamoDB Streams), so changes made through other "
            "nodes of the same table would be missed; add watches=local to "
            "state.type's URL when this node is the table's only writer"};
  }

  caf::expected<store_list> create_stores(const state_config& cfg) override {
    auto ep = dynamodb::parse_endpoint(cfg.type);
    if (!ep)
      return std::move(ep.error());
    // No atomic count of a table's items without a transaction per write:
    // refuse a limit rather than ignore it.
    if (cfg.max_items != 0)
      return make_state_error(
        state_errc::backend_error,
        "state.max_items: the dynamodb backend cannot enforce a key limit; "
        "set state.max_items: 0 (unlimited) for a dynamodb:// state.type");
    // One context for every shard; made here so that a bad ca_file stops
    // start-up instead of failing each request.
    dynamodb::tls_context tls;
    if (ep->tls) {
      auto made = dynamodb::make_tls_context(*ep);
      if (!made)
        return start_up_error(cfg, made.error());
      tls = std::move(*made);
    }
    auto creds = aws::credentials_from_environment(ep->host, aws::process_env,
                                                   ep->region);
    if (!creds)
      return start_up_error(cfg, creds.error());
    spdlog::info("dynamodb backend: AWS credentials from {}",
                 (*creds)->describe());
    dynamodb::api_client setup{*ep, *creds, tls};
    if (auto err = dynamodb::ensure_table(setup, table_patience))
      return start_up_error(cfg, err);
    spdlog::info("dynamodb backend: table {} at {}, region {}, {} shards",
                 ep->table, describe(*ep), ep->region, cfg.shards);
    store_list stores;
    for (size_t i = 0; i < cfg.shards; ++i)
      stores.push_back(std::make_unique<dynamodb::dynamodb_store>(
        *ep, *creds, i, cfg.shards, tls));
    return stores;
  }

private:
  std::string scheme_;
};

} // namespace

std::unique_ptr<state_backend_plugin>
make_dynamodb_plugin(std::string_view scheme) {
  return std::make_unique<dynamodb_plugin>(scheme);
}

} // namespace solver_state
