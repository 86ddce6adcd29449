// Connection: one socket + one uv_poll_t + one hyper_executor + one hyper_clientconn.
// hyper's IO callbacks read/write through the connection's Transport (plain, or TLS over plain)
// and park wakers; uv_poll readiness wakes them and drives the executor until it has nothing
// left to run. How requests share the connection (HTTP/1 vs HTTP/2) is the SendPolicy's.
#pragma once

#include <deque>
#include <list>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "connector.h"
#include "exchange.h"
#include "protocol.h"
#include "send_policy.h"
#include "tls.h"
#include "transport.h"
#include "tunnel.h"

namespace nodehyper {

class Driver;
class ConnectionWrap;

class Connection {
 public:
  struct Options {
    bool http2 = false;
    bool preserve_header_case = true;
    bool preserve_header_order = true;
    bool allow_multiline_headers = false;
    uint64_t connect_timeout = 0;  // ms, 0 = none
    uint32_t max_concurrent_streams = 100;  // HTTP/2: hyper queues without bound, so cap here
    // TLS (null = cleartext). With TLS, ALPN "h2" selects HTTP/2; `http2` forces it otherwise.
    std::shared_ptr<TlsContext> tls;
    std::string servername;   // SNI
    std::string verify_host;  // name or IP the certificate must match
    std::string session_key;  // session cache key (servername:port)
    SocketOptions socket;     // TCP: local address, TCP_NODELAY, keep-alive
    // Forward proxy (lib/proxy.ts). The socket connects to the proxy; `proxy_tls` (an https:
    // proxy) secures that leg; a non-empty `tunnel_head` (a CONNECT request) opens a tunnel to
    // `tunnel_authority` before `tls` (the target's) and hyper start.
    std::shared_ptr<TlsContext> proxy_tls;
    std::string proxy_servername, proxy_verify_host, proxy_session_key;
    std::string tunnel_head, tunnel_authority;
  };
  // kSecuring: the transport's own handshake (TLS) before hyper's.
  enum class State { kNew, kConnecting, kSecuring, kHandshaking, kReady, kClosed };

  Connection(Driver* driver, napi_env env, napi_value owner, const Options& opts, ConnectionWrap* wrap);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Memory is reference counted (RefPtr): the JS wrapper, each open uv handle, each queued
  // event, the dirty list, and a callback or drive that is running.
  void Ref() { ++refs_; }
  void Unref() {
    if (--refs_ == 0) delete this;
  }

  // ---- intents from JS (never run inside hyper; they record, wake and mark dirty) ----
  // false with *err when the connect could not even start.
  bool StartTcp(int family, const std::string& address, int port, ErrorInfo* err);
  bool StartUnix(const std::string& path, ErrorInfo* err);
  // Happy eyeballs: races connects to `candidates` (in order, one more every `attempt_delay_ms`
  // or as soon as one fails; see connector.h). false with *err when every candidate failed at once.
  bool StartTcpRace(std::vector<Connector::Candidate> candidates, int port, uint64_t attempt_delay_ms, ErrorInfo* err);
  void Enqueue(std::unique_ptr<Exchange> ex, std::unique_ptr<UploadCell> upload);
  void WantRead(uint64_t id);
  // Upload intents. Write returns 1 (queued), 0 (queued, wait for a drain event), -1 (gone).
  int WriteUpload(uint64_t id, const uint8_t* data, size_t len);
  void EndUpload(uint64_t id);
  void FailUpload(uint64_t id);
  // Give up one request: a queued one just leaves; one on the wire is abandoned (HTTP/2 resets
  // its stream, HTTP/1 closes the connection). JS has already settled it. Returns whether the
  // connection takes further requests.
  bool Abort(uint64_t id);
  // Read and drop the rest of the body; past `limit` bytes give the exchange up instead (JS
  // hears the end either way).
  void Dump(uint64_t id, uint64_t limit);
  // Copies the rest of the body into `dest` (`size` bytes: the whole body as declared), after
  // the bytes already handed to JS; kEnd once it is full and the body ended. False when the
  // exchange cannot (it is over here, or its body is being dumped): JS reads the stream then.
  bool Collect(uint64_t id, uint8_t* dest, size_t size);
  void RequestClose();                 // graceful: finish queued and in-flight work, then close
  void RequestDestroy(ErrorInfo why);  // forced: fail everything now
  void DetachWrap();                   // the JS handle was collected
  void Shutdown();                     // environment teardown: no JS, close handles

  Transport::Security security() const { return security_; }
  // What the connect race did (null when the connection connected to one address directly).
  const Connector* connector() const { return connector_.get(); }
  // The CONNECT tunnel layer (null without one): the proxy's answer.
  const TunnelTransport* tunnel() const { return tunnel_; }
  bool http2() const { return policy_->http2(); }
  // How it was set up: step times (ms, uv_hrtime; 0 = not reached) and the socket's addresses.
  struct SetupInfo {
    double started_at = 0, connected_at = 0, secured_at = 0, ready_at = 0;
    SocketAddresses addresses;
  };
  const SetupInfo& setup_info() const { return setup_; }
  bool closed() const { return state_ == State::kClosed; }
  // Whether a new request can still be queued here (not closed, not being destroyed).
  bool accepting() const { return !poisoned() && !policy_->stopped(); }

  // ---- driver side ----
  void Drive();
  napi_value Owner();
  void PinOwner();
  void UnpinOwner();
  bool dirty() const { return dirty_; }
  void set_dirty(bool d) { dirty_ = d; }
  // IO callbacks fail from now on: every task of this connection resolves (destroy, teardown).
  bool poisoned() const { return ending_ == Ending::kForced || state_ == State::kClosed; }
  void NoteDrain() { drain_noted_ = true; }

  // hyper IO callbacks
  static size_t OnIoRead(void* userdata, hyper_context* ctx, uint8_t* buf, size_t len) noexcept;
  static size_t OnIoWrite(void* userdata, hyper_context* ctx, const uint8_t* buf, size_t len) noexcept;
  // hyper_request_on_informational_callback (HTTP/1 1xx responses)
  static void OnInformational(void* userdata, hyper_response* resp) noexcept;

 private:
  ~Connection();
  // connect -> transport handshake -> hyper handshake
  bool StartPoll(ErrorInfo* err);
  bool WatchSocket(ErrorInfo* err);
  void StartTimer();
  static void OnRaceDone(void* ctx, bool connected);
  void BuildStack();
  void FinishConnect();
  void AdvanceSetup();
  void StartHandshake();
  void FailConnect(const ErrorInfo& info);
  bool connecting() const {
    return state_ == State::kConnecting || state_ == State::kSecuring || state_ == State::kHandshaking;
  }
  // readiness and deadlines
  static void OnPoll(uv_poll_t* h, int status, int events);
  static void OnPollClosed(uv_handle_t* h);
  static void OnTimer(uv_timer_t* h);
  static void OnTimerClosed(uv_handle_t* h);
  void OnPollError(int status);
  void OnReady(int events);
  void OnConnectDeadline();
  void ExpireExchanges(uint64_t now);
  void ArmTimer();
  uint64_t Now();
  void UpdateInterest();
  void UpdateBusy();
  void NoteIoError(int err, const char* syscall);
  // the drive loop
  void StartPendingWork();
  void Send(Exchange* ex);
  bool PollExecutor(int* budget);
  void HandleTask(hyper_task* task);
  void OnSendDone(Exchange* ex, hyper_task_return_type type, void* value, hyper_error* err);
  void OnBodyDone(Exchange* ex, hyper_task_return_type type, void* value, hyper_error* err);
  void OnResponse(Exchange* ex, hyper_response* resp);
  void OnBodyChunk(Exchange* ex, HyperPtr<hyper_buf> chunk);
  bool BodyComplete(Exchange* ex, size_t len);
  void OnBodyEnd(Exchange* ex);
  void PushBodyTask(Exchange* ex);
  void ArmBodyDeadline(Exchange* ex);
  bool ReadAheadAllowed(const Exchange* ex) const;
  bool CollectBytes(Exchange* ex, const uint8_t* p, size_t n);
  static ErrorInfo LengthMismatch(const Exchange* ex, size_t got);
  void StopSending();
  void OnGoAway(const GoAway& g);
  void FlushDeliveries();
  void ListForFlush(Exchange* ex);
  // exchange lifecycle
  Exchange* Find(uint64_t id);
  void FinishOnWire(Exchange* ex);
  void FailExchange(Exchange* ex, ErrorInfo info);
  void Abandon(Exchange* ex, const ErrorInfo* report);
  void Detach(Exchange* ex);
  void RemoveExchange(uint64_t id);
  size_t LiveExchanges() const { return live_; }
  void MarkDetached(Exchange* ex);
  void Timed(Exchange* ex);
  void EmitHead(Exchange* ex);
  void EmitDrains();
  void SweepUploads();
  // errors
  ErrorInfo ErrorFromTask(hyper_error* err);
  ErrorInfo ClosedError(const char* message) const;
  void Teardown(bool silent, const ErrorInfo* why);
  void Emit(protocol::Event kind, uint64_t id = 0, std::unique_ptr<ErrorInfo> error = nullptr);

  RefPtr<Driver> driver_;
  napi_env env_;
  napi_ref owner_ = nullptr;
  ConnectionWrap* wrap_;
  Options opts_;
  State state_ = State::kNew;
  int refs_ = 0;

  Socket sock_;
  std::unique_ptr<Connector> connector_;            // happy eyeballs, while and after connecting
  std::vector<std::unique_ptr<Transport>> layers_;  // bottom (socket) first
  TunnelTransport* tunnel_ = nullptr;               // in layers_, when there is a CONNECT tunnel
  Transport* transport_ = nullptr;                  // the top layer: what hyper reads and writes
  Transport::Security security_;
  std::unique_ptr<SendPolicy> policy_;
  bool wire_heads_ = false;  // HTTP/1 header names and values from the recorded head (raw_head.h)
  uv_poll_t poll_;
  uv_timer_t timer_;
  RefPtr<Connection> poll_hold_;   // the open poll handle keeps the connection alive
  RefPtr<Connection> timer_hold_;  // likewise the timer
  uint64_t timer_due_ = 0;         // loop time the timer fires at (0: stopped); see ArmTimer
  int interest_ = 0;
  uint64_t connect_deadline_ = 0;
  WakerSlot read_waker_;
  WakerSlot write_waker_;

  ExecutorPtr exec_;
  HyperPtr<hyper_clientconn> client_;

  std::unordered_map<uint64_t, std::unique_ptr<Exchange>> exchanges_;
  std::deque<uint64_t> queue_;         // waiting for the policy to let them go
  std::vector<uint64_t> want_read_;    // JS asked for more body
  std::vector<uint64_t> to_flush_;     // heads, data and ends to deliver at the end of the drive
  std::vector<uint64_t> timed_;        // exchanges that armed a deadline (see ArmTimer)
  size_t live_ = 0;                    // exchanges not detached: JS awaits something of them
  std::list<std::unique_ptr<UploadCell>> uploads_;

  SetupInfo setup_;
  int saved_errno_ = 0;  // the first socket error seen (the cause behind hyper's generic errors)
  const char* errno_syscall_ = "";
  ErrorInfo destroy_reason_;
  uint64_t bytes_written_ = 0;
  uint64_t exchanges_done_ = 0;  // completed exchanges (a later send reuses the connection)
  uint64_t last_done_ms_ = 0;    // loop time of the last completed exchange
  enum class Ending { kNone, kGraceful, kForced };  // close() / destroy() requested
  Ending ending_ = Ending::kNone;
  bool peer_eof_ = false;
  bool driving_ = false;
  size_t drive_body_bytes_ = 0;  // response body bytes this drive took from hyper (its budget)
  bool redrive_ = false;
  bool dirty_ = false;
  bool busy_ = false;
  bool drain_noted_ = false;
};

// A reference that also pins the connection's JS owner: an event JS has not seen yet keeps both
// alive (JS may await it through promises nothing else references: a garbage cycle otherwise).
class OwnerPin {
 public:
  explicit OwnerPin(Connection* c) : conn_(c) {
    if (conn_) conn_->PinOwner();
  }
  OwnerPin(OwnerPin&& o) noexcept = default;
  OwnerPin& operator=(OwnerPin&& o) noexcept {
    Release();
    conn_ = std::move(o.conn_);
    return *this;
  }
  ~OwnerPin() { Release(); }
  Connection* get() const { return conn_.get(); }
  void Release() {
    if (conn_) {
      conn_->UnpinOwner();
      conn_.reset();
    }
  }

 private:
  RefPtr<Connection> conn_;
};

}  // namespace nodehyper
