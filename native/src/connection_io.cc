// Connection, part two: getting connected (socket connect, the transport's handshake, then
// hyper's), readiness (uv_poll) and deadlines (one uv_timer), and hyper's IO callbacks.
// connection.cc has the rest: intents from JS, the drive loop and each exchange's lifecycle.
#include <cerrno>

#include "addon.h"
#include "connection.h"
#include "driver.h"
#include "event.h"

namespace nodehyper {

// ---------------------------------------------------------------- connect

bool Connection::StartTcp(int family, const std::string& address, int port, ErrorInfo* err) {
  setup_.started_at = HrMs();
  const char* syscall = "connect";
  int e = state_ == State::kNew ? sock_.ConnectTcp(family, address, port, opts_.socket, &syscall) : EISCONN;
  if (e) {
    *err = ErrorInfo::Errno(e, syscall, "connect failed");
    return false;
  }
  return StartPoll(err);
}

bool Connection::StartUnix(const std::string& path, ErrorInfo* err) {
  setup_.started_at = HrMs();
  const char* syscall = "connect";
  int e = state_ == State::kNew ? sock_.ConnectUnix(path, &syscall) : EISCONN;
  if (e) {
    *err = ErrorInfo::Errno(e, syscall, "connect failed");
    return false;
  }
  return StartPoll(err);
}

bool Connection::StartTcpRace(std::vector<Connector::Candidate> candidates, int port, uint64_t attempt_delay_ms, ErrorInfo* err) {
  if (state_ != State::kNew || connector_) {
    *err = ErrorInfo::Errno(EISCONN, "connect", "connect failed");
    return false;
  }
  setup_.started_at = HrMs();
  uv_loop_t* loop;
  napi_get_uv_event_loop(env_, &loop);
  connector_ = std::make_unique<Connector>(driver_->addon(), loop, &Connection::OnRaceDone, this, std::move(candidates), port,
                                           attempt_delay_ms, opts_.socket);
  if (!connector_->Start()) {
    *err = connector_->Summary();  // the reports stay readable (connectAttempts())
    return false;
  }
  StartTimer();
  return true;
}

// The race is over: the winner's socket becomes this connection's, or every attempt failed.
void Connection::OnRaceDone(void* ctx, bool connected) {
  RefPtr<Connection> self(static_cast<Connection*>(ctx));
  if (self->closed()) return;
  if (!connected) {
    self->FailConnect(self->connector_->Summary());
  } else {
    self->sock_.Adopt(self->connector_->TakeWinner());
    ErrorInfo err;
    if (!self->WatchSocket(&err)) {
      self->FailConnect(err);
    } else {
      self->FinishConnect();
    }
  }
  self->driver_->ScheduleDelivery();
}

bool Connection::StartPoll(ErrorInfo* err) {
  if (!WatchSocket(err)) return false;
  StartTimer();
  interest_ = UV_WRITABLE;
  uv_poll_start(&poll_, UV_WRITABLE, OnPoll);
  return true;
}

// The connection's poll handle on its socket (once connected, or connecting to one address).
bool Connection::WatchSocket(ErrorInfo* err) {
  uv_loop_t* loop;
  napi_get_uv_event_loop(env_, &loop);
  int r = uv_poll_init_socket(loop, &poll_, sock_.fd());
  if (r != 0) {
    sock_.Close();
    *err = ErrorInfo::Errno(r, "uv_poll_init", "connect failed");
    return false;
  }
  poll_.data = this;
  poll_hold_ = RefPtr<Connection>(this);  // released in OnPollClosed
  driver_->addon()->HandleOpened(1);
  if (!busy_) uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));  // UpdateBusy's rule
  return true;
}

// The deadline timer, and the connecting state.
void Connection::StartTimer() {
  uv_loop_t* loop;
  napi_get_uv_event_loop(env_, &loop);
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));  // timeouts never keep the process alive
  timer_hold_ = RefPtr<Connection>(this);  // released in OnTimerClosed
  driver_->addon()->HandleOpened(1);
  if (opts_.connect_timeout) connect_deadline_ = Now() + opts_.connect_timeout;
  state_ = State::kConnecting;
  UpdateBusy();
  ArmTimer();
}

// The connect (TCP, the transport's handshake, hyper's handshake, or the connect timeout)
// failed: report it and tear the connection down.
void Connection::FailConnect(const ErrorInfo& info) {
  Emit(protocol::kConnectError, 0, std::make_unique<ErrorInfo>(info));
  Teardown(false, &info);
}

void Connection::FinishConnect() {
  if (int err = sock_.PendingError()) {
    FailConnect(ErrorInfo::Errno(err, "connect", "connect failed"));
    return;
  }
  setup_.connected_at = HrMs();
  sock_.Addresses(&setup_.addresses);
  uv_poll_stop(&poll_);
  interest_ = 0;
  state_ = State::kSecuring;
  BuildStack();
  if (const ErrorInfo* f = transport_->failure()) {
    FailConnect(*f);
    return;
  }
  AdvanceSetup();
}

// The transport stack, bottom first: the socket; TLS to the proxy (an https: proxy); the CONNECT
// tunnel; TLS to the target. A layer that could not be set up leaves its failure() on top.
void Connection::BuildStack() {
  layers_.push_back(std::make_unique<PlainTransport>(sock_));
  transport_ = layers_.back().get();
  if (opts_.proxy_tls) {
    auto tls = std::make_unique<TlsTransport>(opts_.proxy_tls, *layers_.back());
    bool ok = tls->Init(opts_.proxy_servername, opts_.proxy_verify_host, opts_.proxy_session_key);
    layers_.push_back(std::move(tls));
    transport_ = layers_.back().get();
    if (!ok) return;
  }
  if (!opts_.tunnel_head.empty()) {
    auto tunnel = std::make_unique<TunnelTransport>(*layers_.back(), opts_.tunnel_head, opts_.tunnel_authority);
    tunnel_ = tunnel.get();
    layers_.push_back(std::move(tunnel));
    transport_ = layers_.back().get();
  }
  if (opts_.tls) {
    auto tls = std::make_unique<TlsTransport>(opts_.tls, *layers_.back());
    if (opts_.proxy_tls) tls->UsePrivateBuffers();  // the proxy's TLS below uses the shared ones
    bool ok = tls->Init(opts_.servername, opts_.verify_host, opts_.session_key);
    layers_.push_back(std::move(tls));
    transport_ = layers_.back().get();
    if (!ok) return;
  }
}

// The transport's own handshake (TLS) runs before hyper's: its ALPN outcome decides which
// protocol hyper speaks.
void Connection::AdvanceSetup() {
  switch (transport_->Handshake()) {
    case Transport::Step::kError:
      FailConnect(*transport_->failure());
      return;
    case Transport::Step::kWantRead:
      UpdateInterest();
      return;
    case Transport::Step::kDone:
      break;
  }
  if (layers_.size() > 1) setup_.secured_at = HrMs();  // TLS or a tunnel above the socket
  security_ = transport_->Describe();
  bool http2 = opts_.http2;
  if (security_.alpn == "h2") {
    http2 = true;
  } else if (!security_.alpn.empty()) {
    http2 = false;  // the server chose http/1.1 (or another protocol hyper then rejects)
  }
  if (http2 != policy_->http2()) policy_ = SendPolicy::Create(http2, opts_.max_concurrent_streams);
  uv_poll_stop(&poll_);
  interest_ = 0;
  StartHandshake();
  Drive();
}

// ---------------------------------------------------------------- readiness and deadlines

void Connection::OnPoll(uv_poll_t* h, int status, int events) {
  RefPtr<Connection> self(static_cast<Connection*>(h->data));
  if (self->closed()) return;
  if (status < 0) self->OnPollError(status);
  else self->OnReady(events);
  self->driver_->ScheduleDelivery();
}

// libuv reports a socket error (POLLERR) as a failed poll and stops watching the socket.
void Connection::OnPollError(int status) {
  interest_ = 0;  // libuv stopped the watcher: UpdateInterest must start it again if needed
  int err = sock_.PendingError();  // the real cause (ECONNRESET, ...), not libuv's EBADF
  if (!err) err = status;
  if (state_ == State::kConnecting) {
    FailConnect(ErrorInfo::Errno(err, "connect", "connect failed"));
  } else if (state_ == State::kSecuring) {
    FailConnect(ErrorInfo::Errno(err, "read", "Client network socket disconnected before secure TLS connection was established"));
  } else {
    NoteIoError(err, "read");
    transport_->NoteReadable();  // reads now return the error (or what was left) at once
    read_waker_.Wake();
    write_waker_.Wake();
    Drive();
  }
}

void Connection::OnReady(int events) {
  if (state_ == State::kConnecting) {
    FinishConnect();
    return;
  }
  if (events & (UV_READABLE | UV_DISCONNECT)) transport_->NoteReadable();
  if (state_ == State::kSecuring) {
    AdvanceSetup();
    return;
  }
  if (events & (UV_READABLE | UV_DISCONNECT)) read_waker_.Wake();
  if (events & UV_WRITABLE) {
    int err = 0;
    if (transport_->HasPendingOutput() && !transport_->Flush(&err) && err != EAGAIN) {
      NoteIoError(err, "write");
      read_waker_.Wake();  // let hyper observe the failure
    }
    write_waker_.Wake();
  }
  Drive();
}

// The exchange has a deadline armed: ArmTimer looks at it.
void Connection::Timed(Exchange* ex) {
  if (ex->timed) return;
  ex->timed = true;
  timed_.push_back(ex->id);
}

uint64_t Connection::Now() { return uv_now(driver_->loop()); }

// One timer per connection for the earliest deadline: connect (until hyper's handshake is done),
// then each exchange's head/body deadline and Expect: 100-continue wait. It is re-armed lazily:
// a deadline later than the one the timer is set for (every request's, as the clock moves on)
// or no deadline at all leaves it running. When it fires early, OnTimer expires nothing and
// arms it for the real deadline. Restarting it for every request cost two timer-heap updates
// per exchange; the timer is unref'd, so a stale one never keeps the process alive.
void Connection::ArmTimer() {
  if (closed() || !timer_hold_) return;
  uint64_t next = connecting() ? connect_deadline_ : 0;
  // Only the exchanges that armed a deadline (a queue of thousands costs nothing here).
  size_t keep = 0;
  for (uint64_t id : timed_) {
    Exchange* ex = Find(id);
    uint64_t d = ex ? ex->deadlines.Next() : 0;
    if (!d) {
      if (ex) ex->timed = false;
      continue;
    }
    timed_[keep++] = id;
    if (!next || d < next) next = d;
  }
  timed_.resize(keep);
  if (!next || (timer_due_ && timer_due_ <= next)) return;
  uint64_t now = Now();
  timer_due_ = next > now ? next : now;
  uv_timer_start(&timer_, OnTimer, timer_due_ - now, 0);
}

void Connection::OnTimer(uv_timer_t* h) {
  RefPtr<Connection> self(static_cast<Connection*>(h->data));
  self->timer_due_ = 0;
  if (self->closed()) return;
  uint64_t now = self->Now();
  if (self->connecting() && self->connect_deadline_ && self->connect_deadline_ <= now) {
    self->OnConnectDeadline();
  } else {
    self->ExpireExchanges(now);
  }
  if (!self->closed()) self->ArmTimer();
  self->driver_->DeliverEvents();
}

// Before failing a connect on time, look at what the socket did meanwhile: a blocked event
// loop can run this timer before the poll callback that completes the connect (undici #3410).
void Connection::OnConnectDeadline() {
  if (state_ == State::kConnecting) {
    if (connector_) connector_->CheckNow();  // may finish the race (and so FinishConnect)
    else if (sock_.WritableNow()) FinishConnect();
  }
  if (state_ == State::kSecuring) {
    transport_->NoteReadable();
    AdvanceSetup();
  } else if (state_ == State::kHandshaking) {
    read_waker_.Wake();
    write_waker_.Wake();
    Drive();
  }
  if (closed() || !connecting()) return;
  if (connector_) connector_->Cancel(true);  // attempts still in flight are reported as timed out
  FailConnect(ErrorInfo::Local("ERR_CONNECT_TIMEOUT", "connect timed out after " + std::to_string(opts_.connect_timeout) + " ms"));
}

void Connection::ExpireExchanges(uint64_t now) {
  std::vector<Exchange*> expired;
  for (uint64_t id : timed_) {
    Exchange* ex = Find(id);
    if (!ex) continue;
    Deadlines& d = ex->deadlines;
    if (d.continue_at && d.continue_at <= now) {
      d.continue_at = 0;
      if (ex->upload) ex->upload->Open();  // no 100 in time: send the body anyway
    }
    if (d.response && d.response <= now && !ex->detached) expired.push_back(ex);
  }
  for (Exchange* ex : expired) {
    Deadlines& d = ex->deadlines;
    ErrorInfo why = d.response_is_head
                        ? ErrorInfo::Local("ERR_HEADERS_TIMEOUT", "no response head within " + std::to_string(d.headers_timeout) + " ms")
                        : ErrorInfo::Local("ERR_BODY_TIMEOUT", "no body data within " + std::to_string(d.body_timeout) + " ms");
    d.response = 0;
    Abandon(ex, &why);
    if (closed() || ending_ == Ending::kForced) break;  // HTTP/1: the connection goes
  }
  Drive();
}

void Connection::OnTimerClosed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  RefPtr<Connection> hold = std::move(c->timer_hold_);  // the last reference may go on return
  c->driver_->addon()->HandleClosed(1);
}

void Connection::OnPollClosed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  RefPtr<Connection> hold = std::move(c->poll_hold_);  // the last reference may go on return
  c->sock_.Close();
  c->driver_->addon()->HandleClosed(1);
}

void Connection::UpdateInterest() {
  if (!poll_hold_ || closed() || state_ == State::kConnecting) return;
  int want = 0;
  // During the transport's handshake that handshake is the reader (hyper holds no wakers yet).
  if ((read_waker_.Armed() && policy_->ReadAllowed()) || state_ == State::kSecuring) want |= UV_READABLE | UV_DISCONNECT;
  if (write_waker_.Armed() || transport_->HasPendingOutput()) want |= UV_WRITABLE;
  if (want == interest_) return;
  if (want) {
    int r = uv_poll_start(&poll_, want, OnPoll);
    if (r != 0) NoteIoError(r, "poll");
  } else {
    uv_poll_stop(&poll_);
  }
  interest_ = want;
}

void Connection::UpdateBusy() {
  // Busy = JS may be awaiting something from this connection (connect, a response, a body
  // chunk, close). JS promises form garbage cycles through the owner unless we pin it.
  bool busy = !closed() && (connecting() || LiveExchanges() > 0 || ending_ != Ending::kNone);
  if (busy == busy_) return;
  busy_ = busy;
  // While work is in flight the JS owner is pinned and the socket keeps the loop alive;
  // an idle keep-alive connection holds neither (it can be collected, the process can exit).
  if (busy) PinOwner();
  else UnpinOwner();
  if (poll_hold_) {
    if (busy) uv_ref(reinterpret_cast<uv_handle_t*>(&poll_));
    else uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  }
}

void Connection::NoteIoError(int err, const char* syscall) {
  if (err == EPROTO || saved_errno_) return;  // EPROTO: the transport's failure() has the details
  saved_errno_ = err;
  errno_syscall_ = syscall;
}

// ---------------------------------------------------------------- IO callbacks (inside poll)

size_t Connection::OnIoRead(void* userdata, hyper_context* ctx, uint8_t* buf, size_t len) noexcept {
  auto* c = static_cast<Connection*>(userdata);
  if (c->poisoned()) return HYPER_IO_ERROR;
  if (!c->policy_->ReadAllowed()) {  // woken by the first write (OnIoWrite)
    c->read_waker_.Store(hyper_context_waker(ctx));
    return HYPER_IO_PENDING;
  }
  int err = 0;
  long n = c->transport_->Read(buf, len, &err);
  if (n > 0) {
    c->policy_->NoteRead(buf, static_cast<size_t>(n));
    return static_cast<size_t>(n);
  }
  if (n == 0) {
    c->peer_eof_ = true;
    return 0;  // EOF, never "would block" (curl #11377)
  }
  if (err == EAGAIN) {
    c->read_waker_.Store(hyper_context_waker(ctx));
    return HYPER_IO_PENDING;
  }
  c->NoteIoError(err, "read");
  return HYPER_IO_ERROR;
}

size_t Connection::OnIoWrite(void* userdata, hyper_context* ctx, const uint8_t* buf, size_t len) noexcept {
  auto* c = static_cast<Connection*>(userdata);
  if (c->poisoned()) return HYPER_IO_ERROR;
  int err = 0;
  long n = c->transport_->Write(buf, len, &err);
  if (n > 0) {
    c->bytes_written_ += static_cast<uint64_t>(n);
    // The first request is on its way: hyper may read its response now (a one-time wake of
    // the connection task's parked read, which then finds a response it is waiting for).
    if (c->policy_->NoteWritten()) c->read_waker_.Wake();
    return static_cast<size_t>(n);
  }
  if (n < 0 && err == EAGAIN) {
    c->write_waker_.Store(hyper_context_waker(ctx));
    return HYPER_IO_PENDING;
  }
  c->NoteIoError(n < 0 ? err : EPIPE, "write");
  return HYPER_IO_ERROR;
}

void Connection::OnInformational(void* userdata, hyper_response* resp) noexcept {
  auto* info = static_cast<Exchange::InfoCtx*>(userdata);
  Connection* c = info->conn;
  Exchange* ex = c->Find(info->id);
  if (!ex || ex->detached) return;
  if (hyper_response_status(resp) == 100 && ex->upload && ex->upload->gated()) {
    ex->deadlines.continue_at = 0;
    ex->upload->Open();  // wakes the body task inside this poll
  }
  if (ex->want_informational) {
    Event ev{protocol::kInformational, c, ex->id};
    std::string raw;
    bool have_raw = c->policy_->TakeRawHead(hyper_response_status(resp), &raw);
    ev.head = CopyHead(resp, have_raw && c->wire_heads_ ? &raw : nullptr);
    if (c->wrap_) c->driver_->Push(std::move(ev));
  }
}

}  // namespace nodehyper
