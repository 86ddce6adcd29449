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
napi_value HeadToJs(napi_env env, ResponseHead& h);          // moves the head's body out
napi_value InformationalToJs(napi_env env, const ResponseHead& h);
napi_value ChunksToJs(napi_env env, ChunkList& chunks);       // one Buffer; empties the list
napi_value SecurityToJs(napi_env env, const Transport::Security& s, bool http2);
napi_value EventPayloadToJs(napi_env env, Event& ev);
// The connect race's attempts (a list of Attempt tuples) and a proxy's answer to CONNECT.
napi_value AttemptsToJs(napi_env env, const Connector& c);
napi_value TunnelReplyToJs(napi_env env, const TunnelTransport::Reply& r);
// How a connection was set up (a ConnInfo tuple).
napi_value ConnInfoToJs(napi_env env, const Connection::SetupInfo& s);
// The protocol tables as JS objects (binding.protocol()), for the contract test.
napi_value ProtocolTable(napi_env env);

}  // namespace nodehyper
