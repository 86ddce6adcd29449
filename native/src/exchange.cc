#include "exchange.h"

#include "connection.h"

namespace nodehyper {

UploadCell::~UploadCell() {
  for (hyper_buf* b : chunks_) hyper_buf_free(b);
}

bool UploadCell::Write(hyper_buf* chunk) {
  queued_bytes_ += hyper_buf_len(chunk);
  chunks_.push_back(chunk);
  waker_.Wake();
  if (queued_bytes_ >= kHighMark) {
    need_drain_ = true;
    return false;
  }
  return true;
}

int UploadCell::OnData(void* userdata, hyper_context* ctx, hyper_buf** out) noexcept {
  auto* cell = static_cast<UploadCell*>(userdata);
  *out = nullptr;
  if (cell->finished_) return HYPER_POLL_READY;
  if (cell->failed_ || cell->conn_->poisoned()) {
    cell->finished_ = true;
    return HYPER_POLL_ERROR;
  }
  if (cell->gated_) {
    cell->waker_.Store(hyper_context_waker(ctx));
    return HYPER_POLL_PENDING;
  }
  if (!cell->chunks_.empty()) {
    hyper_buf* b = cell->chunks_.front();
    cell->chunks_.pop_front();
    cell->queued_bytes_ -= hyper_buf_len(b);
    if (cell->need_drain_ && cell->queued_bytes_ <= kLowMark) {
      cell->need_drain_ = false;
      cell->drain_pending_ = true;
      cell->conn_->NoteDrain();
    }
    *out = b;  // hyper owns it now
    return HYPER_POLL_READY;
  }
  if (cell->eof_) {
    cell->finished_ = true;
    return HYPER_POLL_READY;  // *out == NULL: end of body
  }
  cell->waker_.Store(hyper_context_waker(ctx));
  return HYPER_POLL_PENDING;
}

hyper_request* BuildRequest(const RequestInput& in, std::string* bad_field, int* code) {
  HyperPtr<hyper_request> req(hyper_request_new());
  if (!req) {
    *bad_field = "request";
    *code = HYPERE_ERROR;
    return nullptr;
  }
  hyper_code c = hyper_request_set_method(req.get(), reinterpret_cast<const uint8_t*>(in.method.data()), in.method.size());
  if (c != HYPERE_OK) {
    *bad_field = "method";
    *code = c;
    return nullptr;
  }
  c = hyper_request_set_uri(req.get(), reinterpret_cast<const uint8_t*>(in.uri.data()), in.uri.size());
  if (c != HYPERE_OK) {
    *bad_field = "path";
    *code = c;
    return nullptr;
  }
  hyper_headers* headers = hyper_request_headers(req.get());
  for (size_t i = 0; i + 1 < in.headers.size(); i += 2) {
    const std::string& name = in.headers[i];
    const std::string& value = in.headers[i + 1];
    c = hyper_headers_add(headers, reinterpret_cast<const uint8_t*>(name.data()), name.size(),
                          reinterpret_cast<const uint8_t*>(value.data()), value.size());
    if (c != HYPERE_OK) {
      *bad_field = "headers." + name;
      *code = c;
      return nullptr;
    }
  }
  return req.release();
}

namespace {
int CollectHeader(void* ud, const uint8_t* name, size_t name_len, const uint8_t* value, size_t value_len) noexcept {
  auto* out = static_cast<std::vector<std::string>*>(ud);
  out->emplace_back(reinterpret_cast<const char*>(name), name_len);
  out->emplace_back(reinterpret_cast<const char*>(value), value_len);
  return HYPER_ITER_CONTINUE;
}
}  // namespace

std::unique_ptr<ResponseHead> CopyHead(hyper_response* resp) {
  auto head = std::make_unique<ResponseHead>();
  head->status = hyper_response_status(resp);
  head->version = hyper_response_version(resp);
  const uint8_t* reason = hyper_response_reason_phrase(resp);
  size_t reason_len = hyper_response_reason_phrase_len(resp);
  if (reason && reason_len) head->reason.assign(reinterpret_cast<const char*>(reason), reason_len);
  head->headers.reserve(16);
  hyper_headers_foreach(hyper_response_headers(resp), CollectHeader, &head->headers);
  return head;
}

}  // namespace nodehyper
