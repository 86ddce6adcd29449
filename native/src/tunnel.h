// TunnelTransport: an HTTP CONNECT tunnel through a forward proxy, as a Transport layer between
// the proxy connection (the socket, or TLS to an https: proxy) and what runs over the tunnel (TLS
// to the target, or hyper itself for an http: target).
//
// Its Handshake() writes the CONNECT request head (built and validated by lib/proxy.ts: request
// line, Host, Proxy-Authorization, the caller's proxy headers) and reads the proxy's answer
// before the layer above starts its own handshake. A 2xx answer turns the layer into a plain
// byte stream (bytes the proxy sent past its answer are returned first; RFC 9110 9.3.6: a 2xx
// answer to CONNECT has no body, whatever its framing headers say). Any other answer fails the
// connect with ERR_PROXY_REJECTED; the answer's status, reason and headers stay readable through
// reply() for the error JS builds (a 407's Proxy-Authenticate, ...). An answer that is not HTTP,
// is too large, or never ends fails with ERR_PROXY_BAD_RESPONSE.
#pragma once

#include "common.h"
#include "transport.h"

namespace nodehyper {

class TunnelTransport final : public Transport {
 public:
  struct Reply {
    int status = 0;
    std::string reason;       // latin1
    std::string raw_headers;  // names and values in wire order, NUL-joined (the Head tuple's form)
  };

  // `request`: the whole CONNECT head, final CRLF included. `authority`: host:port, for messages.
  TunnelTransport(Transport& inner, std::string request, std::string authority)
      : inner_(inner), request_(std::move(request)), authority_(std::move(authority)) {}

  Step Handshake() noexcept override;
  long Read(uint8_t* buf, size_t len, int* err) noexcept override;
  long Write(const uint8_t* buf, size_t len, int* err) noexcept override { return inner_.Write(buf, len, err); }
  bool HasPendingOutput() const noexcept override { return sent_ < request_.size() || inner_.HasPendingOutput(); }
  bool Flush(int* err) noexcept override { return inner_.Flush(err); }
  void NoteReadable() noexcept override { inner_.NoteReadable(); }
  bool PeerClosed() noexcept override { return left_off_ < leftover_.size() ? false : inner_.PeerClosed(); }
  void Shutdown() noexcept override { inner_.Shutdown(); }
  const ErrorInfo* failure() const noexcept override { return failed_ ? &error_ : inner_.failure(); }
  // Nothing of the proxy leg describes the target: a cleartext tunnel is cleartext end to end.
  Security Describe() const override { return Security{}; }

  // The proxy's final answer once it arrived (status 0 before).
  const Reply& reply() const { return reply_; }

 private:
  enum class Parse { kMore, kDone, kError };
  Parse ParseHead();
  Step Fail(ErrorInfo e);

  Transport& inner_;
  std::string request_;
  std::string authority_;
  size_t sent_ = 0;
  std::string head_;      // the answer read so far
  std::string leftover_;  // tunnel bytes that arrived with the answer
  size_t left_off_ = 0;
  Reply reply_;
  bool open_ = false;
  bool failed_ = false;
  ErrorInfo error_;
};

}  // namespace nodehyper
