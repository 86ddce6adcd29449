#include "exchange.h"

#include <cctype>
#include <cstring>

#include "connection.h"
#include "raw_head.h"

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

void ChunkList::CopyTo(uint8_t* dest) {
  for (hyper_buf* b : bufs_) {
    size_t n = hyper_buf_len(b);
    std::memcpy(dest, hyper_buf_bytes(b), n);
    dest += n;
  }
  Clear();
}

ChunkList ChunkList::TakeFront(size_t limit) {
  ChunkList front;
  if (bytes_ <= limit) {
    std::swap(front.bufs_, bufs_);
    std::swap(front.bytes_, bytes_);
    return front;
  }
  size_t n = 0;
  while (n < bufs_.size() && (n == 0 || front.bytes_ + hyper_buf_len(bufs_[n]) <= limit)) {
    front.bytes_ += hyper_buf_len(bufs_[n]);
    ++n;
  }
  front.bufs_.assign(bufs_.begin(), bufs_.begin() + static_cast<std::ptrdiff_t>(n));
  bufs_.erase(bufs_.begin(), bufs_.begin() + static_cast<std::ptrdiff_t>(n));
  bytes_ -= front.bytes_;
  return front;
}

void ChunkList::Clear() {
  for (hyper_buf* b : bufs_) hyper_buf_free(b);
  bufs_.clear();
  bytes_ = 0;
}

hyper_request* BuildRequest(std::string_view head, ErrorInfo* err) {
  // head = method NUL target (NUL name NUL value)*; JS validated every piece, hyper checks again.
  auto fail = [err](const std::string& field, hyper_code c) -> hyper_request* {
    err->local_code = "ERR_INVALID_ARG_VALUE";
    err->hyper_code = c;
    err->field = field;
    err->message = "hyper rejected the request's " + field;
    return nullptr;
  };
  HyperPtr<hyper_request> req(hyper_request_new());
  if (!req) return fail("request", HYPERE_ERROR);
  const char* p = head.data();
  const char* end = p + head.size();
  auto next = [&p, end](const char** start, size_t* len) {
    *start = p;
    const char* z = static_cast<const char*>(std::memchr(p, '\0', static_cast<size_t>(end - p)));
    *len = static_cast<size_t>((z ? z : end) - p);
    p = z ? z + 1 : end;
  };
  const char* s;
  size_t n;
  next(&s, &n);
  hyper_code c = hyper_request_set_method(req.get(), reinterpret_cast<const uint8_t*>(s), n);
  if (c != HYPERE_OK) return fail("method", c);
  next(&s, &n);
  c = hyper_request_set_uri(req.get(), reinterpret_cast<const uint8_t*>(s), n);
  if (c != HYPERE_OK) return fail("path", c);
  hyper_headers* headers = hyper_request_headers(req.get());
  while (p < end) {
    const char* name;
    size_t name_len;
    next(&name, &name_len);
    next(&s, &n);
    c = hyper_headers_add(headers, reinterpret_cast<const uint8_t*>(name), name_len, reinterpret_cast<const uint8_t*>(s), n);
    if (c != HYPERE_OK) return fail("headers." + std::string(name, name_len), c);
  }
  return req.release();
}

namespace {

int CollectHeader(void* ud, const uint8_t* name, size_t name_len, const uint8_t* value, size_t value_len) noexcept {
  auto* head = static_cast<ResponseHead*>(ud);
  std::string& out = head->raw_headers;
  if (!out.empty()) out.push_back('\0');
  out.append(reinterpret_cast<const char*>(name), name_len);
  out.push_back('\0');
  out.append(reinterpret_cast<const char*>(value), value_len);
  // The headers that decide whether a pool may reuse the connection (and where the body ends),
  // read here once so the JS side never has to build a headers object for them.
  NoteHeader(name, name_len, value, value_len, &head->notes);
  return HYPER_ITER_CONTINUE;
}

}  // namespace

std::unique_ptr<ResponseHead> CopyHead(hyper_response* resp, const std::string* raw_head) {
  auto head = std::make_unique<ResponseHead>();
  head->status = hyper_response_status(resp);
  head->version = hyper_response_version(resp);
  const uint8_t* reason = hyper_response_reason_phrase(resp);
  size_t reason_len = hyper_response_reason_phrase_len(resp);
  if (reason && reason_len) head->reason.assign(reinterpret_cast<const char*>(reason), reason_len);
  hyper_headers* headers = hyper_response_headers(resp);
  // Names and values in wire case and order from the recorded head (see raw_head.h for why that
  // is the head hyper parsed), unless it has a line this reading does not take.
  if (raw_head && HeadersFromRaw(*raw_head, head->version, head.get())) return head;
  head->raw_headers.reserve(512);
  hyper_headers_foreach(headers, CollectHeader, head.get());
  return head;
}

}  // namespace nodehyper
