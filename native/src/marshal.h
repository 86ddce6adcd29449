// Native values to the JS shapes of protocol.h: one function per tuple, each building its flat
// array by named slot.
#pragma once

#include "common.h"
#include "connection.h"
#include "connector.h"
#include "exchange.h"
#include "transport.h"
#include "tunnel.h"

namespace nodehyper {

struct Event;

napi_value ErrorToJs(napi_env env, const ErrorInfo& e);
napi_value ChunksToJs(napi_env env, ChunkList& chunks);       // one Buffer; empties the list
napi_value SecurityToJs(napi_env env, const Transport::Security& s, bool http2);

class Connection;

// One batch of events for JS (protocol.h): records written into the shared Float64Array, heads
// and small bodies appended to one text, the rest in an objects array.
class EventBatch {
 public:
  EventBatch(napi_env env, double* meta, size_t capacity, std::string* text);
  bool full() const { return count_ == capacity_; }
  size_t count() const { return count_; }
  void Add(Event& ev);  // takes the event's head, body and error
  napi_value Text();
  napi_value objects() const { return objects_; }

 private:
  uint32_t AddObject(napi_value v);
  void AddBody(ChunkList& body, double* rec);

  napi_env env_;
  double* meta_;
  size_t capacity_;
  size_t count_ = 0;
  std::string* text_;
  napi_value objects_;
  uint32_t objects_count_ = 0;
  Connection* last_owner_ = nullptr;
  uint32_t last_owner_index_ = 0;
};
// The connect race's attempts (a list of Attempt tuples) and a proxy's answer to CONNECT.
napi_value AttemptsToJs(napi_env env, const Connector& c);
napi_value TunnelReplyToJs(napi_env env, const TunnelTransport::Reply& r);
// How a connection was set up (a ConnInfo tuple).
napi_value ConnInfoToJs(napi_env env, const Connection::SetupInfo& s);
// The protocol tables as JS objects (binding.protocol()), for the contract test.
napi_value ProtocolTable(napi_env env);

}  // namespace nodehyper
