#pragma once

struct sqlite3_vfs;

namespace jitbot::storage {

/// Makes SQLite's default file layer one that writes all the frames a transaction adds to a
/// write-ahead log with one write(), instead of two per frame.
///
/// SQLite writes each log frame as its 24-byte header, then the page right after it: two system
/// calls per page, each paying the file system's full cost for a buffered write. This layer holds
/// the frames a transaction appends until its commit frame (the last) has come, and writes them
/// all together, before SQLite publishes the commit to readers. Nothing is held across any other
/// call on the log (a read, a sync, a size query, closing it), nor across any change of the
/// connection's locks on the log's shared index (so the frames of a transaction rolled back go out
/// before its write lock ends). Headers SQLite rewrites in place are written at once. So what
/// SQLite and other readers see of the file is unchanged, and a crash part-way loses only an
/// uncommitted transaction, as before. A transaction past 128 KiB of frames is written in parts
/// of whole frames. Every other file, and every other call, goes to the system's own layer
/// unchanged.
///
/// Installs the layer over `below` (SQLite's default when null) under `name`, as SQLite's default
/// when `make_default`. Call before SQLite opens a database through it (after any
/// sqlite3_config). Returns false if the layer could not be installed; SQLite then works as it
/// would without it. `name` must outlive the process's use of SQLite.
bool install_wal_frame_vfs(sqlite3_vfs* below = nullptr, const char* name = "jitbot-wal-frames",
                           bool make_default = true);

}  // namespace jitbot::storage
