// The write-ahead log layer under SQLite: the frames of a transaction reach the file in one
// write, and every reader, through the layer or not, sees every commit whole.
#include "storage/wal_frame_vfs.hpp"

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

/// Below the layer under test: the system's file layer, noting the size of every write to a log.
struct CountingFile {
  sqlite3_file base;
  sqlite3_file* real;
  bool wal;
};

std::vector<int> log_write_sizes;
bool fail_log_writes = false;  ///< every write to a log fails as on a full disk
sqlite3_vfs* system_vfs = nullptr;
sqlite3_vfs counting_vfs;
sqlite3_io_methods counting_methods;

sqlite3_file* real(sqlite3_file* file) { return reinterpret_cast<CountingFile*>(file)->real; }
constexpr int counting_size = static_cast<int>((sizeof(CountingFile) + 15) / 16 * 16);

void install_counting_vfs() {
  if (system_vfs != nullptr) return;
  system_vfs = sqlite3_vfs_find("unix");
  REQUIRE(system_vfs != nullptr);
  auto& m = counting_methods;
  m.iVersion = 3;
  m.xClose = [](sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); };
  m.xRead = [](sqlite3_file* f, void* out, int n, sqlite3_int64 at) {
    return real(f)->pMethods->xRead(real(f), out, n, at);
  };
  m.xWrite = [](sqlite3_file* f, const void* data, int n, sqlite3_int64 at) {
    if (reinterpret_cast<CountingFile*>(f)->wal) {
      if (fail_log_writes) return SQLITE_FULL;
      log_write_sizes.push_back(n);
    }
    return real(f)->pMethods->xWrite(real(f), data, n, at);
  };
  m.xTruncate = [](sqlite3_file* f, sqlite3_int64 size) { return real(f)->pMethods->xTruncate(real(f), size); };
  m.xSync = [](sqlite3_file* f, int flags) { return real(f)->pMethods->xSync(real(f), flags); };
  m.xFileSize = [](sqlite3_file* f, sqlite3_int64* size) { return real(f)->pMethods->xFileSize(real(f), size); };
  m.xLock = [](sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); };
  m.xUnlock = [](sqlite3_file* f, int level) { return real(f)->pMethods->xUnlock(real(f), level); };
  m.xCheckReservedLock = [](sqlite3_file* f, int* out) { return real(f)->pMethods->xCheckReservedLock(real(f), out); };
  m.xFileControl = [](sqlite3_file* f, int op, void* arg) { return real(f)->pMethods->xFileControl(real(f), op, arg); };
  m.xSectorSize = [](sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); };
  m.xDeviceCharacteristics = [](sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); };
  m.xShmMap = [](sqlite3_file* f, int region, int size, int extend, void volatile** out) {
    return real(f)->pMethods->xShmMap(real(f), region, size, extend, out);
  };
  m.xShmLock = [](sqlite3_file* f, int at, int n, int flags) {
    return real(f)->pMethods->xShmLock(real(f), at, n, flags);
  };
  m.xShmBarrier = [](sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); };
  m.xShmUnmap = [](sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); };
  m.xFetch = [](sqlite3_file* f, sqlite3_int64 at, int n, void** out) {
    return real(f)->pMethods->xFetch(real(f), at, n, out);
  };
  m.xUnfetch = [](sqlite3_file* f, sqlite3_int64 at, void* page) {
    return real(f)->pMethods->xUnfetch(real(f), at, page);
  };
  counting_vfs = *system_vfs;
  counting_vfs.pNext = nullptr;
  counting_vfs.zName = "test-counting";
  counting_vfs.szOsFile = counting_size + system_vfs->szOsFile;
  counting_vfs.xOpen = [](sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
    auto* f = reinterpret_cast<CountingFile*>(file);
    f->base.pMethods = nullptr;
    f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + counting_size);
    f->real->pMethods = nullptr;
    int rc = system_vfs->xOpen(system_vfs, name, f->real, flags, out_flags);
    if (f->real->pMethods == nullptr) return rc;
    f->wal = (flags & SQLITE_OPEN_WAL) != 0;
    f->base.pMethods = &counting_methods;
    return rc;
  };
  REQUIRE(sqlite3_vfs_register(&counting_vfs, 0) == SQLITE_OK);
  REQUIRE(jitbot::storage::install_wal_frame_vfs(&counting_vfs, "test-wal-frames", false));
}

sqlite3* open(const std::string& path, const char* vfs) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) == SQLITE_OK);
  return db;
}

void exec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string text = error ? error : "";
  sqlite3_free(error);
  INFO(sql << ": " << text);
  REQUIRE(rc == SQLITE_OK);
}

std::string single_value(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* statement = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(statement) == SQLITE_ROW);
  auto* text = sqlite3_column_text(statement, 0);
  std::string value = text ? reinterpret_cast<const char*>(text) : "";
  sqlite3_finalize(statement);
  return value;
}

/// Frames in a write of `size` bytes to the log: 0 for its 32-byte header, -1 for anything that is
/// not whole frames.
int frames_in(int size, int page_size) {
  if (size == 32) return 0;
  return size > 0 && size % (24 + page_size) == 0 ? size / (24 + page_size) : -1;
}

/// What a crash now would leave: the database at `path` and its log, as they are on disk, copied
/// to `name` and opened anew (without the shared index, so the log is read and its checksums
/// checked).
sqlite3* open_as_after_crash(const jitbot::testing::ScratchDir& dir, const std::string& path, const std::string& name) {
  auto copy = (dir.path() / name).string();
  std::filesystem::copy_file(path, copy);
  std::filesystem::copy_file(path + "-wal", copy + "-wal");
  return open(copy, "unix");
}

}  // namespace

TEST_CASE("the log layer writes a transaction's frames at once, and every reader sees each commit", "[storage]") {
  install_counting_vfs();
  log_write_sizes.clear();
  jitbot::testing::ScratchDir dir;
  auto path = (dir.path() / "frames.db").string();

  sqlite3* writer = open(path, "test-wal-frames");
  // The pragma takes the same hook for its checkpoints: set after it.
  exec(writer, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0");
  int commits = 0;
  sqlite3_wal_hook(
      writer,
      [](void* count, sqlite3*, const char*, int) {
        ++*static_cast<int*>(count);
        return SQLITE_OK;
      },
      &commits);
  exec(writer, "CREATE TABLE t (n INTEGER, text TEXT)");
  sqlite3* layered_reader = open(path, "test-wal-frames");
  sqlite3* plain_reader = open(path, "unix");
  long long expected_length = 0;
  for (int n = 1; n <= 60; ++n) {
    // Small rows, and now and then one over several pages (overflow pages: many frames a commit).
    int length = n % 10 == 0 ? 20000 : 300;
    expected_length += length;
    exec(writer, "INSERT INTO t VALUES (" + std::to_string(n) + ", printf('%." + std::to_string(length) + "c', 'x'))");
    if (n % 6 == 0) {
      exec(writer, "BEGIN; UPDATE t SET n = n + 1000 WHERE n = " + std::to_string(n) + "; ROLLBACK");
      exec(writer, "SAVEPOINT s; DELETE FROM t WHERE n = " + std::to_string(n) + "; ROLLBACK TO s; RELEASE s");
    }
    for (sqlite3* reader : {layered_reader, plain_reader}) {
      CHECK(single_value(reader, "SELECT count(*) FROM t") == std::to_string(n));
      CHECK(single_value(reader, "SELECT sum(length(text)) FROM t") == std::to_string(expected_length));
    }
  }
  CHECK(single_value(plain_reader, "PRAGMA integrity_check") == "ok");

  // Every write to the log was its 32-byte header or whole frames (a 24-byte frame header, then
  // its page, never a header alone), and each transaction's frames came in one write.
  int page_size = std::stoi(single_value(writer, "PRAGMA page_size"));
  REQUIRE_FALSE(log_write_sizes.empty());
  int frames = 0;
  int frame_writes = 0;
  for (int size : log_write_sizes) {
    INFO("a write of " << size << " bytes");
    REQUIRE(frames_in(size, page_size) >= 0);
    frames += frames_in(size, page_size);
    frame_writes += frames_in(size, page_size) > 0;
  }
  CHECK(frame_writes == commits);
  CHECK(frames > commits);  // the long rows took several pages each
  auto log_size = static_cast<long long>(std::filesystem::file_size(path + "-wal"));
  CHECK(frames == (log_size - 32) / (24 + page_size));

  // A transaction too big to hold goes out in several writes, each of whole frames.
  log_write_sizes.clear();
  exec(writer, "INSERT INTO t VALUES (61, printf('%.600000c', 'y'))");
  expected_length += 600000;
  CHECK(log_write_sizes.size() > 1);
  for (int size : log_write_sizes) {
    INFO("a write of " << size << " bytes");
    CHECK(frames_in(size, page_size) > 0);
  }
  for (sqlite3* reader : {layered_reader, plain_reader}) {
    CHECK(single_value(reader, "SELECT sum(length(text)) FROM t") == std::to_string(expected_length));
  }

  sqlite3_close(plain_reader);
  sqlite3_close(layered_reader);
  sqlite3_close(writer);
  // Reopened after the last connection closed (which copies the log into the database).
  sqlite3* reopened = open(path, "unix");
  CHECK(single_value(reopened, "SELECT count(*) FROM t") == "61");
  CHECK(single_value(reopened, "SELECT sum(length(text)) FROM t") == std::to_string(expected_length));
  sqlite3_close(reopened);
}

TEST_CASE("each commit through the log layer is whole on disk when it returns, re-sealed frames too", "[storage]") {
  install_counting_vfs();
  jitbot::testing::ScratchDir dir;
  auto path = (dir.path() / "resealed.db").string();
  sqlite3* writer = open(path, "test-wal-frames");
  // A page cache of a few pages: a big transaction spills frames into the log before its commit,
  // and changing a spilled page again makes SQLite rewrite frames and their checksums in place.
  // Without a sync at each commit, as jitbot runs.
  exec(writer,
       "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=5; "
       "CREATE TABLE t (n INTEGER PRIMARY KEY, text TEXT)");
  int rows = 0;
  for (int round = 1; round <= 3; ++round) {
    std::string insert_many = "BEGIN";
    for (int i = 0; i < 150; ++i) insert_many += "; INSERT INTO t (text) VALUES (printf('%.900c', 'a'))";
    exec(writer, insert_many + "; UPDATE t SET text = printf('%.900c', 'b') WHERE n % 7 = 0; COMMIT");
    rows += 150;
    int spilled = 0;
    int highest = 0;
    sqlite3_db_status(writer, SQLITE_DBSTATUS_CACHE_SPILL, &spilled, &highest, 0);
    REQUIRE(spilled > 0);  // the case this is about: frames written, then rewritten, before the commit
    sqlite3* after_crash = open_as_after_crash(dir, path, "crash" + std::to_string(round) + ".db");
    CHECK(single_value(after_crash, "SELECT count(*) FROM t") == std::to_string(rows));
    CHECK(single_value(after_crash, "SELECT count(*) FROM t WHERE text LIKE 'b%'") == std::to_string(rows / 7));
    sqlite3_close(after_crash);
  }
  sqlite3_close(writer);
}

namespace {

/// Two connections through the layer on one database whose log is empty, holding a table t of 60
/// rows and an empty table u. The first has a page cache of 5 pages, so a transaction of it that
/// changes more than that spills frames into the log before it ends.
struct TwoWriters {
  jitbot::testing::ScratchDir dir;
  std::string path = (dir.path() / "two.db").string();
  sqlite3* first = open(path, "test-wal-frames");
  sqlite3* second = nullptr;

  TwoWriters() {
    exec(first,
         "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0; "
         "CREATE TABLE t (n INTEGER PRIMARY KEY, text TEXT); CREATE TABLE u (n INTEGER PRIMARY KEY, text TEXT); "
         "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 60) "
         "INSERT INTO t (text) SELECT printf('%.900c', 'a') FROM c");
    second = open(path, "test-wal-frames");
    exec(second, "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0");
    // Emptied, so the second connection's frames go where the first one's spilled frames went.
    exec(first, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA cache_size=5");
  }
  ~TwoWriters() {
    sqlite3_close(first);
    sqlite3_close(second);
  }
  TwoWriters(const TwoWriters&) = delete;
  TwoWriters& operator=(const TwoWriters&) = delete;

  /// The first connection begins a transaction that changes the first `rows` rows of t, and has
  /// spilled frames into the log by the time this returns.
  void begin_spilling(int rows) {
    std::string updates = "BEGIN";
    for (int n = 1; n <= rows; ++n)
      updates += "; UPDATE t SET text = printf('%.900c', 'z') WHERE n = " + std::to_string(n);
    exec(first, updates);
    int spilled = 0;
    int highest = 0;
    sqlite3_db_status(first, SQLITE_DBSTATUS_CACHE_SPILL, &spilled, &highest, 0);
    REQUIRE(spilled > 0);
  }
};

}  // namespace

TEST_CASE("frames of a rolled-back transaction never land on another connection's commit", "[storage]") {
  install_counting_vfs();
  TwoWriters writers;
  writers.begin_spilling(30);
  exec(writers.first, "ROLLBACK");

  std::string inserts = "BEGIN";
  for (int i = 0; i < 20; ++i) inserts += "; INSERT INTO u (text) VALUES (printf('%.900c', 'b'))";
  exec(writers.second, inserts + "; COMMIT");
  // The first connection touches the log again (a read), and closes.
  CHECK(single_value(writers.first, "SELECT count(*) FROM t WHERE text LIKE 'a%'") == "60");
  sqlite3_close(writers.first);
  writers.first = nullptr;

  sqlite3* plain_reader = open(writers.path, "unix");
  CHECK(single_value(plain_reader, "SELECT count(*) FROM u") == "20");
  CHECK(single_value(plain_reader, "PRAGMA integrity_check") == "ok");
  sqlite3_close(plain_reader);
  sqlite3* after_crash = open_as_after_crash(writers.dir, writers.path, "crash.db");
  CHECK(single_value(after_crash, "SELECT count(*) FROM u") == "20");
  CHECK(single_value(after_crash, "SELECT count(*) FROM t WHERE text LIKE 'a%'") == "60");
  sqlite3_close(after_crash);
}

TEST_CASE("a log write that fails at a rollback leaves the write lock to the next writer", "[storage]") {
  install_counting_vfs();
  TwoWriters writers;
  writers.begin_spilling(15);
  // The disk fills while the spilled frames are held: writing them at the rollback fails.
  fail_log_writes = true;
  sqlite3_exec(writers.first, "ROLLBACK", nullptr, nullptr, nullptr);
  fail_log_writes = false;

  // The rollback still ended the first connection's write lock: the second one writes at once.
  exec(writers.second, "BEGIN IMMEDIATE; INSERT INTO t (text) VALUES ('after'); COMMIT");
  CHECK(single_value(writers.second, "SELECT count(*) FROM t WHERE text LIKE 'aaa%'") == "60");
  CHECK(single_value(writers.second, "SELECT count(*) FROM t WHERE text = 'after'") == "1");
  CHECK(single_value(writers.second, "PRAGMA integrity_check") == "ok");
}
