// TLS beneath hyper's IO callbacks, on the OpenSSL that Node itself bundles and exports (its
// headers ship with Node's; no extra library, and Node's OpenSSL configuration applies).
//
// TlsContext: one SSL_CTX (trust store, client certificate, ALPN list, verification mode) plus
// a small client session cache, shared by every connection created with the same JS
// `SecureContext`. TlsTransport: one SSL per connection over memory BIOs, a Transport layered on
// another Transport (the plain socket today; a proxy tunnel could sit between): it moves
// ciphertext between the BIOs and the layer below, so OpenSSL never touches the fd and hyper's
// write retries need no "same buffer" contract.
#pragma once

#include <openssl/ssl.h>

#include <map>
#include <vector>

#include "common.h"
#include "transport.h"

namespace nodehyper {

struct SslCtxDeleter {
  void operator()(SSL_CTX* p) const noexcept { SSL_CTX_free(p); }
  void operator()(SSL* p) const noexcept { SSL_free(p); }
  void operator()(SSL_SESSION* p) const noexcept { SSL_SESSION_free(p); }
};

struct TlsConfig {
  std::vector<std::string> ca;  // PEM text, each may hold several certificates
  std::string cert;             // PEM: leaf first, then any intermediates
  std::string key;              // PEM private key (possibly encrypted)
  std::string passphrase;
  std::vector<std::string> alpn;
  std::string ciphers;       // TLS 1.2 cipher list (OpenSSL syntax); empty = OpenSSL/Node default
  std::string ciphersuites;  // TLS 1.3 suites; empty = default
  int min_version = TLS1_2_VERSION;
  int max_version = 0;  // 0 = highest supported
  bool reject_unauthorized = true;
  bool session_cache = true;
};

class TlsContext {
 public:
  // nullptr on failure, with a Node-style code (ERR_TLS_INVALID_CA, ...) and message.
  static std::shared_ptr<TlsContext> Create(const TlsConfig& cfg, std::string* code, std::string* message);
  ~TlsContext();

  SSL_CTX* ctx() const { return ctx_.get(); }
  bool reject_unauthorized() const { return reject_unauthorized_; }
  bool session_cache() const { return session_cache_; }

  // Client session cache keyed by "servername:port" (bounded; newest ticket wins).
  void StoreSession(const std::string& key, SSL_SESSION* s);  // takes the reference
  SSL_SESSION* FindSession(const std::string& key) const;    // borrowed
  size_t cached_sessions() const { return sessions_.size(); }

 private:
  TlsContext() = default;
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx_;
  bool reject_unauthorized_ = true;
  bool session_cache_ = true;
  std::map<std::string, std::unique_ptr<SSL_SESSION, SslCtxDeleter>> sessions_;
};

class TlsTransport final : public Transport {
 public:
  TlsTransport(std::shared_ptr<TlsContext> ctx, Transport& inner);
  ~TlsTransport() override;
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  // servername: SNI (skipped for IP literals); verify_host: the name (or IP) the certificate must
  // match; session_key: cache key for session reuse. false: see failure().
  bool Init(const std::string& servername, const std::string& verify_host, const std::string& session_key);
  // Scratch buffers of its own instead of the thread's shared ones: needed when another TLS layer
  // sits below this one (TLS to the target through an https: proxy), which uses the shared ones
  // while this layer's ciphertext is still in them.
  void UsePrivateBuffers();

  // The layer below first, then the TLS handshake; the certificate is judged when it completes.
  Step Handshake() noexcept override;
  // Write may accept plaintext while its ciphertext still waits for the layer below
  // (HasPendingOutput); the next Write or Flush sends it first.
  long Read(uint8_t* buf, size_t len, int* err) noexcept override;
  long Write(const uint8_t* buf, size_t len, int* err) noexcept override;
  bool HasPendingOutput() const noexcept override;
  bool Flush(int* err) noexcept override;
  void NoteReadable() noexcept override { inner_.NoteReadable(); }
  // FIN or close_notify; anything else buffered stays in the BIO for the next Read.
  bool PeerClosed() noexcept override;
  // close_notify (skipped after a failure).
  void Shutdown() noexcept override;
  const ErrorInfo* failure() const noexcept override { return failed_ ? &error_ : inner_.failure(); }
  Security Describe() const override;

 private:
  static int OnNewSession(SSL* ssl, SSL_SESSION* session);
  long Fill(int* err) noexcept;
  void Fail(int ssl_error, int sys_err);
  // Verification outcome (also computed when rejectUnauthorized is off): "" when authorized,
  // else the Node-style code.
  std::string AuthorizationError() const;

  std::shared_ptr<TlsContext> ctx_;
  Transport& inner_;
  std::unique_ptr<SSL, SslCtxDeleter> ssl_;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  uint8_t* in_buf_;      // scratch for ciphertext read from below (the thread's shared buffer by default)
  uint8_t* out_buf_;     // scratch for ciphertext written below
  std::unique_ptr<uint8_t[]> own_buf_;  // UsePrivateBuffers()
  std::string out_;      // ciphertext taken from wbio_ that the layer below did not accept yet
  size_t out_off_ = 0;
  std::string session_key_;
  std::string verify_host_;
  bool eof_ = false;
  bool failed_ = false;
  ErrorInfo error_;

  friend class TlsContext;
};

// Node's code for an X509_V_ERR_* value (CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, ...).
const char* VerifyErrorCode(long v);

}  // namespace nodehyper
