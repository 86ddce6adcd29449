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
  explicit UploadCell(Connection* conn) : conn_(conn) {}
  ~UploadCell();
  UploadCell(const UploadCell&) = delete;
  UploadCell& operator=(const UploadCell&) = delete;

  void Write(hyper_buf* chunk);  // takes ownership
  void End() { eof_ = true; waker_.Wake(); }
  void Fail() { failed_ = true; waker_.Wake(); }
  bool finished() const { return finished_; }
  size_t queued_bytes() const { return queued_bytes_; }

  // hyper_body_data_callback
  static int OnData(void* userdata, hyper_context* ctx, hyper_buf** out) noexcept;

 private:
  Connection* conn_;
  std::deque<hyper_buf*> chunks_;
  size_t queued_bytes_ = 0;
  WakerSlot waker_;
  bool eof_ = false;
  bool failed_ = false;
  bool finished_ = false;
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
  uint64_t written_at_send = 0;
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
