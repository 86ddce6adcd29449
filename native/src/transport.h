// The byte streams beneath hyper's IO callbacks. Socket: a non-blocking stream socket (TCP over
// IPv4/IPv6, Unix domain sockets), plain syscalls. Transport: what a Connection reads and writes
// through, whatever sits below (PlainTransport over a Socket; TlsTransport in tls.h over another
// transport). The readiness side lives in Connection (one uv_poll_t per socket).
#pragma once

#include "common.h"

namespace nodehyper {

// How a TCP socket is set up before its connect (the connect options of ClientConn).
struct SocketOptions {
  std::string local_address;        // bind to this IP before connecting ("" = the system's choice)
  bool no_delay = true;             // TCP_NODELAY
  bool keep_alive = true;           // SO_KEEPALIVE
  unsigned keep_alive_delay_s = 60; // TCP_KEEPIDLE (0 = the system default); Node's undici sockets use 60 s
};

// A connected socket's own and peer addresses (TCP over IPv4/IPv6); family 0 for a Unix socket.
struct SocketAddresses {
  int family = 0;  // 4, 6 or 0
  std::string local_address, remote_address;
  int local_port = 0, remote_port = 0;
};

class Socket {
 public:
  Socket() = default;
  ~Socket() { Close(); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // Start a non-blocking connect. Returns 0 (connected or in progress) or a positive errno,
  // with *syscall naming the failing call.
  int ConnectTcp(int family, const std::string& address, int port, const SocketOptions& opts, const char** syscall);
  int ConnectUnix(const std::string& path, const char** syscall);
  // The socket's pending error (SO_ERROR): after a connect, 0 when connected; after poll
  // reported an error, the reason (ECONNRESET, ...).
  int PendingError();
  // Whether the socket is writable right now (a completed connect), without waiting.
  bool WritableNow() noexcept;
  // getsockname/getpeername of a connected TCP socket (left at family 0 otherwise).
  void Addresses(SocketAddresses* out) const;

  // recv/send wrappers: >0 bytes moved, 0 EOF (recv only), -1 with *err set
  // (EAGAIN/EWOULDBLOCK reported as err == EAGAIN).
  long Recv(uint8_t* buf, size_t len, int* err) noexcept;
  long Send(const uint8_t* buf, size_t len, int* err) noexcept;

  // True when the peer has closed (or reset) the connection, without consuming any data.
  bool PeerClosed() noexcept;

  uv_os_sock_t fd() const { return fd_; }
  bool valid() const;
  void Close() noexcept;
  // Hands the descriptor over (this Socket no longer owns it) / takes one over (closing any held).
  uv_os_sock_t Release() noexcept {
    uv_os_sock_t fd = fd_;
    fd_ = kInvalid;
    return fd;
  }
  void Adopt(uv_os_sock_t fd) noexcept {
    Close();
    fd_ = fd;
  }

 private:
  int Open(int family, const char** syscall);
  uv_os_sock_t fd_ = kInvalid;
#ifdef _WIN32
  static constexpr uv_os_sock_t kInvalid = INVALID_SOCKET;
#else
  static constexpr uv_os_sock_t kInvalid = -1;
#endif
};

// A byte stream beneath hyper. Read/Write follow recv/send: >0 bytes moved, 0 EOF (Read only),
// -1 with *err set: EAGAIN = would block (park hyper's waker), EPROTO = a failure described by
// failure(), anything else an errno from the socket.
class Transport {
 public:
  enum class Step { kDone, kWantRead, kError };
  virtual ~Transport() = default;

  // Connection setup this layer needs after TCP connect (a TLS handshake). kWantRead: wait for
  // readability (and writability while HasPendingOutput()). kError: see failure().
  virtual Step Handshake() noexcept { return Step::kDone; }
  virtual long Read(uint8_t* buf, size_t len, int* err) noexcept = 0;
  virtual long Write(const uint8_t* buf, size_t len, int* err) noexcept = 0;
  // Output accepted by Write but not yet taken by the socket: the connection keeps writable
  // interest and calls Flush when the socket is writable. Flush: true = all sent; false with
  // *err (EAGAIN, or a socket error).
  virtual bool HasPendingOutput() const noexcept { return false; }
  virtual bool Flush(int* err) noexcept { return true; }
  // poll reported the socket readable (or hung up, or failed): the next Read makes a syscall.
  virtual void NoteReadable() noexcept = 0;
  // An idle connection: true when the peer has closed it. Consumes nothing hyper would need.
  virtual bool PeerClosed() noexcept = 0;
  // Graceful close (TLS close_notify): best effort, never blocks.
  virtual void Shutdown() noexcept {}
  // The failure behind an EPROTO or a kError handshake (nullptr when there was none).
  virtual const ErrorInfo* failure() const noexcept { return nullptr; }

  // What the handshake negotiated; `tls` stays false below TLS.
  struct Security {
    bool tls = false;
    std::string alpn, version, cipher, authorization_error;
    bool session_reused = false;
  };
  virtual Security Describe() const { return Security{}; }
};

// TCP or a Unix socket as is. Keeps the "socket drained" hint: after a short read or EAGAIN the
// next Read parks hyper's waker without a syscall until poll reports readability again (hyper
// re-polls its connection task several times per exchange; each would otherwise cost an EAGAIN
// recv). uv_poll is level-triggered with READABLE interest while a read waker is parked, so data
// that arrives later is reported.
class PlainTransport final : public Transport {
 public:
  explicit PlainTransport(Socket& s) : sock_(s) {}
  long Read(uint8_t* buf, size_t len, int* err) noexcept override;
  long Write(const uint8_t* buf, size_t len, int* err) noexcept override { return sock_.Send(buf, len, err); }
  void NoteReadable() noexcept override { ready_ = true; }
  bool PeerClosed() noexcept override { return sock_.PeerClosed(); }

 private:
  Socket& sock_;
  bool ready_ = true;
};

}  // namespace nodehyper
