// Connector: happy eyeballs (RFC 8305 section 5) for one Connection. Given the looked-up
// addresses in the order to try them (the JS layer interleaves IPv6 and IPv4), it starts a
// non-blocking connect to the first, then to the next each time the attempt delay passes without
// a connection or as soon as the latest attempt failed. Earlier attempts keep running; the first
// socket to connect wins and is handed to the Connection; every other attempt is closed. When all
// of them fail, the report of each attempt is kept for the error the JS layer builds.
//
// Ownership: the Connection owns the Connector (unique_ptr). Each attempt's socket and uv_poll_t,
// and the stagger timer, live in small heap blocks that free themselves in their uv_close
// callbacks, so destroying the Connector (or Cancel()) is safe at any time, including from inside
// one of its own callbacks: handles close asynchronously, and no callback reaches the Connection
// after Cancel().
#pragma once

#include <vector>

#include "common.h"
#include "transport.h"

namespace nodehyper {

class Addon;

class Connector {
 public:
  struct Candidate {
    int family;  // 4 or 6
    std::string address;
  };
  // What became of one candidate.
  enum class Outcome { kNotTried, kPending, kConnected, kFailed, kAbandoned };
  struct Report {
    Candidate where;
    Outcome outcome = Outcome::kNotTried;
    ErrorInfo error;  // kFailed: why
  };
  // The race is over: `connected` with a winner to TakeWinner(), or every attempt failed.
  // Called at most once, never after Cancel() and never from Start(); the Connector may be
  // destroyed inside it (nothing of it is touched after the call).
  using DoneFn = void (*)(void* ctx, bool connected);

  Connector(Addon* addon, uv_loop_t* loop, DoneFn done, void* ctx, std::vector<Candidate> candidates, int port,
            uint64_t attempt_delay_ms, SocketOptions socket_options);
  ~Connector();
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  // Starts the first attempt (and the next, at once, while attempts fail synchronously).
  // false: every candidate failed before any connect was in flight (no callback follows; see
  // reports()).
  bool Start();
  // The connect deadline is due: a blocked event loop can run that timer before the poll
  // callbacks of connects that finished meanwhile, so look at each socket now (may call the
  // listener).
  void CheckNow();
  // Stops the race: attempts in flight are closed (reported kAbandoned unless `keep_pending`,
  // which leaves them kPending: the connect timed out). No listener call afterwards.
  void Cancel(bool keep_pending = false);
  // The winner's descriptor (its poll handle already closed); invalid after the first call.
  uv_os_sock_t TakeWinner();

  int port() const { return port_; }
  const std::vector<Report>& reports() const { return reports_; }
  // The error that stands for the whole race: the first failure (with its errno).
  ErrorInfo Summary() const;

 private:
  struct Attempt {
    Connector* owner;  // null once closed
    size_t index;
    Addon* addon;
    Socket sock;
    uv_poll_t poll;
  };
  struct Timer {
    Connector* owner;
    Addon* addon;
    uv_timer_t handle;
  };
  static void OnPoll(uv_poll_t* h, int status, int events);
  static void OnAttemptClosed(uv_handle_t* h);
  static void OnTimer(uv_timer_t* h);
  static void OnTimerClosed(uv_handle_t* h);

  void StartNext();
  void Settle(Attempt* a, int err);
  void CloseAttempt(Attempt* a);
  void Finish(bool connected);
  size_t InFlight() const { return attempts_.size(); }

  Addon* addon_;
  uv_loop_t* loop_;
  DoneFn done_fn_;
  void* ctx_;
  std::vector<Report> reports_;
  int port_;
  uint64_t delay_ms_;
  SocketOptions socket_options_;
  size_t next_ = 0;                 // the next candidate to try
  std::vector<Attempt*> attempts_;  // in flight
  Timer* timer_ = nullptr;
  uv_os_sock_t winner_{};
  bool has_winner_ = false;
  bool done_ = false;
  bool starting_ = false;  // inside Start(): a failure is its return value, not a callback
};

}  // namespace nodehyper
