// Shared includes, small helpers and RAII owners for hyper objects.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>
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

// Monotonic milliseconds (uv_hrtime, the clock of process.hrtime and performance.now()).
inline double HrMs() noexcept { return static_cast<double>(uv_hrtime()) / 1e6; }

// Hands `fn` every item queued in `queue` so far, as one batch; items queued while it runs stay
// in `queue` for the next batch. The batch's storage goes back to `queue` when that is empty, so
// a queue refilled on every loop turn does not allocate on every turn. `queue`'s owner must
// outlive the call (hold a reference when `fn` may drop the last one).
template <typename T, typename Fn>
void DrainQueue(std::vector<T>& queue, Fn&& fn) {
  if (queue.empty()) return;
  std::vector<T> batch;
  batch.swap(queue);
  for (T& item : batch) fn(item);
  batch.clear();
  if (queue.empty()) queue.swap(batch);
}

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

// Intrusive reference: holds one Ref() of a reference-counted T for as long as it lives.
// Used wherever something must keep a Connection or Driver alive across a callback, a queued
// event or the dirty list, so no code path pairs Ref() and Unref() by hand.
template <typename T>
class RefPtr {
 public:
  RefPtr() = default;
  explicit RefPtr(T* p) : p_(p) {
    if (p_) p_->Ref();
  }
  RefPtr(const RefPtr& o) : RefPtr(o.p_) {}
  RefPtr(RefPtr&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  RefPtr& operator=(RefPtr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~RefPtr() { reset(); }
  // Releases the reference (may destroy the object: touch nothing of it afterwards).
  void reset() {
    if (T* p = p_) {
      p_ = nullptr;
      p->Unref();
    }
  }
  T* get() const { return p_; }
  T* operator->() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  T* p_ = nullptr;
};

// Error details carried from native to JS (protocol::Error slots); the JS layer builds the
// typed error class. Every error the addon reports, asynchronous or synchronous, has this shape.
struct ErrorInfo {
  int hyper_code = 0;     // hyper_code, 0 when the error did not come from hyper
  std::string message;    // hyper's top-level message or our own
  int sys_errno = 0;      // positive errno (or libuv error negated) when a socket call failed
  std::string syscall;    // "connect", "read", "write", ...
  std::string local_code; // node-hyper's own code (ERR_CONNECTION_CLOSED, ...), empty otherwise
  std::string tls_code;   // TLS failure in Node's terms (CERT_HAS_EXPIRED, ERR_SSL_..., ...)
  std::string field;      // rejected input: the offending field
  bool request_sent = false;  // some bytes of the request reached the socket

  // node-hyper's own failure (a local code and a message).
  static ErrorInfo Local(const char* code, std::string msg) {
    ErrorInfo e;
    e.local_code = code;
    e.message = std::move(msg);
    return e;
  }
  // hyper's own failure outside an error object (a NULL task, an unexpected result).
  static ErrorInfo Hyper(std::string msg) {
    ErrorInfo e;
    e.hyper_code = HYPERE_ERROR;
    e.message = std::move(msg);
    return e;
  }
  // A failed system call (positive errno, or a negative libuv code).
  static ErrorInfo Errno(int err, const char* call, std::string msg) {
    ErrorInfo e;
    e.sys_errno = err;
    e.syscall = call;
    e.message = std::move(msg);
    return e;
  }
  // Attaches the errno a socket call saw (the most useful cause of hyper's generic errors).
  ErrorInfo& WithErrno(int err, const char* call) {
    if (err) {
      sys_errno = err;
      syscall = call;
    }
    return *this;
  }
};

ErrorInfo ErrorFromHyper(hyper_error* err);

}  // namespace nodehyper
