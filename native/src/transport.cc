#include "transport.h"

#include <cerrno>
#include <cstring>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#include <afunix.h>
#else
#include <fcntl.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#endif

namespace nodehyper {

namespace {
int LastSocketError() {
#ifdef _WIN32
  int e = WSAGetLastError();
  return (e == WSAEWOULDBLOCK) ? EAGAIN : e;
#else
  return errno;
#endif
}
}  // namespace

bool Socket::valid() const { return fd_ != kInvalid; }

int Socket::Open(int family, const char** syscall) {
  *syscall = "socket";
#if defined(_WIN32)
  uv_os_sock_t s = socket(family, SOCK_STREAM, 0);
  if (s == INVALID_SOCKET) return LastSocketError();
  u_long on = 1;
  ioctlsocket(s, FIONBIO, &on);
#elif defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
  int s = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
#else
  int s = socket(family, SOCK_STREAM, 0);
  if (s < 0) return errno;
  fcntl(s, F_SETFD, FD_CLOEXEC);
  fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
#endif
#if defined(SO_NOSIGPIPE)
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  fd_ = s;
  return 0;
}

namespace {
// Parses `address` (an IP literal of `family`, 4 or 6) into `ss`; false when it is not one.
bool ToSockaddr(int family, const std::string& address, int port, sockaddr_storage* ss, socklen_t* len) {
  std::memset(ss, 0, sizeof *ss);
  if (family == 6) {
    *len = sizeof(sockaddr_in6);
    return uv_ip6_addr(address.c_str(), port, reinterpret_cast<sockaddr_in6*>(ss)) == 0;
  }
  *len = sizeof(sockaddr_in);
  return uv_ip4_addr(address.c_str(), port, reinterpret_cast<sockaddr_in*>(ss)) == 0;
}

void SetKeepAlive(uv_os_sock_t fd, bool on, unsigned delay_s) {
  int v = on ? 1 : 0;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, reinterpret_cast<const char*>(&v), sizeof v);
  if (!on || delay_s == 0) return;
  int d = static_cast<int>(delay_s);
#if defined(TCP_KEEPIDLE)
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, reinterpret_cast<const char*>(&d), sizeof d);
#elif defined(TCP_KEEPALIVE)
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPALIVE, reinterpret_cast<const char*>(&d), sizeof d);  // macOS
#else
  (void)d;
#endif
}
}  // namespace

int Socket::ConnectTcp(int family, const std::string& address, int port, const SocketOptions& opts, const char** syscall) {
  sockaddr_storage ss;
  socklen_t len;
  if (!ToSockaddr(family, address, port, &ss, &len)) {
    *syscall = "inet_pton";
    return EINVAL;
  }
  sockaddr_storage local;
  socklen_t local_len = 0;
  if (!opts.local_address.empty() && !ToSockaddr(family, opts.local_address, 0, &local, &local_len)) {
    // The JS layer matches the lookup to the local address's family: this is a mismatch.
    *syscall = "bind";
    return EAFNOSUPPORT;
  }
  if (int e = Open(family == 6 ? AF_INET6 : AF_INET, syscall)) return e;
  if (local_len) {
    *syscall = "bind";
    if (bind(fd_, reinterpret_cast<sockaddr*>(&local), local_len) != 0) {
      int e = LastSocketError();
      Close();
      return e;
    }
  }
  int nodelay = opts.no_delay ? 1 : 0;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&nodelay), sizeof nodelay);
  SetKeepAlive(fd_, opts.keep_alive, opts.keep_alive_delay_s);
  *syscall = "connect";
  if (connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int e = LastSocketError();
#ifdef _WIN32
    if (e == EAGAIN || e == WSAEINPROGRESS) return 0;
#else
    if (e == EINPROGRESS || e == EINTR) return 0;
#endif
    Close();
    return e;
  }
  return 0;
}

int Socket::ConnectUnix(const std::string& path, const char** syscall) {
  sockaddr_un sun;
  std::memset(&sun, 0, sizeof sun);
  if (path.size() >= sizeof sun.sun_path) {
    *syscall = "connect";
    return ENAMETOOLONG;
  }
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.data(), path.size());
  if (int e = Open(AF_UNIX, syscall)) return e;
  *syscall = "connect";
  if (connect(fd_, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    int e = LastSocketError();
#ifndef _WIN32
    if (e == EINPROGRESS || e == EINTR) return 0;
    // EAGAIN on a Unix socket means the listener's backlog is full: a real failure.
#endif
    Close();
    return e;
  }
  return 0;
}

int Socket::PendingError() {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&err), &len) != 0) return LastSocketError();
  return err;
}

long Socket::Recv(uint8_t* buf, size_t len, int* err) noexcept {
  for (;;) {
#ifdef _WIN32
    int n = recv(fd_, reinterpret_cast<char*>(buf), static_cast<int>(len > INT32_MAX ? INT32_MAX : len), 0);
#else
    ssize_t n = recv(fd_, buf, len, 0);
#endif
    if (n >= 0) return static_cast<long>(n);
    int e = LastSocketError();
    if (e == EINTR) continue;
    *err = (e == EWOULDBLOCK) ? EAGAIN : e;
    return -1;
  }
}

long Socket::Send(const uint8_t* buf, size_t len, int* err) noexcept {
#if defined(MSG_NOSIGNAL)
  const int flags = MSG_NOSIGNAL;
#else
  const int flags = 0;
#endif
  for (;;) {
#ifdef _WIN32
    int n = send(fd_, reinterpret_cast<const char*>(buf), static_cast<int>(len > INT32_MAX ? INT32_MAX : len), flags);
#else
    ssize_t n = send(fd_, buf, len, flags);
#endif
    if (n >= 0) return static_cast<long>(n);
    int e = LastSocketError();
    if (e == EINTR) continue;
    *err = (e == EWOULDBLOCK) ? EAGAIN : e;
    return -1;
  }
}

bool Socket::PeerClosed() noexcept {
  char b;
#ifdef _WIN32
  int n = recv(fd_, &b, 1, MSG_PEEK);
#else
  ssize_t n = recv(fd_, &b, 1, MSG_PEEK | MSG_DONTWAIT);
#endif
  if (n == 0) return true;
  if (n > 0) return false;  // unexpected bytes: hyper will report them
  int e = LastSocketError();
  return !(e == EAGAIN || e == EWOULDBLOCK || e == EINTR);
}

bool Socket::WritableNow() noexcept {
#ifdef _WIN32
  WSAPOLLFD p{fd_, POLLWRNORM, 0};
  return WSAPoll(&p, 1, 0) == 1 && (p.revents & POLLWRNORM);
#else
  pollfd p{fd_, POLLOUT, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
#endif
}

namespace {
// An IPv4/IPv6 sockaddr as (address, port); false for any other family.
bool NameOf(const sockaddr_storage& ss, std::string* address, int* port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    if (uv_ip4_name(a, buf, sizeof buf) != 0) return false;
    *port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (uv_ip6_name(a, buf, sizeof buf) != 0) return false;
    *port = ntohs(a->sin6_port);
  } else {
    return false;
  }
  *address = buf;
  return true;
}
}  // namespace

void Socket::Addresses(SocketAddresses* out) const {
  sockaddr_storage local, remote;
  socklen_t llen = sizeof local, rlen = sizeof remote;
  std::memset(&local, 0, sizeof local);
  std::memset(&remote, 0, sizeof remote);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &llen) != 0) return;
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&remote), &rlen) != 0) return;
  SocketAddresses a;
  if (!NameOf(local, &a.local_address, &a.local_port) || !NameOf(remote, &a.remote_address, &a.remote_port)) return;
  a.family = remote.ss_family == AF_INET6 ? 6 : 4;
  *out = std::move(a);
}

long PlainTransport::Read(uint8_t* buf, size_t len, int* err) noexcept {
  if (!ready_) {
    *err = EAGAIN;
    return -1;
  }
  long n = sock_.Recv(buf, len, err);
  if ((n > 0 && static_cast<size_t>(n) < len) || (n < 0 && *err == EAGAIN)) ready_ = false;  // drained for now
  return n;
}

void Socket::Close() noexcept {
  if (fd_ == kInvalid) return;
#ifdef _WIN32
  closesocket(fd_);
#else
  close(fd_);
#endif
  fd_ = kInvalid;
}

}  // namespace nodehyper
