#include "storage/audit_chain.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>

namespace jitbot::storage {
namespace {

void append_field(std::string& out, const std::string& field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

std::string material_of(const std::string& previous_hash, const workflows::AuditEntry& entry) {
  std::string material;
  append_field(material, previous_hash);
  append_field(material, std::to_string(entry.sequence));
  append_field(material, entry.request_id);
  append_field(material, std::to_string(workflows::to_unix_millis(entry.at)));
  append_field(material, entry.actor);
  append_field(material, entry.action);
  append_field(material, entry.from_state);
  append_field(material, entry.to_state);
  append_field(material, entry.detail);
  return material;
}

std::string to_hex(const unsigned char* bytes, unsigned int length) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[bytes[i] >> 4];
    out += hex[bytes[i] & 0x0f];
  }
  return out;
}

bool is_hex_hash(const std::string& text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

std::string audit_hash(const std::string& previous_hash, const workflows::AuditEntry& entry) {
  auto material = material_of(previous_hash, entry);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(material.data(), material.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed in OpenSSL");
  }
  return to_hex(digest.data(), length);
}

std::string audit_hmac(const std::string& key, const std::string& previous_hash, const workflows::AuditEntry& entry) {
  auto material = material_of(previous_hash, entry);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(material.data()), material.size(), digest.data(),
           &length) == nullptr) {
    throw std::runtime_error("HMAC-SHA-256 failed in OpenSSL");
  }
  return to_hex(digest.data(), length);
}

std::string AuditAnchor::to_string() const {
  return std::to_string(sequence) + ":" + hash + (mac.empty() ? "" : ":" + mac);
}

namespace {

std::string hmac_hex(const std::string& key, const std::string& text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(text.data()),
           text.size(), digest.data(), &length) == nullptr) {
    throw std::runtime_error("HMAC-SHA-256 failed in OpenSSL");
  }
  return to_hex(digest.data(), length);
}

}  // namespace

void AuditAnchor::seal(const std::string& key) {
  if (!key.empty()) mac = hmac_hex(key, std::to_string(sequence) + ":" + hash);
}

bool AuditAnchor::sealed_with(const std::string& key) const {
  return !key.empty() && !mac.empty() && hmac_hex(key, std::to_string(sequence) + ":" + hash) == mac;
}

std::optional<AuditAnchor> AuditAnchor::parse(const std::string& text) {
  auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  AuditAnchor anchor;
  for (std::size_t i = 0; i < colon; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
  }
  if (colon > 18) return std::nullopt;
  anchor.sequence = std::stoll(text.substr(0, colon));
  auto rest = text.substr(colon + 1);
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.back()))) rest.pop_back();
  auto second = rest.find(':');
  anchor.hash = rest.substr(0, second);
  if (second != std::string::npos) {
    anchor.mac = rest.substr(second + 1);
    if (!is_hex_hash(anchor.mac)) return std::nullopt;
  }
  if (anchor.sequence < 1 || !is_hex_hash(anchor.hash)) return std::nullopt;
  return anchor;
}

std::filesystem::path anchor_path(const std::filesystem::path& database) { return database.string() + ".audit-head"; }

namespace {

/// A descriptor closed on scope exit; closing the lock file's releases its flock.
struct Descriptor {
  int fd;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

std::string lock_path(const std::filesystem::path& anchor) { return anchor.string() + ".lock"; }

/// The first line of the open anchor file, parsed.
std::optional<AuditAnchor> read_line(int fd) {
  std::array<char, 512> buffer{};
  auto count = ::pread(fd, buffer.data(), buffer.size(), 0);
  if (count <= 0) return std::nullopt;
  std::string text(buffer.data(), static_cast<std::size_t>(count));
  auto newline = text.find('\n');
  if (newline == std::string::npos) return std::nullopt;
  return AuditAnchor::parse(text.substr(0, newline));
}

}  // namespace

std::optional<AuditAnchor> read_anchor(const std::filesystem::path& file) {
  Descriptor anchor{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (anchor.fd < 0) return std::nullopt;
  // Writers overwrite the line in place under an exclusive lock; a reader that shares it never
  // sees half of one. A reader must not create the lock file, so without one it reads unlocked.
  Descriptor lock{::open(lock_path(file).c_str(), O_RDONLY | O_CLOEXEC)};
  if (lock.fd >= 0) ::flock(lock.fd, LOCK_SH);
  return read_line(anchor.fd);
}

void write_anchor(const std::filesystem::path& file, const AuditAnchor& anchor) {
  // One writer at a time per process, and never backwards: two connections may finish their
  // commits in either order.
  static std::mutex mutex;
  static std::map<std::string, std::int64_t> written;
  std::lock_guard guard(mutex);
  auto& last = written[file.string()];
  if (anchor.sequence <= last) return;
  // Another process (the admin CLI) may append too: the check and the write happen under an
  // exclusive lock on a file beside the anchor.
  std::string lock_name = lock_path(file);
  Descriptor lock{::open(lock_name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)};
  if (lock.fd < 0) throw std::runtime_error("cannot open " + lock_name + ": " + std::strerror(errno));
  if (::flock(lock.fd, LOCK_EX) != 0)
    throw std::runtime_error("cannot lock " + lock_name + ": " + std::strerror(errno));
  Descriptor out{::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)};
  if (out.fd < 0)
    throw std::runtime_error("cannot open the audit head anchor " + file.string() + ": " + std::strerror(errno));
  if (auto existing = read_line(out.fd); existing && existing->sequence >= anchor.sequence) {
    last = existing->sequence;
    return;
  }
  // Written in place, not through a renamed temporary file: an append happens several times per
  // request, and a rename costs a new inode and freeing the old one's blocks each time. The
  // line is short, one write at offset 0 within one disk sector, so a crash leaves the old line
  // or the new one; it never shrinks (the sequence only grows), and a longer line left from
  // before (a key since removed) ends after the first newline, which is all readers read.
  std::string line = anchor.to_string() + "\n";
  if (::pwrite(out.fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size()))
    throw std::runtime_error("cannot write the audit head anchor " + file.string() + ": " + std::strerror(errno));
  last = anchor.sequence;
}

}  // namespace jitbot::storage
