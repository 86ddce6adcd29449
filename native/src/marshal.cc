#include "marshal.h"

#include "connection.h"

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

EventBatch::EventBatch(napi_env env, double* meta, size_t capacity, std::string* text)
    : env_(env), meta_(meta), capacity_(capacity), text_(text) {
  text_->clear();
  napi_create_array(env, &objects_);
}

uint32_t EventBatch::AddObject(napi_value v) {
  napi_set_element(env_, objects_, objects_count_, v);
  return objects_count_++;
}

void EventBatch::AddBody(ChunkList& body, double* rec) {
  if (body.empty()) return;
  size_t n = body.bytes();
  if (n <= protocol::kLimitInlineBody) {
    rec[protocol::kSlotBodyStart] = static_cast<double>(text_->size());
    rec[protocol::kSlotBodyLength] = static_cast<double>(n);
    size_t at = text_->size();
    text_->resize(at + n);
    body.CopyTo(reinterpret_cast<uint8_t*>(&(*text_)[at]));
  } else {
    rec[protocol::kSlotBodyLength] = static_cast<double>(n);
    rec[protocol::kSlotObject] = AddObject(ChunksToJs(env_, body));
  }
}

void EventBatch::Add(Event& ev) {
  double* rec = meta_ + count_ * protocol::kSlotSize;
  ++count_;
  rec[protocol::kSlotKind] = ev.kind;
  Connection* owner = ev.conn.get();
  if (owner != last_owner_) {
    last_owner_ = owner;
    last_owner_index_ = AddObject(owner->Owner());
  }
  rec[protocol::kSlotOwner] = last_owner_index_;
  rec[protocol::kSlotId] = static_cast<double>(ev.request_id);
  rec[protocol::kSlotBodyStart] = -1;
  rec[protocol::kSlotBodyLength] = -1;
  rec[protocol::kSlotObject] = -1;
  switch (ev.kind) {
    case protocol::kResponse:
    case protocol::kInformational: {
      ResponseHead& h = *ev.head;
      rec[protocol::kSlotStatus] = h.status;
      rec[protocol::kSlotVersion] = h.version;
      rec[protocol::kSlotFlags] = (h.ended ? uint32_t{protocol::kFlagEnded} : 0u) | (h.notes.close ? uint32_t{protocol::kFlagClose} : 0u);
      rec[protocol::kSlotKeepAlive] = static_cast<double>(h.notes.keep_alive_ms);
      rec[protocol::kSlotSentAt] = h.sent_at;  // 0 on a 1xx head
      rec[protocol::kSlotHeadAt] = h.head_at;
      rec[protocol::kSlotTextStart] = static_cast<double>(text_->size());
      rec[protocol::kSlotTextLength] = static_cast<double>(h.reason.size() + 1 + h.raw_headers.size());
      text_->append(h.reason);
      text_->push_back('\0');
      text_->append(h.raw_headers);
      AddBody(h.body, rec);
      break;
    }
    case protocol::kData:
      AddBody(ev.data, rec);
      break;
    case protocol::kConnectError:
    case protocol::kRequestError:
    case protocol::kClosed:
      if (ev.error) rec[protocol::kSlotObject] = AddObject(ErrorToJs(env_, *ev.error));
      break;
    default:
      break;
  }
}

napi_value EventBatch::Text() {
  napi_value v;
  napi_create_string_latin1(env_, text_->data(), text_->size(), &v);
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
  NODE_HYPER_SLOT(X)
  napi_set_named_property(env, root, "Slot", table);
  napi_create_object(env, &table);
  NODE_HYPER_FLAGS(X)
  napi_set_named_property(env, root, "Flag", table);
  napi_create_object(env, &table);
  NODE_HYPER_LIMITS(X)
  napi_set_named_property(env, root, "Limit", table);
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
