// Store's host id ranges of unprivileged containers (table idmaps).
#include <cerrno>

#include "db/store_impl.h"

namespace sysc::db {

namespace {

constexpr const char* kColumns = "SELECT container, host_base, size, rootfs_shift, shift_complete FROM idmaps ";

IdmapRecord read_idmap(const sql::Statement& stmt) {
  return IdmapRecord{stmt.column_text(0), static_cast<uint32_t>(stmt.column_int(1)),
                     static_cast<uint32_t>(stmt.column_int(2)), static_cast<uint32_t>(stmt.column_int(3)),
                     stmt.column_int(4) != 0};
}

Result<std::optional<IdmapRecord>> find(sqlite3* db, const std::string& container) {
  std::string q = std::string(kColumns) + "WHERE container = ?";
  auto stmt = TRY_CTX(sql::Statement::prepare(db, q.c_str(), "get idmap"), container);
  TRY_CTX(stmt.bind(1, container), container);
  if (!TRY_CTX(stmt.step(), container)) return std::optional<IdmapRecord>();
  return std::optional<IdmapRecord>(read_idmap(stmt));
}

Result<std::vector<IdmapRecord>> all(sqlite3* db) {
  std::string q = std::string(kColumns) + "ORDER BY host_base";
  auto stmt = TRY(sql::Statement::prepare(db, q.c_str(), "list idmaps"));
  std::vector<IdmapRecord> out;
  while (TRY(stmt.step())) out.push_back(read_idmap(stmt));
  return out;
}

// The lowest slot of SIZE ids (aligned to its pool range's start) that no range in USED touches.
Result<uint32_t> lowest_free(const std::vector<IdmapRecord>& used, const std::vector<IdPoolRange>& pool, uint32_t size) {
  for (const IdPoolRange& r : pool) {
    for (uint64_t base = r.start; base + size <= r.start + r.count && base + size <= UINT32_MAX; base += size) {
      if (base == 0) continue;  // host root's own ids are never a container's
      bool taken = false;
      for (const IdmapRecord& u : used)
        taken = taken || (base < uint64_t{u.host_base} + u.size && u.host_base < base + size);
      if (!taken) return static_cast<uint32_t>(base);
    }
  }
  return make_error("no free range of " + std::to_string(size) + " host ids left for another unprivileged container", ENOSPC);
}

}  // namespace

Result<IdmapRecord> Store::allocate_idmap(const std::string& container, const std::vector<IdPoolRange>& pool,
                                          uint32_t size) {
  std::lock_guard lock(impl_->mu);
  sqlite3* db = impl_->db.get();
  // One write transaction: another process allocating at the same time waits for it.
  auto tx = TRY_CTX(sql::Transaction::begin(db), container);
  if (auto existing = TRY(find(db, container))) return *existing;
  uint32_t base = TRY_CTX(lowest_free(TRY(all(db)), pool, size), container);
  auto stmt = TRY_CTX(sql::Statement::prepare(db, "INSERT INTO idmaps (container, host_base, size) VALUES (?, ?, ?)",
                                              "allocate idmap"),
                      container);
  TRY_CTX(stmt.bind_all(container, static_cast<int64_t>(base), static_cast<int64_t>(size)), container);
  Status st = stmt.run();
  if (!st && stmt.last_error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) return no_such_container(container);
  if (!st) return std::move(st).error().context(container);
  TRY_CTX(tx.commit(), container);
  return IdmapRecord{container, base, size, 0, true};
}

Result<std::optional<IdmapRecord>> Store::idmap(const std::string& container) {
  std::lock_guard lock(impl_->mu);
  return find(impl_->db.get(), container);
}

Result<std::vector<IdmapRecord>> Store::idmaps() {
  std::lock_guard lock(impl_->mu);
  return all(impl_->db.get());
}

Status Store::set_rootfs_shift(const std::string& container, uint32_t shift, bool complete) {
  return impl_->change_one(container, "UPDATE idmaps SET rootfs_shift = ?, shift_complete = ? WHERE container = ?",
                           "set rootfs shift", static_cast<int64_t>(shift), complete ? 1 : 0, container);
}

Result<std::vector<std::string>> Store::privileged_pins() {
  std::lock_guard lock(impl_->mu);
  auto stmt = TRY(sql::Statement::prepare(impl_->db.get(), "SELECT container FROM privileged_pins ORDER BY container",
                                          "list privileged pins"));
  std::vector<std::string> out;
  while (TRY(stmt.step())) out.push_back(stmt.column_text(0));
  return out;
}

Status Store::done_privileged_pin(const std::string& container) {
  return impl_->change_one(container, "DELETE FROM privileged_pins WHERE container = ?", "drop privileged pin", container);
}

Status Store::remove_idmap(const std::string& container) {
  std::lock_guard lock(impl_->mu);
  auto stmt = TRY_CTX(sql::Statement::prepare(impl_->db.get(), "DELETE FROM idmaps WHERE container = ?", "remove idmap"),
                      container);
  TRY_CTX(stmt.bind(1, container), container);
  return stmt.run();
}

}  // namespace sysc::db
