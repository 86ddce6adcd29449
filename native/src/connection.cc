#include "connection.h"

#include <algorithm>
#include <cerrno>

#include "addon.h"
#include "driver.h"
#include "wrap.h"

namespace nodehyper {

namespace {

enum TaskKind : uintptr_t { kHandshakeTask = 1, kSendTask = 2, kBodyTask = 3 };

// Every task we create is tagged non-NULL (hyper's own background tasks come back NULL-tagged).
// Tags are values, never pointers: task and object addresses get reused (curl #9840).
void* Tag(TaskKind kind, uint64_t id) {
  return reinterpret_cast<void*>((static_cast<uintptr_t>(id) << 2) | kind);
}

constexpr int kTaskBudgetPerDrive = 64;

}  // namespace

ErrorInfo ErrorFromHyper(hyper_error* err) {
  ErrorInfo info;
  if (!err) {
    info.hyper_code = HYPERE_ERROR;
    info.message = "unknown hyper error";
    return info;
  }
  info.hyper_code = hyper_error_code(err);
  uint8_t buf[256];
  size_t n = hyper_error_print(err, buf, sizeof buf);
  if (n > sizeof buf) n = sizeof buf;
  info.message.assign(reinterpret_cast<const char*>(buf), n);
  return info;
}

Connection::Connection(Driver* driver, napi_env env, napi_value owner, const Options& opts, ConnectionWrap* wrap)
    : driver_(driver), env_(env), wrap_(wrap), opts_(opts) {
  napi_create_reference(env, owner, 0, &owner_);
  driver_->Ref();
  driver_->AddConnection(this);
  driver_->addon()->ConnectionCreated();
}

Connection::~Connection() {
  driver_->addon()->ConnectionDestroyed();
  driver_->RemoveConnection(this);
  if (owner_) napi_delete_reference(env_, owner_);
  driver_->Unref();
}

void Connection::Unref() {
  if (--refs_ == 0) delete this;
}

napi_value Connection::Owner() {
  napi_value v = nullptr;
  if (owner_) napi_get_reference_value(env_, owner_, &v);
  if (!v) napi_get_undefined(env_, &v);
  return v;
}

void Connection::PinOwner() {
  uint32_t count;
  if (owner_) napi_reference_ref(env_, owner_, &count);
}

void Connection::UnpinOwner() {
  uint32_t count;
  if (owner_) napi_reference_unref(env_, owner_, &count);
}

// ---------------------------------------------------------------- connect

int Connection::StartTcp(int family, const std::string& address, int port, const char** syscall) {
  if (state_ != State::kNew) {
    *syscall = "connect";
    return EISCONN;
  }
  if (int e = sock_.ConnectTcp(family, address, port, syscall)) return e;
  return StartPoll();
}

int Connection::StartUnix(const std::string& path, const char** syscall) {
  if (state_ != State::kNew) {
    *syscall = "connect";
    return EISCONN;
  }
  if (int e = sock_.ConnectUnix(path, syscall)) return e;
  return StartPoll();
}

int Connection::StartPoll() {
  uv_loop_t* loop;
  napi_get_uv_event_loop(env_, &loop);
  int r = uv_poll_init_socket(loop, &poll_, sock_.fd());
  if (r != 0) {
    sock_.Close();
    return -r;
  }
  poll_.data = this;
  poll_open_ = true;
  Ref();  // released in OnPollClosed
  driver_->addon()->HandleOpened(1);
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));  // timeouts never keep the process alive
  timer_open_ = true;
  Ref();  // released in OnTimerClosed
  driver_->addon()->HandleOpened(1);
  if (opts_.connect_timeout) connect_deadline_ = Now() + opts_.connect_timeout;
  state_ = State::kConnecting;
  interest_ = UV_WRITABLE;
  uv_poll_start(&poll_, UV_WRITABLE, OnPoll);
  UpdateBusy();
  ArmTimer();
  return 0;
}

uint64_t Connection::Now() {
  uv_loop_t* loop;
  napi_get_uv_event_loop(env_, &loop);
  return uv_now(loop);
}

// One timer per connection, armed for the earliest deadline: connect (until the handshake is
// done), each exchange's headers/body deadline, and Expect: 100-continue waits.
void Connection::ArmTimer() {
  if (!timer_open_ || torn_down_) return;
  uint64_t next = 0;
  auto consider = [&next](uint64_t d) {
    if (d && (!next || d < next)) next = d;
  };
  if (connecting()) consider(connect_deadline_);
  for (auto& kv : exchanges_) {
    consider(kv.second->deadline);
    consider(kv.second->continue_deadline);
  }
  if (!next) {
    uv_timer_stop(&timer_);
    return;
  }
  uint64_t now = Now();
  uv_timer_start(&timer_, OnTimer, next > now ? next - now : 0, 0);
}

void Connection::OnTimer(uv_timer_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  if (c->torn_down_) return;
  c->Ref();
  uint64_t now = c->Now();
  if (c->connecting() && c->connect_deadline_ && c->connect_deadline_ <= now) {
    ErrorInfo info;
    info.local_code = "ERR_CONNECT_TIMEOUT";
    info.message = "connect timed out after " + std::to_string(c->opts_.connect_timeout) + " ms";
    c->FailConnect(info);
  } else {
    bool timed_out = false;
    bool opened = false;
    for (auto& kv : c->exchanges_) {
      Exchange* ex = kv.second.get();
      if (ex->continue_deadline && ex->continue_deadline <= now) {
        ex->continue_deadline = 0;
        if (ex->upload) ex->upload->Open();  // no 100 in time: send the body anyway
        opened = true;
      }
      if (ex->deadline && ex->deadline <= now) {
        auto info = std::make_unique<ErrorInfo>();
        uint64_t ms = ex->deadline_kind == 1 ? ex->headers_timeout : ex->body_timeout;
        info->local_code = ex->deadline_kind == 1 ? "ERR_HEADERS_TIMEOUT" : "ERR_BODY_TIMEOUT";
        info->message = std::string(ex->deadline_kind == 1 ? "no response head within " : "no body data within ") +
                        std::to_string(ms) + " ms";
        ex->fail_reason = std::move(info);
        ex->deadline = 0;
        timed_out = true;
      }
    }
    if (timed_out && c->opts_.http2) {
      // HTTP/2: fail just the timed-out streams and keep the connection.
      std::vector<Exchange*> expired;
      for (auto& kv : c->exchanges_) {
        if (kv.second->fail_reason && !kv.second->detached) expired.push_back(kv.second.get());
      }
      for (Exchange* ex : expired) {
        ErrorInfo info = *ex->fail_reason;
        if (ex->head && !ex->head_emitted) c->EmitHead(ex);
        Event ev{EventKind::kRequestError, c, ex->id};
        ev.error = std::make_unique<ErrorInfo>(info);
        c->Emit(std::move(ev));
        c->DetachExchange(ex);
      }
      c->Drive();
    } else if (timed_out) {
      // HTTP/1 cannot abandon an exchange and keep the connection: close it. Requests queued
      // behind the timed-out one were never sent and fail as retryable.
      ErrorInfo why;
      why.local_code = "ERR_CONNECTION_CLOSED";
      why.message = "the connection was closed after another request on it timed out";
      c->Teardown(false, &why);
    } else if (opened) {
      c->Drive();
    }
  }
  if (!c->torn_down_) c->ArmTimer();
  c->driver_->DeliverEvents();
  c->Unref();
}

void Connection::OnTimerClosed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  c->timer_open_ = false;
  c->driver_->addon()->HandleClosed(1);
  c->Unref();
}

void Connection::OnPoll(uv_poll_t* h, int status, int events) {
  auto* c = static_cast<Connection*>(h->data);
  if (c->torn_down_) return;
  c->Ref();
  if (c->state_ == State::kConnecting) {
    c->FinishConnect();
  } else if (c->state_ == State::kTlsHandshaking) {
    if (status < 0) {
      ErrorInfo info;
      info.sys_errno = status;
      info.syscall = "poll";
      info.message = "the TLS handshake failed";
      c->FailConnect(info);
    } else {
      if (events & (UV_READABLE | UV_DISCONNECT)) c->read_ready_ = true;
      c->DriveTls();
    }
  } else {
    if (status < 0) {
      if (!c->saved_errno_) {
        c->saved_errno_ = status;  // libuv code (negative)
        c->errno_syscall_ = "poll";
      }
      c->read_ready_ = true;
      c->read_waker_.Wake();
      c->write_waker_.Wake();
    } else {
      if (events & (UV_READABLE | UV_DISCONNECT)) {
        c->read_ready_ = true;
        c->read_waker_.Wake();
      }
      if (events & UV_WRITABLE) {
        if (c->tls_ && c->tls_->HasPendingOutput()) {
          int err = 0;
          if (!c->tls_->Flush(c->sock_, &err) && err != EAGAIN && !c->saved_errno_) {
            c->saved_errno_ = err;
            c->errno_syscall_ = "write";
            c->read_waker_.Wake();  // let hyper observe the failure
          }
        }
        c->write_waker_.Wake();
      }
    }
    c->Drive();
  }
  c->driver_->ScheduleDelivery();
  c->Unref();
}

// The connect (TCP, TLS or the connect timeout) failed: report it and tear the connection down.
void Connection::FailConnect(const ErrorInfo& info) {
  Event ev{EventKind::kConnectError, this};
  ev.error = std::make_unique<ErrorInfo>(info);
  Emit(std::move(ev));
  Teardown(false, &info);
}

void Connection::FinishConnect() {
  int err = sock_.FinishConnect();
  if (err != 0) {
    ErrorInfo info;
    info.sys_errno = err;
    info.syscall = "connect";
    info.message = "connect failed";
    FailConnect(info);
    return;
  }
  uv_poll_stop(&poll_);
  interest_ = 0;
  if (opts_.tls) {
    StartTls();
    return;
  }
  StartHandshake();
  Drive();
}

void Connection::StartTls() {
  tls_ = std::make_unique<TlsSession>(opts_.tls);
  state_ = State::kTlsHandshaking;
  if (!tls_->Init(opts_.servername, opts_.verify_host, opts_.session_key)) {
    ErrorInfo info = tls_->error();
    FailConnect(info);
    return;
  }
  DriveTls();
}

// The TLS handshake runs before hyper's: ALPN decides which protocol hyper speaks.
void Connection::DriveTls() {
  TlsSession::Step step = tls_->Handshake(sock_, &read_ready_);
  if (step == TlsSession::Step::kError) {
    ErrorInfo info = tls_->error();
    FailConnect(info);
    return;
  }
  if (step == TlsSession::Step::kWantRead) {
    UpdateInterest();
    return;
  }
  tls_info_.tls = true;
  tls_info_.alpn = tls_->alpn();
  tls_info_.version = tls_->version();
  tls_info_.cipher = tls_->cipher();
  tls_info_.session_reused = tls_->session_reused();
  tls_info_.authorization_error = tls_->authorization_error();
  if (tls_info_.alpn == "h2") {
    opts_.http2 = true;
  } else if (!tls_info_.alpn.empty()) {
    opts_.http2 = false;  // the server chose http/1.1 (or another protocol hyper then rejects)
  }
  uv_poll_stop(&poll_);
  interest_ = 0;
  StartHandshake();
  Drive();
}

Connection::TlsInfo Connection::GetTlsInfo() const { return tls_info_; }

void Connection::StartHandshake() {
  exec_.reset(hyper_executor_new());
  hyper_io* io = hyper_io_new();
  hyper_io_set_userdata(io, this);
  hyper_io_set_read(io, OnIoRead);
  hyper_io_set_write(io, OnIoWrite);
  hyper_clientconn_options* o = hyper_clientconn_options_new();
  hyper_clientconn_options_set_preserve_header_case(o, opts_.preserve_header_case ? 1 : 0);
  hyper_clientconn_options_set_preserve_header_order(o, opts_.preserve_header_order ? 1 : 0);
  hyper_clientconn_options_http1_allow_multiline_headers(o, opts_.allow_multiline_headers ? 1 : 0);
  hyper_clientconn_options_exec(o, exec_.get());
  if (opts_.http2) hyper_clientconn_options_http2(o, 1);
  hyper_task* t = hyper_clientconn_handshake(io, o);  // consumes io and options
  state_ = State::kHandshaking;
  if (!t) {
    destroy_requested_ = true;
    destroy_reason_.hyper_code = HYPERE_ERROR;
    destroy_reason_.message = "hyper handshake could not be created";
    return;
  }
  hyper_task_set_userdata(t, Tag(kHandshakeTask, 0));
  hyper_executor_push(exec_.get(), t);
}

// ---------------------------------------------------------------- IO callbacks (inside poll)

size_t Connection::OnIoRead(void* userdata, hyper_context* ctx, uint8_t* buf, size_t len) noexcept {
  auto* c = static_cast<Connection*>(userdata);
  if (c->poisoned_) return HYPER_IO_ERROR;
  if (c->tls_) {
    // TLS keeps its own view of readiness: records may sit decrypted-or-not in its buffers
    // while the socket is drained, so it always tries its buffers before the socket.
    int err = 0;
    long n = c->tls_->Read(c->sock_, buf, len, &c->read_ready_, &err);
    if (n > 0) return static_cast<size_t>(n);
    if (n == 0) {
      c->peer_eof_ = true;
      return 0;
    }
    if (err == EAGAIN) {
      c->read_waker_.Store(hyper_context_waker(ctx));
      return HYPER_IO_PENDING;
    }
    if (err != EPROTO) {
      c->saved_errno_ = err;
      c->errno_syscall_ = "read";
    }
    return HYPER_IO_ERROR;
  }
  if (!c->read_ready_) {
    // The last recv drained the socket and poll has not reported it readable since: park the
    // waker without a syscall. hyper re-polls its connection task several times per exchange
    // (after a send, a body chunk, the body end) and each would otherwise cost an EAGAIN recv.
    // uv_poll is level-triggered with READABLE interest while this waker is parked, so data
    // that arrives later is reported.
    c->read_waker_.Store(hyper_context_waker(ctx));
    return HYPER_IO_PENDING;
  }
  int err = 0;
  long n = c->sock_.Recv(buf, len, &err);
  if (n > 0) {
    if (static_cast<size_t>(n) < len) c->read_ready_ = false;  // short read: drained for now
    return static_cast<size_t>(n);
  }
  if (n == 0) {
    c->peer_eof_ = true;
    return 0;  // EOF, never "would block" (curl #11377)
  }
  if (err == EAGAIN) {
    c->read_ready_ = false;
    c->read_waker_.Store(hyper_context_waker(ctx));
    return HYPER_IO_PENDING;
  }
  c->saved_errno_ = err;
  c->errno_syscall_ = "read";
  return HYPER_IO_ERROR;
}

size_t Connection::OnIoWrite(void* userdata, hyper_context* ctx, const uint8_t* buf, size_t len) noexcept {
  auto* c = static_cast<Connection*>(userdata);
  if (c->poisoned_) return HYPER_IO_ERROR;
  int err = 0;
  long n = c->tls_ ? c->tls_->Write(c->sock_, buf, len, &err) : c->sock_.Send(buf, len, &err);
  if (n > 0) {
    c->bytes_written_ += static_cast<uint64_t>(n);
    return static_cast<size_t>(n);
  }
  if (n < 0 && err == EAGAIN) {
    c->write_waker_.Store(hyper_context_waker(ctx));
    return HYPER_IO_PENDING;
  }
  if (n < 0 && err == EPROTO && c->tls_) return HYPER_IO_ERROR;  // details in tls_->error()
  c->saved_errno_ = n < 0 ? err : EPIPE;
  c->errno_syscall_ = "write";
  return HYPER_IO_ERROR;
}

// ---------------------------------------------------------------- intents from JS

void Connection::Enqueue(std::unique_ptr<Exchange> ex, std::unique_ptr<UploadCell> upload) {
  uint64_t id = ex->id;
  ex->upload = upload.get();
  exchanges_[id] = std::move(ex);
  queue_.push_back(id);
  if (upload) uploads_.push_back(std::move(upload));
  UpdateBusy();
  driver_->MarkDirty(this);
}

int Connection::WriteUpload(uint64_t id, const uint8_t* data, size_t len) {
  auto it = exchanges_.find(id);
  if (torn_down_ || it == exchanges_.end() || !it->second->upload) return -1;
  bool below = it->second->upload->Write(hyper_buf_copy(data, len));
  driver_->MarkDirty(this);
  return below ? 1 : 0;
}

void Connection::EndUpload(uint64_t id) {
  auto it = exchanges_.find(id);
  if (torn_down_ || it == exchanges_.end() || !it->second->upload) return;
  it->second->upload->End();
  driver_->MarkDirty(this);
}

void Connection::FailUpload(uint64_t id) {
  auto it = exchanges_.find(id);
  if (torn_down_ || it == exchanges_.end() || !it->second->upload) return;
  it->second->aborted = true;  // JS reports the stream's own error
  it->second->upload->Fail();  // HTTP/1: hyper fails the connection
  driver_->MarkDirty(this);
}

int Connection::Abort(uint64_t id) {
  auto it = exchanges_.find(id);
  if (torn_down_ || it == exchanges_.end()) return 2;
  Exchange* ex = it->second.get();
  if (!ex->sent) {
    // Never handed to hyper: drop it. Its request (and the hyper_body pointing at its upload
    // cell) is freed without hyper ever polling it, so the cell can go too.
    queue_.erase(std::remove(queue_.begin(), queue_.end(), id), queue_.end());
    UploadCell* cell = ex->upload;
    exchanges_.erase(it);
    if (cell) uploads_.remove_if([cell](const std::unique_ptr<UploadCell>& u) { return u.get() == cell; });
    UpdateBusy();
    ArmTimer();
    return 0;
  }
  if (opts_.http2) {
    DetachExchange(ex);
    UpdateBusy();
    driver_->MarkDirty(this);
    return 3;
  }
  ex->aborted = true;
  ErrorInfo why;
  why.local_code = "ERR_CONNECTION_CLOSED";
  why.message = "the connection was closed because a request on it was aborted";
  RequestDestroy(std::move(why));
  return 1;
}

void Connection::OnInformational(void* userdata, hyper_response* resp) noexcept {
  auto* info = static_cast<Exchange::InfoCtx*>(userdata);
  Connection* c = info->conn;
  auto it = c->exchanges_.find(info->id);
  if (it == c->exchanges_.end()) return;
  Exchange* ex = it->second.get();
  uint16_t status = hyper_response_status(resp);
  if (status == 100 && ex->upload && ex->upload->gated()) {
    ex->continue_deadline = 0;
    ex->upload->Open();  // wakes the body task inside this poll
  }
  if (ex->want_informational) {
    Event ev{EventKind::kInformational, c, ex->id};
    ev.head = CopyHead(resp);
    c->Emit(std::move(ev));
  }
}

void Connection::WantRead(uint64_t id) {
  auto it = exchanges_.find(id);
  if (torn_down_ || it == exchanges_.end()) return;
  if (!it->second->want_read) {
    it->second->want_read = true;
    want_read_.push_back(id);
  }
  driver_->MarkDirty(this);
}

void Connection::Dump(uint64_t id) {
  auto it = exchanges_.find(id);
  if (torn_down_ || it == exchanges_.end()) return;
  it->second->discard = true;
  WantRead(id);
}

void Connection::RequestClose() {
  if (torn_down_) return;
  close_requested_ = true;
  UpdateBusy();
  driver_->MarkDirty(this);
}

void Connection::RequestDestroy(ErrorInfo why) {
  if (torn_down_ || destroy_requested_) return;
  destroy_requested_ = true;
  destroy_reason_ = std::move(why);
  poisoned_ = true;  // IO callbacks now fail: every task of this connection resolves
  read_waker_.Wake();
  write_waker_.Wake();
  UpdateBusy();
  driver_->MarkDirty(this);
}

void Connection::DetachWrap() {
  wrap_ = nullptr;
  if (!torn_down_) Teardown(true, nullptr);
  Unref();
}

void Connection::Shutdown() {
  if (!torn_down_) Teardown(true, nullptr);
}

std::string Connection::DebugState() const {
  std::string s = "state=" + std::to_string(static_cast<int>(state_));
  s += " exchanges=" + std::to_string(exchanges_.size());
  s += " queued=" + std::to_string(queue_.size());
  s += " active=" + std::to_string(active_);
  s += " interest=" + std::to_string(interest_);
  s += " read_waker=" + std::to_string(read_waker_.Armed());
  s += " write_waker=" + std::to_string(write_waker_.Armed());
  s += " conn_task_done=" + std::to_string(conn_task_done_);
  s += " close_requested=" + std::to_string(close_requested_);
  s += " torn_down=" + std::to_string(torn_down_);
  s += " dirty=" + std::to_string(dirty_);
  s += " busy=" + std::to_string(busy_);
  s += " uploads=" + std::to_string(uploads_.size());
  for (auto& kv : exchanges_) {
    s += " [ex " + std::to_string(kv.first) + " sent=" + std::to_string(kv.second->sent) +
         " body=" + std::to_string(kv.second->body != nullptr) + " body_task=" + std::to_string(kv.second->body_task) +
         " head_emitted=" + std::to_string(kv.second->head_emitted) + "]";
  }
  return s;
}

// ---------------------------------------------------------------- drive

void Connection::Drive() {
  if (torn_down_) return;
  if (driving_) {
    redrive_ = true;
    return;
  }
  driving_ = true;
  Ref();
  int budget = kTaskBudgetPerDrive;
  bool exhausted = false;
  for (;;) {
    redrive_ = false;
    if (destroy_requested_) break;
    StartPendingWork();
    if (!PollExecutor(&budget)) {
      exhausted = true;
      break;
    }
    bool can_send = state_ == State::kReady && client_ && !queue_.empty() && !conn_task_done_ &&
                    (opts_.http2 ? in_flight_ < opts_.max_concurrent_streams : active_ == 0);
    if (!redrive_ && !can_send && want_read_.empty()) break;
  }

  if (conn_task_done_ && !destroy_requested_) {
    // hyper finished the HTTP/1 connection (server close, Connection: close, error). Requests
    // still waiting for their turn were never written: fail them as not sent.
    ErrorInfo info;
    info.local_code = "ERR_CONNECTION_CLOSED";
    info.message = "the connection closed before the request was sent";
    if (saved_errno_) {
      info.sys_errno = saved_errno_;
      info.syscall = errno_syscall_;
    }
    while (!queue_.empty()) {
      uint64_t id = queue_.front();
      queue_.pop_front();
      auto it = exchanges_.find(id);
      if (it != exchanges_.end()) FailExchange(it->second.get(), info);
    }
  }
  EmitPendingHeads();

  if (opts_.http2 && (peer_eof_ || saved_errno_) && LiveExchanges() == 0) conn_task_done_ = true;

  if (destroy_requested_) {
    Teardown(false, &destroy_reason_);
  } else if ((close_requested_ || conn_task_done_) && LiveExchanges() == 0) {
    Teardown(false, nullptr);
  } else if (exec_ == nullptr && state_ == State::kHandshaking) {
    Teardown(false, nullptr);
  }
  if (!torn_down_) {
    EmitDrains();
    SweepUploads();
    UpdateInterest();
    UpdateBusy();
    ArmTimer();
    if (exhausted) driver_->MarkDirty(this);
  }
  driving_ = false;
  Unref();  // may delete this
}

void Connection::StartPendingWork() {
  if (state_ == State::kReady && client_ && !conn_task_done_ && !opts_.http2 && active_ == 0 && !queue_.empty() &&
      exchanges_done_ > 0 && Now() != last_done_ms_ && (tls_ ? tls_->PeerClosed(sock_) : sock_.PeerClosed())) {
    // A reused keep-alive connection the server has closed while it sat idle (its FIN may not
    // have reached hyper yet): do not write into it. The queued requests fail as not sent, so a
    // pool retries them on a fresh connection. Skipped when the previous exchange finished in
    // this same loop turn (back-to-back requests), where it would only cost a syscall.
    peer_eof_ = true;
    conn_task_done_ = true;
  }
  if (state_ == State::kReady && client_ && !conn_task_done_) {
    while (!queue_.empty() && (opts_.http2 ? in_flight_ < opts_.max_concurrent_streams : active_ == 0)) {
      uint64_t id = queue_.front();
      queue_.pop_front();
      auto it = exchanges_.find(id);
      if (it == exchanges_.end()) continue;
      Exchange* ex = it->second.get();
      ex->sent = true;
      ex->written_at_send = bytes_written_;
      if (ex->headers_timeout) {
        ex->deadline = Now() + ex->headers_timeout;
        ex->deadline_kind = 1;
      }
      if (ex->upload && ex->upload->gated()) ex->continue_deadline = Now() + ex->continue_wait;
      if (!opts_.http2) active_ = id;
      else ++in_flight_;
      hyper_task* t = hyper_clientconn_send(client_.get(), ex->request.release());
      if (!t) {
        ErrorInfo info;
        info.hyper_code = HYPERE_ERROR;
        info.message = "hyper could not send the request";
        FailExchange(ex, info);
        continue;
      }
      hyper_task_set_userdata(t, Tag(kSendTask, id));
      hyper_executor_push(exec_.get(), t);
    }
  }
  if (!want_read_.empty()) {
    std::vector<uint64_t> ids;
    ids.swap(want_read_);
    for (uint64_t id : ids) {
      auto it = exchanges_.find(id);
      if (it == exchanges_.end()) continue;
      it->second->want_read = false;
      PushBodyTask(it->second.get());
    }
  }
}

void Connection::PushBodyTask(Exchange* ex) {
  if (!ex->body || ex->body_task || !exec_) return;
  hyper_task* t = hyper_body_data(ex->body.get());
  if (!t) return;
  hyper_task_set_userdata(t, Tag(kBodyTask, ex->id));
  hyper_executor_push(exec_.get(), t);
  ex->body_task = true;
  if (ex->body_timeout) {
    ex->deadline = Now() + ex->body_timeout;
    ex->deadline_kind = 2;
  }
}

bool Connection::PollExecutor(int* budget) {
  if (!exec_) return true;
  while (*budget > 0) {
    hyper_task* task = hyper_executor_poll(exec_.get());
    if (!task) return true;  // drained: nothing left to run until a waker fires
    --*budget;
    HandleTask(task);
    if (torn_down_) return true;
  }
  return false;
}

void Connection::HandleTask(hyper_task* raw) {
  HyperPtr<hyper_task> task(raw);
  void* ud = hyper_task_userdata(raw);
  hyper_task_return_type type = hyper_task_type(raw);  // read the type before taking the value
  if (ud == nullptr) {
    // hyper's own background task. On HTTP/1 that is the connection task: it ends once.
    if (!opts_.http2) conn_task_done_ = true;
    return;
  }
  void* value = hyper_task_value(raw);
  HyperPtr<hyper_error> err(type == HYPER_TASK_ERROR ? static_cast<hyper_error*>(value) : nullptr);
  uintptr_t tag = reinterpret_cast<uintptr_t>(ud);
  uint64_t id = static_cast<uint64_t>(tag >> 2);
  auto it = exchanges_.find(id);
  Exchange* ex = it == exchanges_.end() ? nullptr : it->second.get();

  switch (tag & 3) {
    case kHandshakeTask:
      if (type == HYPER_TASK_CLIENTCONN) {
        client_.reset(static_cast<hyper_clientconn*>(value));
        state_ = State::kReady;
        Emit(Event{EventKind::kConnected, this});
      } else {
        ErrorInfo info = ErrorFromTask(err.get(), "handshake");
        Event ev{EventKind::kConnectError, this};
        ev.error = std::make_unique<ErrorInfo>(info);
        Emit(std::move(ev));
        destroy_requested_ = true;
        destroy_reason_ = info;
      }
      break;
    case kSendTask:
      if (ex && ex->detached) {  // abandoned stream: drop whatever came back
        if (type == HYPER_TASK_RESPONSE) hyper_response_free(static_cast<hyper_response*>(value));
        RemoveExchange(id);
        break;
      }
      if (type == HYPER_TASK_RESPONSE) {
        HyperPtr<hyper_response> resp(static_cast<hyper_response*>(value));
        if (ex) OnResponse(ex, resp.get());
      } else if (ex) {
        ErrorInfo info = type == HYPER_TASK_ERROR ? ErrorFromTask(err.get(), "read") : ErrorInfo{};
        if (type != HYPER_TASK_ERROR) {
          info.hyper_code = HYPERE_ERROR;
          info.message = "unexpected task result for a request";
        }
        FailExchange(ex, info);
      }
      break;
    case kBodyTask:
      if (ex) {
        ex->body_task = false;
        ex->deadline = 0;
      }
      if (ex && ex->detached) {
        if (type == HYPER_TASK_BUF) hyper_buf_free(static_cast<hyper_buf*>(value));
        ex->body.reset();  // RST_STREAM
        RemoveExchange(id);
        break;
      }
      if (type == HYPER_TASK_BUF) {
        HyperPtr<hyper_buf> chunk(static_cast<hyper_buf*>(value));
        if (ex) OnBodyChunk(ex, chunk.release());
      } else if (type == HYPER_TASK_EMPTY) {
        if (ex) OnBodyEnd(ex);
      } else if (ex) {
        FailExchange(ex, ErrorFromTask(err.get(), "read"));
      }
      break;
    default:
      break;
  }
}

ErrorInfo Connection::ErrorFromTask(hyper_error* err, const char* syscall) {
  ErrorInfo info = ErrorFromHyper(err);
  if (tls_ && tls_->failed()) {
    const ErrorInfo& t = tls_->error();
    info.tls_code = t.tls_code;
    info.message = t.message;
    if (t.sys_errno) {
      info.sys_errno = t.sys_errno;
      info.syscall = t.syscall;
    }
    return info;
  }
  if (saved_errno_) {
    info.sys_errno = saved_errno_;
    info.syscall = errno_syscall_;
  }
  (void)syscall;
  return info;
}

void Connection::OnResponse(Exchange* ex, hyper_response* resp) {
  ex->deadline = 0;
  if (ex->upload && ex->upload->gated()) {
    // A final response instead of 100 Continue: send the body anyway so the HTTP/1 framing
    // stays valid (the server may read and discard it).
    ex->continue_deadline = 0;
    ex->upload->Open();
  }
  ex->head = CopyHead(resp);
  ex->body.reset(hyper_response_body(resp));
  pending_heads_.push_back(ex->id);
  // Prefetch the first chunk: a small response then reaches JS in one crossing (head + body).
  PushBodyTask(ex);
}

void Connection::OnBodyChunk(Exchange* ex, hyper_buf* chunk) {
  if (hyper_buf_len(chunk) == 0) {
    // An empty chunk (HTTP/2 sends an empty DATA frame to carry END_STREAM): nothing for JS,
    // and an empty push would stall a Readable. Read on to the end.
    hyper_buf_free(chunk);
    PushBodyTask(ex);
    return;
  }
  if (ex->discard) {
    hyper_buf_free(chunk);
    if (!ex->want_read) {
      ex->want_read = true;
      want_read_.push_back(ex->id);
    }
    return;
  }
  if (!ex->head_emitted) {
    if (!ex->head->first_chunk) {
      ex->head->first_chunk.reset(chunk);
      // Read on while the head waits for delivery: if the body's end is already buffered
      // (the common small-response case) the head event carries "ended" too, and the whole
      // exchange costs one crossing into JS. At most one chunk is read ahead of JS.
      PushBodyTask(ex);
      return;
    }
    EmitHead(ex);  // a second chunk: the head goes first, then this chunk as data
  }
  Event ev{EventKind::kData, this, ex->id};
  ev.chunk.reset(chunk);
  Emit(std::move(ev));
}

void Connection::OnBodyEnd(Exchange* ex) {
  ex->body.reset();
  if (!ex->head_emitted) {
    ex->head->ended = true;
    EmitHead(ex);
  } else {
    Emit(Event{EventKind::kEnd, this, ex->id});
  }
  RemoveExchange(ex->id);
}

void Connection::FailExchange(Exchange* ex, ErrorInfo info) {
  if (ex->aborted) {  // JS already settled it (abort, or its own body stream failed)
    RemoveExchange(ex->id);
    return;
  }
  if (ex->fail_reason) info = *ex->fail_reason;
  if (ex->head && !ex->head_emitted) EmitHead(ex);
  info.request_sent = ex->sent && bytes_written_ > ex->written_at_send;
  Event ev{EventKind::kRequestError, this, ex->id};
  ev.error = std::make_unique<ErrorInfo>(std::move(info));
  Emit(std::move(ev));
  RemoveExchange(ex->id);
}

void Connection::EmitHead(Exchange* ex) {
  Event ev{EventKind::kResponse, this, ex->id};
  ex->head->read_outstanding = ex->body_task;
  ev.head = std::move(ex->head);
  ex->head_emitted = true;
  Emit(std::move(ev));
}

void Connection::EmitPendingHeads() {
  for (uint64_t id : pending_heads_) {
    auto it = exchanges_.find(id);
    if (it != exchanges_.end() && !it->second->head_emitted && it->second->head) EmitHead(it->second.get());
  }
  pending_heads_.clear();
}

void Connection::RemoveExchange(uint64_t id) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  // Never free a body that an outstanding body_data task borrows; those only go away with
  // the executor (Teardown frees the executor before the exchanges).
  if (it->second->body_task && exec_) return;
  if (opts_.http2 && it->second->sent && in_flight_ > 0) --in_flight_;
  if (it->second->sent) {
    ++exchanges_done_;
    last_done_ms_ = Now();
  }
  exchanges_.erase(it);
  if (active_ == id) active_ = 0;
}

size_t Connection::LiveExchanges() const {
  // Abandoned HTTP/2 streams wait only for hyper to hand back what it owes; they neither keep
  // the process alive nor hold up close().
  size_t n = 0;
  for (auto& kv : exchanges_) n += kv.second->detached ? 0 : 1;
  return n;
}

void Connection::DetachExchange(Exchange* ex) {
  // HTTP/2 can drop one stream: freeing its response body sends RST_STREAM(CANCEL); failing its
  // upload resets it. A pending send or body_data task cannot be cancelled: mark the exchange and
  // free what it returns (hyper-c-api.md §2.3).
  ex->detached = true;
  ex->aborted = true;
  ex->deadline = 0;
  ex->continue_deadline = 0;
  if (ex->upload) ex->upload->Fail();
  if (ex->body && !ex->body_task) {
    ex->body.reset();
    RemoveExchange(ex->id);
  }
}

void Connection::Emit(Event&& ev) {
  if (wrap_ == nullptr) return;  // nobody is listening any more
  driver_->Push(std::move(ev));
}

// ---------------------------------------------------------------- interest, liveness, teardown

void Connection::UpdateInterest() {
  if (!poll_open_ || torn_down_ || state_ == State::kConnecting) return;
  int want = 0;
  // During the TLS handshake the handshake itself is the reader (hyper holds no wakers yet).
  if (read_waker_.Armed() || state_ == State::kTlsHandshaking) want |= UV_READABLE | UV_DISCONNECT;
  if (write_waker_.Armed() || (tls_ && tls_->HasPendingOutput())) want |= UV_WRITABLE;
  if (want == interest_) return;
  if (want) {
    int r = uv_poll_start(&poll_, want, OnPoll);
    if (r != 0 && !saved_errno_) {
      saved_errno_ = r;
      errno_syscall_ = "poll";
    }
  } else {
    uv_poll_stop(&poll_);
  }
  interest_ = want;
}

void Connection::UpdateBusy() {
  // Busy = JS may be awaiting something from this connection (connect, a response, a body
  // chunk, close). JS promises form garbage cycles through the owner unless we pin it.
  bool busy = !torn_down_ && (connecting() || LiveExchanges() > 0 || close_requested_ || destroy_requested_);
  if (busy == busy_) return;
  busy_ = busy;
  // While work is in flight the JS owner is pinned and the socket keeps the loop alive;
  // an idle keep-alive connection holds neither (it can be collected, the process can exit).
  if (busy) {
    PinOwner();
    if (poll_open_) uv_ref(reinterpret_cast<uv_handle_t*>(&poll_));
  } else {
    UnpinOwner();
    if (poll_open_) uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  }
}

void Connection::EmitDrains() {
  if (!drain_noted_) return;
  drain_noted_ = false;
  for (auto& cell : uploads_) {
    if (cell->TakeDrain()) Emit(Event{EventKind::kDrain, this, cell->id()});
  }
}

void Connection::SweepUploads() {
  for (auto it = uploads_.begin(); it != uploads_.end();) {
    if ((*it)->finished()) {
      // hyper is done with the cell; the exchange (still waiting for its response, perhaps)
      // must not keep pointing at it.
      auto ex = exchanges_.find((*it)->id());
      if (ex != exchanges_.end() && ex->second->upload == it->get()) ex->second->upload = nullptr;
      it = uploads_.erase(it);
    } else {
      ++it;
    }
  }
}

void Connection::Teardown(bool silent, const ErrorInfo* why) {
  if (torn_down_) return;
  torn_down_ = true;
  poisoned_ = true;
  bool clean = why == nullptr && !saved_errno_ && !peer_eof_ && state_ == State::kReady;
  state_ = State::kClosed;
  if (poll_open_) uv_poll_stop(&poll_);
  interest_ = 0;
  // Order matters: the executor first (drops every task, and with them hyper's io and every
  // borrow of our bodies), then the objects we own, then the socket.
  exec_.reset();
  client_.reset();
  if (tls_ && clean) tls_->Shutdown(sock_);  // close_notify, best effort, never blocks
  if (!silent) {
    ErrorInfo base;
    if (why) {
      base = *why;
    } else {
      base.local_code = "ERR_CONNECTION_CLOSED";
      base.message = "the connection was closed";
      if (saved_errno_) {
        base.sys_errno = saved_errno_;
        base.syscall = errno_syscall_;
      }
    }
    // Fail in request order: queued requests first were issued earlier than nothing, but the
    // active one (if any) was issued before all queued ones.
    std::vector<uint64_t> ids;
    if (active_) ids.push_back(active_);
    for (auto& kv : exchanges_) {
      if (kv.first != active_) ids.push_back(kv.first);
    }
    std::sort(ids.begin(), ids.end());
    for (uint64_t id : ids) {
      auto it = exchanges_.find(id);
      if (it == exchanges_.end()) continue;
      it->second->body_task = false;
      FailExchange(it->second.get(), base);
    }
    Event ev{EventKind::kClosed, this};
    if (why) ev.error = std::make_unique<ErrorInfo>(*why);
    Emit(std::move(ev));
  }
  exchanges_.clear();
  queue_.clear();
  want_read_.clear();
  pending_heads_.clear();
  active_ = 0;
  uploads_.clear();
  read_waker_.Clear();
  write_waker_.Clear();
  UpdateBusy();
  if (timer_open_) {
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnTimerClosed);
  }
  if (poll_open_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnPollClosed);
  } else {
    sock_.Close();
  }
}

void Connection::OnPollClosed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  c->sock_.Close();
  c->poll_open_ = false;
  c->driver_->addon()->HandleClosed(1);
  c->Unref();
}

}  // namespace nodehyper
