// Non-blocking stream socket (TCP over IPv4/IPv6, Unix domain sockets). Plain syscalls; the
// readiness side lives in Connection (one uv_poll_t per socket).
#pragma once

#include "common.h"

namespace nodehyper {

class Socket {
 public:
  Socket() = default;
  ~Socket() { Close(); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // Start a non-blocking connect. Returns 0 (connected or in progress) or a positive errno,
  // with *syscall naming the failing call.
  int ConnectTcp(int family, const std::string& address, int port, const char** syscall);
  int ConnectUnix(const std::string& path, const char** syscall);
  // After the socket turned writable: 0 when connected, else the connect errno (SO_ERROR).
  int FinishConnect();

  // recv/send wrappers: >0 bytes moved, 0 EOF (recv only), -1 with *err set
  // (EAGAIN/EWOULDBLOCK reported as err == EAGAIN).
  long Recv(uint8_t* buf, size_t len, int* err) noexcept;
  long Send(const uint8_t* buf, size_t len, int* err) noexcept;

  // True when the peer has closed (or reset) the connection, without consuming any data.
  bool PeerClosed() noexcept;

  uv_os_sock_t fd() const { return fd_; }
  bool valid() const;
  void Close() noexcept;

 private:
  int Open(int family, const char** syscall);
  uv_os_sock_t fd_ = kInvalid;
#ifdef _WIN32
  static constexpr uv_os_sock_t kInvalid = INVALID_SOCKET;
#else
  static constexpr uv_os_sock_t kInvalid = -1;
#endif
};

}  // namespace nodehyper
