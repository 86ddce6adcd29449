// One request/response exchange on a connection, the upload cell that feeds hyper a request
// body, and the response pieces copied out of hyper for delivery. Plain C++ state owned by
// Connection; no JS values live here.
#pragma once

#include <deque>
#include <string_view>
#include <vector>

#include "common.h"
#include "raw_head.h"

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

// Response body bytes collected for one delivery: hyper's buffers, copied once into one JS
// Buffer when delivered. Consecutive chunks of one drive are coalesced here (a server that
// flushes many tiny chunks costs one crossing into JS per drive, not one per chunk).
class ChunkList {
 public:
  // Most one delivery collects (about what one socket read can yield).
  static constexpr size_t kCoalesceLimit = 64 * 1024;

  ChunkList() = default;
  ChunkList(ChunkList&& o) noexcept : bufs_(std::move(o.bufs_)), bytes_(o.bytes_) { o.bytes_ = 0; }
  ChunkList& operator=(ChunkList&& o) noexcept {
    Clear();
    bufs_ = std::move(o.bufs_);
    bytes_ = o.bytes_;
    o.bytes_ = 0;
    return *this;
  }
  ~ChunkList() { Clear(); }

  void Append(HyperPtr<hyper_buf> b) {
    bytes_ += hyper_buf_len(b.get());
    bufs_.push_back(b.release());
  }
  bool empty() const { return bufs_.empty(); }
  bool full() const { return bytes_ >= kCoalesceLimit; }
  size_t bytes() const { return bytes_; }
  // Copies everything into `dest` (bytes() long) and empties the list.
  void CopyTo(uint8_t* dest);
  // Moves the first buffers, at least one and about `limit` bytes, into a list of their own.
  ChunkList TakeFront(size_t limit);
  void Clear();

 private:
  std::vector<hyper_buf*> bufs_;
  size_t bytes_ = 0;
};

// Response head copied out of hyper inside the drive loop; turned into JS at delivery.
struct ResponseHead {
  uint16_t status = 0;
  int version = 0;
  std::string reason;
  std::string raw_headers;  // names and values in wire case and order, joined by NUL
  HeadNotes notes;             // Keep-Alive, Connection: close, the body's framing
  ChunkList body;              // body bytes that arrived with the head
  bool ended = false;          // ... and the body ended with them
  double sent_at = 0;          // ms (uv_hrtime): the request was handed to hyper
  double head_at = 0;          // ms (uv_hrtime): this head was parsed
};

// Per-exchange deadlines on the loop clock (0 = not armed).
struct Deadlines {
  uint64_t headers_timeout = 0;  // ms from send to the response head (0 = none)
  uint64_t body_timeout = 0;     // ms a body read may wait for data (0 = none)
  uint64_t continue_wait = 0;    // Expect: 100-continue: how long to hold the body back
  uint64_t response = 0;         // when the pending head or body read times out
  bool response_is_head = true;  // which of the two `response` is
  uint64_t continue_at = 0;      // when to send a held-back body anyway
  uint64_t Next() const {
    return response && continue_at ? (response < continue_at ? response : continue_at) : (response | continue_at);
  }
};

struct Exchange {
  explicit Exchange(uint64_t id_) : id(id_) {}
  uint64_t id;
  HyperPtr<hyper_request> request;  // held until sent
  HyperPtr<hyper_body> body;         // response body, after the head arrived
  std::unique_ptr<ResponseHead> head;  // until delivered
  ChunkList pending;                 // body bytes read after the head, not delivered yet
  UploadCell* upload = nullptr;      // owned by Connection::uploads_
  Deadlines deadlines;
  std::unique_ptr<ErrorInfo> fail_reason;  // set by a timeout: reported instead of the generic reason
  uint64_t written_at_send = 0;
  double sent_at = 0;             // ms (uv_hrtime) when Send() handed it to hyper
  uint64_t discard_left = 0;      // dump: bytes still to drop before giving the exchange up
  uint64_t emitted = 0;           // body bytes handed to JS so far (with the head, in kData events)
  // HTTP/1, Content-Length framing: body bytes hyper has still to yield (-1: not known). At 0 the
  // body is complete and ends without another hyper_body_data task (which would only return
  // hyper's end of body: a task, a poll and its bookkeeping per response).
  int64_t body_left = -1;
  // collect: JS reads the whole body into one buffer of its declared length (Content-Length);
  // the rest of the body is copied straight into it (no kData events), then kEnd. The buffer is
  // JS's, kept reachable by JS until this exchange's kEnd or error; cleared when JS gives up.
  struct Collect {
    uint8_t* dest = nullptr;
    size_t size = 0;
    size_t filled = 0;
  } collect;
  uint32_t stream_id = 0;         // HTTP/2: its stream (a GOAWAY names the last one processed)
  bool refused = false;           // HTTP/2: above a GOAWAY's last stream: never processed
  bool sent = false;
  bool finished_on_wire = false;  // hyper is done with it (body ended or failed)
  bool ended = false;             // the body ended; `pending` is the last of it
  bool body_task = false;         // a hyper_body_data task is outstanding (body is borrowed)
  bool want_read = false;         // JS asked for more body
  bool discard = false;           // JS dumps the body: read and drop without events
  bool head_emitted = false;
  bool flush_listed = false;      // in Connection::to_flush_
  bool timed = false;             // in Connection::timed_
  bool aborted = false;           // JS gave up on it: fail silently
  bool detached = false;          // abandoned: free what hyper hands back, emit nothing
  bool want_informational = false;
  bool tunnel = false;            // method CONNECT: a 2xx answer turns the connection into a tunnel
  // Stable userdata for hyper's on_informational callback.
  struct InfoCtx {
    Connection* conn;
    uint64_t id;
  } info{nullptr, 0};
};

// Builds a hyper_request from `head`: method, target and header names and values, joined by
// NUL. nullptr on failure, with `err` naming the rejected field (ERR_INVALID_ARG_VALUE).
hyper_request* BuildRequest(std::string_view head, ErrorInfo* err);

// Copies a hyper response head (status, version, reason, headers). The header names and values
// come from `raw_head` (the head as recorded on the wire, HTTP/1) when given and consistent with
// hyper's parse, else from hyper (in wire case and order when its preserve options are on).
std::unique_ptr<ResponseHead> CopyHead(hyper_response* resp, const std::string* raw_head = nullptr);

}  // namespace nodehyper
