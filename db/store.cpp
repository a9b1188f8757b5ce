// Store: the container inventory on one SQLite connection, serialised by a mutex.
#include "db/store.h"

#include <cerrno>
#include <mutex>

#include "db/migrations.h"
#include "db/sqlite.h"
#include "db/store_impl.h"

namespace sysc::db {

namespace {

struct StateName {
  State state;
  const char* name;
};
// These strings are also the CHECK constraint of containers.state (migration 1).
constexpr StateName kStateNames[] = {
    {State::Stopped, "STOPPED"},
    {State::Starting, "STARTING"},
    {State::Running, "RUNNING"},
    {State::Stopping, "STOPPING"},
};

constexpr int kBusyTimeoutMs = 10000;

// Columns in the order read_record() expects.
constexpr const char* kSelectColumns =
    "SELECT name, template, rootfs, created_at, state, init_pid, shim_pid, started_at, last_exit, storage, image "
    "FROM containers ";


Result<ContainerRecord> read_record(const sql::Statement& stmt) {
  ContainerRecord rec;
  rec.name = stmt.column_text(0);
  rec.template_name = stmt.column_text(1);
  rec.rootfs = stmt.column_text(2);
  rec.created_at = stmt.column_int(3);
  std::string state = stmt.column_text(4);
  auto parsed = state_from_string(state);
  if (!parsed) return make_error(rec.name + ": unknown state '" + state + "' in database", EIO);
  rec.state = *parsed;
  rec.init_pid = static_cast<int>(stmt.column_int(5));
  rec.shim_pid = static_cast<int>(stmt.column_int(6));
  rec.started_at = stmt.column_int(7);
  rec.last_exit = stmt.column_text(8);
  rec.storage = stmt.column_text(9);
  rec.image = stmt.column_text(10);
  return rec;
}

Result<sql::DbPtr> open_connection(const std::string& path) {
  sqlite3* raw = nullptr;
  // NOMUTEX: Store's own mutex already serialises every use of the connection.
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  sql::DbPtr db(raw);  // sqlite3_open_v2 hands out a handle even on failure; it must be closed
  if (rc != SQLITE_OK) return sql::sqlite_error(db.get(), "open " + path);
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

// Switching a fresh file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY at once
// instead of calling the busy handler when another process holds the file (two processes
// opening a new database together). So this one pragma retries until the busy timeout.
Status set_wal(sqlite3* db, const std::string& path) {
  constexpr int kRetryMs = 10;
  for (int waited = 0;; waited += kRetryMs) {
    auto stmt = TRY_CTX(sql::Statement::prepare(db, "PRAGMA journal_mode = WAL", "set journal_mode"), path);
    auto row = stmt.step();
    if (!row.ok() && (stmt.last_error_code() & 0xff) == SQLITE_BUSY && waited < kBusyTimeoutMs) {
      sqlite3_sleep(kRetryMs);
      continue;
    }
    if (!row.ok()) return std::move(row).error().context(path);
    // The pragma answers with the mode in effect, which stays "delete" where WAL is impossible.
    std::string mode = stmt.column_text(0);
    if (mode != "wal") return make_error(path + ": sqlite: set journal_mode: got '" + mode + "' instead of 'wal'", EIO);
    return {};
  }
}

// Busy timeout first: the pragmas below may already need to wait for another process.
Status configure(sqlite3* db, const std::string& path) {
  if (sqlite3_busy_timeout(db, kBusyTimeoutMs) != SQLITE_OK)
    return sql::sqlite_error(db, "set busy timeout").context(path);
  // WAL lets readers and one writer in other processes proceed together.
  if (path != ":memory:") TRY(set_wal(db, path));
  TRY_CTX(sql::exec(db, "PRAGMA foreign_keys = ON", "set foreign_keys"), path);
  TRY_CTX(sql::exec(db, "PRAGMA synchronous = NORMAL", "set synchronous"), path);
  return {};
}

}  // namespace

Error no_such_container(const std::string& name) { return make_error(name + ": no such container", ENOENT); }

const char* to_string(State s) {
  for (const StateName& entry : kStateNames)
    if (entry.state == s) return entry.name;
  return "UNKNOWN";
}

std::optional<State> state_from_string(const std::string& s) {
  for (const StateName& entry : kStateNames)
    if (s == entry.name) return entry.state;
  return std::nullopt;
}


Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

Result<Store> Store::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->db = TRY(open_connection(path));
  TRY(configure(impl->db.get(), path));
  TRY(migrate(impl->db.get(), path));
  return Store(std::move(impl));
}

int Store::schema_version() {
  std::lock_guard lock(impl_->mu);
  auto version = read_schema_version(impl_->db.get());
  return version.ok() ? *version : -1;
}

Status Store::insert(const ContainerRecord& rec) {
  std::lock_guard lock(impl_->mu);
  auto stmt = TRY_CTX(sql::Statement::prepare(impl_->db.get(),
                                              "INSERT INTO containers (name, template, rootfs, created_at, state, "
                                              "init_pid, shim_pid, started_at, last_exit, storage, image) "
                                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                              "insert"),
                      rec.name);
  TRY_CTX(stmt.bind_all(rec.name, rec.template_name, rec.rootfs, rec.created_at, to_string(rec.state),
                        rec.init_pid, rec.shim_pid, rec.started_at, rec.last_exit, rec.storage, rec.image),
          rec.name);
  Status status = stmt.run();
  if (!status.ok() && stmt.last_error_code() == SQLITE_CONSTRAINT_PRIMARYKEY)
    return make_error(rec.name + ": already exists", EEXIST);
  if (!status.ok()) return std::move(status).error().context(rec.name);
  return {};
}

Result<std::optional<ContainerRecord>> Store::get(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  std::string sql_text = std::string(kSelectColumns) + "WHERE name = ?";
  auto stmt = TRY_CTX(sql::Statement::prepare(impl_->db.get(), sql_text.c_str(), "get"), name);
  TRY_CTX(stmt.bind(1, name), name);
  bool row = TRY_CTX(stmt.step(), name);
  if (!row) return std::optional<ContainerRecord>();
  auto rec = TRY(read_record(stmt));
  return std::optional<ContainerRecord>(std::move(rec));
}

Result<std::vector<ContainerRecord>> Store::list() {
  std::lock_guard lock(impl_->mu);
  std::string sql_text = std::string(kSelectColumns) + "ORDER BY name";
  auto stmt = TRY(sql::Statement::prepare(impl_->db.get(), sql_text.c_str(), "list containers"));
  std::vector<ContainerRecord> out;
  while (TRY(stmt.step())) out.push_back(TRY(read_record(stmt)));
  return out;
}

Status Store::set_running(const std::string& name, State state, int init_pid, int shim_pid, int64_t started_at) {
  return impl_->change_one(name,
                           "UPDATE containers SET state = ?, init_pid = ?, shim_pid = ?, started_at = ? "
                           "WHERE name = ?",
                           "set running", to_string(state), init_pid, shim_pid, started_at, name);
}

Status Store::set_state(const std::string& name, State state) {
  return impl_->change_one(name, "UPDATE containers SET state = ? WHERE name = ?", "set state", to_string(state),
                           name);
}

Status Store::record_exit(const std::string& name, const std::string& last_exit) {
  return impl_->change_one(name,
                           "UPDATE containers SET state = ?, init_pid = 0, shim_pid = 0, last_exit = ? "
                           "WHERE name = ?",
                           "record exit", to_string(State::Stopped), last_exit, name);
}

Status Store::remove(const std::string& name) {
  return impl_->change_one(name, "DELETE FROM containers WHERE name = ?", "remove", name);
}

}  // namespace sysc::db
