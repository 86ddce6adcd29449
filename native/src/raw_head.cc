#include "raw_head.h"

#include <cstring>
#include <utility>

#include "exchange.h"

namespace nodehyper {

namespace {

// "HTTP/1.x SSS ..." -> SSS, or 0.
uint16_t StatusOf(const std::string& head) {
  if (head.compare(0, 5, "HTTP/") != 0) return 0;
  size_t sp = head.find(' ');
  if (sp == std::string::npos || head.size() < sp + 4) return 0;
  uint16_t status = 0;
  for (size_t k = sp + 1; k < sp + 4; ++k) {
    if (head[k] < '0' || head[k] > '9') return 0;
    status = static_cast<uint16_t>(status * 10 + (head[k] - '0'));
  }
  return status;
}

bool IsWs(char c) { return c == ' ' || c == '\t'; }

// ASCII only (header names are tokens, the values read here are ASCII), without the locale
// lookups of std::tolower and std::isdigit: these run for every response header.
uint8_t AsciiLower(uint8_t c) { return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c | 0x20) : c; }
bool IsDigit(uint8_t c) { return c >= '0' && c <= '9'; }

bool EqualsIgnoreCase(const uint8_t* a, size_t n, const char* lower) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t l = static_cast<uint8_t>(lower[i]);
    if (!l || AsciiLower(a[i]) != l) return false;
  }
  return lower[n] == '\0';
}

// Keep-Alive: timeout=N (seconds) -> ms; -1 when there is none.
int64_t KeepAliveTimeout(const uint8_t* v, size_t n) {
  static const char kKey[] = "timeout=";
  for (size_t i = 0; i + 8 <= n; ++i) {
    size_t k = 0;
    while (k < 8 && AsciiLower(v[i + k]) == kKey[k]) ++k;
    if (k < 8) continue;
    int64_t secs = 0;
    size_t j = i + 8;
    if (j >= n || !IsDigit(v[j])) return -1;
    for (; j < n && IsDigit(v[j]) && secs < 1000000000; ++j) secs = secs * 10 + (v[j] - '0');
    return secs * 1000;
  }
  return -1;
}

// 1 to 18 decimal digits -> their value; anything else (empty, a sign, a list, longer) -> -2.
int64_t DigitsValue(const uint8_t* v, size_t n) {
  if (n == 0 || n > 18) return -2;
  int64_t x = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!IsDigit(v[i])) return -2;
    x = x * 10 + (v[i] - '0');
  }
  return x;
}

// Connection: close (a token in the comma-separated list).
bool HasCloseToken(const uint8_t* v, size_t n) {
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) ++i;
    size_t start = i;
    while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t') ++i;
    if (EqualsIgnoreCase(v + start, i - start, "close")) return true;
  }
  return false;
}

}  // namespace

void HeadRecorder::Arm() {
  // HTTP/1 answers one request at a time: whatever is still queued belongs to an earlier
  // exchange that never took it (aborted before its head).
  heads_.clear();
  if (state_ != kIdle) return;  // already inside a head (an early response)
  state_ = kHead;
  cur_.clear();
  tail_ = 0;
}

// The end of a head in p[0..n): the index just past the blank line ("\n" or "\r\n" after a
// line's '\n'), or npos. `*tail` carries a terminator begun at the end of the previous piece
// (1: it ended in '\n', 2: in "\n\r").
static size_t FindHeadEnd(const uint8_t* p, size_t n, int* tail) {
  int t = *tail;
  *tail = 0;
  if (n == 0) {
    *tail = t;
    return std::string::npos;
  }
  if (t == 2 && p[0] == '\n') return 1;
  if (t == 1) {
    if (p[0] == '\n') return 1;
    if (p[0] == '\r') {
      if (n == 1) {
        *tail = 2;
        return std::string::npos;
      }
      if (p[1] == '\n') return 2;
    }
  }
  size_t i = 0;
  while (i < n) {
    const void* f = std::memchr(p + i, '\n', n - i);
    if (!f) return std::string::npos;
    size_t k = static_cast<size_t>(static_cast<const uint8_t*>(f) - p) + 1;  // the next line
    if (k == n) {
      *tail = 1;
      return std::string::npos;
    }
    if (p[k] == '\n') return k + 1;
    if (p[k] == '\r') {
      if (k + 1 == n) {
        *tail = 2;
        return std::string::npos;
      }
      if (p[k + 1] == '\n') return k + 2;
    }
    i = k;
  }
  return std::string::npos;
}

void HeadRecorder::Feed(const uint8_t* p, size_t n) {
  while (n && state_ != kIdle) {
    if (state_ == kHead && cur_.empty()) {  // httparse skips empty lines before the status line
      while (n && (*p == '\r' || *p == '\n')) ++p, --n;
      if (!n) return;
    }
    size_t end = FindHeadEnd(p, n, &tail_);
    size_t take = end == std::string::npos ? n : end;
    if (state_ == kHead) {
      if (cur_.size() + take > kMaxHead) {
        state_ = kSkip;  // too long to keep: only its end is looked for
        cur_.clear();
      } else {
        cur_.append(reinterpret_cast<const char*>(p), take);
      }
    }
    if (end == std::string::npos) return;
    if (state_ == kHead) {  // drop the blank line, keep the last field line's '\n'
      cur_.pop_back();
      if (!cur_.empty() && cur_.back() == '\r') cur_.pop_back();
    }
    EndOfHead();
    p += end;
    n -= end;
  }
}

void HeadRecorder::EndOfHead() {
  uint16_t status = state_ == kHead ? StatusOf(cur_) : 0;
  if (status) {
    if (heads_.size() == kMaxQueued) heads_.pop_front();
    heads_.push_back(std::move(cur_));
  }
  cur_.clear();
  // An informational head is followed by another head; the final one by its body, which is
  // not looked at. (A skipped head's status is unknown: recording stops.)
  state_ = status && status < 200 ? kHead : kIdle;
}

bool HeadRecorder::Take(uint16_t status, std::string* out) {
  while (!heads_.empty()) {
    std::string h = std::move(heads_.front());
    heads_.pop_front();
    if (StatusOf(h) == status) {
      *out = std::move(h);
      return true;
    }
  }
  return false;
}

bool ObsTextReason(const std::string& head, std::string* out) {
  size_t eol = head.find('\n');
  if (eol == std::string::npos) eol = head.size();
  size_t end = eol > 0 && head[eol - 1] == '\r' ? eol - 1 : eol;
  size_t sp = head.find(' ');
  if (sp == std::string::npos || sp + 4 > end) return false;
  size_t start = sp + 4 < end ? sp + 5 : end;
  bool obs = false;
  for (size_t k = start; k < end; ++k) obs |= static_cast<uint8_t>(head[k]) >= 0x80;
  if (!obs) return false;
  out->assign(head, start, end - start);
  return true;
}

void NoteHeader(const uint8_t* name, size_t name_len, const uint8_t* value, size_t value_len, HeadNotes* notes) {
  switch (name_len) {
    case 10:
      if (EqualsIgnoreCase(name, name_len, "keep-alive")) {
        notes->keep_alive_ms = KeepAliveTimeout(value, value_len);
      } else if (EqualsIgnoreCase(name, name_len, "connection") && HasCloseToken(value, value_len)) {
        notes->close = true;
      }
      break;
    case 14:
      if (EqualsIgnoreCase(name, name_len, "content-length")) {
        // A second header, a list, or anything but 1 to 18 digits: leave the length to hyper.
        notes->content_length = notes->content_length == -1 ? DigitsValue(value, value_len) : -2;
      }
      break;
    case 17:
      if (EqualsIgnoreCase(name, name_len, "transfer-encoding")) notes->transfer_encoding = true;
      break;
    default:
      break;
  }
}

bool HeadersFromRaw(const std::string& raw, int version, ResponseHead* head) {
  if (raw.compare(0, 8, version == HYPER_HTTP_VERSION_1_0 ? "HTTP/1.0" : "HTTP/1.1") != 0) return false;
  const char* const base = raw.data();
  const char* const stop = base + raw.size();
  const char* p = static_cast<const char*>(std::memchr(base, '\n', raw.size()));
  p = p ? p + 1 : stop;  // past the status line
  // Names and values are never longer than their lines: written straight into a buffer of the
  // lines' size (one allocation), each followed by a NUL; the last NUL is dropped at the end.
  std::string out(static_cast<size_t>(stop - p) + 1, '\0');
  char* w = &out[0];
  HeadNotes notes;
  while (p < stop) {
    const char* eol = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(stop - p)));
    if (!eol) eol = stop;
    const char* end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
    // name ":" OWS value OWS, as httparse accepted it (an obs-fold continuation line, which
    // starts with whitespace, is not handled here: the caller falls back to hyper's headers).
    if (IsWs(*p)) return false;
    const char* colon = static_cast<const char*>(std::memchr(p, ':', static_cast<size_t>(end - p)));
    if (!colon || colon == p) return false;
    const char* vs = colon + 1;
    while (vs < end && IsWs(*vs)) ++vs;
    const char* ve = end;
    while (ve > vs && IsWs(ve[-1])) --ve;
    const size_t name_len = static_cast<size_t>(colon - p);
    const size_t value_len = static_cast<size_t>(ve - vs);
    std::memcpy(w, p, name_len);
    w[name_len] = '\0';
    w += name_len + 1;
    std::memcpy(w, vs, value_len);
    w[value_len] = '\0';
    w += value_len + 1;
    NoteHeader(reinterpret_cast<const uint8_t*>(p), name_len, reinterpret_cast<const uint8_t*>(vs), value_len, &notes);
    p = eol + 1;
  }
  out.resize(w > out.data() ? static_cast<size_t>(w - out.data()) - 1 : 0);
  head->raw_headers = std::move(out);
  head->notes = notes;
  return true;
}

}  // namespace nodehyper
