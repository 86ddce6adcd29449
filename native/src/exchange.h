// One request/response exchange on a connection, and the upload cell that feeds hyper a
// request body. Plain C++ state owned by Connection; no JS values live here.
#pragma once

#include <deque>
#include <vector>

#include "common.h"

namespace nodehyper {

class Connection;

// Userdata of an outgoing hyper_body. hyper may poll it after the send task resolved
// (early response, HTTP/2 piping), so the Connection owns it until the data callback returned
// end/error (`finished`) or the executor is freed.
class UploadCell {
 public:
  // Backpressure marks: Write() reports "stop" above kHighMark; a drain is signalled once hyper
  // has taken the queue down to kLowMark.
  static constexpr size_t kHighMark = 256 * 1024;
  static constexpr size_t kLowMark = 64 * 1024;

  UploadCell(Connection* conn, uint64_t id) : conn_(conn), id_(id) {}
  ~UploadCell();
  UploadCell(const UploadCell&) = delete;
  UploadCell& operator=(const UploadCell&) = delete;

  // Queues a chunk (takes ownership). Returns false when the caller should wait for a drain.
  bool Write(hyper_buf* chunk);
  void End() { eof_ = true; waker_.Wake(); }
  void Fail() { failed_ = true; waker_.Wake(); }
  // Expect: 100-continue: hold the body back until Open() (a 100 arrived, or the wait timed out).
  void Gate() { gated_ = true; }
  void Open() { gated_ = false; waker_.Wake(); }
  bool gated() const { return gated_; }
  bool finished() const { return finished_; }
  uint64_t id() const { return id_; }
  size_t queued_bytes() const { return queued_bytes_; }
  // True once after the queue fell below the low mark while a writer was waiting.
  bool TakeDrain() {
    bool d = drain_pending_;
    drain_pending_ = false;
    return d;
  }

  // hyper_body_data_callback
  static int OnData(void* userdata, hyper_context* ctx, hyper_buf** out) noexcept;

 private:
  Connection* conn_;
  uint64_t id_;
  std::deque<hyper_buf*> chunks_;
  size_t queued_bytes_ = 0;
  WakerSlot waker_;
  bool eof_ = false;
  bool failed_ = false;
  bool finished_ = false;
  bool gated_ = false;
  bool need_drain_ = false;
  bool drain_pending_ = false;
};

// Response head copied out of hyper inside the drive loop; turned into JS at delivery.
struct ResponseHead {
  uint16_t status = 0;
  int version = 0;
  std::string reason;
  std::vector<std::string> headers;  // name, value, name, value... (wire case and order)
  HyperPtr<hyper_buf> first_chunk;
  bool ended = false;
  bool read_outstanding = false;  // a body_data task is already pending for the next chunk
};

struct Exchange {
  explicit Exchange(uint64_t id_) : id(id_) {}
  uint64_t id;
  HyperPtr<hyper_request> request;  // held until sent
  HyperPtr<hyper_body> body;         // response body, after the head arrived
  std::unique_ptr<ResponseHead> head;
  bool sent = false;
  bool body_task = false;   // a hyper_body_data task is outstanding (body is borrowed)
  bool want_read = false;   // JS asked for the next chunk
  bool discard = false;     // JS dumps the body: read and drop without events
  bool head_emitted = false;
  bool aborted = false;      // JS gave up on it: fail silently
  bool detached = false;     // HTTP/2: abandoned stream; free what arrives, emit nothing
  uint64_t written_at_send = 0;
  UploadCell* upload = nullptr;  // owned by Connection::uploads_
  // Timeouts (ms, 0 = none) and their deadlines on the loop clock (0 = not armed).
  uint64_t headers_timeout = 0;
  uint64_t body_timeout = 0;
  uint64_t deadline = 0;
  int deadline_kind = 0;  // 1 = headers, 2 = body
  uint64_t continue_wait = 0;      // Expect: 100-continue: how long to hold the body back
  uint64_t continue_deadline = 0;  // when to send the body anyway
  bool want_informational = false;
  std::unique_ptr<ErrorInfo> fail_reason;  // set by a timeout: reported instead of the generic reason
  // Stable userdata for hyper's on_informational callback.
  struct InfoCtx {
    Connection* conn;
    uint64_t id;
  } info{nullptr, 0};
};

// Builds a hyper_request from JS input. Returns nullptr and sets *bad_field / *code on failure.
struct RequestInput {
  std::string method;
  std::string uri;
  std::vector<std::string> headers;  // flat name/value pairs
};
hyper_request* BuildRequest(const RequestInput& in, std::string* bad_field, int* code);

// Copies a hyper response head (status, version, reason, headers in wire order).
std::unique_ptr<ResponseHead> CopyHead(hyper_response* resp);

}  // namespace nodehyper
