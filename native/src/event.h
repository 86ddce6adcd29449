// What the drive loop hands to JS: one event per head, data delivery, end, error or state
// change, queued on the Driver and delivered in one batch per loop turn.
#pragma once

#include "connection.h"

namespace nodehyper {

struct Event {
  Event(protocol::Event k, Connection* c, uint64_t id) : kind(k), conn(c), request_id(id) {}
  protocol::Event kind;
  OwnerPin conn;  // keeps the connection and its JS owner alive until delivered
  uint64_t request_id;
  std::unique_ptr<ResponseHead> head;  // kResponse, kInformational
  ChunkList data;                      // kData
  std::unique_ptr<ErrorInfo> error;    // kConnectError, kRequestError, kClosed
};

}  // namespace nodehyper
