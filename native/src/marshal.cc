#include "marshal.h"

#include "event.h"
#include "protocol.h"

namespace nodehyper {

namespace {

napi_value Latin1(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_latin1(env, s.data(), s.size(), &v);
  return v;
}

napi_value Utf8(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_utf8(env, s.data(), s.size(), &v);
  return v;
}

napi_value Int(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

napi_value Double(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

napi_value Bool(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

napi_value Null(napi_env env) {
  napi_value v;
  napi_get_null(env, &v);
  return v;
}

void Set(napi_env env, napi_value arr, uint32_t slot, napi_value v) { napi_set_element(env, arr, slot, v); }

// The first four head slots (shared by final and informational heads).
napi_value HeadStart(napi_env env, const ResponseHead& h, uint32_t size) {
  napi_value arr;
  napi_create_array_with_length(env, size, &arr);
  Set(env, arr, protocol::kHeadStatus, Int(env, h.status));
  Set(env, arr, protocol::kHeadVersion, Int(env, h.version));
  Set(env, arr, protocol::kHeadReason, Latin1(env, h.reason));
  // One latin1 string for every name and value (NUL-joined): one string creation instead of
  // one per field plus an element store each; JS splits it, or builds Buffers from it, once.
  Set(env, arr, protocol::kHeadRawHeaders, Latin1(env, h.raw_headers));
  return arr;
}

}  // namespace

napi_value ErrorToJs(napi_env env, const ErrorInfo& e) {
  napi_value arr;
  napi_create_array_with_length(env, protocol::kErrSize, &arr);
  Set(env, arr, protocol::kErrLocalCode, Latin1(env, e.local_code));
  Set(env, arr, protocol::kErrHyperCode, Int(env, e.hyper_code));
  Set(env, arr, protocol::kErrMessage, Utf8(env, e.message));
  if (e.sys_errno != 0) {
    int uv_code = e.sys_errno < 0 ? e.sys_errno : uv_translate_sys_error(e.sys_errno);
    napi_value name;
    napi_create_string_utf8(env, uv_err_name(uv_code), NAPI_AUTO_LENGTH, &name);
    Set(env, arr, protocol::kErrErrnoName, name);
    Set(env, arr, protocol::kErrErrno, Int(env, uv_code));
  }
  Set(env, arr, protocol::kErrSyscall, Latin1(env, e.syscall));
  Set(env, arr, protocol::kErrRequestSent, Bool(env, e.request_sent));
  if (!e.tls_code.empty()) Set(env, arr, protocol::kErrTlsCode, Latin1(env, e.tls_code));
  if (!e.field.empty()) Set(env, arr, protocol::kErrField, Latin1(env, e.field));
  return arr;
}

napi_value ChunksToJs(napi_env env, ChunkList& chunks) {
  napi_value v;
  void* data = nullptr;
  if (napi_create_buffer(env, chunks.bytes(), &data, &v) != napi_ok) {
    chunks.Clear();
    return Null(env);
  }
  chunks.CopyTo(static_cast<uint8_t*>(data));
  return v;
}

napi_value HeadToJs(napi_env env, ResponseHead& h) {
  napi_value arr = HeadStart(env, h, protocol::kHeadSize);
  Set(env, arr, protocol::kHeadBody, h.body.empty() ? Null(env) : ChunksToJs(env, h.body));
  Set(env, arr, protocol::kHeadEnded, Bool(env, h.ended));
  Set(env, arr, protocol::kHeadKeepAlive, Int(env, h.keep_alive_ms));
  Set(env, arr, protocol::kHeadClose, Bool(env, h.close));
  Set(env, arr, protocol::kHeadSentAt, Double(env, h.sent_at));
  Set(env, arr, protocol::kHeadHeadAt, Double(env, h.head_at));
  return arr;
}

napi_value InformationalToJs(napi_env env, const ResponseHead& h) {
  return HeadStart(env, h, protocol::kHeadInformationalSize);
}

napi_value SecurityToJs(napi_env env, const Transport::Security& s, bool http2) {
  napi_value arr;
  napi_create_array_with_length(env, protocol::kTlsSize, &arr);
  Set(env, arr, protocol::kTlsAlpn, Latin1(env, s.alpn));
  Set(env, arr, protocol::kTlsVersion, Latin1(env, s.version));
  Set(env, arr, protocol::kTlsCipher, Latin1(env, s.cipher));
  Set(env, arr, protocol::kTlsAuthorizationError, Latin1(env, s.authorization_error));
  Set(env, arr, protocol::kTlsSessionReused, Bool(env, s.session_reused));
  Set(env, arr, protocol::kTlsHttp2, Bool(env, http2));
  return arr;
}

napi_value EventPayloadToJs(napi_env env, Event& ev) {
  switch (ev.kind) {
    case protocol::kResponse:
      return HeadToJs(env, *ev.head);
    case protocol::kInformational:
      return InformationalToJs(env, *ev.head);
    case protocol::kData:
      return ChunksToJs(env, ev.data);
    case protocol::kConnectError:
    case protocol::kRequestError:
    case protocol::kClosed:
      if (ev.error) return ErrorToJs(env, *ev.error);
      break;
    default:
      break;
  }
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

napi_value AttemptsToJs(napi_env env, const Connector& c) {
  const auto& reports = c.reports();
  napi_value list;
  napi_create_array_with_length(env, reports.size(), &list);
  for (size_t i = 0; i < reports.size(); i++) {
    const Connector::Report& r = reports[i];
    napi_value arr;
    napi_create_array_with_length(env, protocol::kAttemptSize, &arr);
    Set(env, arr, protocol::kAttemptAddress, Latin1(env, r.where.address));
    Set(env, arr, protocol::kAttemptFamily, Int(env, r.where.family));
    uint32_t outcome = protocol::kOutcomeNotTried;
    switch (r.outcome) {
      case Connector::Outcome::kNotTried: outcome = protocol::kOutcomeNotTried; break;
      case Connector::Outcome::kPending: outcome = protocol::kOutcomePending; break;
      case Connector::Outcome::kConnected: outcome = protocol::kOutcomeConnected; break;
      case Connector::Outcome::kFailed: outcome = protocol::kOutcomeFailed; break;
      case Connector::Outcome::kAbandoned: outcome = protocol::kOutcomeAbandoned; break;
    }
    Set(env, arr, protocol::kAttemptOutcome, Int(env, outcome));
    if (r.outcome == Connector::Outcome::kFailed) Set(env, arr, protocol::kAttemptError, ErrorToJs(env, r.error));
    Set(env, list, static_cast<uint32_t>(i), arr);
  }
  return list;
}

napi_value TunnelReplyToJs(napi_env env, const TunnelTransport::Reply& r) {
  napi_value arr;
  napi_create_array_with_length(env, protocol::kTunnelSize, &arr);
  Set(env, arr, protocol::kTunnelStatus, Int(env, r.status));
  Set(env, arr, protocol::kTunnelReason, Latin1(env, r.reason));
  Set(env, arr, protocol::kTunnelRawHeaders, Latin1(env, r.raw_headers));
  return arr;
}

napi_value ConnInfoToJs(napi_env env, const Connection::SetupInfo& s) {
  napi_value arr;
  napi_create_array_with_length(env, protocol::kConnSize, &arr);
  Set(env, arr, protocol::kConnStartedAt, Double(env, s.started_at));
  Set(env, arr, protocol::kConnConnectedAt, Double(env, s.connected_at));
  Set(env, arr, protocol::kConnSecuredAt, Double(env, s.secured_at));
  Set(env, arr, protocol::kConnReadyAt, Double(env, s.ready_at));
  const SocketAddresses& a = s.addresses;
  Set(env, arr, protocol::kConnFamily, Int(env, a.family));
  Set(env, arr, protocol::kConnLocalAddress, Latin1(env, a.local_address));
  Set(env, arr, protocol::kConnLocalPort, Int(env, a.local_port));
  Set(env, arr, protocol::kConnRemoteAddress, Latin1(env, a.remote_address));
  Set(env, arr, protocol::kConnRemotePort, Int(env, a.remote_port));
  return arr;
}

napi_value ProtocolTable(napi_env env) {
  napi_value root, table;
  napi_create_object(env, &root);
#define X(name, value) napi_set_named_property(env, table, #name, Int(env, value));
  napi_create_object(env, &table);
  NODE_HYPER_EVENTS(X)
  napi_set_named_property(env, root, "Event", table);
  napi_create_object(env, &table);
  NODE_HYPER_HEAD(X)
  napi_set_named_property(env, root, "Head", table);
  napi_create_object(env, &table);
  NODE_HYPER_ERR(X)
  napi_set_named_property(env, root, "Err", table);
  napi_create_object(env, &table);
  NODE_HYPER_TLS(X)
  napi_set_named_property(env, root, "Tls", table);
  napi_create_object(env, &table);
  NODE_HYPER_ATTEMPT(X)
  napi_set_named_property(env, root, "Attempt", table);
  napi_create_object(env, &table);
  NODE_HYPER_ATTEMPT_OUTCOME(X)
  napi_set_named_property(env, root, "AttemptOutcome", table);
  napi_create_object(env, &table);
  NODE_HYPER_TUNNEL(X)
  napi_set_named_property(env, root, "Tunnel", table);
  napi_create_object(env, &table);
  NODE_HYPER_CONN_INFO(X)
  napi_set_named_property(env, root, "ConnInfo", table);
#undef X
  return root;
}

}  // namespace nodehyper
