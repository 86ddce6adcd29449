#include "addon.h"

#include <vector>

#include "driver.h"
#include "marshal.h"
#include "wrap.h"

// native/hyper/src/alloc.rs: 1 = mimalloc serves hyper's allocations, 2 = the system malloc
// (NODE_HYPER_ALLOCATOR=system).
extern "C" int node_hyper_allocator(void);

namespace nodehyper {

Addon::Addon(napi_env env) {
  napi_add_async_cleanup_hook(env, OnCleanup, this, &cleanup_handle_);
}

Addon::~Addon() = default;

void Addon::HandleClosed(int n) {
  open_handles_ -= n;
  if (cleaning_ && open_handles_ == 0 && cleanup_handle_) {
    napi_async_cleanup_hook_handle h = cleanup_handle_;
    cleanup_handle_ = nullptr;
    napi_remove_async_cleanup_hook(h);
  }
}

// Environment teardown (process exit, worker termination): tear down every connection
// without running JS, close every uv handle, and finish once their close callbacks ran.
void Addon::OnCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  auto* self = static_cast<Addon*>(arg);
  self->cleaning_ = true;
  std::vector<Driver*> drivers(self->drivers_.begin(), self->drivers_.end());
  for (Driver* d : drivers) d->Shutdown();
  if (self->open_handles_ == 0 && self->cleanup_handle_) {
    self->cleanup_handle_ = nullptr;
    napi_remove_async_cleanup_hook(handle);
  }
}

namespace {

Napi::Value HyperVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), hyper_version());
}

// "mimalloc" or "system": which allocator serves the Rust archive (hyper) in this process.
Napi::Value Allocator(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), node_hyper_allocator() == 2 ? "system" : "mimalloc");
}

// { connections, handles, executors }: native objects alive in this environment (leak tests).
Napi::Value LiveObjects(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Addon* addon = env.GetInstanceData<Addon>();
  Napi::Object o = Napi::Object::New(env);
  o.Set("connections", Napi::Number::New(env, addon->live_connections()));
  o.Set("handles", Napi::Number::New(env, addon->open_handles()));
  o.Set("executors", Napi::Number::New(env, addon->live_drivers()));
  return o;
}

// The wire contract's tables (native/src/protocol.h), for the test that holds lib/protocol.ts to them.
Napi::Value Protocol(const Napi::CallbackInfo& info) {
  return Napi::Value(info.Env(), ProtocolTable(info.Env()));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* addon = new Addon(env);
  env.SetInstanceData<Addon>(addon);
  exports.Set("Executor", ExecutorWrap::Define(env));
  exports.Set("Connection", ConnectionWrap::Define(env));
  exports.Set("SecureContext", SecureContextWrap::Define(env));
  exports.Set("hyperVersion", Napi::Function::New(env, HyperVersion, "hyperVersion"));
  exports.Set("allocator", Napi::Function::New(env, Allocator, "allocator"));
  exports.Set("liveObjects", Napi::Function::New(env, LiveObjects, "liveObjects"));
  exports.Set("protocol", Napi::Function::New(env, Protocol, "protocol"));
  return exports;
}

}  // namespace

}  // namespace nodehyper

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return nodehyper::Init(env, exports); }

NODE_API_MODULE(node_hyper, InitModule)
