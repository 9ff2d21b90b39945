#include "storage/wal_frame_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace jitbot::storage {
namespace {

constexpr int frame_header_size = 24;

/// Our part of an open file; the system layer's part follows it in the same allocation.
struct File {
  sqlite3_file base;  ///< first, so SQLite's sqlite3_file* is a File*
  sqlite3_file* real;
  bool wal;
  bool header_held;
  sqlite3_int64 header_offset;
  unsigned char header[frame_header_size];
  std::vector<unsigned char>* joined;  ///< header + page, reused for every frame of a log
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

File* self(sqlite3_file* file) { return reinterpret_cast<File*>(file); }
sqlite3_file* real(sqlite3_file* file) { return self(file)->real; }

/// Writes a held header on its own: the call that follows is not its page.
int release_header(File* f) {
  if (!f->header_held) return SQLITE_OK;
  f->header_held = false;
  return f->real->pMethods->xWrite(f->real, f->header, frame_header_size, f->header_offset);
}

int release_header(sqlite3_file* file) { return release_header(self(file)); }

int x_close(sqlite3_file* file) {
  File* f = self(file);
  int released = release_header(f);
  int closed = f->real->pMethods->xClose(f->real);
  delete f->joined;
  f->joined = nullptr;
  return released != SQLITE_OK ? released : closed;
}

int x_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  if (int rc = release_header(file)) return rc;
  return real(file)->pMethods->xRead(real(file), out, amount, offset);
}

int x_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  File* f = self(file);
  if (!f->wal) return f->real->pMethods->xWrite(f->real, data, amount, offset);
  if (f->header_held && offset == f->header_offset + frame_header_size) {
    f->header_held = false;
    auto& joined = *f->joined;
    joined.resize(static_cast<std::size_t>(frame_header_size + amount));
    std::memcpy(joined.data(), f->header, frame_header_size);
    std::memcpy(joined.data() + frame_header_size, data, static_cast<std::size_t>(amount));
    return f->real->pMethods->xWrite(f->real, joined.data(), frame_header_size + amount, f->header_offset);
  }
  if (int rc = release_header(f)) return rc;
  if (amount == frame_header_size) {
    std::memcpy(f->header, data, frame_header_size);
    f->header_offset = offset;
    f->header_held = true;
    return SQLITE_OK;
  }
  return f->real->pMethods->xWrite(f->real, data, amount, offset);
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  if (int rc = release_header(file)) return rc;
  return real(file)->pMethods->xTruncate(real(file), size);
}

int x_sync(sqlite3_file* file, int flags) {
  if (int rc = release_header(file)) return rc;
  return real(file)->pMethods->xSync(real(file), flags);
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  if (int rc = release_header(file)) return rc;
  return real(file)->pMethods->xFileSize(real(file), size);
}

int x_lock(sqlite3_file* file, int level) { return real(file)->pMethods->xLock(real(file), level); }
int x_unlock(sqlite3_file* file, int level) { return real(file)->pMethods->xUnlock(real(file), level); }
int x_check_reserved_lock(sqlite3_file* file, int* out) {
  return real(file)->pMethods->xCheckReservedLock(real(file), out);
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
  if (int rc = release_header(file)) return rc;
  return real(file)->pMethods->xFileControl(real(file), op, arg);
}

int x_sector_size(sqlite3_file* file) { return real(file)->pMethods->xSectorSize(real(file)); }
int x_device_characteristics(sqlite3_file* file) { return real(file)->pMethods->xDeviceCharacteristics(real(file)); }

int x_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  return real(file)->pMethods->xShmMap(real(file), region, size, extend, out);
}
int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  return real(file)->pMethods->xShmLock(real(file), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* file) { real(file)->pMethods->xShmBarrier(real(file)); }
int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  return real(file)->pMethods->xShmUnmap(real(file), delete_flag);
}

int x_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  if (int rc = release_header(file)) return rc;
  return real(file)->pMethods->xFetch(real(file), offset, amount, out);
}
int x_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  return real(file)->pMethods->xUnfetch(real(file), offset, page);
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
  f->header_held = false;
  f->header_offset = 0;
  f->joined = f->wal ? new (std::nothrow) std::vector<unsigned char>() : nullptr;
  if (f->wal && f->joined == nullptr) f->wal = false;  // out of memory: write as the system does
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
