#include "connector.h"

#include <algorithm>
#include <cerrno>

#include "addon.h"

namespace nodehyper {

Connector::Connector(Addon* addon, uv_loop_t* loop, DoneFn done, void* ctx, std::vector<Candidate> candidates, int port,
                     uint64_t attempt_delay_ms, SocketOptions socket_options)
    : addon_(addon), loop_(loop), done_fn_(done), ctx_(ctx), port_(port), delay_ms_(attempt_delay_ms),
      socket_options_(std::move(socket_options)) {
  reports_.reserve(candidates.size());
  for (auto& c : candidates) {
    Report r;
    r.where = std::move(c);
    reports_.push_back(std::move(r));
  }
}

Connector::~Connector() {
  Cancel();
  if (has_winner_) {
    Socket s;
    s.Adopt(winner_);  // never taken: closed here
  }
}

bool Connector::Start() {
  auto* t = new Timer{this, addon_, {}};
  uv_timer_init(loop_, &t->handle);
  t->handle.data = t;
  uv_unref(reinterpret_cast<uv_handle_t*>(&t->handle));  // the attempts' polls keep the loop alive
  addon_->HandleOpened(1);
  timer_ = t;
  starting_ = true;
  StartNext();
  starting_ = false;
  return !(done_ && !has_winner_);
}

// Starts the next candidate; one that fails at once (no route, bad local address) is reported
// and the one after it is tried straight away.
void Connector::StartNext() {
  if (timer_) uv_timer_stop(&timer_->handle);
  while (next_ < reports_.size()) {
    size_t i = next_++;
    Report& r = reports_[i];
    auto* a = new Attempt{this, i, addon_, {}, {}};
    const char* syscall = "connect";
    int e = a->sock.ConnectTcp(r.where.family, r.where.address, port_, socket_options_, &syscall);
    if (e == 0) {
      int ur = uv_poll_init_socket(loop_, &a->poll, a->sock.fd());
      if (ur != 0) {
        e = ur;
        syscall = "uv_poll_init";
      }
    }
    if (e != 0) {
      r.outcome = Outcome::kFailed;
      r.error = ErrorInfo::Errno(e, syscall, "connect failed");
      delete a;  // closes its socket (no handle was made)
      continue;
    }
    a->poll.data = a;
    addon_->HandleOpened(1);
    uv_poll_start(&a->poll, UV_WRITABLE, OnPoll);
    r.outcome = Outcome::kPending;
    attempts_.push_back(a);
    if (next_ < reports_.size() && timer_) uv_timer_start(&timer_->handle, OnTimer, delay_ms_, 0);
    return;
  }
  if (attempts_.empty()) Finish(false);
}

void Connector::OnPoll(uv_poll_t* h, int status, int events) {
  auto* a = static_cast<Attempt*>(h->data);
  Connector* c = a->owner;
  if (!c) return;
  int err = a->sock.PendingError();  // the real cause (ECONNREFUSED, ...), not libuv's EBADF
  if (status < 0 && err == 0) err = status;
  if (err == 0 && !(events & UV_WRITABLE)) return;
  c->Settle(a, err);
}

void Connector::OnTimer(uv_timer_t* h) {
  auto* t = static_cast<Timer*>(h->data);
  if (t->owner) t->owner->StartNext();
}

void Connector::CheckNow() {
  std::vector<Attempt*> now(attempts_);
  for (Attempt* a : now) {
    if (done_) return;
    if (a->owner && a->sock.WritableNow()) Settle(a, a->sock.PendingError());
  }
}

void Connector::Settle(Attempt* a, int err) {
  attempts_.erase(std::find(attempts_.begin(), attempts_.end(), a));
  Report& r = reports_[a->index];
  if (err == 0) {
    r.outcome = Outcome::kConnected;
    winner_ = a->sock.Release();
    has_winner_ = true;
    CloseAttempt(a);  // stops watching the descriptor now: the Connection takes it over
    for (Attempt* other : attempts_) {
      reports_[other->index].outcome = Outcome::kAbandoned;
      CloseAttempt(other);
    }
    attempts_.clear();
    Finish(true);
    return;
  }
  r.outcome = Outcome::kFailed;
  r.error = ErrorInfo::Errno(err, "connect", "connect failed");
  CloseAttempt(a);
  if (next_ < reports_.size()) {
    StartNext();  // a failure starts the next attempt at once
  } else if (attempts_.empty()) {
    Finish(false);
  }
}

void Connector::CloseAttempt(Attempt* a) {
  a->owner = nullptr;
  uv_poll_stop(&a->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&a->poll), OnAttemptClosed);
}

void Connector::OnAttemptClosed(uv_handle_t* h) {
  auto* a = static_cast<Attempt*>(h->data);
  Addon* addon = a->addon;
  delete a;  // closes the socket of a loser (the winner's was released)
  addon->HandleClosed(1);
}

void Connector::OnTimerClosed(uv_handle_t* h) {
  auto* t = static_cast<Timer*>(h->data);
  Addon* addon = t->addon;
  delete t;
  addon->HandleClosed(1);
}

void Connector::Finish(bool connected) {
  done_ = true;
  if (timer_) {
    timer_->owner = nullptr;
    uv_timer_stop(&timer_->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_->handle), OnTimerClosed);
    timer_ = nullptr;
  }
  if (starting_ || !done_fn_) return;
  DoneFn fn = done_fn_;
  done_fn_ = nullptr;
  fn(ctx_, connected);  // may destroy this Connector: nothing of it is touched afterwards
}

void Connector::Cancel(bool keep_pending) {
  done_fn_ = nullptr;
  for (Attempt* a : attempts_) {
    if (!keep_pending) reports_[a->index].outcome = Outcome::kAbandoned;
    CloseAttempt(a);
  }
  attempts_.clear();
  if (!done_) Finish(false);  // closes the timer; no callback (done_fn_ is cleared)
}

uv_os_sock_t Connector::TakeWinner() {
  has_winner_ = false;
  return winner_;
}

ErrorInfo Connector::Summary() const {
  for (const Report& r : reports_) {
    if (r.outcome == Outcome::kFailed) {
      ErrorInfo e = r.error;
      e.message = "connect failed for every address (" + std::to_string(reports_.size()) + " tried)";
      return e;
    }
  }
  return ErrorInfo::Local("ERR_CONNECT_FAILED", "connect failed for every address");
}

}  // namespace nodehyper
