#pragma once

// libpq, loaded when a PostgreSQL database is first opened rather than linked: a deployment on
// SQLite never maps it, nor the libraries it brings (Kerberos, LDAP, GnuTLS and theirs), which
// cost about 3 MB of resident memory in every process.

#include <libpq-fe.h>

namespace jitbot::storage {

/// The libpq functions the PostgreSQL store calls, resolved from libpq.so.5.
struct Libpq {
  decltype(&::PQconnectdbParams) PQconnectdbParams;
  decltype(&::PQstatus) PQstatus;
  decltype(&::PQerrorMessage) PQerrorMessage;
  decltype(&::PQfinish) PQfinish;
  decltype(&::PQsetNoticeProcessor) PQsetNoticeProcessor;
  decltype(&::PQconsumeInput) PQconsumeInput;
  decltype(&::PQexec) PQexec;
  decltype(&::PQprepare) PQprepare;
  decltype(&::PQexecPrepared) PQexecPrepared;
  decltype(&::PQresultStatus) PQresultStatus;
  decltype(&::PQresultErrorField) PQresultErrorField;
  decltype(&::PQntuples) PQntuples;
  decltype(&::PQgetisnull) PQgetisnull;
  decltype(&::PQgetvalue) PQgetvalue;
  decltype(&::PQcmdTuples) PQcmdTuples;
  decltype(&::PQclear) PQclear;
};

/// libpq, loaded on the first call; throws std::runtime_error naming the package to install
/// when it is missing.
const Libpq& libpq();

}  // namespace jitbot::storage
