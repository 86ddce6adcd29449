// Connection, part one: intents from JS, the drive loop (hyper's tasks, body delivery) and each
// exchange's lifecycle. connection_io.cc has connecting, readiness, deadlines and IO callbacks.
#include "connection.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "addon.h"
#include "driver.h"
#include "event.h"
#include "wrap.h"

namespace nodehyper {

namespace {

enum TaskKind : uintptr_t { kHandshakeTask = 1, kSendTask = 2, kBodyTask = 3 };

// Every task we create is tagged non-NULL (hyper's own background tasks come back NULL-tagged).
// Tags are values, never pointers: task and object addresses get reused (curl #9840).
void* Tag(TaskKind kind, uint64_t id) {
  return reinterpret_cast<void*>((static_cast<uintptr_t>(id) << 2) | kind);
}

// How much one drive does before it yields the loop to other connections, timers and JS (the
// connection is re-driven from the next turn's idle callback). Two bounds: hyper's completed
// tasks, sized for the smallest chunks (one coalescing window, 64 KiB, of 16-byte chunks is
// 4,096 body tasks: at the earlier 64, a stream of 16-byte chunks reached JS as 1 KiB per loop
// turn), and the response body bytes the drive took from hyper, for large chunks (HTTP/2 reads
// bodies ahead of JS).
constexpr int kTaskBudgetPerDrive = 4096;
constexpr size_t kBodyBytesPerDrive = 1024 * 1024;
constexpr uint64_t kProbeAfterIdleMs = 100;

// hyper's only way of saying "this connection takes no more requests" (GOAWAY, its connection
// task ended): a send resolves to a canceled error before anything of it was written.
bool IsRefusal(const ErrorInfo& e) {
  return e.hyper_code == HYPERE_ERROR && e.message.rfind("operation was canceled", 0) == 0;
}

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
    : driver_(driver), env_(env), wrap_(wrap), opts_(opts),
      policy_(SendPolicy::Create(opts.http2, opts.max_concurrent_streams)) {
  napi_create_reference(env, owner, 0, &owner_);
  driver_->AddConnection(this);
  driver_->addon()->ConnectionCreated();
}

Connection::~Connection() {
  driver_->addon()->ConnectionDestroyed();
  driver_->RemoveConnection(this);
  if (owner_) napi_delete_reference(env_, owner_);
  while (!layers_.empty()) layers_.pop_back();  // top layer first
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

// ---------------------------------------------------------------- hyper's handshake

void Connection::StartHandshake() {
  exec_.reset(hyper_executor_new());
  hyper_io* io = hyper_io_new();
  hyper_io_set_userdata(io, this);
  hyper_io_set_read(io, OnIoRead);
  hyper_io_set_write(io, OnIoWrite);
  hyper_clientconn_options* o = hyper_clientconn_options_new();
  // HTTP/1 response names in wire case and order come from the recorded head (raw_head.h),
  // much cheaper than hyper's per-response maps; hyper's options stay for the other cases
  // (the HTTP/2 policy records none; obs-fold lines are hyper's to unfold).
  wire_heads_ = policy_->RecordsHeads() && opts_.preserve_header_case && opts_.preserve_header_order && !opts_.allow_multiline_headers;
  hyper_clientconn_options_set_preserve_header_case(o, opts_.preserve_header_case && !wire_heads_ ? 1 : 0);
  hyper_clientconn_options_set_preserve_header_order(o, opts_.preserve_header_order && !wire_heads_ ? 1 : 0);
  hyper_clientconn_options_http1_allow_multiline_headers(o, opts_.allow_multiline_headers ? 1 : 0);
  hyper_clientconn_options_exec(o, exec_.get());
  policy_->ConfigureHyper(o);
  hyper_task* t = hyper_clientconn_handshake(io, o);  // consumes io and options
  state_ = State::kHandshaking;
  if (!t) {
    RequestDestroy(ErrorInfo::Hyper("hyper handshake could not be created"));
    return;
  }
  hyper_task_set_userdata(t, Tag(kHandshakeTask, 0));
  hyper_executor_push(exec_.get(), t);
}

// ---------------------------------------------------------------- intents from JS

Exchange* Connection::Find(uint64_t id) {
  auto it = exchanges_.find(id);
  return it == exchanges_.end() ? nullptr : it->second.get();
}

void Connection::Enqueue(std::unique_ptr<Exchange> ex, std::unique_ptr<UploadCell> upload) {
  uint64_t id = ex->id;
  ex->upload = upload.get();
  exchanges_[id] = std::move(ex);
  ++live_;
  queue_.push_back(id);
  if (upload) uploads_.push_back(std::move(upload));
  UpdateBusy();
  driver_->MarkDirty(this);
}

int Connection::WriteUpload(uint64_t id, const uint8_t* data, size_t len) {
  Exchange* ex = closed() ? nullptr : Find(id);
  if (!ex || !ex->upload) return -1;
  bool below = ex->upload->Write(hyper_buf_copy(data, len));
  driver_->MarkDirty(this);
  return below ? 1 : 0;
}

void Connection::EndUpload(uint64_t id) {
  Exchange* ex = closed() ? nullptr : Find(id);
  if (!ex || !ex->upload) return;
  ex->upload->End();
  driver_->MarkDirty(this);
}

void Connection::FailUpload(uint64_t id) {
  Exchange* ex = closed() ? nullptr : Find(id);
  if (!ex || !ex->upload) return;
  ex->aborted = true;          // JS reports the stream's own error
  ex->upload->Fail();          // HTTP/1: hyper fails the connection; HTTP/2: the stream is reset
  driver_->MarkDirty(this);
}

bool Connection::Abort(uint64_t id) {
  Exchange* ex = closed() ? nullptr : Find(id);
  if (!ex) return accepting();
  if (!ex->sent) {
    // Never handed to hyper: drop it. Its request (and the hyper_body pointing at its upload
    // cell) is freed without hyper ever polling it, so the cell can go too.
    queue_.erase(std::remove(queue_.begin(), queue_.end(), id), queue_.end());
    UploadCell* cell = ex->upload;
    --live_;
    exchanges_.erase(id);
    if (cell) uploads_.remove_if([cell](const std::unique_ptr<UploadCell>& u) { return u.get() == cell; });
    UpdateBusy();
    ArmTimer();
    return accepting();
  }
  Abandon(ex, nullptr);
  return accepting();
}

void Connection::WantRead(uint64_t id) {
  Exchange* ex = closed() ? nullptr : Find(id);
  if (!ex || ex->want_read) return;
  ex->want_read = true;
  want_read_.push_back(id);
  driver_->MarkDirty(this);
}

void Connection::Dump(uint64_t id, uint64_t limit) {
  Exchange* ex = closed() ? nullptr : Find(id);
  if (!ex) return;
  ex->discard = true;
  ex->discard_left = limit;
  ex->collect = Exchange::Collect{};
  ex->pending.Clear();
  WantRead(id);
}

bool Connection::Collect(uint64_t id, uint8_t* dest, size_t size) {
  Exchange* ex = closed() ? nullptr : Find(id);
  if (!ex || ex->detached || ex->aborted || ex->discard || ex->collect.dest || !ex->head_emitted) return false;
  ex->collect = Exchange::Collect{dest, size, static_cast<size_t>(ex->emitted)};
  // What was read ahead and not handed over yet goes first.
  size_t have = ex->collect.filled + ex->pending.bytes();
  if (have > size) {
    FailExchange(ex, LengthMismatch(ex, have));
    driver_->MarkDirty(this);
    return true;
  }
  if (!ex->pending.empty()) {
    ex->pending.CopyTo(dest + ex->collect.filled);
    ex->collect.filled = have;
  }
  if (ex->ended) {
    ListForFlush(ex);
    driver_->MarkDirty(this);
    return true;
  }
  ex->want_read = false;  // re-armed below: the drive pushes the body task and its deadline
  WantRead(id);
  return true;
}

// The body does not fit the length JS read from the head: longer (`got` bytes so far), or ended
// at `got` short of it (hyper enforces the framing it used: another header decided it).
ErrorInfo Connection::LengthMismatch(const Exchange* ex, size_t got) {
  std::string declared = std::to_string(ex->collect.size);
  return ErrorInfo::Local("ERR_RESPONSE_CONTENT_LENGTH_MISMATCH",
                          got > ex->collect.size
                              ? "the response body is longer than its content-length (" + declared + " bytes declared, " +
                                    std::to_string(got) + " or more arrived)"
                              : "the response body ended after " + std::to_string(got) +
                                    " bytes; its content-length declared " + declared);
}

// collect: copies body bytes into JS's buffer; false (the exchange failed) when they overflow it.
bool Connection::CollectBytes(Exchange* ex, const uint8_t* p, size_t n) {
  Exchange::Collect& c = ex->collect;
  if (n > c.size - c.filled) {
    FailExchange(ex, LengthMismatch(ex, c.filled + n));
    return false;
  }
  std::memcpy(c.dest + c.filled, p, n);
  c.filled += n;
  return true;
}

void Connection::RequestClose() {
  if (closed()) return;
  if (ending_ == Ending::kNone) ending_ = Ending::kGraceful;
  UpdateBusy();
  driver_->MarkDirty(this);
}

void Connection::RequestDestroy(ErrorInfo why) {
  if (closed() || ending_ == Ending::kForced) return;
  ending_ = Ending::kForced;  // IO callbacks now fail: every task of this connection resolves
  destroy_reason_ = std::move(why);
  read_waker_.Wake();
  write_waker_.Wake();
  UpdateBusy();
  driver_->MarkDirty(this);
}

void Connection::DetachWrap() {
  wrap_ = nullptr;
  if (!closed()) Teardown(true, nullptr);
}

void Connection::Shutdown() {
  if (!closed()) Teardown(true, nullptr);
}

// ---------------------------------------------------------------- the drive loop

void Connection::Drive() {
  if (closed()) return;
  if (driving_) {
    redrive_ = true;
    return;
  }
  RefPtr<Connection> self(this);
  driving_ = true;
  int budget = kTaskBudgetPerDrive;
  drive_body_bytes_ = 0;
  bool exhausted = false;
  for (;;) {
    redrive_ = false;
    if (ending_ == Ending::kForced) break;
    StartPendingWork();
    if (!PollExecutor(&budget)) {
      exhausted = true;
      break;
    }
    bool can_send = state_ == State::kReady && client_ && !queue_.empty() && policy_->CanSend();
    if (!redrive_ && !can_send && want_read_.empty()) break;
  }
  GoAway goaway;
  if (policy_->TakeGoAway(&goaway)) OnGoAway(goaway);
  if (policy_->stopped() && ending_ != Ending::kForced) {
    // The connection takes no more requests. Those still waiting for their turn were never
    // written: fail them as not sent (safe to retry elsewhere).
    while (!queue_.empty()) {
      Exchange* ex = Find(queue_.front());
      queue_.pop_front();
      if (ex) FailExchange(ex, ClosedError("the connection closed before the request was sent"));
    }
  }
  FlushDeliveries();
  bool peer_gone = peer_eof_ || saved_errno_ != 0;
  if (ending_ == Ending::kForced) {
    Teardown(false, &destroy_reason_);
  } else if ((ending_ == Ending::kGraceful || policy_->Finished(peer_gone, LiveExchanges())) && LiveExchanges() == 0) {
    Teardown(false, nullptr);
  }
  if (!closed()) {
    EmitDrains();
    SweepUploads();
    UpdateInterest();
    UpdateBusy();
    ArmTimer();
    if (exhausted) driver_->MarkDirty(this);
  }
  driving_ = false;
}

void Connection::StartPendingWork() {
  bool ready = state_ == State::kReady && client_ && !policy_->stopped();
  if (ready && !queue_.empty() && policy_->CanSend() && policy_->ProbesIdleConnection() && exchanges_done_ > 0 &&
      Now() - last_done_ms_ >= kProbeAfterIdleMs && transport_->PeerClosed()) {
    // A reused keep-alive connection the server has closed while it sat idle (its FIN may not
    // have reached hyper yet): do not write into it. Servers close idle connections after
    // seconds, not milliseconds, and a FIN that arrived earlier has been read by hyper's idle
    // read already (poll reported it): so only a connection idle for a while is probed; for
    // busy ones the syscall (an EAGAIN per request) would buy nothing.
    peer_eof_ = true;
    StopSending();
    ready = false;
  }
  while (ready && !queue_.empty() && policy_->CanSend()) {
    Exchange* ex = Find(queue_.front());
    queue_.pop_front();
    if (ex) Send(ex);
  }
  DrainQueue(want_read_, [this](uint64_t id) {
    Exchange* ex = Find(id);
    if (!ex || !ex->want_read) return;
    // Bytes already read ahead are delivered at the end of this drive; read on (within the
    // coalescing limit) to add what else the socket holds now.
    if (!ex->pending.empty() || ex->ended) ListForFlush(ex);
    if (!ex->pending.full() && !ex->ended) PushBodyTask(ex);
    ArmBodyDeadline(ex);
  });
}

// The body timeout runs while JS waits for data and hyper has none yet.
void Connection::ArmBodyDeadline(Exchange* ex) {
  Deadlines& d = ex->deadlines;
  if (d.body_timeout && ex->want_read && ex->body_task && !d.response) {
    d.response = Now() + d.body_timeout;
    d.response_is_head = false;
    Timed(ex);
  }
}

void Connection::Send(Exchange* ex) {
  ex->sent = true;
  ex->sent_at = HrMs();
  ex->written_at_send = bytes_written_;
  Deadlines& d = ex->deadlines;
  if (d.headers_timeout) {
    d.response = Now() + d.headers_timeout;
    d.response_is_head = true;
    Timed(ex);
  }
  if (ex->upload && ex->upload->gated()) {
    d.continue_at = Now() + d.continue_wait;
    Timed(ex);
  }
  policy_->OnSent(ex->id);
  ex->stream_id = policy_->last_stream_id();
  hyper_task* t = hyper_clientconn_send(client_.get(), ex->request.release());
  if (!t) {
    FailExchange(ex, ErrorInfo::Hyper("hyper could not send the request"));
    return;
  }
  hyper_task_set_userdata(t, Tag(kSendTask, ex->id));
  hyper_executor_push(exec_.get(), t);
}

// Asks hyper for the next body chunk, or ends the body when all of its Content-Length came
// (BodyComplete): hyper's next answer could only be the end.
void Connection::PushBodyTask(Exchange* ex) {
  if (!ex->body || ex->body_task || !exec_) return;
  if (ex->body_left == 0) {
    OnBodyEnd(ex);
    return;
  }
  hyper_task* t = hyper_body_data(ex->body.get());
  if (!t) return;
  hyper_task_set_userdata(t, Tag(kBodyTask, ex->id));
  hyper_executor_push(exec_.get(), t);
  ex->body_task = true;
}

bool Connection::PollExecutor(int* budget) {
  if (!exec_) return true;
  while (*budget > 0 && drive_body_bytes_ < kBodyBytesPerDrive) {
    hyper_task* task = hyper_executor_poll(exec_.get());
    if (!task) return true;  // drained: nothing left to run until a waker fires
    --*budget;
    HandleTask(task);
    if (closed()) return true;
  }
  return false;
}

void Connection::HandleTask(hyper_task* raw) {
  HyperPtr<hyper_task> task(raw);
  void* ud = hyper_task_userdata(raw);
  hyper_task_return_type type = hyper_task_type(raw);  // read the type before taking the value
  if (ud == nullptr) {
    // hyper's own background task: HTTP/1's connection task (it ends once), or HTTP/2 helpers.
    if (policy_->BackgroundTaskEndsConnection()) StopSending();
    return;
  }
  void* value = hyper_task_value(raw);
  HyperPtr<hyper_error> err(type == HYPER_TASK_ERROR ? static_cast<hyper_error*>(value) : nullptr);
  uintptr_t tag = reinterpret_cast<uintptr_t>(ud);
  Exchange* ex = Find(static_cast<uint64_t>(tag >> 2));
  switch (tag & 3) {
    case kHandshakeTask:
      if (type == HYPER_TASK_CLIENTCONN) {
        client_.reset(static_cast<hyper_clientconn*>(value));
        state_ = State::kReady;
        setup_.ready_at = HrMs();
        Emit(protocol::kConnected);
      } else {
        ErrorInfo info = ErrorFromTask(err.get());
        Emit(protocol::kConnectError, 0, std::make_unique<ErrorInfo>(info));
        RequestDestroy(std::move(info));
      }
      break;
    case kSendTask:
      OnSendDone(ex, type, value, err.get());
      break;
    case kBodyTask:
      OnBodyDone(ex, type, value, err.get());
      break;
    default:
      break;
  }
}

void Connection::OnSendDone(Exchange* ex, hyper_task_return_type type, void* value, hyper_error* err) {
  HyperPtr<hyper_response> resp(type == HYPER_TASK_RESPONSE ? static_cast<hyper_response*>(value) : nullptr);
  if (!ex) return;
  if (ex->detached) {  // abandoned: drop whatever came back
    RemoveExchange(ex->id);
  } else if (resp) {
    OnResponse(ex, resp.get());
  } else if (type == HYPER_TASK_ERROR) {
    ErrorInfo info = ErrorFromTask(err);
    if (IsRefusal(info)) {
      // Nothing of it was written: the connection takes no more (HTTP/2 GOAWAY); a pool sends
      // it elsewhere.
      StopSending();
      ErrorInfo refused = ClosedError("the connection accepts no more requests");
      refused.message += " (hyper: " + info.message + ")";
      ex->written_at_send = bytes_written_;
      FailExchange(ex, std::move(refused));
    } else {
      FailExchange(ex, std::move(info));
    }
  } else {
    FailExchange(ex, ErrorInfo::Hyper("unexpected task result for a request"));
  }
}

void Connection::OnBodyDone(Exchange* ex, hyper_task_return_type type, void* value, hyper_error* err) {
  HyperPtr<hyper_buf> chunk(type == HYPER_TASK_BUF ? static_cast<hyper_buf*>(value) : nullptr);
  if (!ex) return;
  ex->body_task = false;
  ex->deadlines.response = 0;
  if (ex->detached) {
    ex->body.reset();  // HTTP/2: RST_STREAM
    RemoveExchange(ex->id);
  } else if (chunk) {
    OnBodyChunk(ex, std::move(chunk));
  } else if (type == HYPER_TASK_EMPTY) {
    OnBodyEnd(ex);
  } else {
    FailExchange(ex, ErrorFromTask(err));
  }
}

void Connection::OnResponse(Exchange* ex, hyper_response* resp) {
  ex->deadlines.response = 0;
  uint16_t status = hyper_response_status(resp);
  if (status == 101 || (ex->tunnel && status / 100 == 2)) {
    // The server switched the connection to another protocol (an upgrade, a CONNECT tunnel):
    // hyper cannot hand it over, so this exchange fails and the connection goes. (Upgrades and
    // CONNECT run on a dedicated connection outside hyper: lib/upgrade.ts.)
    FailExchange(ex, ErrorInfo::Local("ERR_NOT_SUPPORTED", "the server switched the connection to another protocol (" +
                                                             std::to_string(status) + "); use upgrade() / connect() for that"));
    RequestDestroy(ClosedError("the connection was switched to another protocol"));
    return;
  }
  if (ex->upload && ex->upload->gated()) {
    // A final response instead of 100 Continue: send the body anyway so the HTTP/1 framing
    // stays valid (the server may read and discard it).
    ex->deadlines.continue_at = 0;
    ex->upload->Open();
  }
  std::string raw;
  bool have_raw = policy_->TakeRawHead(status, &raw);
  ex->head = CopyHead(resp, have_raw && wire_heads_ ? &raw : nullptr);
  ex->head->sent_at = ex->sent_at;
  ex->head->head_at = HrMs();
  // httparse drops a reason phrase with obs-text; node:http keeps it (latin1).
  if (have_raw && ex->head->reason.empty()) ObsTextReason(raw, &ex->head->reason);
  ex->body.reset(hyper_response_body(resp));
  if (!policy_->http2()) ex->body_left = ex->head->notes.BodyLength();
  ListForFlush(ex);
  // Read ahead: a small response then reaches JS in one crossing (head + body + end).
  PushBodyTask(ex);
}

// Counts a chunk against the Content-Length (HTTP/1). At 0 the body is complete: hyper's decoder
// never yields more, and it has already moved the connection on (to idle, or to closing) when it
// yields the last byte, so the end hyper_body_data would report next is implied (PushBodyTask).
bool Connection::BodyComplete(Exchange* ex, size_t len) {
  if (ex->body_left < 0) return false;
  if (static_cast<uint64_t>(ex->body_left) < len) {
    ex->body_left = -1;  // not the framing we read (cannot happen): let hyper say where it ends
    return false;
  }
  ex->body_left -= static_cast<int64_t>(len);
  return ex->body_left == 0;
}

void Connection::OnBodyChunk(Exchange* ex, HyperPtr<hyper_buf> chunk) {
  size_t len = hyper_buf_len(chunk.get());
  drive_body_bytes_ += len;
  bool complete = BodyComplete(ex, len);
  if (ex->collect.dest) {
    if (!CollectBytes(ex, hyper_buf_bytes(chunk.get()), len)) return;
    PushBodyTask(ex);
    ArmBodyDeadline(ex);
    return;
  }
  if (ex->discard && len > ex->discard_left) {
    // Too much left to drain: the dump ends here for JS, and the exchange is given up (HTTP/1
    // closes the connection, HTTP/2 resets the stream) instead of downloading the rest.
    ex->discard = false;
    Emit(protocol::kEnd, ex->id);
    Abandon(ex, nullptr);
    return;
  }
  if (len == 0 || ex->discard) {
    // Nothing for JS (HTTP/2 carries END_STREAM in an empty DATA frame; a dumped body is
    // dropped): read on to the end.
    ex->discard_left -= ex->discard ? len : 0;
    PushBodyTask(ex);
    return;
  }
  // The first bytes travel with the head (a small response is one crossing into JS); the rest
  // waits in `pending` for JS to ask.
  bool with_head = !ex->head_emitted && !ex->head->body.full();
  (with_head ? ex->head->body : ex->pending).Append(std::move(chunk));
  ListForFlush(ex);
  // Read on: what JS asked for, coalesced up to one delivery; or ahead of JS as far as the
  // policy allows (HTTP/2: an unread body must not hold the connection's flow-control window).
  // A complete body ends now, whatever JS asked for (PushBodyTask).
  bool more = complete || (ex->want_read ? !ex->pending.full() : with_head || ReadAheadAllowed(ex));
  if (more) {
    PushBodyTask(ex);
    ArmBodyDeadline(ex);
  }
}

bool Connection::ReadAheadAllowed(const Exchange* ex) const {
  size_t mine = ex->pending.bytes() + (ex->head && !ex->head_emitted ? ex->head->body.bytes() : 0);
  if (mine >= policy_->ReadAheadPerExchange()) return false;
  if (mine < ChunkList::kCoalesceLimit) return true;
  size_t all = 0;
  for (auto& kv : exchanges_) all += kv.second->pending.bytes();
  return all < policy_->ReadAheadPerConnection();
}

void Connection::OnBodyEnd(Exchange* ex) {
  ex->body.reset();
  ex->ended = true;
  FinishOnWire(ex);
  ListForFlush(ex);
}

void Connection::ListForFlush(Exchange* ex) {
  if (ex->flush_listed) return;
  ex->flush_listed = true;
  to_flush_.push_back(ex->id);
}

// End of a drive: heads, the body bytes JS asked for (one coalesced Buffer per exchange), ends.
void Connection::FlushDeliveries() {
  DrainQueue(to_flush_, [this](uint64_t id) {
    Exchange* ex = Find(id);
    if (!ex) return;
    ex->flush_listed = false;
    if (ex->detached) return;
    if (ex->head && !ex->head_emitted) {
      bool complete = ex->ended && ex->pending.empty();
      ex->head->ended = complete;
      EmitHead(ex);
      if (complete) {
        RemoveExchange(id);
        return;
      }
    }
    if (ex->want_read && !ex->pending.empty()) {
      ex->want_read = false;
      Event ev{protocol::kData, this, id};
      ev.data = ex->pending.TakeFront(ChunkList::kCoalesceLimit);
      ex->emitted += ev.data.bytes();
      if (wrap_) driver_->Push(std::move(ev));
    }
    if (ex->ended && ex->pending.empty()) {
      if (ex->collect.dest && ex->collect.filled != ex->collect.size) {
        FailExchange(ex, LengthMismatch(ex, ex->collect.filled));  // never a half-filled buffer
        return;
      }
      Emit(protocol::kEnd, id);
      RemoveExchange(id);
    }
  });
}

// HTTP/2: the server retires the connection. No new streams; those above its last stream
// were never processed (they fail as not sent: a pool retries them elsewhere). With an error
// code the connection is broken: everything on it fails now (RFC 9113 5.4.1; node:http2 does
// the same).
void Connection::OnGoAway(const GoAway& g) {
  StopSending();
  for (auto& kv : exchanges_) {
    Exchange* ex = kv.second.get();
    if (ex->sent && ex->stream_id > g.last_stream_id) ex->refused = true;
  }
  if (g.error_code == 0) return;
  std::vector<Exchange*> refused;
  for (auto& kv : exchanges_) {
    if (kv.second->refused && !kv.second->detached) refused.push_back(kv.second.get());
  }
  for (Exchange* ex : refused) FailExchange(ex, ClosedError("the server refused the stream (GOAWAY)"));
  ErrorInfo why = ErrorInfo::Local("ERR_HTTP2_GOAWAY", "the server closed the HTTP/2 connection with GOAWAY (error code " +
                                                          std::to_string(g.error_code) + ")");
  why.hyper_code = 0;
  RequestDestroy(std::move(why));
}

void Connection::StopSending() {
  if (policy_->stopped()) return;
  policy_->StopSending();
  Emit(protocol::kDraining);
}

// ---------------------------------------------------------------- exchange lifecycle

// hyper is done with a sent exchange: the policy may let the next request go.
void Connection::FinishOnWire(Exchange* ex) {
  if (!ex->sent || ex->finished_on_wire) return;
  ex->finished_on_wire = true;
  policy_->OnFinished(ex->id);
  ++exchanges_done_;
  last_done_ms_ = Now();
}

void Connection::FailExchange(Exchange* ex, ErrorInfo info) {
  FinishOnWire(ex);
  if (ex->aborted) {  // JS already settled it (abort, or its own body stream failed)
    RemoveExchange(ex->id);
    return;
  }
  if (ex->fail_reason) info = *ex->fail_reason;
  if (ex->head && !ex->head_emitted) EmitHead(ex);
  if (ex->refused) info = ClosedError("the server refused the stream (GOAWAY): it was never processed");
  info.request_sent = !ex->refused && ex->sent && bytes_written_ > ex->written_at_send;
  Emit(protocol::kRequestError, ex->id, std::make_unique<ErrorInfo>(std::move(info)));
  RemoveExchange(ex->id);
}

// Give up a sent exchange. `report`: the error JS should see (a timeout), or nullptr when JS
// has settled it already (abort).
void Connection::Abandon(Exchange* ex, const ErrorInfo* report) {
  ex->collect = Exchange::Collect{};  // JS gave up: its buffer is no longer ours to fill
  if (report) {
    if (ex->head && !ex->head_emitted) EmitHead(ex);
    ErrorInfo info = *report;
    info.request_sent = true;
    Emit(protocol::kRequestError, ex->id, std::make_unique<ErrorInfo>(std::move(info)));
  }
  ex->aborted = true;
  if (policy_->KeepsConnectionOnAbandon()) {
    Detach(ex);
    UpdateBusy();
    driver_->MarkDirty(this);
    return;
  }
  RequestDestroy(ClosedError(report ? "the connection was closed after another request on it timed out"
                                    : "the connection was closed because a request on it was aborted"));
}

void Connection::Detach(Exchange* ex) {
  // HTTP/2 drops one stream: freeing its response body sends RST_STREAM(CANCEL); failing its
  // upload resets it. A pending send or body_data task cannot be cancelled: mark the exchange and
  // free what it returns (hyper-c-api.md §2.3).
  MarkDetached(ex);
  ex->deadlines = Deadlines{};
  ex->pending.Clear();
  if (ex->upload) ex->upload->Fail();
  FinishOnWire(ex);
  if (!ex->body_task) {
    ex->body.reset();
    RemoveExchange(ex->id);
  }
}

void Connection::RemoveExchange(uint64_t id) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  Exchange* ex = it->second.get();
  FinishOnWire(ex);
  // Never free a body that an outstanding body_data task borrows; the task's result frees it
  // (or the executor goes first, in Teardown).
  if (ex->body_task && exec_) {
    MarkDetached(ex);
    return;
  }
  if (!ex->detached) --live_;
  exchanges_.erase(it);
}

// Abandoned streams wait only for hyper to hand back what it owes; they neither keep the process
// alive nor hold up close(): they stop counting as live.
void Connection::MarkDetached(Exchange* ex) {
  if (ex->detached) return;
  ex->detached = true;
  --live_;
}

void Connection::EmitHead(Exchange* ex) {
  Event ev{protocol::kResponse, this, ex->id};
  ev.head = std::move(ex->head);
  ex->emitted += ev.head->body.bytes();
  ex->head_emitted = true;
  if (wrap_) driver_->Push(std::move(ev));
}

void Connection::EmitDrains() {
  if (!drain_noted_) return;
  drain_noted_ = false;
  for (auto& cell : uploads_) {
    if (cell->TakeDrain()) Emit(protocol::kDrain, cell->id());
  }
}

void Connection::SweepUploads() {
  for (auto it = uploads_.begin(); it != uploads_.end();) {
    if ((*it)->finished()) {
      // hyper is done with the cell; the exchange (still waiting for its response, perhaps)
      // must not keep pointing at it.
      Exchange* ex = Find((*it)->id());
      if (ex && ex->upload == it->get()) ex->upload = nullptr;
      it = uploads_.erase(it);
    } else {
      ++it;
    }
  }
}

void Connection::Emit(protocol::Event kind, uint64_t id, std::unique_ptr<ErrorInfo> error) {
  if (wrap_ == nullptr) return;  // nobody is listening any more
  Event ev{kind, this, id};
  ev.error = std::move(error);
  driver_->Push(std::move(ev));
}

// ---------------------------------------------------------------- errors and teardown

ErrorInfo Connection::ErrorFromTask(hyper_error* err) {
  ErrorInfo info = ErrorFromHyper(err);
  if (const ErrorInfo* f = transport_ ? transport_->failure() : nullptr) {
    info.tls_code = f->tls_code;
    info.message = f->message;
    return info.WithErrno(f->sys_errno, f->syscall.c_str());
  }
  return info.WithErrno(saved_errno_, errno_syscall_);
}

// "The connection closed" with the socket error behind it, if any.
ErrorInfo Connection::ClosedError(const char* message) const {
  return ErrorInfo::Local("ERR_CONNECTION_CLOSED", message).WithErrno(saved_errno_, errno_syscall_);
}

void Connection::Teardown(bool silent, const ErrorInfo* why) {
  if (closed()) return;
  bool clean = why == nullptr && !saved_errno_ && !peer_eof_ && state_ == State::kReady;
  state_ = State::kClosed;  // poisons the IO callbacks
  if (connector_) connector_->Cancel();  // a connect race still running: close its attempts
  if (poll_hold_) uv_poll_stop(&poll_);
  interest_ = 0;
  // Order matters: the executor first (drops every task, and with them hyper's io and every
  // borrow of our bodies), then the objects we own, then the socket.
  exec_.reset();
  client_.reset();
  if (clean && transport_) transport_->Shutdown();  // close_notify, best effort, never blocks
  if (!silent) {
    ErrorInfo base = why ? *why : ClosedError("the connection was closed");
    // Fail in request order (ids grow with each request()).
    std::vector<uint64_t> ids;
    for (auto& kv : exchanges_) ids.push_back(kv.first);
    std::sort(ids.begin(), ids.end());
    for (uint64_t id : ids) {
      Exchange* ex = Find(id);
      if (!ex || ex->detached) continue;
      ex->body_task = false;
      FailExchange(ex, base);
    }
    Emit(protocol::kClosed, 0, why ? std::make_unique<ErrorInfo>(*why) : nullptr);
  }
  exchanges_.clear();
  live_ = 0;
  timed_.clear();
  queue_.clear();
  want_read_.clear();
  to_flush_.clear();
  uploads_.clear();
  read_waker_.Clear();
  write_waker_.Clear();
  UpdateBusy();
  if (timer_hold_) {
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnTimerClosed);
  }
  if (poll_hold_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnPollClosed);
  } else {
    sock_.Close();
  }
}

}  // namespace nodehyper
