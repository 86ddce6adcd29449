// Connection: one socket + one uv_poll_t + one hyper_executor + one hyper_clientconn.
// hyper's IO callbacks read/write the non-blocking socket and park wakers; uv_poll readiness
// wakes them and drives the executor until it has nothing left to run.
#pragma once

#include <deque>
#include <list>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "exchange.h"
#include "tls.h"
#include "transport.h"

namespace nodehyper {

class Driver;
class ConnectionWrap;
struct Event;

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
  };
  enum class State { kNew, kConnecting, kTlsHandshaking, kHandshaking, kReady, kClosed };

  // After a TLS handshake: what was negotiated (empty strings for cleartext).
  struct TlsInfo {
    bool tls = false;
    std::string alpn, version, cipher, authorization_error;
    bool session_reused = false;
  };
  TlsInfo GetTlsInfo() const;

  Connection(Driver* driver, napi_env env, napi_value owner, const Options& opts, ConnectionWrap* wrap);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Ref() { ++refs_; }
  void Unref();

  // ---- intents from JS (never run inside hyper; they record, wake and mark dirty) ----
  // Returns 0 or a positive errno; *syscall names the failing call.
  int StartTcp(int family, const std::string& address, int port, const char** syscall);
  int StartUnix(const std::string& path, const char** syscall);
  void Enqueue(std::unique_ptr<Exchange> ex, std::unique_ptr<UploadCell> upload);
  void WantRead(uint64_t id);
  // Upload intents. Write returns 1 (queued), 0 (queued, wait for a drain event), -1 (gone).
  int WriteUpload(uint64_t id, const uint8_t* data, size_t len);
  void EndUpload(uint64_t id);
  void FailUpload(uint64_t id);
  // Abort one request: 0 = it was still queued (removed; the connection is fine), 1 = it was on
  // the wire (the connection is destroyed), 2 = nothing to abort (already finished).
  int Abort(uint64_t id);
  void Dump(uint64_t id);
  void RequestClose();                 // graceful: finish queued and in-flight work, then close
  void RequestDestroy(ErrorInfo why);  // forced: fail everything now
  void DetachWrap();                   // the JS handle was collected
  void Shutdown();                     // environment teardown: no JS, close handles

  // Internal state for diagnostics and tests.
  std::string DebugState() const;

  // ---- driver side ----
  void Drive();
  napi_value Owner();
  void PinOwner();
  void UnpinOwner();
  bool dirty() const { return dirty_; }
  void set_dirty(bool d) { dirty_ = d; }
  bool poisoned() const { return poisoned_; }
  bool http2() const { return opts_.http2; }
  void NoteDrain() { drain_noted_ = true; }
  State state() const { return state_; }
  // TCP connect, TLS handshake or hyper handshake still under way (the connect timeout runs).
  bool connecting() const {
    return state_ == State::kConnecting || state_ == State::kTlsHandshaking || state_ == State::kHandshaking;
  }

  // hyper IO callbacks
  static size_t OnIoRead(void* userdata, hyper_context* ctx, uint8_t* buf, size_t len) noexcept;
  static size_t OnIoWrite(void* userdata, hyper_context* ctx, const uint8_t* buf, size_t len) noexcept;
  // hyper_request_on_informational_callback (HTTP/1 1xx responses)
  static void OnInformational(void* userdata, hyper_response* resp) noexcept;

 private:
  ~Connection();
  static void OnPoll(uv_poll_t* h, int status, int events);
  static void OnPollClosed(uv_handle_t* h);
  static void OnTimer(uv_timer_t* h);
  static void OnTimerClosed(uv_handle_t* h);
  void ArmTimer();
  void EmitDrains();
  uint64_t Now();
  int StartPoll();
  void FinishConnect();
  void FailConnect(const ErrorInfo& info);
  void StartHandshake();
  void StartTls();
  void DriveTls();
  long IoRecv(uint8_t* buf, size_t len, int* err);
  long IoSend(const uint8_t* buf, size_t len, int* err);
  void StartPendingWork();
  bool PollExecutor(int* budget);
  void HandleTask(hyper_task* task);
  void OnResponse(Exchange* ex, hyper_response* resp);
  void PushBodyTask(Exchange* ex);
  void OnBodyChunk(Exchange* ex, hyper_buf* chunk);
  void OnBodyEnd(Exchange* ex);
  void FailExchange(Exchange* ex, ErrorInfo info);
  void EmitHead(Exchange* ex);
  void EmitPendingHeads();
  void RemoveExchange(uint64_t id);
  void DetachExchange(Exchange* ex);  // HTTP/2: give up one stream, keep the connection
  size_t LiveExchanges() const;
  uint32_t in_flight_ = 0;            // HTTP/2: streams sent and not finished
  void UpdateInterest();
  void UpdateBusy();
  void SweepUploads();
  void Teardown(bool silent, const ErrorInfo* why);
  ErrorInfo ErrorFromTask(hyper_error* err, const char* syscall);
  void PushEvent(int kind, uint64_t id);
  void Emit(Event&& ev);

  Driver* driver_;
  napi_env env_;
  napi_ref owner_ = nullptr;
  ConnectionWrap* wrap_;
  Options opts_;
  State state_ = State::kNew;
  int refs_ = 1;  // the wrap

  Socket sock_;
  std::unique_ptr<TlsSession> tls_;
  TlsInfo tls_info_;
  uv_poll_t poll_;
  bool poll_open_ = false;
  int interest_ = 0;
  uv_timer_t timer_;
  bool timer_open_ = false;
  uint64_t connect_deadline_ = 0;
  bool drain_noted_ = false;
  WakerSlot read_waker_;
  WakerSlot write_waker_;

  ExecutorPtr exec_;
  HyperPtr<hyper_clientconn> client_;

  std::unordered_map<uint64_t, std::unique_ptr<Exchange>> exchanges_;
  std::deque<uint64_t> queue_;           // HTTP/1: waiting for the connection to be free
  uint64_t active_ = 0;                  // HTTP/1: the exchange on the wire (0 = none)
  std::vector<uint64_t> want_read_;
  std::vector<uint64_t> pending_heads_;
  std::list<std::unique_ptr<UploadCell>> uploads_;

  int saved_errno_ = 0;
  const char* errno_syscall_ = "";
  uint64_t bytes_written_ = 0;
  bool peer_eof_ = false;
  bool read_ready_ = true;  // false after a recv drained the socket, until poll says readable
  bool poisoned_ = false;
  bool conn_task_done_ = false;
  uint64_t exchanges_done_ = 0;     // completed exchanges (a later send reuses the connection)
  uint64_t last_done_ms_ = 0;       // loop time of the last completed exchange
  bool close_requested_ = false;
  bool destroy_requested_ = false;
  ErrorInfo destroy_reason_;
  bool torn_down_ = false;
  bool driving_ = false;
  bool redrive_ = false;
  bool dirty_ = false;
  bool busy_ = false;
};

}  // namespace nodehyper
