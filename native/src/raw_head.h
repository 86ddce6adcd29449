// HTTP/1 response heads as they were on the wire, recorded from the plaintext hyper reads.
//
// hyper keeps header-name case and order only through per-response maps (a HeaderCaseMap and an
// OriginalHeaderOrder, the latter a SipHash HashMap), which cost ~10k instructions per response
// (a tenth of a whole request on the ClientConn path). The bytes pass through our read callback
// anyway, so HTTP/1 connections record each head here and take names and values in wire case
// and order from it, with hyper's two options off; hyper still parses and validates the head.
// Only observes: it never changes what hyper reads.
//
// Why the recorded head is the one hyper parsed, line for line, without asking hyper for its
// headers (hyper_headers_foreach hashes every name twice: ~2k instructions per response, which
// is what comparing the count and value bytes with hyper's cost until 2026-12):
// - The bytes are the ones hyper reads, from the first one after the request was handed to hyper
//   (Arm) to the first blank line; hyper parses a response from the same place. A client
//   connection never holds unread bytes when a request is sent: hyper fails an idle connection
//   that receives any (require_empty_read, "unexpected message").
// - 1xx heads are recorded as heads of their own; Take() pairs the final one by its status, and
//   HeadersFromRaw checks the version too.
// - hyper's parser (httparse) is strict as the C API builds it: obs-fold is refused (unless
//   allowMultilineHeaders, which turns recording off), as are spaces before the colon, names that
//   are not tokens, control characters in values and bare CRs; the options that relax the last
//   ones are not reachable through the C API. So for a head hyper accepted, "name ':' OWS value
//   OWS" per line (HeadersFromRaw) reads the same names and values in the same order. A line it
//   does not take (leading whitespace, no colon) makes the caller use hyper's headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

namespace nodehyper {

struct ResponseHead;

class HeadRecorder {
 public:
  // Largest head recorded; a longer one is skipped (hyper's own limit is about 400 KiB, and
  // the response then falls back to hyper's names).
  static constexpr size_t kMaxHead = 256 * 1024;
  // Heads recorded and not taken (1xx heads nobody asked for are dropped on the next Take).
  static constexpr size_t kMaxQueued = 8;

  // A request went out: the next bytes read start its response's head(s).
  void Arm();
  void Feed(const uint8_t* p, size_t n);
  // The oldest recorded head whose status line says `status` (older ones are dropped), moved
  // into `out` without its final blank line. False when there is none.
  bool Take(uint16_t status, std::string* out);

 private:
  void EndOfHead();
  enum { kIdle, kHead, kSkip } state_ = kIdle;
  std::string cur_;  // the head being recorded
  int tail_ = 0;     // a blank line begun at the end of the last piece (see FindHeadEnd)
  std::deque<std::string> heads_;
};

// From a recorded head (status line, then field lines): the reason phrase when it has obs-text
// (httparse drops such a reason; node:http keeps it, latin1).
bool ObsTextReason(const std::string& head, std::string* out);

// Fills head->raw_headers (names and values joined by NUL) and head->notes from a recorded head's
// field lines. `version` is hyper's (10 or 11): a status line saying another one, or a line not
// of the form above, fills nothing and returns false (the caller uses hyper's headers).
bool HeadersFromRaw(const std::string& raw, int version, ResponseHead* head);

// What a response head says about its connection and its body's framing, read once natively so
// neither a pool nor the drive loop has to look at headers again.
struct HeadNotes {
  int64_t keep_alive_ms = -1;   // Keep-Alive: timeout=N, in ms (-1 when absent)
  bool close = false;           // Connection: close
  int64_t content_length = -1;  // one Content-Length of plain digits (-1: none, -2: any other form)
  bool transfer_encoding = false;
  // The body's length as hyper's HTTP/1 decoder counts it, or -1 when the head does not fix it
  // here (no Content-Length, one we do not read the way hyper would, or Transfer-Encoding, which
  // overrides it). Only an upper bound on what hyper yields: a HEAD request, 204 and 304 carry
  // the header without a body.
  int64_t BodyLength() const { return transfer_encoding || content_length < 0 ? -1 : content_length; }
};

// Notes the headers HeadNotes holds: Keep-Alive, Connection, Content-Length, Transfer-Encoding.
void NoteHeader(const uint8_t* name, size_t name_len, const uint8_t* value, size_t value_len, HeadNotes* notes);

}  // namespace nodehyper
