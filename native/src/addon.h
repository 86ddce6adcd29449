// Per-environment state (napi instance data): the live drivers, handle accounting for the
// async env cleanup hook, and the class constructors. No process-global mutable state.
#pragma once

#include <unordered_set>

#include "common.h"

namespace nodehyper {

class Driver;

class Addon {
 public:
  explicit Addon(napi_env env);
  ~Addon();

  void AddDriver(Driver* d) { drivers_.insert(d); }
  void RemoveDriver(Driver* d) { drivers_.erase(d); }
  void HandleOpened(int n) { open_handles_ += n; }
  void HandleClosed(int n);
  // Live native objects, for leak tests (binding.liveObjects()).
  void ConnectionCreated() { ++live_connections_; }
  void ConnectionDestroyed() { --live_connections_; }
  int live_connections() const { return live_connections_; }
  int open_handles() const { return open_handles_; }
  int live_drivers() const { return static_cast<int>(drivers_.size()); }

 private:
  static void OnCleanup(napi_async_cleanup_hook_handle handle, void* arg);
  std::unordered_set<Driver*> drivers_;
  int open_handles_ = 0;
  int live_connections_ = 0;
  napi_async_cleanup_hook_handle cleanup_handle_ = nullptr;
  bool cleaning_ = false;
};

}  // namespace nodehyper
