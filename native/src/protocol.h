// The wire contract between the addon and lib/: event kinds and the slot of every field in the
// flat arrays that cross N-API (flat arrays are a measured choice: one allocation, no property
// lookups). lib/protocol.ts holds the same tables; test/protocol.test.ts compares the two
// through binding.protocol() (built from the same lists below), so neither side can change alone.
#pragma once

#include <cstdint>

// Events delivered to JS as [kind, owner, requestId, payload] quadruples.
#define NODE_HYPER_EVENTS(X)                                                                  \
  X(Connected, 1)      /* payload: undefined (TLS details via tlsInfo()) */                  \
  X(ConnectError, 2)   /* payload: Err tuple */                                               \
  X(Response, 3)       /* payload: Head tuple */                                              \
  X(Data, 4)           /* payload: Buffer (the chunks of one drive, coalesced) */             \
  X(End, 5)            /* payload: undefined */                                               \
  X(RequestError, 6)   /* payload: Err tuple */                                               \
  X(Closed, 7)         /* payload: Err tuple, or undefined for a clean close */               \
  X(Drain, 8)          /* payload: undefined (the upload queue fell below its low mark) */    \
  X(Informational, 9)  /* payload: Head tuple, the first InformationalSize slots */           \
  X(Draining, 10)      /* payload: undefined (no new requests on this connection: GOAWAY) */

// Response head tuple.
#define NODE_HYPER_HEAD(X)                                                                      \
  X(Status, 0)                                                                                  \
  X(Version, 1)     /* 10, 11, 20 (hyper's HYPER_HTTP_VERSION_*) */                             \
  X(Reason, 2)      /* latin1 */                                                                \
  X(RawHeaders, 3)  /* names and values in wire order, joined by NUL (never valid in a field) */ \
  X(Body, 4)        /* Buffer: body bytes that arrived with the head, or null */                \
  X(Ended, 5)       /* the body ended with the head (the exchange is over) */                   \
  X(KeepAlive, 6)   /* ms from `Keep-Alive: timeout=N`, -1 when absent */                        \
  X(Close, 7)       /* `Connection: close`: the connection will not be reused */                \
  X(SentAt, 8)      /* ms, uv_hrtime clock: the request was handed to hyper to write */         \
  X(HeadAt, 9)      /* ms, uv_hrtime clock: hyper parsed the response head */                   \
  X(Size, 10)                                                                                   \
  X(InformationalSize, 4)  /* 1xx heads carry the first four slots only */

// Error tuple (native ErrorInfo): every error the addon reports has this shape.
#define NODE_HYPER_ERR(X)                                                                        \
  X(LocalCode, 0)    /* node-hyper's own code (ERR_CONNECTION_CLOSED, ERR_*_TIMEOUT, ...) or "" */ \
  X(HyperCode, 1)    /* hyper_code, 0 when hyper did not report it */                             \
  X(Message, 2)                                                                                  \
  X(ErrnoName, 3)    /* ECONNRESET, ... or undefined */                                           \
  X(Errno, 4)        /* libuv errno (negative) or undefined */                                    \
  X(Syscall, 5)                                                                                  \
  X(RequestSent, 6)  /* some bytes of the request reached the socket */                           \
  X(TlsCode, 7)      /* Node's TLS code or undefined */                                           \
  X(Field, 8)        /* rejected input: the offending field ("path", "headers.x") or undefined */ \
  X(Size, 9)

// TLS tuple returned by Connection.tlsInfo() once the handshake is done.
#define NODE_HYPER_TLS(X)                                               \
  X(Alpn, 0)                                                            \
  X(Version, 1)                                                         \
  X(Cipher, 2)                                                          \
  X(AuthorizationError, 3)  /* "" when the certificate verified */      \
  X(SessionReused, 4)                                                   \
  X(Http2, 5)                                                           \
  X(Size, 6)

// One connect attempt of a happy-eyeballs race (Connection.connectAttempts(): a list of these).
#define NODE_HYPER_ATTEMPT(X)                                                     \
  X(Address, 0)                                                                   \
  X(Family, 1)   /* 4 or 6 */                                                     \
  X(Outcome, 2)  /* an AttemptOutcome */                                          \
  X(Error, 3)    /* Err tuple when the attempt failed, else undefined */          \
  X(Size, 4)

// What became of an attempt.
#define NODE_HYPER_ATTEMPT_OUTCOME(X)                                             \
  X(NotTried, 0)   /* the race ended before its turn */                           \
  X(Pending, 1)    /* still connecting when the connect timed out */              \
  X(Connected, 2)  /* the winner */                                               \
  X(Failed, 3)                                                                    \
  X(Abandoned, 4)  /* closed: another attempt won, or the connect was given up */

// A forward proxy's answer to CONNECT (Connection.tunnelReply(), after ERR_PROXY_REJECTED).
#define NODE_HYPER_TUNNEL(X)                                                      \
  X(Status, 0)                                                                    \
  X(Reason, 1)      /* latin1 */                                                  \
  X(RawHeaders, 2)  /* NUL-joined, as the Head tuple's */                         \
  X(Size, 3)

// How a connection was set up (Connection.connectionInfo()). Times are ms on the uv_hrtime clock,
// 0 when the step did not happen (yet).
#define NODE_HYPER_CONN_INFO(X)                                                     \
  X(StartedAt, 0)      /* the socket connect started */                             \
  X(ConnectedAt, 1)    /* the socket connected */                                   \
  X(SecuredAt, 2)      /* TLS (and a proxy's CONNECT tunnel) done; 0 without them */ \
  X(ReadyAt, 3)        /* hyper's handshake done: the connection takes requests */  \
  X(Family, 4)         /* 4 or 6; 0 for a Unix socket (no addresses) */             \
  X(LocalAddress, 5)                                                                \
  X(LocalPort, 6)                                                                   \
  X(RemoteAddress, 7)  /* the peer: through a proxy, the proxy */                   \
  X(RemotePort, 8)                                                                  \
  X(Size, 9)

namespace nodehyper {
namespace protocol {

enum Event : int32_t {
#define X(name, value) k##name = value,
  NODE_HYPER_EVENTS(X)
#undef X
};
enum Head : uint32_t {
#define X(name, value) kHead##name = value,
  NODE_HYPER_HEAD(X)
#undef X
};
enum Err : uint32_t {
#define X(name, value) kErr##name = value,
  NODE_HYPER_ERR(X)
#undef X
};
enum Tls : uint32_t {
#define X(name, value) kTls##name = value,
  NODE_HYPER_TLS(X)
#undef X
};

enum Attempt : uint32_t {
#define X(name, value) kAttempt##name = value,
  NODE_HYPER_ATTEMPT(X)
#undef X
};
enum AttemptOutcome : uint32_t {
#define X(name, value) kOutcome##name = value,
  NODE_HYPER_ATTEMPT_OUTCOME(X)
#undef X
};
enum Tunnel : uint32_t {
#define X(name, value) kTunnel##name = value,
  NODE_HYPER_TUNNEL(X)
#undef X
};

enum ConnInfo : uint32_t {
#define X(name, value) kConn##name = value,
  NODE_HYPER_CONN_INFO(X)
#undef X
};

}  // namespace protocol
}  // namespace nodehyper
