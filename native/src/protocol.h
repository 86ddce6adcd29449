// The wire contract between the addon and lib/. lib/protocol.ts holds the same tables;
// test/protocol.test.ts compares the two through binding.protocol() (built from the same lists
// below), so neither side can change alone.
//
// Events reach JS in batches, one call per batch: callback(count, text, objects). Each event is
// a record of Slot::Size numbers in a Float64Array the Executor shares with the addon (written in
// place: no N-API call per field); `text` is one latin1 string holding every head (reason, NUL,
// then names and values joined by NUL) and small body of the batch; `objects` holds what cannot
// be a number or text: each connection's JS owner (once per batch), error tuples, large bodies.
// Per response that is about one N-API call instead of a dozen (each ~1,000 instructions).
#pragma once

#include <cstdint>

#define NODE_HYPER_EVENTS(X)                                                                    \
  X(Connected, 1)      /* (TLS details via tlsInfo()) */                                        \
  X(ConnectError, 2)   /* Object: Err tuple */                                                  \
  X(Response, 3)       /* Status, Version, Flags, KeepAlive, Text (reason NUL headers), Body */ \
  X(Data, 4)           /* Body (the chunks of one drive, coalesced) */                          \
  X(End, 5)                                                                                     \
  X(RequestError, 6)   /* Object: Err tuple */                                                  \
  X(Closed, 7)         /* Object: Err tuple, or -1 for a clean close */                         \
  X(Drain, 8)          /* the upload queue fell below its low mark */                           \
  X(Informational, 9)  /* Status, Version, Text: a 1xx head */                                  \
  X(Draining, 10)      /* no new requests on this connection (GOAWAY) */

// One event record in the shared Float64Array.
#define NODE_HYPER_SLOT(X)                                                                       \
  X(Kind, 0)        /* an Event */                                                               \
  X(Owner, 1)       /* index in `objects` of the connection's JS owner */                        \
  X(Id, 2)          /* the request's id (0 for connection events) */                             \
  X(Status, 3)                                                                                   \
  X(Version, 4)     /* 10, 11, 20 (hyper's HYPER_HTTP_VERSION_*) */                              \
  X(Flags, 5)       /* Flag bits */                                                              \
  X(KeepAlive, 6)   /* ms from `Keep-Alive: timeout=N`, -1 when absent */                         \
  X(TextStart, 7)   /* the head in `text`: reason, NUL, names and values joined by NUL */        \
  X(TextLength, 8)                                                                               \
  X(BodyStart, 9)   /* body bytes in `text` (latin1, one char per byte), or -1: see Object */    \
  X(BodyLength, 10) /* -1: no body */                                                            \
  X(Object, 11)     /* index in `objects` of an Err tuple or a large body Buffer, or -1 */       \
  X(SentAt, 12)     /* Response: ms, uv_hrtime clock: the request was handed to hyper to write */ \
  X(HeadAt, 13)     /* Response: ms, uv_hrtime clock: hyper parsed the response head */        \
  X(Size, 14)

#define NODE_HYPER_FLAGS(X)                                                        \
  X(Ended, 1)  /* the body ended with the head (the exchange is over) */           \
  X(Close, 2)  /* `Connection: close`: the connection will not be reused */

#define NODE_HYPER_LIMITS(X)                                                                    \
  X(InlineBody, 4096)  /* bodies up to this travel in `text` (JS copies them into its Buffer   \
                          pool, cheaper than a new ArrayBuffer each); larger ones as Buffers */

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
enum Slot : uint32_t {
#define X(name, value) kSlot##name = value,
  NODE_HYPER_SLOT(X)
#undef X
};
enum Flag : uint32_t {
#define X(name, value) kFlag##name = value,
  NODE_HYPER_FLAGS(X)
#undef X
};
enum Limit : uint32_t {
#define X(name, value) kLimit##name = value,
  NODE_HYPER_LIMITS(X)
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
