// `nova serve` as a child process of a benchmark: started on a free port (--port 0, the port
// read back from its first stdout line), waited for until /health answers, CPU time read from
// /proc/PID/stat, stopped with SIGTERM (a graceful drain).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_util.h"

namespace nova::bench {

// A blocking GET on 127.0.0.1:port (Connection: close), every wait bounded by 2 s.
struct HttpGetResult {
  int status = 0;  // 0 on any failure
  std::string body;
};
inline HttpGetResult http_get(int port, const std::string& path) {
  HttpGetResult out;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  std::string raw;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[16384];
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) break;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      raw.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  const size_t head_end = raw.find("\r\n\r\n");
  if (raw.size() > 12 && head_end != std::string::npos) {
    out.status = std::atoi(raw.c_str() + 9);
    out.body = raw.substr(head_end + 4);  // Content-Length bodies only (what /metrics sends)
  }
  return out;
}

inline int http_get_status(int port, const std::string& path) { return http_get(port, path).status; }

// The value of an unlabelled-or-labelled Prometheus sample `name{...} VALUE` (the first one), NAN if absent.
inline double prometheus_value(const std::string& text, const std::string& name) {
  size_t at = 0;
  while ((at = text.find(name, at)) != std::string::npos) {
    const bool line_start = at == 0 || text[at - 1] == '\n';
    const char next = at + name.size() < text.size() ? text[at + name.size()] : '\0';
    if (line_start && (next == ' ' || next == '{')) {
      const size_t eol = text.find('\n', at);
      const std::string line = text.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
      return std::atof(line.c_str() + line.rfind(' ') + 1);
    }
    at += name.size();
  }
  return NAN;
}

class ServeProcess {
 public:
  // Starts `nova serve --model DIR --host 127.0.0.1 --port 0 [extra...]`; throws std::runtime_error
  // when it does not come up within `timeout_s`.
  ServeProcess(const std::string& nova, const std::string& model_dir, const std::vector<std::string>& extra,
               double timeout_s = 60) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::vector<std::string> args = {nova, "serve", "--model", model_dir, "--host", "127.0.0.1", "--port", "0",
                                     "--request-log", "off"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      // Its per-request log lines (stderr) would bury the benchmark's report.
      const int null_fd = ::open("/dev/null", O_WRONLY);
      if (null_fd >= 0) ::dup2(null_fd, STDERR_FILENO);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(nova.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_fd_ = out[0];
    if (pid_ < 0) throw std::runtime_error("fork failed");
    // "nova serve: model 'NAME' at http://127.0.0.1:PORT/v1 (Ctrl-C to stop)"
    const double deadline = now_seconds() + timeout_s;
    std::string line;
    while (port_ == 0 && now_seconds() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[512];
      const ssize_t n = ::read(out_fd_, buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
      const size_t at = line.find("http://127.0.0.1:");
      if (at != std::string::npos && line.find("/v1", at) != std::string::npos) port_ = std::atoi(line.c_str() + at + 17);
    }
    while (port_ != 0 && now_seconds() < deadline && http_get_status(port_, "/health") != 200) ::usleep(50'000);
    if (port_ == 0 || http_get_status(port_, "/health") != 200) {
      stop();
      throw std::runtime_error(nova + " serve did not come up (output: " + line + ")");
    }
  }
  ~ServeProcess() { stop(); }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }

  // User + system CPU seconds the server has used so far, in total and per thread.
  struct ThreadCpu {
    double user = 0, sys = 0;
  };
  double cpu_seconds() const {
    const ThreadCpu t = read_stat("/proc/" + std::to_string(pid_) + "/stat");
    return t.user + t.sys;
  }
  std::map<long, ThreadCpu> thread_cpu() const {
    std::map<long, ThreadCpu> out;
    const std::string dir = "/proc/" + std::to_string(pid_) + "/task";
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      out[std::atol(e.path().filename().c_str())] = read_stat(e.path().string() + "/stat");
    return out;
  }

  // SIGTERM, then up to 30 s for the drain; the exit status (-1 when it had to be killed).
  int stop() {
    if (pid_ <= 0) return exit_status_;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 300; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        break;
      }
      ::usleep(100'000);
      if (i == 299) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    out_fd_ = -1;
    pid_ = -1;
    return exit_status_;
  }

 private:
  // utime and stime (fields 14 and 15) of a /proc stat file, in seconds.
  static ThreadCpu read_stat(const std::string& path) {
    std::ifstream in(path);
    const std::string stat((std::istreambuf_iterator<char>(in)), {});
    const size_t close = stat.rfind(')');
    ThreadCpu t;
    if (close == std::string::npos) return t;
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 15 && rest >> field; ++i) {  // the fields after "(comm)" start at 3
      if (i == 14) t.user = std::stod(field);
      if (i == 15) t.sys = std::stod(field);
    }
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    return {t.user / tick, t.sys / tick};
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int port_ = 0;
  int exit_status_ = -1;
};

}  // namespace nova::bench
