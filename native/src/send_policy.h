// How requests share one connection: the only place where HTTP/1 and HTTP/2 differ in
// Connection. HTTP/1: one exchange on the wire at a time, and an exchange cannot be abandoned
// without closing the connection; hyper's NULL-tagged task is the connection task, so its end
// means the connection is done. HTTP/2: up to max_concurrent_streams exchanges at once (hyper
// would queue beyond the server's limit without bound), one stream can be reset alone, hyper's
// NULL-tagged tasks are per-stream helpers, and the connection is done once the socket is gone
// and no stream is live, or once hyper refused a new stream (GOAWAY) and the rest finished.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "hyper_ffi.h"
#include "raw_head.h"

namespace nodehyper {

// A GOAWAY the server sent (HTTP/2).
struct GoAway {
  uint32_t last_stream_id = 0;
  uint32_t error_code = 0;  // 0 = NO_ERROR (graceful)
};

// Watches the plaintext HTTP/2 frames hyper reads (9-byte headers, payloads skipped), for the
// one thing hyper's C API never reports: GOAWAY. Without it a connection the server retired
// stays "open" after hyper's connection task quietly ended, and every later request on it
// fails. Only observes; never changes a byte.
class H2FrameWatch {
 public:
  void Feed(const uint8_t* p, size_t n) {
    while (n > 0) {
      if (left_ == 0 && head_len_ < 9) {
        size_t take = n < 9 - head_len_ ? n : 9 - head_len_;
        std::memcpy(head_ + head_len_, p, take);
        head_len_ += take;
        p += take;
        n -= take;
        if (head_len_ < 9) return;
        left_ = (uint32_t(head_[0]) << 16) | (uint32_t(head_[1]) << 8) | head_[2];
        goaway_ = head_[3] == 0x7;  // GOAWAY (always on stream 0)
        body_len_ = 0;
        if (left_ == 0) head_len_ = 0;
        continue;
      }
      size_t take = n < left_ ? n : left_;
      if (goaway_ && body_len_ < 8) {
        size_t keep = take < 8 - body_len_ ? take : 8 - body_len_;
        std::memcpy(body_ + body_len_, p, keep);
        body_len_ += keep;
        if (body_len_ == 8) {
          seen_ = true;
          got_.last_stream_id = ((uint32_t(body_[0]) << 24) | (uint32_t(body_[1]) << 16) | (uint32_t(body_[2]) << 8) | body_[3]) & 0x7fffffffu;
          got_.error_code = (uint32_t(body_[4]) << 24) | (uint32_t(body_[5]) << 16) | (uint32_t(body_[6]) << 8) | body_[7];
        }
      }
      left_ -= static_cast<uint32_t>(take);
      p += take;
      n -= take;
      if (left_ == 0) head_len_ = 0;
    }
  }
  // The latest GOAWAY since the last call, if any.
  bool Take(GoAway* out) {
    if (!seen_) return false;
    seen_ = false;
    *out = got_;
    return true;
  }

 private:
  uint8_t head_[9];
  size_t head_len_ = 0;
  uint32_t left_ = 0;  // payload bytes of the current frame still to come
  bool goaway_ = false;
  uint8_t body_[8];
  size_t body_len_ = 0;
  bool seen_ = false;
  GoAway got_;
};

class SendPolicy {
 public:
  virtual ~SendPolicy() = default;
  virtual bool http2() const = 0;
  // One more queued request may be handed to hyper now.
  virtual bool CanSend() const = 0;
  virtual void OnSent(uint64_t id) = 0;
  // A sent exchange left the connection (completed, failed, or reset).
  virtual void OnFinished(uint64_t id) = 0;
  // Giving up a sent exchange (abort, timeout) keeps the connection (HTTP/2: RST_STREAM) or
  // needs the whole connection closed (HTTP/1).
  virtual bool KeepsConnectionOnAbandon() const = 0;
  // hyper's own (NULL-tagged) task finished: is that the end of the connection?
  virtual bool BackgroundTaskEndsConnection() const = 0;
  // Before reusing an idle connection, check whether the server closed it meanwhile (HTTP/1:
  // its FIN may not have reached hyper, and writing into it loses the request).
  virtual bool ProbesIdleConnection() const = 0;
  // hyper refused a new request ("operation was canceled" before anything was sent): the
  // connection takes no more (HTTP/2 GOAWAY, or its connection task ended).
  virtual void StopSending() = 0;
  virtual bool stopped() const = 0;
  // Whether the connection is over once `live` exchanges remain and the peer is gone.
  virtual bool Finished(bool peer_gone, size_t live) const = 0;
  // Whether hyper may read now. HTTP/1: not before hyper wrote the first request. hyper reads
  // an idle connection to notice a close, and takes a response that arrives before any request
  // (a server answering at once, then closing) as a protocol error that ends the connection;
  // undici writes the request and reads that response, and so do we. NoteWritten() returns
  // true when that opened the reads (hyper's parked read must be woken).
  virtual bool ReadAllowed() const { return true; }
  virtual bool NoteWritten() { return false; }
  // Plaintext hyper just read (HTTP/2 watches it for GOAWAY).
  virtual void NoteRead(const uint8_t* p, size_t n) {}
  virtual bool TakeGoAway(GoAway* out) { return false; }
  // How far ahead of JS a response body is read (per exchange, and for all of them together).
  virtual size_t ReadAheadPerExchange() const = 0;
  virtual size_t ReadAheadPerConnection() const = 0;
  // HTTP/1: the head of the response with this status as it was on the wire (see raw_head.h).
  virtual bool TakeRawHead(uint16_t status, std::string* out) { return false; }
  // Whether TakeRawHead() can supply response names in wire case and order (then hyper's own
  // header-case/order maps are not needed).
  virtual bool RecordsHeads() const { return false; }
  // The protocol's own hyper connection options.
  virtual void ConfigureHyper(hyper_clientconn_options* o) const {}
  // The stream id hyper gave the request just sent (HTTP/2: odd ids in send order), 0 on HTTP/1.
  virtual uint32_t last_stream_id() const { return 0; }

  static std::unique_ptr<SendPolicy> Create(bool http2, uint32_t max_concurrent_streams);
};

class Http1Policy final : public SendPolicy {
 public:
  bool http2() const override { return false; }
  bool CanSend() const override { return active_ == 0 && !stopped_; }
  void OnSent(uint64_t id) override {
    active_ = id;
    heads_.Arm();
  }
  void NoteRead(const uint8_t* p, size_t n) override { heads_.Feed(p, n); }
  bool TakeRawHead(uint16_t status, std::string* out) override { return heads_.Take(status, out); }
  bool RecordsHeads() const override { return true; }
  void OnFinished(uint64_t id) override {
    if (active_ == id) active_ = 0;
  }
  bool KeepsConnectionOnAbandon() const override { return false; }
  bool BackgroundTaskEndsConnection() const override { return true; }
  bool ProbesIdleConnection() const override { return true; }
  void StopSending() override { stopped_ = true; }
  bool stopped() const override { return stopped_; }
  bool Finished(bool peer_gone, size_t live) const override { return stopped_ && live == 0; }
  bool ReadAllowed() const override { return written_; }
  // One delivery: beyond it the socket is simply not read (TCP's own backpressure).
  size_t ReadAheadPerExchange() const override { return 64 * 1024; }
  size_t ReadAheadPerConnection() const override { return 64 * 1024; }
  bool NoteWritten() override {
    if (written_) return false;
    written_ = true;
    return true;
  }

 private:
  uint64_t active_ = 0;  // the exchange on the wire (0 = none)
  bool stopped_ = false;
  bool written_ = false;
  HeadRecorder heads_;
};

class Http2Policy final : public SendPolicy {
 public:
  explicit Http2Policy(uint32_t max_streams) : max_streams_(max_streams) {}
  bool http2() const override { return true; }
  bool CanSend() const override { return in_flight_ < max_streams_ && !stopped_; }
  void OnSent(uint64_t) override {
    ++in_flight_;
    stream_id_ = stream_id_ ? stream_id_ + 2 : 1;
  }
  void OnFinished(uint64_t) override {
    if (in_flight_ > 0) --in_flight_;
  }
  bool KeepsConnectionOnAbandon() const override { return true; }
  bool BackgroundTaskEndsConnection() const override { return false; }
  bool ProbesIdleConnection() const override { return false; }
  void StopSending() override { stopped_ = true; }
  bool stopped() const override { return stopped_; }
  bool Finished(bool peer_gone, size_t live) const override { return (peer_gone || stopped_) && live == 0; }
  void NoteRead(const uint8_t* p, size_t n) override { watch_.Feed(p, n); }
  // hyper returns flow-control window (stream and connection) only as a body is read, and its
  // connection window is 5 MiB: a few unread bodies would starve every other stream. So bodies
  // are read ahead of JS into memory, up to these bounds (past them the window does stall).
  size_t ReadAheadPerExchange() const override { return 16 * 1024 * 1024; }
  size_t ReadAheadPerConnection() const override { return 64 * 1024 * 1024; }
  bool TakeGoAway(GoAway* out) override { return watch_.Take(out); }
  void ConfigureHyper(hyper_clientconn_options* o) const override { hyper_clientconn_options_http2(o, 1); }
  uint32_t last_stream_id() const override { return stream_id_; }

 private:
  uint32_t max_streams_;
  uint32_t in_flight_ = 0;  // streams sent and not finished
  uint32_t stream_id_ = 0;
  bool stopped_ = false;
  H2FrameWatch watch_;
};

inline std::unique_ptr<SendPolicy> SendPolicy::Create(bool http2, uint32_t max_concurrent_streams) {
  if (http2) return std::make_unique<Http2Policy>(max_concurrent_streams);
  return std::make_unique<Http1Policy>();
}

}  // namespace nodehyper
