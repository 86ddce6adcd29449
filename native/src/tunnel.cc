#include "tunnel.h"

#include <cerrno>
#include <cstring>

namespace nodehyper {

namespace {
constexpr size_t kMaxAnswer = 64 * 1024;  // status line and headers of the proxy's answer

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return std::string();
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}
}  // namespace

TunnelTransport::Step TunnelTransport::Fail(ErrorInfo e) {
  failed_ = true;
  error_ = std::move(e);
  return Step::kError;
}

// One complete answer head in head_? Parses it into reply_ and moves what follows it to leftover_.
// Interim (1xx) answers are skipped.
TunnelTransport::Parse TunnelTransport::ParseHead() {
  for (;;) {
    size_t end = head_.find("\n\r\n");
    size_t skip = 3;
    size_t lf = head_.find("\n\n");
    if (lf != std::string::npos && (end == std::string::npos || lf < end)) {
      end = lf;
      skip = 2;
    }
    if (end == std::string::npos) return head_.size() > kMaxAnswer ? Parse::kError : Parse::kMore;
    std::string head = head_.substr(0, end + 1);
    std::string rest = head_.substr(end + skip);
    // Lines, CR stripped.
    std::vector<std::string> lines;
    size_t pos = 0;
    while (pos < head.size()) {
      size_t nl = head.find('\n', pos);
      if (nl == std::string::npos) nl = head.size();
      std::string line = head.substr(pos, nl - pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(std::move(line));
      pos = nl + 1;
    }
    const std::string& sl = lines.empty() ? std::string() : lines[0];
    // HTTP/1.x SSS[ reason]
    if (sl.size() < 12 || sl.compare(0, 7, "HTTP/1.") != 0 || !IsDigit(sl[7]) || sl[8] != ' ' || !IsDigit(sl[9]) ||
        !IsDigit(sl[10]) || !IsDigit(sl[11]) || (sl.size() > 12 && sl[12] != ' ')) {
      return Parse::kError;
    }
    Reply r;
    r.status = (sl[9] - '0') * 100 + (sl[10] - '0') * 10 + (sl[11] - '0');
    r.reason = sl.size() > 13 ? sl.substr(13) : std::string();
    std::string raw;
    for (size_t i = 1; i < lines.size(); i++) {
      const std::string& l = lines[i];
      if (l.empty()) continue;
      if ((l[0] == ' ' || l[0] == '\t') && !raw.empty()) {  // obs-fold: continues the last value
        raw += ' ';
        raw += Trim(l);
        continue;
      }
      size_t colon = l.find(':');
      if (colon == std::string::npos || colon == 0) return Parse::kError;
      if (!raw.empty()) raw += '\0';
      raw.append(l, 0, colon);
      raw += '\0';
      raw += Trim(l.substr(colon + 1));
    }
    r.raw_headers = std::move(raw);
    head_ = std::move(rest);
    if (r.status >= 100 && r.status < 200 && r.status != 101) continue;  // interim: the final answer follows
    reply_ = std::move(r);
    leftover_ = std::move(head_);
    head_.clear();
    return Parse::kDone;
  }
}

TunnelTransport::Step TunnelTransport::Handshake() noexcept {
  Step below = inner_.Handshake();
  if (below != Step::kDone || open_) return below;
  if (failed_) return Step::kError;
  while (sent_ < request_.size()) {
    int err = 0;
    long n = inner_.Write(reinterpret_cast<const uint8_t*>(request_.data()) + sent_, request_.size() - sent_, &err);
    if (n < 0) {
      if (err == EAGAIN) return Step::kWantRead;  // HasPendingOutput() asks for writability meanwhile
      if (err == EPROTO && inner_.failure()) return Fail(*inner_.failure());
      return Fail(ErrorInfo::Errno(err, "write", "the proxy connection failed while sending CONNECT"));
    }
    sent_ += static_cast<size_t>(n);
  }
  if (inner_.HasPendingOutput()) {
    int err = 0;
    if (!inner_.Flush(&err) && err != EAGAIN) return Fail(ErrorInfo::Errno(err, "write", "the proxy connection failed while sending CONNECT"));
  }
  for (;;) {
    uint8_t buf[4096];
    int err = 0;
    long n = inner_.Read(buf, sizeof buf, &err);
    if (n < 0) {
      if (err == EAGAIN) return Step::kWantRead;
      if (err == EPROTO && inner_.failure()) return Fail(*inner_.failure());
      return Fail(ErrorInfo::Errno(err, "read", "the proxy connection failed before it answered CONNECT"));
    }
    if (n == 0) {
      return Fail(ErrorInfo::Local("ERR_PROXY_BAD_RESPONSE", "the proxy closed the connection before answering CONNECT " + authority_));
    }
    head_.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
    switch (ParseHead()) {
      case Parse::kMore:
        continue;
      case Parse::kError:
        return Fail(ErrorInfo::Local("ERR_PROXY_BAD_RESPONSE", "the proxy's answer to CONNECT " + authority_ + " is not a valid HTTP/1.x response head"));
      case Parse::kDone:
        break;
    }
    if (reply_.status >= 200 && reply_.status < 300) {
      open_ = true;
      std::string().swap(request_);
      return Step::kDone;
    }
    std::string status = std::to_string(reply_.status);
    if (!reply_.reason.empty()) status += " " + reply_.reason;
    return Fail(ErrorInfo::Local("ERR_PROXY_REJECTED", "the proxy refused the tunnel to " + authority_ + ": " + status));
  }
}

long TunnelTransport::Read(uint8_t* buf, size_t len, int* err) noexcept {
  if (left_off_ < leftover_.size()) {
    size_t n = leftover_.size() - left_off_;
    if (n > len) n = len;
    std::memcpy(buf, leftover_.data() + left_off_, n);
    left_off_ += n;
    if (left_off_ == leftover_.size()) {
      std::string().swap(leftover_);
      left_off_ = 0;
    }
    return static_cast<long>(n);
  }
  return inner_.Read(buf, len, err);
}

}  // namespace nodehyper
