#pragma once
// A database of its own for each test, on the throwaway cluster that scripts/pg-cluster.sh
// starts as the ctest fixture `postgres` (JITBOT_TEST_PG_ENV names the file it writes).

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

namespace jitbot::testing {

/// The cluster's settings, read once; throws (failing the test, never skipping it) when there
/// is no cluster.
inline const std::map<std::string, std::string>& postgres_cluster() {
  static const std::map<std::string, std::string> settings = [] {
    const char* file = std::getenv("JITBOT_TEST_PG_ENV");
    if (!file || !*file) throw std::runtime_error("JITBOT_TEST_PG_ENV is not set: run these tests through ctest");
    std::ifstream in(file);
    if (!in) throw std::runtime_error(std::string{"no PostgreSQL test cluster: "} + file + " is missing");
    std::map<std::string, std::string> out;
    for (std::string line; std::getline(in, line);) {
      auto equals = line.find('=');
      if (equals != std::string::npos) out[line.substr(0, equals)] = line.substr(equals + 1);
    }
    // libpq reads the password from the environment, as a deployment would give it.
    ::setenv("PGPASSWORD", out.at("PGPASSWORD").c_str(), 1);
    return out;
  }();
  return settings;
}

/// Runs one statement as the test role on the cluster's main database.
inline void postgres_admin(const std::string& sql,
                           const std::string& url = postgres_cluster().at("JITBOT_TEST_PG_URL")) {
  PGconn* connection = PQconnectdb(url.c_str());
  std::string error;
  if (PQstatus(connection) != CONNECTION_OK) {
    error = PQerrorMessage(connection);
  } else {
    PGresult* result = PQexec(connection, sql.c_str());
    auto status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) error = PQresultErrorMessage(result);
    PQclear(result);
  }
  PQfinish(connection);
  if (!error.empty()) throw std::runtime_error("PostgreSQL: " + error + " (" + sql + ")");
}

/// A new, empty database for one test, dropped when it goes out of scope.
class ScratchPostgres {
 public:
  ScratchPostgres() {
    static std::atomic<int> counter{0};
    name_ = "jitbot_t" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    const auto& base = postgres_cluster().at("JITBOT_TEST_PG_URL");
    postgres_admin("CREATE DATABASE " + name_);
    url_ = base.substr(0, base.rfind('/') + 1) + name_;
  }
  ~ScratchPostgres() {
    try {
      postgres_admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
      // The cluster goes at the end of the run anyway.
    }
  }
  ScratchPostgres(const ScratchPostgres&) = delete;
  ScratchPostgres& operator=(const ScratchPostgres&) = delete;

  const std::string& url() const { return url_; }
  /// Runs one statement on this database, as the test role.
  void sql(const std::string& statement) const { postgres_admin(statement, url_); }

 private:
  std::string name_;
  std::string url_;
};

}  // namespace jitbot::testing
