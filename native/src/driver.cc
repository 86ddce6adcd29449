#include "driver.h"

#include "addon.h"
#include "connection.h"

namespace nodehyper {

namespace {

napi_value Latin1(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_latin1(env, s.data(), s.size(), &v);
  return v;
}

napi_value BufferFrom(napi_env env, hyper_buf* b) {
  napi_value v;
  void* data;
  napi_create_buffer_copy(env, hyper_buf_len(b), hyper_buf_bytes(b), &data, &v);
  return v;
}

}  // namespace

napi_value ErrorToJs(napi_env env, const ErrorInfo& e) {
  napi_value arr, v;
  napi_create_array_with_length(env, 8, &arr);
  napi_set_element(env, arr, 0, Latin1(env, e.local_code));
  napi_create_int32(env, e.hyper_code, &v);
  napi_set_element(env, arr, 1, v);
  napi_create_string_utf8(env, e.message.data(), e.message.size(), &v);
  napi_set_element(env, arr, 2, v);
  if (e.sys_errno != 0) {
    int uv_code = e.sys_errno < 0 ? e.sys_errno : uv_translate_sys_error(e.sys_errno);
    napi_create_string_utf8(env, uv_err_name(uv_code), NAPI_AUTO_LENGTH, &v);
    napi_set_element(env, arr, 3, v);
    napi_create_int32(env, uv_code, &v);
    napi_set_element(env, arr, 4, v);
  }
  napi_set_element(env, arr, 5, Latin1(env, e.syscall));
  napi_get_boolean(env, e.request_sent, &v);
  napi_set_element(env, arr, 6, v);
  if (!e.tls_code.empty()) napi_set_element(env, arr, 7, Latin1(env, e.tls_code));
  return arr;
}

// [status, version, reason, rawHeaders (NUL-joined string)] followed by `extra` slots the caller fills.
static napi_value HeadToJs(napi_env env, const ResponseHead& h, uint32_t extra) {
  napi_value arr, headers, v;
  napi_create_array_with_length(env, 4 + extra, &arr);
  napi_create_uint32(env, h.status, &v);
  napi_set_element(env, arr, 0, v);
  napi_create_int32(env, h.version, &v);
  napi_set_element(env, arr, 1, v);
  napi_set_element(env, arr, 2, Latin1(env, h.reason));
  // Header names and values as one latin1 string joined by NUL (which neither HTTP/1 nor
  // HTTP/2 allows in a field): one string creation instead of one per name and value plus an
  // element store each; JS splits it (cheaper than building the array through N-API).
  size_t total = 0;
  for (const std::string& f : h.headers) total += f.size() + 1;
  std::string joined;
  joined.reserve(total);
  for (size_t i = 0; i < h.headers.size(); ++i) {
    if (i) joined.push_back('\0');
    joined.append(h.headers[i]);
  }
  headers = Latin1(env, joined);
  napi_set_element(env, arr, 3, headers);
  return arr;
}

static napi_value ToJs(napi_env env, Event& ev) {
  napi_value v;
  switch (ev.kind) {
    case EventKind::kResponse: {
      ResponseHead& h = *ev.head;
      napi_value arr = HeadToJs(env, h, 3);  // + [firstChunk, ended, readOutstanding]
      if (h.first_chunk) {
        napi_set_element(env, arr, 4, BufferFrom(env, h.first_chunk.get()));
      } else {
        napi_get_null(env, &v);
        napi_set_element(env, arr, 4, v);
      }
      napi_get_boolean(env, h.ended, &v);
      napi_set_element(env, arr, 5, v);
      napi_get_boolean(env, h.read_outstanding, &v);
      napi_set_element(env, arr, 6, v);
      return arr;
    }
    case EventKind::kInformational:
      return HeadToJs(env, *ev.head, 0);
    case EventKind::kData:
      return BufferFrom(env, ev.chunk.get());
    case EventKind::kConnectError:
    case EventKind::kRequestError:
    case EventKind::kClosed:
      if (ev.error) return ErrorToJs(env, *ev.error);
      break;
    default:
      break;
  }
  napi_get_undefined(env, &v);
  return v;
}

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
  refs_ = 1 /* wrapper */ + 2 /* handles */;
  addon_->AddDriver(this);
  addon_->HandleOpened(2);
}

Driver::~Driver() {
  if (async_context_) napi_async_destroy(env_, async_context_);
  if (callback_) napi_delete_reference(env_, callback_);
  if (resource_) napi_delete_reference(env_, resource_);
}

void Driver::Unref() {
  if (--refs_ == 0) delete this;
}

void Driver::MarkDirty(Connection* c) {
  if (shut_down_) return;
  if (!c->dirty()) {
    c->set_dirty(true);
    c->Ref();
    dirty_.push_back(c);
  }
  if (!idle_active_) {
    idle_active_ = true;
    uv_idle_start(&idle_, OnIdle);
  }
}

void Driver::Push(Event&& ev) {
  if (shut_down_) return;
  // The event keeps the native connection alive and pins its JS owner until delivered: JS may
  // be awaiting it through promises that nothing else references (a garbage cycle otherwise).
  ev.conn->Ref();
  ev.conn->PinOwner();
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
  std::vector<Connection*> batch;
  batch.swap(dirty_);
  for (Connection* c : batch) {
    c->set_dirty(false);
    c->Drive();
    c->Unref();
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
      napi_value kind, owner, id, payload;
      napi_create_int32(env_, static_cast<int32_t>(ev.kind), &kind);
      owner = ev.conn->Owner();
      napi_create_double(env_, static_cast<double>(ev.request_id), &id);
      payload = ToJs(env_, ev);
      napi_set_element(env_, arr, i++, kind);
      napi_set_element(env_, arr, i++, owner);
      napi_set_element(env_, arr, i++, id);
      napi_set_element(env_, arr, i++, payload);
    }
    for (Event& ev : batch) {
      ev.conn->UnpinOwner();
      ev.conn->Unref();
    }
    batch.clear();  // frees anything ToJs did not consume
    napi_value cb, recv, result;
    napi_get_reference_value(env_, callback_, &cb);
    napi_get_reference_value(env_, resource_, &recv);
    napi_status st = napi_make_callback(env_, async_context_, recv, cb, 1, &arr, &result);
    if (st != napi_ok) {
      // The JS dispatcher threw: surface it as an uncaught exception, never swallow it.
      bool pending = false;
      napi_is_exception_pending(env_, &pending);
      if (pending) {
        napi_value exc;
        napi_get_and_clear_last_exception(env_, &exc);
        napi_fatal_exception(env_, exc);
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
  Unref();
}

void Driver::CloseHandles() {
  if (handles_closed_) return;
  handles_closed_ = true;
  shut_down_ = true;
  addon_->RemoveDriver(this);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), OnHandleClosed);
}

void Driver::OnHandleClosed(uv_handle_t* h) {
  auto* self = static_cast<Driver*>(h->data);
  self->addon_->HandleClosed(1);
  self->Unref();
}

void Driver::Shutdown() {
  if (shut_down_) return;
  // Tear down connections first (they may hold dirty/event references).
  std::vector<Connection*> conns(connections_.begin(), connections_.end());
  for (Connection* c : conns) c->Shutdown();
  for (Event& ev : events_) {
    ev.conn->UnpinOwner();
    ev.conn->Unref();
  }
  events_.clear();
  for (Connection* c : dirty_) {
    c->set_dirty(false);
    c->Unref();
  }
  dirty_.clear();
  CloseHandles();
}

}  // namespace nodehyper
