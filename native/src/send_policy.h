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
#include <memory>

namespace nodehyper {

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

  static std::unique_ptr<SendPolicy> Create(bool http2, uint32_t max_concurrent_streams);
};

class Http1Policy final : public SendPolicy {
 public:
  bool http2() const override { return false; }
  bool CanSend() const override { return active_ == 0 && !stopped_; }
  void OnSent(uint64_t id) override { active_ = id; }
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
  bool NoteWritten() override {
    if (written_) return false;
    written_ = true;
    return true;
  }

 private:
  uint64_t active_ = 0;  // the exchange on the wire (0 = none)
  bool stopped_ = false;
  bool written_ = false;
};

class Http2Policy final : public SendPolicy {
 public:
  explicit Http2Policy(uint32_t max_streams) : max_streams_(max_streams) {}
  bool http2() const override { return true; }
  bool CanSend() const override { return in_flight_ < max_streams_ && !stopped_; }
  void OnSent(uint64_t) override { ++in_flight_; }
  void OnFinished(uint64_t) override {
    if (in_flight_ > 0) --in_flight_;
  }
  bool KeepsConnectionOnAbandon() const override { return true; }
  bool BackgroundTaskEndsConnection() const override { return false; }
  bool ProbesIdleConnection() const override { return false; }
  void StopSending() override { stopped_ = true; }
  bool stopped() const override { return stopped_; }
  bool Finished(bool peer_gone, size_t live) const override { return (peer_gone || stopped_) && live == 0; }

 private:
  uint32_t max_streams_;
  uint32_t in_flight_ = 0;  // streams sent and not finished
  bool stopped_ = false;
};

inline std::unique_ptr<SendPolicy> SendPolicy::Create(bool http2, uint32_t max_concurrent_streams) {
  if (http2) return std::make_unique<Http2Policy>(max_concurrent_streams);
  return std::make_unique<Http1Policy>();
}

}  // namespace nodehyper
