// The proof that issued certificates work for mutual TLS: two workload leaves from one root
// complete a handshake over an in-memory BIO pair with both sides verifying the peer, and each
// side reads the other's SPIFFE ID from the verified chain, as the proxy will.

#include <chrono>
#include <memory>
#include <string>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <catch2/catch.hpp>

#include "peergate/identity/issuer.h"

namespace peergate::identity {
namespace {

using namespace std::chrono_literals;

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

struct Identity {
  KeyPtr key;
  CertPtr cert;
};

Identity workload(const CertificateAuthority& ca, const SpiffeId& id) {
  KeyPtr key = generateKey(KeyType::EcdsaP256).value();
  CertPtr cert = issueWorkloadCert(ca, key.get(), id, {Clock::now()}).value();
  return {std::move(key), std::move(cert)};
}

// Both sides require and verify the peer's certificate against `trusted` only.
CtxPtr context(bool server, const Identity& identity, X509* trusted, int version) {
  CtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  REQUIRE(ctx != nullptr);
  REQUIRE(SSL_CTX_set_min_proto_version(ctx.get(), version) == 1);
  REQUIRE(SSL_CTX_set_max_proto_version(ctx.get(), version) == 1);
  REQUIRE(SSL_CTX_use_certificate(ctx.get(), identity.cert.get()) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey(ctx.get(), identity.key.get()) == 1);
  REQUIRE(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), trusted) == 1);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return ctx;
}

bool retryable(SSL* ssl, int result) {
  const int error = SSL_get_error(ssl, result);
  return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE;
}

struct Handshake {
  bool client_done = false;
  bool server_done = false;
};

// Steps both ends in turn until both finish or one fails; the pair needs a handful of rounds,
// 64 bounds a bug.
Handshake handshake(SSL* client, SSL* server) {
  Handshake state;
  for (int round = 0; round < 64 && !(state.client_done && state.server_done); ++round) {
    if (!state.client_done) {
      const int result = SSL_do_handshake(client);
      state.client_done = result == 1;
      if (result != 1 && !retryable(client, result)) break;
    }
    if (!state.server_done) {
      const int result = SSL_do_handshake(server);
      state.server_done = result == 1;
      if (result != 1 && !retryable(server, result)) break;
    }
  }
  ERR_clear_error();
  return state;
}

struct Connection {
  SslPtr client;
  SslPtr server;
};

Connection connect(SSL_CTX* client_ctx, SSL_CTX* server_ctx) {
  Connection connection{SslPtr(SSL_new(client_ctx)), SslPtr(SSL_new(server_ctx))};
  REQUIRE(connection.client != nullptr);
  REQUIRE(connection.server != nullptr);
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  REQUIRE(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) == 1);
  SSL_set_bio(connection.client.get(), client_bio, client_bio);
  SSL_set_bio(connection.server.get(), server_bio, server_bio);
  SSL_set_connect_state(connection.client.get());
  SSL_set_accept_state(connection.server.get());
  return connection;
}

TEST_CASE("two issued workload leaves complete mTLS and learn each other's SPIFFE ID",
          "[identity][mtls]") {
  const int version = GENERATE(TLS1_3_VERSION, TLS1_2_VERSION);
  CAPTURE(version);
  const CertificateAuthority ca = createRootCa({}, Clock::now()).value();
  const SpiffeId client_id{"cluster.local", "foo", "sleep"};
  const SpiffeId server_id{"cluster.local", "bar", "httpbin"};
  const Identity client = workload(ca, client_id);
  const Identity server = workload(ca, server_id);
  const CtxPtr client_ctx = context(false, client, ca.cert.get(), version);
  const CtxPtr server_ctx = context(true, server, ca.cert.get(), version);
  const Connection connection = connect(client_ctx.get(), server_ctx.get());

  const Handshake done = handshake(connection.client.get(), connection.server.get());
  REQUIRE(done.client_done);
  REQUIRE(done.server_done);
  CHECK(SSL_get_verify_result(connection.server.get()) == X509_V_OK);
  CHECK(SSL_get_verify_result(connection.client.get()) == X509_V_OK);

  const Result<SpiffeId> seen_by_server =
      peerSpiffeId(SSL_get0_peer_certificate(connection.server.get()), "cluster.local");
  REQUIRE(seen_by_server.ok());
  CHECK(seen_by_server.value() == client_id);
  const Result<SpiffeId> seen_by_client =
      peerSpiffeId(SSL_get0_peer_certificate(connection.client.get()), "cluster.local");
  REQUIRE(seen_by_client.ok());
  CHECK(seen_by_client.value() == server_id);

  // Application bytes cross the connection.
  REQUIRE(SSL_write(connection.client.get(), "ping", 4) == 4);
  char buffer[8] = {};
  REQUIRE(SSL_read(connection.server.get(), buffer, sizeof buffer) == 4);
  CHECK(std::string(buffer, 4) == "ping");
}

TEST_CASE("the server refuses a client whose leaf comes from another root", "[identity][mtls]") {
  const CertificateAuthority ca = createRootCa({}, Clock::now()).value();
  const CertificateAuthority rogue = createRootCa({}, Clock::now()).value();
  const Identity client = workload(rogue, {"cluster.local", "foo", "sleep"});
  const Identity server = workload(ca, {"cluster.local", "bar", "httpbin"});
  // The client accepts the server, so only the server's check can stop the connection.
  const CtxPtr client_ctx = context(false, client, ca.cert.get(), TLS1_3_VERSION);
  const CtxPtr server_ctx = context(true, server, ca.cert.get(), TLS1_3_VERSION);
  const Connection connection = connect(client_ctx.get(), server_ctx.get());
  const Handshake done = handshake(connection.client.get(), connection.server.get());
  CHECK_FALSE(done.server_done);
  CHECK(SSL_get_verify_result(connection.server.get()) ==
        X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_CASE("the server refuses a serving certificate as a client certificate", "[identity][mtls]") {
  const CertificateAuthority ca = createRootCa({}, Clock::now()).value();
  KeyPtr key = generateKey(KeyType::EcdsaP256).value();
  CertPtr cert = issueServingCert(ca, key.get(), {{"client.example"}, {}}, {Clock::now()}).value();
  const Identity client{std::move(key), std::move(cert)};
  const Identity server = workload(ca, {"cluster.local", "bar", "httpbin"});
  const CtxPtr client_ctx = context(false, client, ca.cert.get(), TLS1_3_VERSION);
  const CtxPtr server_ctx = context(true, server, ca.cert.get(), TLS1_3_VERSION);
  const Connection connection = connect(client_ctx.get(), server_ctx.get());
  const Handshake done = handshake(connection.client.get(), connection.server.get());
  CHECK_FALSE(done.server_done);
  // extendedKeyUsage serverAuth only: not a TLS client certificate.
  CHECK(SSL_get_verify_result(connection.server.get()) == X509_V_ERR_INVALID_PURPOSE);
}

}  // namespace
}  // namespace peergate::identity
