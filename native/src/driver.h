// Driver: the libuv side of hyper's executors for one event loop (the JS `Executor`).
// Owns the dirty list (connections that JS asked something of), the event batch, and the
// uv handles that drive dirty connections once per loop turn and deliver events to JS.
#pragma once

#include <unordered_set>
#include <vector>

#include "common.h"
#include "event.h"

namespace nodehyper {

class Addon;

class Driver {
 public:
  // `meta`: the Float64Array event records are written into (protocol.h), held for the driver's life.
  Driver(Addon* addon, napi_env env, napi_value callback, napi_value resource, napi_value meta);
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Memory is reference counted (RefPtr): the JS wrapper, each connection, each open uv handle.
  void Ref() { ++refs_; }
  void Unref() {
    if (--refs_ == 0) delete this;
  }

  Addon* addon() const { return addon_; }
  uv_loop_t* loop() const { return loop_; }

  void AddConnection(Connection* c) { connections_.insert(c); }
  void RemoveConnection(Connection* c);

  // JS recorded intent on `c`: drive it once this loop turn (uv_idle, started only while needed).
  void MarkDirty(Connection* c);
  void Push(Event&& ev);
  // Called after a uv_poll callback drove a connection: deliver in this turn's check phase.
  void ScheduleDelivery();
  void DeliverEvents();

  // The JS wrapper was collected.
  void DetachWrap();
  // Environment teardown: tear down every connection without calling JS, close handles.
  void Shutdown();

 private:
  ~Driver();
  static void OnIdle(uv_idle_t* h);
  static void OnCheck(uv_check_t* h);
  static void OnHandleClosed(uv_handle_t* h);
  void DriveDirty();
  void CloseHandles();

  Addon* addon_;
  napi_env env_;
  napi_ref callback_ = nullptr;
  napi_ref resource_ = nullptr;
  napi_ref meta_ref_ = nullptr;
  double* meta_ = nullptr;       // the shared event records
  size_t meta_events_ = 0;       // how many records fit
  std::string text_;             // the batch text, reused
  napi_async_context async_context_ = nullptr;
  uv_loop_t* loop_ = nullptr;
  uv_idle_t idle_;
  uv_check_t check_;
  RefPtr<Driver> idle_hold_;   // each open handle keeps the driver alive until its close callback
  RefPtr<Driver> check_hold_;
  bool idle_active_ = false;
  bool check_active_ = false;
  bool delivering_ = false;
  bool shut_down_ = false;
  bool wrap_detached_ = false;
  int refs_ = 0;
  std::vector<RefPtr<Connection>> dirty_;
  std::vector<Event> events_;
  std::unordered_set<Connection*> connections_;
};

}  // namespace nodehyper
