// TLS between nodes: certificates are generated with the openssl CLI at test
// time; a peer without a certificate signed by the cluster's CA cannot
// connect, and a cluster whose nodes all use TLS works end to end.

#include <catch2/catch.hpp>

#include <cstdlib>

#include <caf/openssl/manager.hpp>

#include "tests/support/node_support.hpp"

using namespace solver_state;
using namespace node_test;

namespace {

void run(const std::string& cmd) {
  INFO(cmd);
  REQUIRE(std::system((cmd + " >/dev/null 2>&1").c_str()) == 0);
}

/// A CA and a node certificate signed by it, under `dir/prefix-*`.
struct authority {
  std::string ca_pem, node_pem, node_key;

  authority(const fs::path& dir, const std::string& prefix) {
    auto p = (dir / prefix).string();
    ca_pem = p + "-ca.pem";
    node_pem = p + "-node.pem";
    node_key = p + "-node.key";
    auto ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    run("openssl req -x509" + std::string{ec} + " -keyout " + p
        + "-ca.key -out " + ca_pem + " -days 2 -subj /CN=" + prefix + "-ca");
    run("openssl req" + std::string{ec} + " -keyout " + node_key + " -out " + p
        + "-node.csr -subj /CN=" + prefix + "-node");
    run("openssl x509 -req -in " + p + "-node.csr -CA " + ca_pem + " -CAkey "
        + p + "-ca.key -CAcreateserial -out " + node_pem + " -days 2");
  }

  tls_config tls() const { return {node_pem, node_key, ca_pem}; }

  std::string yaml() const {
    return "  tls:\n    certificate: \"" + node_pem + "\"\n    key: \""
           + node_key + "\"\n    ca_file: \"" + ca_pem + "\"\n";
  }
};

node_config tls_client(const tls_config& tls) {
  node_config cfg;
  cfg.tls = tls;
  return cfg;
}

struct tls_store {
  temp_dir dir;
  authority good{dir.path, "good"};
  uint16_t port = free_port();
  node_process store{dir.path, "store", store_yaml(port, good.yaml()), port};
  tls_store() { store.start(); }
};

} // namespace

TEST_CASE("a peer with a certificate of the cluster's CA connects over TLS") {
  tls_store s;
  client_system client{tls_client(s.good.tls())};
  auto handle = client.connect(s.port, true);
  REQUIRE(handle);
  auto t = std::chrono::seconds{5};
  REQUIRE(ask<write_result>(client.sys, *handle, t, put_atom_v,
                            set_request{"state:tls:k", "secret", 0, {}}));
  auto got = ask<entry>(client.sys, *handle, t, get_atom_v,
                        std::string{"state:tls:k"});
  REQUIRE(got);
  CHECK(got->value == "secret");
}

TEST_CASE("a peer without a valid certificate cannot connect") {
  tls_store s;
  SECTION("certificate signed by another CA") {
    authority rogue{s.dir.path, "rogue"};
    client_system client{tls_client(rogue.tls())};
    CHECK_FALSE(client.connect(s.port, true));
  }
  SECTION("no certificate at all") {
    caf::actor_system_config cfg;
    register_message_types(cfg);
    REQUIRE_FALSE(configure_node(cfg, node_config{}));
    cfg.load<caf::openssl::manager>();
    caf::actor_system sys{cfg};
    CHECK_FALSE(connect_state(sys, "127.0.0.1", s.port, true));
  }
  SECTION("plain TCP") {
    client_system client;
    CHECK_FALSE(client.connect(s.port, false));
  }
}

TEST_CASE("a cluster runs over TLS end to end") {
  tls_store s;
  auto front_port = free_port();
  auto yaml = front_yaml(front_port, {s.port}) + s.good.yaml();
  node_process front{s.dir.path, "front", yaml, front_port};
  front.start();
  client_system client{tls_client(s.good.tls())};
  auto handle = client.connect(front_port, true);
  REQUIRE(handle);
  auto t = std::chrono::seconds{5};
  REQUIRE(eventually([&] {
    return static_cast<bool>(
      ask<health_report>(client.sys, *handle, t, health_atom_v));
  }));
  REQUIRE(ask<write_result>(client.sys, *handle, t, put_atom_v,
                            set_request{"state:tls:via-front", "v", 0, {}}));
  auto direct = client.connect(s.port, true);
  REQUIRE(direct);
  auto got = ask<entry>(client.sys, *direct, t, get_atom_v,
                        std::string{"state:tls:via-front"});
  REQUIRE(got);
  CHECK(got->value == "v");
}

TEST_CASE("a node refuses to start with unusable TLS files") {
  temp_dir dir;
  authority good{dir.path, "good"};
  auto port = free_port();
  auto yaml = store_yaml(port, "  tls:\n    certificate: \"" + good.node_pem
                                 + "\"\n    key: \"" + good.ca_pem
                                 + "\"\n    ca_file: \"" + good.ca_pem + "\"\n");
  node_process store{dir.path, "store", yaml, port};
  CHECK_THROWS_WITH(store.start(), Catch::Contains("node.tls.key"));
}
