// Minimal blocking loopback client for the HTTP server tests: raw bytes out, raw bytes in,
// every read bounded by a timeout so a broken server fails a test instead of hanging it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace nova::serve::http::test {

class TestClient {
 public:
  explicit TestClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    const int one = 1;
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~TestClient() { close(); }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Abortive close: RST instead of FIN.
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }

  bool send(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads what arrives within `ms`; "" on timeout. eof() tells whether the server closed.
  std::string read_some(int ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return {};
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return {};
    }
    return std::string(buf, static_cast<size_t>(n));
  }

  // Reads until `buf_` contains `marker` (returns everything up to and including it) or the
  // deadline passes ("" then; the partial data stays buffered).
  std::string read_until(const std::string& marker, int ms = 3000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
      const size_t at = buf_.find(marker);
      if (at != std::string::npos) {
        std::string out = buf_.substr(0, at + marker.size());
        buf_.erase(0, at + marker.size());
        return out;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || eof_) return {};
      buf_ += read_some(static_cast<int>(left.count()));
    }
  }

  // Reads exactly n more bytes (after what is buffered) or "" on timeout/EOF.
  std::string read_exact(size_t n, int ms = 3000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (buf_.size() < n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || eof_) return {};
      buf_ += read_some(static_cast<int>(left.count()));
    }
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }

  // One full response with a Content-Length body (head + body).
  struct Response {
    int status = 0;
    std::string head;
    std::string body;
  };
  Response read_response(int ms = 3000) {
    Response r;
    r.head = read_until("\r\n\r\n", ms);
    if (r.head.size() < 12) return r;
    r.status = std::stoi(r.head.substr(9, 3));
    const size_t cl = lower(r.head).find("content-length:");
    if (cl != std::string::npos) r.body = read_exact(std::stoul(r.head.substr(cl + 15)), ms);
    return r;
  }

  // True when the server closes the connection within `ms` (any data before is dropped).
  bool closed_within(int ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!eof_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      buf_ += read_some(static_cast<int>(left.count()));
    }
    return true;
  }

  const std::string& buffered() const { return buf_; }
  bool eof() const { return eof_; }

  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

 private:
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

}  // namespace nova::serve::http::test
