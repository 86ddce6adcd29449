#include "wrap.h"

#include "addon.h"
#include "marshal.h"
#include "tls.h"

namespace nodehyper {

namespace {

// Type tags keep a Connection from being handed a foreign object as its executor.
constexpr napi_type_tag kExecutorTag = {0x6e6f64656879ULL, 0x7065722d65786563ULL};
constexpr napi_type_tag kSecureContextTag = {0x6e6f64656879ULL, 0x7065722d746c7363ULL};

Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// (id: number, bytes: Uint8Array) arguments; false with a TypeError pending when they are not.
bool IdAndBytes(const Napi::CallbackInfo& info, const char* usage, const char* not_bytes, uint64_t* id, Napi::Uint8Array* bytes) {
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsTypedArray()) {
    ThrowType(info.Env(), usage);
    return false;
  }
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) {
    ThrowType(info.Env(), not_bytes);
    return false;
  }
  *id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  *bytes = ta.As<Napi::Uint8Array>();
  return true;
}

// A latin1 string, read in one call into `small` when it fits (a request head usually does:
// napi writes at most cap - 1 characters and a NUL, so fewer than that means the whole string),
// else into `*big`. `*out` views whichever holds it.
bool ReadLatin1(napi_env env, napi_value v, char* small, size_t cap, std::string* big, std::string_view* out) {
  size_t len = 0;
  if (napi_get_value_string_latin1(env, v, small, cap, &len) != napi_ok) return false;
  if (len < cap - 1) {
    *out = std::string_view(small, len);
    return true;
  }
  if (napi_get_value_string_latin1(env, v, nullptr, 0, &len) != napi_ok) return false;
  big->resize(len);
  size_t copied = 0;
  // napi writes a NUL terminator: give it room (std::string keeps one past size()).
  if (len > 0 && napi_get_value_string_latin1(env, v, &(*big)[0], len + 1, &copied) != napi_ok) return false;
  *out = std::string_view(*big);
  return true;
}

bool GetLatin1(napi_env env, napi_value v, std::string* out) {
  char small[1024];
  std::string_view view;
  if (!ReadLatin1(env, v, small, sizeof small, out, &view)) return false;
  if (view.data() == small) out->assign(view);
  return true;
}

bool GetBool(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value();
  return dflt;
}

Napi::Value ErrorResult(Napi::Env env, const ErrorInfo& e) { return Napi::Value(env, ErrorToJs(env, e)); }

bool GetUtf8(const Napi::Object& o, const char* key, std::string* out) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) return false;
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

int GetInt(const Napi::Object& o, const char* key, int dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : dflt;
}

std::vector<std::string> GetStrings(const Napi::Object& o, const char* key) {
  std::vector<std::string> out;
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) return out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (e.IsString()) out.push_back(e.As<Napi::String>().Utf8Value());
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- SecureContext

Napi::Function SecureContextWrap::Define(Napi::Env env) {
  return DefineClass(env, "SecureContext",
                     {InstanceMethod<&SecureContextWrap::CachedSessions>("cachedSessions")});
}

// new SecureContext({ ca: string[], cert, key, passphrase, alpn: string[], ciphers, ciphersuites,
//   minVersion, maxVersion (OpenSSL version numbers), rejectUnauthorized, sessionCache })
// The JS layer validates; bad PEM or settings throw an Error with a `code`.
SecureContextWrap::SecureContextWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SecureContextWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowType(env, "SecureContext(options): options must be an object");
    return;
  }
  Napi::Object o = info[0].As<Napi::Object>();
  TlsConfig cfg;
  cfg.ca = GetStrings(o, "ca");
  GetUtf8(o, "cert", &cfg.cert);
  GetUtf8(o, "key", &cfg.key);
  GetUtf8(o, "passphrase", &cfg.passphrase);
  cfg.alpn = GetStrings(o, "alpn");
  GetUtf8(o, "ciphers", &cfg.ciphers);
  GetUtf8(o, "ciphersuites", &cfg.ciphersuites);
  cfg.min_version = GetInt(o, "minVersion", TLS1_2_VERSION);
  cfg.max_version = GetInt(o, "maxVersion", 0);
  cfg.reject_unauthorized = GetBool(o, "rejectUnauthorized", true);
  cfg.session_cache = GetBool(o, "sessionCache", true);
  std::string code, message;
  ctx_ = TlsContext::Create(cfg, &code, &message);
  if (!ctx_) {
    Napi::Error err = Napi::Error::New(env, message);
    err.Set("code", Napi::String::New(env, code));
    err.ThrowAsJavaScriptException();
    return;
  }
  napi_type_tag_object(env, info.This(), &kSecureContextTag);
}

Napi::Value SecureContextWrap::CachedSessions(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(ctx_ ? ctx_->cached_sessions() : 0));
}

// ---------------------------------------------------------------- Executor

Napi::Function ExecutorWrap::Define(Napi::Env env) {
  return DefineClass(env, "Executor", {});
}

ExecutorWrap::ExecutorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ExecutorWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[1].As<Napi::TypedArray>().ElementLength() < protocol::kSlotSize) {
    ThrowType(env, "Executor(onEvents, records): onEvents must be a function, records a Float64Array");
    return;
  }
  Addon* addon = env.GetInstanceData<Addon>();
  Napi::Object resource = Napi::Object::New(env);
  driver_ = RefPtr<Driver>(new Driver(addon, env, info[0], resource, info[1]));
  napi_type_tag_object(env, info.This(), &kExecutorTag);
}

ExecutorWrap::~ExecutorWrap() {
  if (driver_) driver_->DetachWrap();
}

// ---------------------------------------------------------------- Connection

Napi::Function ConnectionWrap::Define(Napi::Env env) {
  return DefineClass(env, "Connection",
                     {
                         InstanceMethod<&ConnectionWrap::ConnectTcp>("connectTcp"),
                         InstanceMethod<&ConnectionWrap::ConnectUnix>("connectUnix"),
                         InstanceMethod<&ConnectionWrap::ConnectTcpRace>("connectTcpRace"),
                         InstanceMethod<&ConnectionWrap::ConnectAttempts>("connectAttempts"),
                         InstanceMethod<&ConnectionWrap::TunnelReply>("tunnelReply"),
                         InstanceMethod<&ConnectionWrap::Request>("request"),
                         InstanceMethod<&ConnectionWrap::Read>("read"),
                         InstanceMethod<&ConnectionWrap::Write>("write"),
                         InstanceMethod<&ConnectionWrap::End>("end"),
                         InstanceMethod<&ConnectionWrap::FailUpload>("failUpload"),
                         InstanceMethod<&ConnectionWrap::Abort>("abort"),
                         InstanceMethod<&ConnectionWrap::DumpBody>("dump"),
                         InstanceMethod<&ConnectionWrap::Collect>("collect"),
                         InstanceMethod<&ConnectionWrap::Close>("close"),
                         InstanceMethod<&ConnectionWrap::Destroy>("destroy"),
                         InstanceMethod<&ConnectionWrap::TlsInfo>("tlsInfo"),
                         InstanceMethod<&ConnectionWrap::ConnectionInfo>("connectionInfo"),
                     });
}

ConnectionWrap::ConnectionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ConnectionWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsObject() || !info[2].IsObject()) {
    ThrowType(env, "Connection(executor, owner, options): bad arguments");
    return;
  }
  bool is_executor = false;
  napi_check_object_type_tag(env, info[0], &kExecutorTag, &is_executor);
  if (!is_executor) {
    ThrowType(env, "Connection: executor must be a native Executor");
    return;
  }
  ExecutorWrap* ew = ExecutorWrap::Unwrap(info[0].As<Napi::Object>());
  if (!ew || !ew->driver()) {
    ThrowType(env, "Connection: executor is not usable");
    return;
  }
  Napi::Object o = info[2].As<Napi::Object>();
  Connection::Options opts;
  opts.http2 = GetBool(o, "http2", false);
  Napi::Value mcs = o.Get("maxConcurrentStreams");
  if (mcs.IsNumber() && mcs.As<Napi::Number>().Uint32Value() > 0) opts.max_concurrent_streams = mcs.As<Napi::Number>().Uint32Value();
  opts.preserve_header_case = GetBool(o, "preserveHeaderCase", true);
  opts.preserve_header_order = GetBool(o, "preserveHeaderOrder", true);
  opts.allow_multiline_headers = GetBool(o, "allowMultilineHeaders", false);
  Napi::Value ct = o.Get("connectTimeout");
  if (ct.IsNumber() && ct.As<Napi::Number>().DoubleValue() > 0) opts.connect_timeout = static_cast<uint64_t>(ct.As<Napi::Number>().DoubleValue());
  // { context: SecureContext, servername, verifyHost, sessionKey } -> false after throwing
  auto tls_of = [&](Napi::Value v, std::shared_ptr<TlsContext>* ctx, std::string* servername, std::string* verify_host,
                    std::string* session_key) {
    Napi::Object t = v.As<Napi::Object>();
    Napi::Value sc = t.Get("context");
    bool is_ctx = false;
    if (sc.IsObject()) napi_check_object_type_tag(env, sc, &kSecureContextTag, &is_ctx);
    SecureContextWrap* scw = is_ctx ? SecureContextWrap::Unwrap(sc.As<Napi::Object>()) : nullptr;
    if (!scw || !scw->context()) {
      ThrowType(env, "Connection: tls.context must be a native SecureContext");
      return false;
    }
    *ctx = scw->context();
    GetUtf8(t, "servername", servername);
    GetUtf8(t, "verifyHost", verify_host);
    GetUtf8(t, "sessionKey", session_key);
    return true;
  };
  Napi::Value tls = o.Get("tls");
  if (tls.IsObject() && !tls_of(tls, &opts.tls, &opts.servername, &opts.verify_host, &opts.session_key)) return;
  // socket: { localAddress, noDelay, keepAlive, keepAliveDelay (s) }
  Napi::Value sock = o.Get("socket");
  if (sock.IsObject()) {
    Napi::Object so = sock.As<Napi::Object>();
    GetUtf8(so, "localAddress", &opts.socket.local_address);
    opts.socket.no_delay = GetBool(so, "noDelay", true);
    opts.socket.keep_alive = GetBool(so, "keepAlive", true);
    Napi::Value kd = so.Get("keepAliveDelay");
    if (kd.IsNumber()) opts.socket.keep_alive_delay_s = kd.As<Napi::Number>().Uint32Value();
  }
  // proxy: { tls?: {...as tls}, tunnelHead?: latin1 CONNECT head, tunnelAuthority?: host:port }
  Napi::Value proxy = o.Get("proxy");
  if (proxy.IsObject()) {
    Napi::Object po = proxy.As<Napi::Object>();
    Napi::Value ptls = po.Get("tls");
    if (ptls.IsObject() && !tls_of(ptls, &opts.proxy_tls, &opts.proxy_servername, &opts.proxy_verify_host, &opts.proxy_session_key)) return;
    Napi::Value head = po.Get("tunnelHead");
    if (head.IsString() && !GetLatin1(env, head, &opts.tunnel_head)) {
      ThrowType(env, "Connection: bad proxy.tunnelHead");
      return;
    }
    GetUtf8(po, "tunnelAuthority", &opts.tunnel_authority);
  }
  conn_ = RefPtr<Connection>(new Connection(ew->driver(), env, info[1], opts, this));
}

ConnectionWrap::~ConnectionWrap() {
  if (conn_) conn_->DetachWrap();
}

Napi::Value ConnectionWrap::ConnectTcp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber())
    return ThrowType(env, "connectTcp(family, address, port)");
  int family = info[0].As<Napi::Number>().Int32Value();
  std::string address = info[1].As<Napi::String>().Utf8Value();
  int port = info[2].As<Napi::Number>().Int32Value();
  ErrorInfo err;
  if (!conn_->StartTcp(family, address, port, &err)) return ErrorResult(env, err);
  return env.Undefined();
}

Napi::Value ConnectionWrap::ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return ThrowType(env, "connectUnix(path)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  ErrorInfo err;
  if (!conn_->StartUnix(path, &err)) return ErrorResult(env, err);
  return env.Undefined();
}

// connectTcpRace([family, address, family, address, ...], port, attemptDelayMs)
Napi::Value ConnectionWrap::ConnectTcpRace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsArray() || !info[1].IsNumber() || !info[2].IsNumber())
    return ThrowType(env, "connectTcpRace(candidates, port, attemptDelayMs)");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<Connector::Candidate> candidates;
  for (uint32_t i = 0; i + 1 < list.Length(); i += 2) {
    Napi::Value f = list.Get(i);
    Napi::Value a = list.Get(i + 1);
    if (!f.IsNumber() || !a.IsString()) return ThrowType(env, "connectTcpRace: candidates are [family, address, ...]");
    candidates.push_back({f.As<Napi::Number>().Int32Value(), a.As<Napi::String>().Utf8Value()});
  }
  if (candidates.empty()) return ThrowType(env, "connectTcpRace: no candidates");
  int port = info[1].As<Napi::Number>().Int32Value();
  double delay = info[2].As<Napi::Number>().DoubleValue();
  ErrorInfo err;
  if (!conn_->StartTcpRace(std::move(candidates), port, delay > 0 ? static_cast<uint64_t>(delay) : 0, &err)) return ErrorResult(env, err);
  return env.Undefined();
}

// The connect race's attempts (protocol::Attempt tuples), or undefined without a race.
Napi::Value ConnectionWrap::ConnectAttempts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Connector* c = conn_->connector();
  if (!c) return env.Undefined();
  return Napi::Value(env, AttemptsToJs(env, *c));
}

// The proxy's answer to CONNECT (protocol::Tunnel), or undefined before it (or without a tunnel).
Napi::Value ConnectionWrap::TunnelReply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const TunnelTransport* t = conn_->tunnel();
  if (!t || t->reply().status == 0) return env.Undefined();
  return Napi::Value(env, TunnelReplyToJs(env, t->reply()));
}

namespace {
// A number of ms, or 0 for anything else (undefined included). napi_get_value_double checks the
// type itself: asking napi_typeof first cost one more call per argument on every request.
uint64_t ArgMs(const Napi::CallbackInfo& info, size_t i) {
  double d = 0;
  if (info.Length() > i && napi_get_value_double(info.Env(), info[i], &d) == napi_ok && d > 0) return static_cast<uint64_t>(d);
  return 0;
}
}  // namespace

// request(id, head, body?, headersTimeout?, bodyTimeout?, expectContinueMs?, wantInformational?)
//   head: method NUL target (NUL name NUL value)* (latin1; one string instead of one per field)
//   body: Uint8Array (sent as is) | true (streamed with write/end) | undefined
//   -> undefined, or an Err tuple (closed connection, or a field hyper rejected)
Napi::Value ConnectionWrap::Request(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t id_arg = 0;
  if (info.Length() < 2 || napi_get_value_int64(env, info[0], &id_arg) != napi_ok) return ThrowType(env, "request(id, head, body)");
  if (!conn_->accepting()) return ErrorResult(env, ErrorInfo::Local("ERR_CLOSED", "the connection is closed"));
  uint64_t id = static_cast<uint64_t>(id_arg);
  // Read in place: a head that fits the stack buffer costs no allocation and no second copy.
  char small[1024];
  std::string big;
  std::string_view head;
  if (!ReadLatin1(env, info[1], small, sizeof small, &big, &head)) return ThrowType(env, "request(id, head, body): head must be a string");
  const uint8_t* body_data = nullptr;
  size_t body_len = 0;
  bool has_body = false;
  bool streamed = false;
  bool flag = false;
  if (info.Length() > 2 && napi_get_value_bool(env, info[2], &flag) == napi_ok) {
    streamed = has_body = flag;  // true: streamed; false: no body
  } else if (info.Length() > 2 && info[2].IsTypedArray()) {
    Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_uint8_array) return ThrowType(env, "request: body must be a Uint8Array");
    Napi::Uint8Array u8 = ta.As<Napi::Uint8Array>();
    body_data = u8.Data();
    body_len = u8.ByteLength();
    has_body = true;
  }
  ErrorInfo rejected;
  hyper_request* req = BuildRequest(head, &rejected);
  if (!req) return ErrorResult(env, rejected);
  if (conn_->http2()) hyper_request_set_version(req, HYPER_HTTP_VERSION_2);
  auto ex = std::make_unique<Exchange>(id);
  ex->request.reset(req);
  ex->deadlines.headers_timeout = ArgMs(info, 3);
  ex->deadlines.body_timeout = ArgMs(info, 4);
  ex->deadlines.continue_wait = ArgMs(info, 5);
  bool want_informational = false;
  ex->want_informational = info.Length() > 6 && napi_get_value_bool(env, info[6], &want_informational) == napi_ok && want_informational;
  ex->tunnel = head.substr(0, 8) == std::string_view("CONNECT\0", 8);
  if (ex->want_informational || ex->deadlines.continue_wait) {
    ex->info = Exchange::InfoCtx{conn_.get(), id};
    hyper_request_on_informational(ex->request.get(), Connection::OnInformational, &ex->info);
  }
  std::unique_ptr<UploadCell> cell;
  if (has_body) {
    cell = std::make_unique<UploadCell>(conn_.get(), id);
    if (!streamed) {
      if (body_len) cell->Write(hyper_buf_copy(body_data, body_len));
      cell->End();
    }
    if (ex->deadlines.continue_wait) cell->Gate();
    hyper_body* b = hyper_body_new();
    hyper_body_set_userdata(b, cell.get());
    hyper_body_set_data_func(b, UploadCell::OnData);
    hyper_request_set_body(ex->request.get(), b);  // consumes b, even on failure
  }
  conn_->Enqueue(std::move(ex), std::move(cell));
  return env.Undefined();
}

Napi::Value ConnectionWrap::Read(const Napi::CallbackInfo& info) {
  if (info.Length() >= 1 && info[0].IsNumber())
    conn_->WantRead(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

// write(id, chunk: Uint8Array) -> 1 (go on) | 0 (wait for a drain event) | -1 (request is gone)
Napi::Value ConnectionWrap::Write(const Napi::CallbackInfo& info) {
  uint64_t id = 0;
  Napi::Uint8Array u8;
  if (!IdAndBytes(info, "write(id, chunk)", "write: chunk must be a Uint8Array", &id, &u8)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), conn_->WriteUpload(id, u8.Data(), u8.ByteLength()));
}

Napi::Value ConnectionWrap::End(const Napi::CallbackInfo& info) {
  if (info.Length() >= 1 && info[0].IsNumber()) conn_->EndUpload(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

Napi::Value ConnectionWrap::FailUpload(const Napi::CallbackInfo& info) {
  if (info.Length() >= 1 && info[0].IsNumber()) conn_->FailUpload(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

// abort(id) -> whether the connection still takes requests (false: HTTP/1 closes it)
Napi::Value ConnectionWrap::Abort(const Napi::CallbackInfo& info) {
  bool accepting = conn_->accepting();
  if (info.Length() >= 1 && info[0].IsNumber()) accepting = conn_->Abort(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return Napi::Boolean::New(info.Env(), accepting);
}

// dump(id, limit?): limit in bytes (absent or Infinity: no limit)
Napi::Value ConnectionWrap::DumpBody(const Napi::CallbackInfo& info) {
  if (info.Length() >= 1 && info[0].IsNumber()) {
    uint64_t limit = UINT64_MAX;
    if (info.Length() >= 2 && info[1].IsNumber()) {
      double d = info[1].As<Napi::Number>().DoubleValue();
      if (d >= 0 && d < 1.8e19) limit = static_cast<uint64_t>(d);
    }
    conn_->Dump(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()), limit);
  }
  return info.Env().Undefined();
}

// collect(id, dest: Uint8Array) -> whether the addon fills it: the rest of the body goes straight
// into dest (see Connection::Collect); false leaves everything as it was. JS keeps dest reachable
// until the exchange's kEnd or error, or until it aborts the exchange (which stops the copying).
Napi::Value ConnectionWrap::Collect(const Napi::CallbackInfo& info) {
  uint64_t id = 0;
  Napi::Uint8Array u8;
  if (!IdAndBytes(info, "collect(id, dest)", "collect: dest must be a Uint8Array", &id, &u8)) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), conn_->Collect(id, u8.Data(), u8.ByteLength()));
}

Napi::Value ConnectionWrap::Close(const Napi::CallbackInfo& info) {
  conn_->RequestClose();
  return info.Env().Undefined();
}

// destroy(code?, message?)
Napi::Value ConnectionWrap::Destroy(const Napi::CallbackInfo& info) {
  ErrorInfo why;
  why.local_code = "ERR_DESTROYED";
  why.message = "the connection was destroyed";
  if (info.Length() >= 1 && info[0].IsString()) why.local_code = info[0].As<Napi::String>().Utf8Value();
  if (info.Length() >= 2 && info[1].IsString()) why.message = info[1].As<Napi::String>().Utf8Value();
  conn_->RequestDestroy(std::move(why));
  return info.Env().Undefined();
}

// The TLS tuple (protocol::Tls) once a TLS handshake is done; undefined for cleartext.
Napi::Value ConnectionWrap::TlsInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Transport::Security sec = conn_->security();
  if (!sec.tls) return env.Undefined();
  return Napi::Value(env, SecurityToJs(env, sec, conn_->http2()));
}

// How the connection was set up (protocol::ConnInfo): step times and the socket's addresses.
Napi::Value ConnectionWrap::ConnectionInfo(const Napi::CallbackInfo& info) {
  return Napi::Value(info.Env(), ConnInfoToJs(info.Env(), conn_->setup_info()));
}

}  // namespace nodehyper
