// Shared includes, small helpers and RAII owners for hyper objects.
#pragma once

#define NAPI_VERSION 8
#include <napi.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#ifdef NODE_HYPER_DEBUG_LOG
#include <cstdio>
#endif

#include "hyper_ffi.h"

namespace nodehyper {

// Debug log compiled out in release builds (enable with -DNODE_HYPER_DEBUG_LOG).
#ifdef NODE_HYPER_DEBUG_LOG
#define NH_LOG(...) (std::fprintf(stderr, "[node-hyper] " __VA_ARGS__), std::fputc('\n', stderr))
#else
#define NH_LOG(...) ((void)0)
#endif

// RAII owners: one owner per hyper object; release() hands ownership to hyper.
struct HyperDeleter {
  void operator()(hyper_request* p) const noexcept { hyper_request_free(p); }
  void operator()(hyper_response* p) const noexcept { hyper_response_free(p); }
  void operator()(hyper_body* p) const noexcept { hyper_body_free(p); }
  void operator()(hyper_buf* p) const noexcept { hyper_buf_free(p); }
  void operator()(hyper_error* p) const noexcept { hyper_error_free(p); }
  void operator()(hyper_task* p) const noexcept { hyper_task_free(p); }
  void operator()(hyper_clientconn* p) const noexcept { hyper_clientconn_free(p); }
  void operator()(hyper_clientconn_options* p) const noexcept { hyper_clientconn_options_free(p); }
  void operator()(hyper_io* p) const noexcept { hyper_io_free(p); }
  void operator()(hyper_waker* p) const noexcept { hyper_waker_free(p); }
  void operator()(const hyper_executor* p) const noexcept { hyper_executor_free(p); }
};
template <typename T>
using HyperPtr = std::unique_ptr<T, HyperDeleter>;
using ExecutorPtr = std::unique_ptr<const hyper_executor, HyperDeleter>;

// A stored waker slot: setting replaces (and frees) the previous waker; Wake() consumes it.
class WakerSlot {
 public:
  void Store(hyper_waker* w) noexcept { waker_.reset(w); }
  bool Armed() const noexcept { return waker_ != nullptr; }
  void Wake() noexcept {
    if (hyper_waker* w = waker_.release()) hyper_waker_wake(w);  // wake consumes the waker
  }
  void Clear() noexcept { waker_.reset(); }

 private:
  HyperPtr<hyper_waker> waker_;
};

// Error details carried from native to JS; the JS layer builds the typed error class.
struct ErrorInfo {
  int hyper_code = 0;     // hyper_code, 0 when the error did not come from hyper
  std::string message;    // hyper's top-level message or our own
  int sys_errno = 0;      // positive errno (or libuv error negated) when a socket call failed
  std::string syscall;    // "connect", "read", "write", ...
  std::string local_code; // node-hyper's own code (ERR_CLOSED, ...), empty otherwise
  std::string tls_code;   // TLS failure in Node's terms (CERT_HAS_EXPIRED, ERR_SSL_..., ...)
  bool request_sent = false;  // some bytes of the request reached the socket
};

ErrorInfo ErrorFromHyper(hyper_error* err);

}  // namespace nodehyper
