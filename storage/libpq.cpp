#include "storage/libpq.hpp"

#include <dlfcn.h>

#include <stdexcept>
#include <string>

namespace jitbot::storage {
namespace {

/// Resolves `name` into `function`, or throws.
template <typename Function>
void resolve(void* library, const char* name, Function& function) {
  function = reinterpret_cast<Function>(::dlsym(library, name));
  if (function == nullptr) throw std::runtime_error(std::string{"libpq.so.5 has no "} + name);
}

Libpq load() {
  void* library = ::dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* why = ::dlerror();
    throw std::runtime_error(
        "a PostgreSQL database needs libpq, which could not be loaded (install the libpq5 package): " +
        std::string{why ? why : "libpq.so.5 not found"});
  }
  // Never closed: the functions stay in use until the process ends.
  Libpq pq{};
  resolve(library, "PQconnectdbParams", pq.PQconnectdbParams);
  resolve(library, "PQstatus", pq.PQstatus);
  resolve(library, "PQerrorMessage", pq.PQerrorMessage);
  resolve(library, "PQfinish", pq.PQfinish);
  resolve(library, "PQsetNoticeProcessor", pq.PQsetNoticeProcessor);
  resolve(library, "PQconsumeInput", pq.PQconsumeInput);
  resolve(library, "PQexec", pq.PQexec);
  resolve(library, "PQprepare", pq.PQprepare);
  resolve(library, "PQexecPrepared", pq.PQexecPrepared);
  resolve(library, "PQresultStatus", pq.PQresultStatus);
  resolve(library, "PQresultErrorField", pq.PQresultErrorField);
  resolve(library, "PQntuples", pq.PQntuples);
  resolve(library, "PQgetisnull", pq.PQgetisnull);
  resolve(library, "PQgetvalue", pq.PQgetvalue);
  resolve(library, "PQcmdTuples", pq.PQcmdTuples);
  resolve(library, "PQclear", pq.PQclear);
  return pq;
}

}  // namespace

const Libpq& libpq() {
  static const Libpq loaded = load();  // a failed load throws, and the next call tries again
  return loaded;
}

}  // namespace jitbot::storage
