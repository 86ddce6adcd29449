#include "tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace nodehyper {

namespace {

// One TLS record plus headroom: the most ciphertext moved per recv and per send. Bounds what
// each connection's memory BIOs grow to (they keep their buffers), so idle connections stay small.
constexpr size_t kChunk = 18 * 1024;
constexpr size_t kMaxPlaintextPerWrite = 16 * 1024;  // one record
constexpr size_t kMaxCachedSessions = 256;

thread_local uint8_t tl_in[kChunk];

// OpenSSL wants an empty error queue before an SSL_* IO call (SSL_get_error relies on it).
// ERR_clear_error walks the whole queue each time (2% of TLS request CPU in perf); the queue is
// almost always empty already, which a peek tells more cheaply.
inline void ClearErrorsBeforeIo() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}
thread_local uint8_t tl_out[kChunk];

int PasswordCallback(char* buf, int size, int /*rwflag*/, void* u) {
  const auto* pass = static_cast<const std::string*>(u);
  if (!pass || pass->size() > static_cast<size_t>(size)) return -1;
  std::memcpy(buf, pass->data(), pass->size());
  return static_cast<int>(pass->size());
}

// Node's style of code for an OpenSSL error: ERR_SSL_<REASON> for libssl, ERR_OSSL_<REASON>
// otherwise ("wrong version number" -> ERR_SSL_WRONG_VERSION_NUMBER).
std::string CodeFromOpenSsl(unsigned long e) {
  const char* reason = ERR_reason_error_string(e);
  std::string code = ERR_GET_LIB(e) == ERR_LIB_SSL ? "ERR_SSL_" : "ERR_OSSL_";
  if (!reason) return code + "UNKNOWN";
  for (const char* p = reason; *p; ++p) {
    unsigned char ch = static_cast<unsigned char>(*p);
    code += std::isalnum(ch) ? static_cast<char>(std::toupper(ch)) : '_';
  }
  return code;
}

std::string MessageFromOpenSsl(unsigned long e) {
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// The first error of the queue (the root cause), then clear the queue.
bool TakeOpenSslError(std::string* code, std::string* message) {
  unsigned long e = ERR_get_error();
  if (!e) return false;
  *code = CodeFromOpenSsl(e);
  *message = MessageFromOpenSsl(e);
  ERR_clear_error();
  return true;
}

// Adds every certificate of a PEM text to the store; false when it holds none or is malformed.
bool AddCertificates(X509_STORE* store, const std::string& pem, int* added) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return false;
  int n = 0;
  while (X509* x = PEM_read_bio_X509(bio, nullptr, PasswordCallback, nullptr)) {
    X509_STORE_add_cert(store, x);  // a duplicate is not an error worth failing for
    X509_free(x);
    ++n;
  }
  BIO_free(bio);
  unsigned long e = ERR_peek_last_error();
  bool clean_end = e == 0 || (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE);
  if (n > 0 && clean_end) ERR_clear_error();
  *added = n;
  return n > 0 && clean_end;
}

bool IsIpLiteral(const std::string& host) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(host.c_str());
  if (!ip) {
    ERR_clear_error();
    return false;
  }
  ASN1_OCTET_STRING_free(ip);
  return true;
}

}  // namespace

const char* VerifyErrorCode(long v) {
  switch (v) {
#define V(name) \
  case X509_V_ERR_##name: \
    return #name;
    V(UNABLE_TO_GET_ISSUER_CERT)
    V(UNABLE_TO_GET_CRL)
    V(UNABLE_TO_DECRYPT_CERT_SIGNATURE)
    V(UNABLE_TO_DECRYPT_CRL_SIGNATURE)
    V(UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY)
    V(CERT_SIGNATURE_FAILURE)
    V(CRL_SIGNATURE_FAILURE)
    V(CERT_NOT_YET_VALID)
    V(CERT_HAS_EXPIRED)
    V(CRL_NOT_YET_VALID)
    V(CRL_HAS_EXPIRED)
    V(ERROR_IN_CERT_NOT_BEFORE_FIELD)
    V(ERROR_IN_CERT_NOT_AFTER_FIELD)
    V(ERROR_IN_CRL_LAST_UPDATE_FIELD)
    V(ERROR_IN_CRL_NEXT_UPDATE_FIELD)
    V(OUT_OF_MEM)
    V(DEPTH_ZERO_SELF_SIGNED_CERT)
    V(SELF_SIGNED_CERT_IN_CHAIN)
    V(UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
    V(UNABLE_TO_VERIFY_LEAF_SIGNATURE)
    V(CERT_CHAIN_TOO_LONG)
    V(CERT_REVOKED)
    V(INVALID_CA)
    V(PATH_LENGTH_EXCEEDED)
    V(INVALID_PURPOSE)
    V(CERT_UNTRUSTED)
    V(CERT_REJECTED)
#undef V
    // Node checks the host name itself and reports this code for a mismatch.
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "ERR_TLS_CERT_ALTNAME_INVALID";
    default:
      return "UNABLE_TO_VERIFY_CERTIFICATE";
  }
}

// ---------------------------------------------------------------- TlsContext

std::shared_ptr<TlsContext> TlsContext::Create(const TlsConfig& cfg, std::string* code, std::string* message) {
  OPENSSL_init_ssl(0, nullptr);
  ERR_clear_error();
  std::shared_ptr<TlsContext> t(new TlsContext());
  t->ctx_.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* c = t->ctx_.get();
  auto fail = [&](const char* fallback_code, const char* what) -> std::shared_ptr<TlsContext> {
    std::string ocode, omsg;
    if (TakeOpenSslError(&ocode, &omsg)) {
      *code = fallback_code;
      *message = std::string(what) + ": " + omsg;
    } else {
      *code = fallback_code;
      *message = what;
    }
    return nullptr;
  };
  if (!c) return fail("ERR_TLS_CONTEXT", "could not create a TLS context");
  t->reject_unauthorized_ = cfg.reject_unauthorized;
  t->session_cache_ = cfg.session_cache;

  if (cfg.min_version && SSL_CTX_set_min_proto_version(c, cfg.min_version) != 1)
    return fail("ERR_TLS_INVALID_PROTOCOL_VERSION", "invalid minVersion");
  if (cfg.max_version && SSL_CTX_set_max_proto_version(c, cfg.max_version) != 1)
    return fail("ERR_TLS_INVALID_PROTOCOL_VERSION", "invalid maxVersion");
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);  // idle connections give their record buffers back
  if (!cfg.ciphers.empty() && SSL_CTX_set_cipher_list(c, cfg.ciphers.c_str()) != 1)
    return fail("ERR_SSL_NO_CIPHER_MATCH", "no cipher match for `ciphers`");
  if (!cfg.ciphersuites.empty() && SSL_CTX_set_ciphersuites(c, cfg.ciphersuites.c_str()) != 1)
    return fail("ERR_SSL_NO_CIPHER_MATCH", "no TLS 1.3 cipher suite match for `ciphers`");

  X509_STORE* store = SSL_CTX_get_cert_store(c);
  for (const std::string& pem : cfg.ca) {
    int added = 0;
    if (!AddCertificates(store, pem, &added)) return fail("ERR_TLS_INVALID_CA", "`ca` holds no valid PEM certificate");
  }

  if (!cfg.cert.empty()) {
    BIO* bio = BIO_new_mem_buf(cfg.cert.data(), static_cast<int>(cfg.cert.size()));
    X509* leaf = bio ? PEM_read_bio_X509_AUX(bio, nullptr, PasswordCallback, nullptr) : nullptr;
    if (!leaf || SSL_CTX_use_certificate(c, leaf) != 1) {
      if (leaf) X509_free(leaf);
      if (bio) BIO_free(bio);
      return fail("ERR_TLS_INVALID_CERT", "`cert` is not a valid PEM certificate");
    }
    X509_free(leaf);
    while (X509* extra = PEM_read_bio_X509(bio, nullptr, PasswordCallback, nullptr)) {
      if (SSL_CTX_add0_chain_cert(c, extra) != 1) {  // takes ownership on success
        X509_free(extra);
        BIO_free(bio);
        return fail("ERR_TLS_INVALID_CERT", "`cert` chain could not be used");
      }
    }
    ERR_clear_error();  // the expected "no start line" after the last certificate
    BIO_free(bio);
  }
  if (!cfg.key.empty()) {
    BIO* bio = BIO_new_mem_buf(cfg.key.data(), static_cast<int>(cfg.key.size()));
    std::string pass = cfg.passphrase;
    EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, PasswordCallback, &pass) : nullptr;
    if (bio) BIO_free(bio);
    if (!key) return fail("ERR_TLS_INVALID_KEY", "`key` could not be read (malformed, or a wrong or missing passphrase)");
    int ok = SSL_CTX_use_PrivateKey(c, key);
    EVP_PKEY_free(key);
    // With a certificate loaded, OpenSSL rejects a key of another pair here already.
    if (ok != 1 && !cfg.cert.empty()) return fail("ERR_TLS_KEY_MISMATCH", "`key` does not match `cert`");
    if (ok != 1) return fail("ERR_TLS_INVALID_KEY", "`key` could not be used");
    if (!cfg.cert.empty() && SSL_CTX_check_private_key(c) != 1)
      return fail("ERR_TLS_KEY_MISMATCH", "`key` does not match `cert`");
  }

  if (!cfg.alpn.empty()) {
    std::string wire;
    for (const std::string& p : cfg.alpn) {
      if (p.empty() || p.size() > 255) {
        *code = "ERR_TLS_INVALID_ALPN";
        *message = "ALPN protocol names must be 1 to 255 bytes";
        return nullptr;
      }
      wire += static_cast<char>(p.size());
      wire += p;
    }
    if (SSL_CTX_set_alpn_protos(c, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0)  // 0 = success here
      return fail("ERR_TLS_INVALID_ALPN", "ALPN protocols could not be set");
  }

  // As Node does: OpenSSL verifies the whole chain, a callback that accepts every step lets it
  // go on past the first problem (the last one is the result), and
  // the outcome is checked once the handshake is done (Handshake() fails it when
  // rejectUnauthorized). The reported code is then the same one Node reports.
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  if (cfg.session_cache) {
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, TlsTransport::OnNewSession);
  } else {
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  }
  return t;
}

TlsContext::~TlsContext() = default;

void TlsContext::StoreSession(const std::string& key, SSL_SESSION* s) {
  if (sessions_.size() >= kMaxCachedSessions && sessions_.find(key) == sessions_.end()) sessions_.clear();
  sessions_[key].reset(s);
}

SSL_SESSION* TlsContext::FindSession(const std::string& key) const {
  auto it = sessions_.find(key);
  return it == sessions_.end() ? nullptr : it->second.get();
}

// ---------------------------------------------------------------- TlsTransport

TlsTransport::TlsTransport(std::shared_ptr<TlsContext> ctx, Transport& inner)
    : ctx_(std::move(ctx)), inner_(inner), in_buf_(tl_in), out_buf_(tl_out) {}

void TlsTransport::UsePrivateBuffers() {
  own_buf_.reset(new uint8_t[2 * kChunk]);
  in_buf_ = own_buf_.get();
  out_buf_ = own_buf_.get() + kChunk;
}

TlsTransport::~TlsTransport() {
  if (ssl_) SSL_set_app_data(ssl_.get(), nullptr);
}

bool TlsTransport::Init(const std::string& servername, const std::string& verify_host, const std::string& session_key) {
  ERR_clear_error();
  ssl_.reset(SSL_new(ctx_->ctx()));
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (!ssl_ || !rbio_ || !wbio_) {
    if (rbio_) BIO_free(rbio_);
    if (wbio_) BIO_free(wbio_);
    rbio_ = wbio_ = nullptr;
    Fail(SSL_ERROR_SSL, 0);
    return false;
  }
  BIO_set_mem_eof_return(rbio_, -1);  // empty = "retry", not EOF: we report EOF ourselves
  SSL_set_bio(ssl_.get(), rbio_, wbio_);  // the SSL owns both BIOs now
  SSL_set_app_data(ssl_.get(), this);
  SSL_set_connect_state(ssl_.get());
  session_key_ = session_key;
  verify_host_ = verify_host;

  if (!servername.empty() && !IsIpLiteral(servername)) SSL_set_tlsext_host_name(ssl_.get(), servername.c_str());
  if (!verify_host.empty()) {
    int ok;
    if (IsIpLiteral(verify_host)) {
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), verify_host.c_str());
    } else {
      SSL_set_hostflags(ssl_.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set1_host(ssl_.get(), verify_host.c_str());
    }
    if (ok != 1) {
      Fail(SSL_ERROR_SSL, 0);
      return false;
    }
  }
  if (ctx_->session_cache() && !session_key_.empty()) {
    SSL_SESSION* cached = ctx_->FindSession(session_key_);
    if (cached && SSL_SESSION_is_resumable(cached)) SSL_set_session(ssl_.get(), cached);
  }
  return true;
}

int TlsTransport::OnNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* t = static_cast<TlsTransport*>(SSL_get_app_data(ssl));
  if (!t || t->session_key_.empty() || !t->ctx_->session_cache()) return 0;
  if (SSL_get_verify_result(ssl) != X509_V_OK) return 0;  // only resume verified sessions
  t->ctx_->StoreSession(t->session_key_, session);
  return 1;  // we keep the reference
}

void TlsTransport::Fail(int ssl_error, int sys_err) {
  failed_ = true;
  error_ = ErrorInfo{};
  if (sys_err) {
    error_.sys_errno = sys_err;
    error_.syscall = "read";
    error_.message = "the TLS connection failed";
    ERR_clear_error();
    return;
  }
  unsigned long e = ERR_peek_error();
  long vr = ssl_ ? SSL_get_verify_result(ssl_.get()) : X509_V_OK;
  if (e && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK) {
    error_.tls_code = VerifyErrorCode(vr);
    if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      error_.message = "Hostname/IP does not match certificate's altnames: Host: " + verify_host_ +
                       ". is not in the cert's altnames";
    } else {
      error_.message = X509_verify_cert_error_string(vr);
    }
    ERR_clear_error();
    return;
  }
  std::string code, message;
  if (TakeOpenSslError(&code, &message)) {
    error_.tls_code = code;
    error_.message = message;
    return;
  }
  error_.tls_code = "ERR_SSL_PROTOCOL_ERROR";
  error_.message = "TLS failure (SSL error " + std::to_string(ssl_error) + ")";
}

long TlsTransport::Fill(int* err) noexcept {
  long n = inner_.Read(in_buf_, kChunk, err);
  if (n > 0) BIO_write(rbio_, in_buf_, static_cast<int>(n));
  return n;
}

TlsTransport::Step TlsTransport::Handshake() noexcept {
  Step below = inner_.Handshake();
  if (below != Step::kDone) return below;
  for (;;) {
    ClearErrorsBeforeIo();
    int r = SSL_do_handshake(ssl_.get());
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), r);
    if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) {
      Fail(e, 0);
      // Send the alert OpenSSL queued (e.g. bad_certificate) so the server sees why.
      int ferr = 0;
      Flush(&ferr);
      return Step::kError;
    }
    int ferr = 0;
    if (!Flush(&ferr) && ferr != EAGAIN) {
      Fail(0, ferr);
      error_.syscall = "write";
      return Step::kError;
    }
    if (r == 1) {
      long vr = SSL_get_verify_result(ssl_.get());
      bool no_cert = SSL_get0_peer_certificate(ssl_.get()) == nullptr;
      if (ctx_->reject_unauthorized() && (vr != X509_V_OK || no_cert)) {
        failed_ = true;
        error_ = ErrorInfo{};
        error_.tls_code = no_cert ? "UNABLE_TO_GET_ISSUER_CERT" : VerifyErrorCode(vr);
        if (no_cert) {
          error_.message = "the server presented no certificate";
        } else if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH) {
          error_.message = "Hostname/IP does not match certificate's altnames: Host: " + verify_host_ +
                           ". is not in the cert's altnames";
        } else {
          error_.message = X509_verify_cert_error_string(vr);
        }
        return Step::kError;
      }
      return Step::kDone;
    }
    int rerr = 0;
    long m = Fill(&rerr);
    if (m > 0) continue;
    if (m == 0) {
      Fail(0, ECONNRESET);
      error_.message = "Client network socket disconnected before secure TLS connection was established";
      return Step::kError;
    }
    if (rerr == EAGAIN) return Step::kWantRead;
    Fail(0, rerr);
    return Step::kError;
  }
}

long TlsTransport::Read(uint8_t* buf, size_t len, int* err) noexcept {
  for (;;) {
    ClearErrorsBeforeIo();
    size_t n = 0;
    int r = SSL_read_ex(ssl_.get(), buf, len, &n);
    if (BIO_ctrl_pending(wbio_) > 0) {  // post-handshake replies (key update); best effort now
      int ferr = 0;
      if (!Flush(&ferr) && ferr != EAGAIN) {
        *err = ferr;
        return -1;
      }
    }
    if (r == 1) return static_cast<long>(n);
    int e = SSL_get_error(ssl_.get(), r);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;  // close_notify
    if (e != SSL_ERROR_WANT_READ) {
      Fail(e, 0);
      *err = EPROTO;
      return -1;
    }
    // Many servers close without close_notify; hyper's framing decides whether that was a
    // complete message (as with plain TCP).
    if (eof_) return 0;
    long m = Fill(err);  // EAGAIN without a syscall while the layer below is drained
    if (m > 0) continue;
    if (m == 0) {
      eof_ = true;
      return 0;
    }
    return -1;  // *err set (EAGAIN or a socket error)
  }
}

long TlsTransport::Write(const uint8_t* buf, size_t len, int* err) noexcept {
  if (!Flush(err)) return -1;
  size_t chunk = len > kMaxPlaintextPerWrite ? kMaxPlaintextPerWrite : len;
  size_t n = 0;
  ClearErrorsBeforeIo();
  int r = SSL_write_ex(ssl_.get(), buf, chunk, &n);
  if (r != 1) {
    Fail(SSL_get_error(ssl_.get(), r), 0);
    *err = EPROTO;
    return -1;
  }
  int ferr = 0;
  if (!Flush(&ferr) && ferr != EAGAIN) {
    *err = ferr;
    return -1;
  }
  return static_cast<long>(n);
}

bool TlsTransport::Flush(int* err) noexcept {
  if (!inner_.Flush(err)) return false;
  for (;;) {
    if (out_off_ < out_.size()) {
      long n = inner_.Write(reinterpret_cast<const uint8_t*>(out_.data()) + out_off_, out_.size() - out_off_, err);
      if (n < 0) return false;
      out_off_ += static_cast<size_t>(n);
      if (out_off_ < out_.size()) {
        *err = EAGAIN;
        return false;
      }
      std::string().swap(out_);  // the rare slow path: give the memory back
      out_off_ = 0;
    }
    size_t pending = wbio_ ? BIO_ctrl_pending(wbio_) : 0;
    if (pending == 0) return true;
    int take = BIO_read(wbio_, out_buf_, static_cast<int>(pending < kChunk ? pending : kChunk));
    if (take <= 0) return true;
    long n = inner_.Write(out_buf_, static_cast<size_t>(take), err);
    if (n < 0) {
      if (*err == EAGAIN) out_.assign(reinterpret_cast<const char*>(out_buf_), static_cast<size_t>(take));
      return false;
    }
    if (n < take) {
      out_.assign(reinterpret_cast<const char*>(out_buf_) + n, static_cast<size_t>(take - n));
      *err = EAGAIN;
      return false;
    }
  }
}

bool TlsTransport::HasPendingOutput() const noexcept {
  return out_off_ < out_.size() || (wbio_ && BIO_ctrl_pending(wbio_) > 0) || inner_.HasPendingOutput();
}

bool TlsTransport::PeerClosed() noexcept {
  if (failed_) return true;
  inner_.NoteReadable();  // look at the socket now, whatever the last read said
  int err = 0;
  while (!eof_) {
    long m = Fill(&err);
    if (m == 0) eof_ = true;
    if (m <= 0) {
      if (m < 0 && err != EAGAIN) return true;
      break;
    }
  }
  ClearErrorsBeforeIo();
  uint8_t b;
  size_t n = 0;
  int r = SSL_peek_ex(ssl_.get(), &b, 1, &n);
  if (r == 1) return false;  // unexpected bytes: hyper will read and judge them
  int e = SSL_get_error(ssl_.get(), r);
  ClearErrorsBeforeIo();
  if (e == SSL_ERROR_WANT_READ) return eof_;
  return true;  // close_notify or a failure: use a fresh connection
}

void TlsTransport::Shutdown() noexcept {
  if (failed_ || !ssl_ || !SSL_is_init_finished(ssl_.get())) return;
  ERR_clear_error();
  SSL_shutdown(ssl_.get());
  int err = 0;
  Flush(&err);
  ERR_clear_error();
}

Transport::Security TlsTransport::Describe() const {
  Security sec;
  sec.tls = true;
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &p, &len);
  if (p) sec.alpn.assign(reinterpret_cast<const char*>(p), len);
  sec.version = SSL_get_version(ssl_.get());
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_.get());
  if (c) sec.cipher = SSL_CIPHER_get_name(c);
  sec.session_reused = SSL_session_reused(ssl_.get()) == 1;
  sec.authorization_error = AuthorizationError();
  return sec;
}

std::string TlsTransport::AuthorizationError() const {
  if (!SSL_get0_peer_certificate(ssl_.get())) return "UNABLE_TO_GET_ISSUER_CERT";
  long vr = SSL_get_verify_result(ssl_.get());
  return vr == X509_V_OK ? std::string() : std::string(VerifyErrorCode(vr));
}

}  // namespace nodehyper
