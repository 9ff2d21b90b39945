#include "storage/wal_frame_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace jitbot::storage {
namespace {

constexpr int frame_header_size = 24;
/// Frames held beyond this go out before the transaction's commit frame: a big transaction (a
/// migration, a restore) does not grow the buffer past it.
constexpr std::size_t hold_limit = 128 * 1024;

/// Our part of an open file; the system layer's part follows it in the same allocation.
struct File {
  sqlite3_file base;  ///< first, so SQLite's sqlite3_file* is a File*
  sqlite3_file* real;
  bool wal;
  /// Log frames not yet written, from `held_offset` on: whole frames, and maybe last a header
  /// whose page has not come yet. Reused for every transaction of the log.
  std::vector<unsigned char>* held;
  sqlite3_int64 held_offset;
  bool awaiting_page;      ///< the last bytes held are a frame header
  bool commit_frame;       ///< that header is a transaction's commit frame
  std::size_t frame_size;  ///< header and page, once a page has come
  /// Where this connection last saw the log end, and the salts of the log it saw: a frame header
  /// before that end, in the same log, is one SQLite rewrites in place.
  sqlite3_int64 log_end;
  unsigned char salts[8];
  /// A database and its log, opened by the same connection: see x_shm_lock.
  File* partner;
  const char* database_name;  ///< a database's name as SQLite passed it, its key in open_databases()
};

/// Rounded up so the system layer's part is aligned as it would be on its own.
constexpr int our_size = static_cast<int>((sizeof(File) + 15) / 16 * 16);

/// One installed layer. SQLite hands its methods the sqlite3_vfs, which is the first member.
struct Layer {
  sqlite3_vfs vfs;
  sqlite3_vfs* below;
};
/// One table per version of the system layer's methods, so SQLite never calls a method the file
/// underneath lacks.
sqlite3_io_methods methods[3];

/// Databases open through the layer, by the name pointer SQLite passed when opening them, which
/// is also what sqlite3_filename_database() returns for their logs' names.
struct OpenDatabases {
  std::mutex mutex;
  std::unordered_map<const char*, File*> by_name;
};

OpenDatabases& open_databases() {
  static auto* databases = new OpenDatabases;  // never destroyed: files may close at exit
  return *databases;
}

File* self(sqlite3_file* file) { return reinterpret_cast<File*>(file); }
sqlite3_file* real(sqlite3_file* file) { return self(file)->real; }

/// Writes whatever is held, in one write when it is under 128 KiB: SQLite's own unix layer
/// cannot take more in one call (it keeps the low 17 bits of the length), so more goes in parts
/// of whole frames. Held or not, it is let go: after a failed write SQLite abandons the
/// transaction, and its frames must not reach the file later.
int release_held(File* f) {
  if (!f->wal || f->held->empty()) return SQLITE_OK;
  constexpr std::size_t largest_write = 0x1ffff;
  std::size_t part =
      f->frame_size > 0 ? std::max<std::size_t>(1, largest_write / f->frame_size) * f->frame_size : largest_write;
  int rc = SQLITE_OK;
  for (std::size_t done = 0; done < f->held->size() && rc == SQLITE_OK; done += part) {
    std::size_t size = std::min(part, f->held->size() - done);
    rc = f->real->pMethods->xWrite(f->real, f->held->data() + done, static_cast<int>(size),
                                   f->held_offset + static_cast<sqlite3_int64>(done));
  }
  f->held->clear();
  f->awaiting_page = false;
  f->commit_frame = false;
  return rc;
}

int release_held(sqlite3_file* file) { return release_held(self(file)); }

/// A frame header's second field is the database size in pages for a commit frame, else zero.
bool is_commit_header(const void* header) {
  const auto* bytes = static_cast<const unsigned char*>(header);
  return (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
}

void note_end(File* f, sqlite3_int64 end) { f->log_end = std::max(f->log_end, end); }

/// True for a frame header that adds a frame to the log, false for one SQLite rewrites in place.
/// (When a transaction changes a page it had already written to the log, SQLite writes its later
/// frames with their salts and checksums zeroed; once the commit frame is written, it rewrites
/// the header of every frame from the first one it changed.) A header with salts other than the
/// last this connection saw belongs to a log begun since, by this connection or another: it is
/// added at that log's end.
bool appends_frame(File* f, const void* header, sqlite3_int64 offset) {
  const auto* salts = static_cast<const unsigned char*>(header) + 8;
  static constexpr unsigned char unsealed[sizeof f->salts] = {};
  bool sealed = std::memcmp(salts, unsealed, sizeof unsealed) != 0;
  if (sealed && std::memcmp(salts, f->salts, sizeof f->salts) != 0) {
    std::memcpy(f->salts, salts, sizeof f->salts);
    f->log_end = offset;
  }
  return offset >= f->log_end;
}

/// False when memory ran out: then the caller writes what is held and this write as they come.
bool hold(File* f, const void* data, int amount) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  try {
    f->held->insert(f->held->end(), bytes, bytes + amount);
    return true;
  } catch (const std::bad_alloc&) {
    return false;
  }
}

int x_close(sqlite3_file* file) {
  File* f = self(file);
  int released = release_held(f);
  if (f->partner) f->partner->partner = nullptr;
  if (f->database_name) {
    auto& databases = open_databases();
    std::lock_guard lock(databases.mutex);
    databases.by_name.erase(f->database_name);
  }
  int closed = f->real->pMethods->xClose(f->real);
  delete f->held;
  f->held = nullptr;
  return released != SQLITE_OK ? released : closed;
}

int x_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  if (int rc = release_held(file)) return rc;
  return real(file)->pMethods->xRead(real(file), out, amount, offset);
}

/// The next write of a run of frames: a page after its header, or the next frame's header.
bool continues_held(const File* f, int amount, sqlite3_int64 offset) {
  if (f->held->empty() || offset != f->held_offset + static_cast<sqlite3_int64>(f->held->size())) return false;
  return f->awaiting_page ? amount != frame_header_size : amount == frame_header_size;
}

int x_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  File* f = self(file);
  if (!f->wal) return f->real->pMethods->xWrite(f->real, data, amount, offset);
  // Only frames added at the log's end are held. A header rewritten in place goes out at once:
  // SQLite rewrites them after the commit frame, and nothing may still be held once it has
  // published a commit, or a crash would leave a log whose checksums fail before that commit.
  bool header = amount == frame_header_size;
  bool appended_header = header && appends_frame(f, data, offset);
  note_end(f, offset + amount);
  if (continues_held(f, amount, offset) && (!header || appended_header) && hold(f, data, amount)) {
    if (header) {
      f->awaiting_page = true;
      f->commit_frame = is_commit_header(data);
      return SQLITE_OK;
    }
    f->awaiting_page = false;
    f->frame_size = frame_header_size + static_cast<std::size_t>(amount);
    // The commit frame is the last of its transaction: all of them go out now, before SQLite
    // publishes the commit to readers (which it does only after this write returns).
    if (f->commit_frame || f->held->size() >= hold_limit) return release_held(f);
    return SQLITE_OK;
  }
  // Anything else: what is held goes first; a header added at the end starts a new run.
  if (int rc = release_held(f)) return rc;
  if (appended_header && hold(f, data, amount)) {
    f->held_offset = offset;
    f->awaiting_page = true;
    f->commit_frame = is_commit_header(data);
    return SQLITE_OK;
  }
  return f->real->pMethods->xWrite(f->real, data, amount, offset);
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  if (int rc = release_held(file)) return rc;
  self(file)->log_end = std::min(self(file)->log_end, size);
  return real(file)->pMethods->xTruncate(real(file), size);
}

int x_sync(sqlite3_file* file, int flags) {
  if (int rc = release_held(file)) return rc;
  return real(file)->pMethods->xSync(real(file), flags);
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  if (int rc = release_held(file)) return rc;
  return real(file)->pMethods->xFileSize(real(file), size);
}

int x_lock(sqlite3_file* file, int level) { return real(file)->pMethods->xLock(real(file), level); }
int x_unlock(sqlite3_file* file, int level) { return real(file)->pMethods->xUnlock(real(file), level); }
int x_check_reserved_lock(sqlite3_file* file, int* out) {
  return real(file)->pMethods->xCheckReservedLock(real(file), out);
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
  if (int rc = release_held(file)) return rc;
  return real(file)->pMethods->xFileControl(real(file), op, arg);
}

int x_sector_size(sqlite3_file* file) { return real(file)->pMethods->xSectorSize(real(file)); }
int x_device_characteristics(sqlite3_file* file) { return real(file)->pMethods->xDeviceCharacteristics(real(file)); }

int x_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  return real(file)->pMethods->xShmMap(real(file), region, size, extend, out);
}
// Called on the database, for the shared index of its log. A transaction that spilled frames to
// the log and then rolled back ends without a commit frame, and SQLite writes nothing more to
// the log for it: its frames would stay held past the end of the write lock, and be written
// later over frames another connection has committed at the same place since. So whatever this
// connection's log holds goes out before any change of its locks on the index.
int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  int released = SQLITE_OK;
  if (File* log = self(file)->partner) released = release_held(log);
  // An unlock goes through whatever happened: SQLite ignores what an unlock returns, so one not
  // made would leave the write lock held and every other writer busy. A lock is refused instead.
  if (released != SQLITE_OK && (flags & SQLITE_SHM_UNLOCK) == 0) return released;
  return real(file)->pMethods->xShmLock(real(file), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* file) { real(file)->pMethods->xShmBarrier(real(file)); }
int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  return real(file)->pMethods->xShmUnmap(real(file), delete_flag);
}

int x_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  if (int rc = release_held(file)) return rc;
  return real(file)->pMethods->xFetch(real(file), offset, amount, out);
}
int x_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  return real(file)->pMethods->xUnfetch(real(file), offset, page);
}

/// A database is noted by name; a log is paired with its connection's database, or, should that
/// not be found, holds nothing back.
void pair_with_database(File* f, const char* name, int flags) noexcept {
  if (name == nullptr) return;
  auto& databases = open_databases();
  std::lock_guard lock(databases.mutex);
  if (flags & SQLITE_OPEN_MAIN_DB) {
    try {
      databases.by_name[name] = f;
      f->database_name = name;
    } catch (const std::bad_alloc&) {
      // Unnoted, its log will not find it, and holds nothing back.
    }
  } else if (f->wal) {
    auto found = databases.by_name.find(sqlite3_filename_database(name));
    if (found != databases.by_name.end() && found->second->partner == nullptr) {
      f->partner = found->second;
      found->second->partner = f;
    } else {
      f->wal = false;
    }
  }
}

int x_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  sqlite3_vfs* below = reinterpret_cast<Layer*>(vfs)->below;
  File* f = self(file);
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + our_size);
  f->real->pMethods = nullptr;
  int rc = below->xOpen(below, name, f->real, flags, out_flags);
  // No methods: SQLite will not close the file, so there is nothing of ours to set up either.
  if (f->real->pMethods == nullptr) return rc;
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  f->held = f->wal ? new (std::nothrow) std::vector<unsigned char>() : nullptr;
  if (f->wal && f->held == nullptr) f->wal = false;  // out of memory: write as the system does
  f->held_offset = 0;
  f->awaiting_page = false;
  f->commit_frame = false;
  f->frame_size = 0;
  f->log_end = 0;
  std::memset(f->salts, 0, sizeof f->salts);
  f->partner = nullptr;
  f->database_name = nullptr;
  pair_with_database(f, name, flags);
  int version = std::clamp(f->real->pMethods->iVersion, 1, 3);
  f->base.pMethods = &methods[version - 1];
  return rc;
}

void fill_methods() {
  for (int version = 1; version <= 3; ++version) {
    sqlite3_io_methods& m = methods[version - 1];
    m = {};
    m.iVersion = version;
    m.xClose = x_close;
    m.xRead = x_read;
    m.xWrite = x_write;
    m.xTruncate = x_truncate;
    m.xSync = x_sync;
    m.xFileSize = x_file_size;
    m.xLock = x_lock;
    m.xUnlock = x_unlock;
    m.xCheckReservedLock = x_check_reserved_lock;
    m.xFileControl = x_file_control;
    m.xSectorSize = x_sector_size;
    m.xDeviceCharacteristics = x_device_characteristics;
    if (version >= 2) {
      m.xShmMap = x_shm_map;
      m.xShmLock = x_shm_lock;
      m.xShmBarrier = x_shm_barrier;
      m.xShmUnmap = x_shm_unmap;
    }
    if (version >= 3) {
      m.xFetch = x_fetch;
      m.xUnfetch = x_unfetch;
    }
  }
}

}  // namespace

bool install_wal_frame_vfs(sqlite3_vfs* below, const char* name, bool make_default) {
  if (below == nullptr) below = sqlite3_vfs_find(nullptr);
  if (below == nullptr) return false;
  static std::once_flag filled;
  std::call_once(filled, fill_methods);
  // Registered for the life of the process, as SQLite requires.
  auto* layer = new Layer{*below, below};
  // Everything but opening a file is the layer below's own: file names, access checks, time.
  layer->vfs.pNext = nullptr;
  layer->vfs.zName = name;
  layer->vfs.szOsFile = our_size + below->szOsFile;
  layer->vfs.xOpen = x_open;
  if (sqlite3_vfs_register(&layer->vfs, make_default ? 1 : 0) == SQLITE_OK) return true;
  delete layer;
  return false;
}

}  // namespace jitbot::storage
