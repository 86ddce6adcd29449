// JS-visible classes: Executor (a Driver) and Connection (a native connection handle).
// The TypeScript layer in lib/ wraps these; they are not the public API.
#pragma once

#include "common.h"
#include "connection.h"
#include "driver.h"

namespace nodehyper {

class TlsContext;

// A TLS configuration (SSL_CTX + session cache), shared by the connections given it.
class SecureContextWrap : public Napi::ObjectWrap<SecureContextWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit SecureContextWrap(const Napi::CallbackInfo& info);
  const std::shared_ptr<TlsContext>& context() const { return ctx_; }

 private:
  Napi::Value CachedSessions(const Napi::CallbackInfo& info);
  std::shared_ptr<TlsContext> ctx_;
};

class ExecutorWrap : public Napi::ObjectWrap<ExecutorWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ExecutorWrap(const Napi::CallbackInfo& info);
  ~ExecutorWrap() override;
  Driver* driver() const { return driver_.get(); }

 private:
  RefPtr<Driver> driver_;
};

class ConnectionWrap : public Napi::ObjectWrap<ConnectionWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ConnectionWrap(const Napi::CallbackInfo& info);
  ~ConnectionWrap() override;

 private:
  Napi::Value ConnectTcp(const Napi::CallbackInfo& info);
  Napi::Value ConnectUnix(const Napi::CallbackInfo& info);
  Napi::Value ConnectTcpRace(const Napi::CallbackInfo& info);
  Napi::Value ConnectAttempts(const Napi::CallbackInfo& info);
  Napi::Value TunnelReply(const Napi::CallbackInfo& info);
  Napi::Value Request(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value End(const Napi::CallbackInfo& info);
  Napi::Value FailUpload(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value DumpBody(const Napi::CallbackInfo& info);
  Napi::Value Collect(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value TlsInfo(const Napi::CallbackInfo& info);
  Napi::Value ConnectionInfo(const Napi::CallbackInfo& info);
  RefPtr<Connection> conn_;
};

}  // namespace nodehyper
