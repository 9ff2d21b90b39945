#include "storage/audit_chain.hpp"

#include <openssl/evp.h>

#include <array>
#include <memory>
#include <stdexcept>

namespace jitbot::storage {
namespace {

void append_field(std::string& out, const std::string& field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

}  // namespace

std::string audit_hash(const std::string& previous_hash, const workflows::AuditEntry& entry) {
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

  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(material.data(), material.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed in OpenSSL");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0x0f];
  }
  return out;
}

}  // namespace jitbot::storage
