#include "driver.h"

#include "addon.h"
#include "connection.h"
#include "marshal.h"

namespace nodehyper {

Driver::Driver(Addon* addon, napi_env env, napi_value callback, napi_value resource, napi_value meta)
    : addon_(addon), env_(env) {
  napi_create_reference(env, callback, 1, &callback_);
  napi_create_reference(env, resource, 1, &resource_);
  napi_create_reference(env, meta, 1, &meta_ref_);
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, meta, &type, &length, &data, nullptr, nullptr) == napi_ok && type == napi_float64_array) {
    meta_ = static_cast<double*>(data);
    meta_events_ = length / protocol::kSlotSize;
  }
  napi_value name;
  napi_create_string_utf8(env, "NodeHyperExecutor", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &async_context_);
  napi_get_uv_event_loop(env, &loop_);
  uv_idle_init(loop_, &idle_);
  uv_check_init(loop_, &check_);
  idle_.data = this;
  check_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
  idle_hold_ = RefPtr<Driver>(this);
  check_hold_ = RefPtr<Driver>(this);
  addon_->AddDriver(this);
  addon_->HandleOpened(2);
}

Driver::~Driver() {
  if (async_context_) napi_async_destroy(env_, async_context_);
  if (callback_) napi_delete_reference(env_, callback_);
  if (resource_) napi_delete_reference(env_, resource_);
  if (meta_ref_) napi_delete_reference(env_, meta_ref_);
}

void Driver::MarkDirty(Connection* c) {
  if (shut_down_) return;
  if (!c->dirty()) {
    c->set_dirty(true);
    dirty_.emplace_back(c);
  }
  if (!idle_active_) {
    idle_active_ = true;
    uv_idle_start(&idle_, OnIdle);
  }
}

void Driver::Push(Event&& ev) {
  if (shut_down_) return;
  events_.push_back(std::move(ev));
}

void Driver::ScheduleDelivery() {
  if (events_.empty() || check_active_ || shut_down_) return;
  check_active_ = true;
  uv_check_start(&check_, OnCheck);
}

void Driver::OnIdle(uv_idle_t* h) {
  auto* self = static_cast<Driver*>(h->data);
  self->DriveDirty();
  self->DeliverEvents();
  if (self->dirty_.empty() && self->idle_active_) {
    self->idle_active_ = false;
    uv_idle_stop(&self->idle_);
  }
}

void Driver::OnCheck(uv_check_t* h) {
  auto* self = static_cast<Driver*>(h->data);
  self->check_active_ = false;
  uv_check_stop(&self->check_);
  self->DeliverEvents();
}

void Driver::DriveDirty() {
  DrainQueue(dirty_, [](RefPtr<Connection>& c) {
    c->set_dirty(false);
    c->Drive();
  });
}

void Driver::DeliverEvents() {
  if (events_.empty() || delivering_ || shut_down_ || meta_events_ == 0) return;
  delivering_ = true;
  std::vector<Event> batch;
  batch.swap(events_);
  Napi::Env env(env_);
  size_t next = 0;
  while (next < batch.size() && !shut_down_) {
    Napi::HandleScope scope(env);
    EventBatch out(env_, meta_, meta_events_, &text_);
    size_t first = next;
    while (next < batch.size() && !out.full()) out.Add(batch[next++]);
    // Delivered: release the owners' pins and the references (the objects array holds the
    // owners now) before JS runs.
    for (size_t i = first; i < next; ++i) batch[i].conn.Release();
    napi_value cb, recv, result, argv[3];
    napi_create_uint32(env_, static_cast<uint32_t>(out.count()), &argv[0]);
    argv[1] = out.Text();
    argv[2] = out.objects();
    napi_get_reference_value(env_, callback_, &cb);
    napi_get_reference_value(env_, resource_, &recv);
    napi_status st = napi_make_callback(env_, async_context_, recv, cb, 3, argv, &result);
    if (st != napi_ok) {
      // The JS dispatcher threw: surface it as an uncaught exception, never swallow it. With
      // no exception pending the environment is shutting down (a worker being terminated):
      // there is nobody to tell, stop quietly.
      bool pending = false;
      napi_is_exception_pending(env_, &pending);
      if (!pending) break;
      napi_value exc;
      if (napi_get_and_clear_last_exception(env_, &exc) == napi_ok) napi_fatal_exception(env_, exc);
    }
  }
  batch.clear();
  // The next batch fills this capacity instead of growing a new vector from empty (one or
  // more reallocations, each moving every event, per loop turn); unless JS pushed events.
  if (events_.empty()) events_.swap(batch);
  delivering_ = false;
  // Events pushed while JS ran (e.g. a synchronous drive) go out on the next turn.
  if (!events_.empty()) ScheduleDelivery();
}

void Driver::RemoveConnection(Connection* c) {
  connections_.erase(c);
  if (wrap_detached_ && connections_.empty()) CloseHandles();
}

void Driver::DetachWrap() {
  wrap_detached_ = true;
  if (connections_.empty()) CloseHandles();
}

void Driver::CloseHandles() {
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&idle_))) return;
  shut_down_ = true;
  addon_->RemoveDriver(this);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), OnHandleClosed);
}

void Driver::OnHandleClosed(uv_handle_t* h) {
  auto* self = static_cast<Driver*>(h->data);
  RefPtr<Driver> hold = std::move(h == reinterpret_cast<uv_handle_t*>(&self->idle_) ? self->idle_hold_ : self->check_hold_);
  self->addon_->HandleClosed(1);
}

void Driver::Shutdown() {
  if (shut_down_) return;
  // Tear down connections first (they may hold dirty/event references).
  std::vector<Connection*> conns(connections_.begin(), connections_.end());
  for (Connection* c : conns) c->Shutdown();
  events_.clear();
  for (RefPtr<Connection>& c : dirty_) c->set_dirty(false);
  dirty_.clear();
  CloseHandles();
}

}  // namespace nodehyper
