#include "driver.h"

#include "addon.h"
#include "connection.h"
#include "marshal.h"

namespace nodehyper {

Driver::Driver(Addon* addon, napi_env env, napi_value callback, napi_value resource) : addon_(addon), env_(env) {
  napi_create_reference(env, callback, 1, &callback_);
  napi_create_reference(env, resource, 1, &resource_);
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
  std::vector<RefPtr<Connection>> batch;
  batch.swap(dirty_);
  for (RefPtr<Connection>& c : batch) {
    c->set_dirty(false);
    c->Drive();
  }
}

void Driver::DeliverEvents() {
  if (events_.empty() || delivering_ || shut_down_) return;
  delivering_ = true;
  std::vector<Event> batch;
  batch.swap(events_);
  {
    Napi::Env env(env_);
    Napi::HandleScope scope(env);
    napi_value arr;
    napi_create_array_with_length(env_, batch.size() * 4, &arr);
    uint32_t i = 0;
    for (Event& ev : batch) {
      napi_value kind, id;
      napi_create_int32(env_, static_cast<int32_t>(ev.kind), &kind);
      napi_create_double(env_, static_cast<double>(ev.request_id), &id);
      napi_set_element(env_, arr, i++, kind);
      napi_set_element(env_, arr, i++, ev.conn.get()->Owner());
      napi_set_element(env_, arr, i++, id);
      napi_set_element(env_, arr, i++, EventPayloadToJs(env_, ev));
    }
    // The owners are referenced by the array now: their pins (and anything ToJs did not consume)
    // can go before JS runs.
    batch.clear();
    napi_value cb, recv, result;
    napi_get_reference_value(env_, callback_, &cb);
    napi_get_reference_value(env_, resource_, &recv);
    napi_status st = napi_make_callback(env_, async_context_, recv, cb, 1, &arr, &result);
    if (st != napi_ok) {
      // The JS dispatcher threw: surface it as an uncaught exception, never swallow it. With
      // no exception pending the environment is shutting down (a worker being terminated):
      // there is nobody to tell, stop quietly.
      bool pending = false;
      napi_is_exception_pending(env_, &pending);
      if (pending) {
        napi_value exc;
        if (napi_get_and_clear_last_exception(env_, &exc) == napi_ok) napi_fatal_exception(env_, exc);
      }
    }
  }
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
