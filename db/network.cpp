// Store's network records: NICs with their MAC and IPv4 address (IPAM), and port forwards.
#include <cerrno>
#include <set>

#include "db/store_impl.h"

namespace sysc::db {

namespace {

std::string dotted(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) +
         "." + std::to_string(a & 255);
}

Result<std::optional<NicRecord>> find_nic(sqlite3* db, const std::string& container, int index) {
  auto stmt = TRY_CTX(sql::Statement::prepare(db, "SELECT mac, ipv4 FROM nics WHERE container = ? AND idx = ?", "get nic"),
                      container);
  TRY_CTX(stmt.bind_all(container, static_cast<int64_t>(index)), container);
  if (!TRY_CTX(stmt.step(), container)) return std::optional<NicRecord>();
  return std::optional<NicRecord>(
      NicRecord{container, index, stmt.column_text(0), static_cast<uint32_t>(stmt.column_int(1))});
}

Result<std::string> holder_of(sqlite3* db, uint32_t addr) {
  auto stmt = TRY(sql::Statement::prepare(db, "SELECT container FROM nics WHERE ipv4 = ?", "address holder"));
  TRY(stmt.bind(1, static_cast<int64_t>(addr)));
  if (!TRY(stmt.step())) return std::string();
  return stmt.column_text(0);
}

Result<uint32_t> lowest_free(sqlite3* db, uint32_t first, uint32_t last, uint32_t reserved) {
  auto stmt = TRY(sql::Statement::prepare(db, "SELECT ipv4 FROM nics WHERE ipv4 BETWEEN ? AND ?", "used addresses"));
  TRY(stmt.bind_all(static_cast<int64_t>(first), static_cast<int64_t>(last)));
  std::set<uint32_t> used = {reserved};
  while (TRY(stmt.step())) used.insert(static_cast<uint32_t>(stmt.column_int(0)));
  for (uint64_t a = first; a <= last; ++a)
    if (!used.count(static_cast<uint32_t>(a))) return static_cast<uint32_t>(a);
  return make_error("no free address left in " + dotted(first) + "-" + dotted(last), ENOSPC);
}

}  // namespace

Result<NicRecord> Store::allocate_nic(const std::string& container, int index, const std::string& mac, uint32_t wanted,
                                      uint32_t first, uint32_t last, uint32_t reserved) {
  std::lock_guard lock(impl_->mu);
  sqlite3* db = impl_->db.get();
  // One write transaction: the read of free addresses and the insert cannot interleave with
  // another writer, here or in another process.
  auto tx = TRY_CTX(sql::Transaction::begin(db), container);
  if (auto existing = TRY(find_nic(db, container, index)); existing && (!wanted || existing->ipv4 == wanted))
    return *existing;
  uint32_t addr = wanted;
  if (wanted) {
    std::string holder = TRY_CTX(holder_of(db, wanted), container);
    if (!holder.empty() && holder != container)
      return make_error(container + ": address " + dotted(wanted) + " is already used by " + holder, EEXIST);
  } else {
    addr = TRY_CTX(lowest_free(db, first, last, reserved), container);
  }
  auto stmt = TRY_CTX(sql::Statement::prepare(db,
                                              "INSERT INTO nics (container, idx, mac, ipv4) VALUES (?, ?, ?, ?) "
                                              "ON CONFLICT (container, idx) DO UPDATE SET ipv4 = excluded.ipv4",
                                              "allocate address"),
                      container);
  TRY_CTX(stmt.bind_all(container, static_cast<int64_t>(index), mac, static_cast<int64_t>(addr)), container);
  Status st = stmt.run();
  if (!st && stmt.last_error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) return no_such_container(container);
  if (!st && stmt.last_error_code() == SQLITE_CONSTRAINT_UNIQUE)
    return make_error(container + ": MAC " + mac + " or address " + dotted(addr) + " is already in use", EEXIST);
  if (!st) return std::move(st).error().context(container);
  TRY_CTX(tx.commit(), container);
  auto rec = TRY(find_nic(db, container, index));
  return *rec;
}

Result<std::vector<NicRecord>> Store::nics(const std::string& container) {
  std::lock_guard lock(impl_->mu);
  const char* q = container.empty() ? "SELECT container, idx, mac, ipv4 FROM nics ORDER BY ipv4"
                                    : "SELECT container, idx, mac, ipv4 FROM nics WHERE container = ? ORDER BY idx";
  auto stmt = TRY(sql::Statement::prepare(impl_->db.get(), q, "list nics"));
  if (!container.empty()) TRY(stmt.bind(1, container));
  std::vector<NicRecord> out;
  while (TRY(stmt.step()))
    out.push_back(NicRecord{stmt.column_text(0), static_cast<int>(stmt.column_int(1)), stmt.column_text(2),
                            static_cast<uint32_t>(stmt.column_int(3))});
  return out;
}

Status Store::remove_nic(const std::string& container, int index) {
  std::lock_guard lock(impl_->mu);
  auto stmt = TRY_CTX(sql::Statement::prepare(impl_->db.get(), "DELETE FROM nics WHERE container = ? AND idx = ?",
                                              "release address"),
                      container);
  TRY_CTX(stmt.bind_all(container, static_cast<int64_t>(index)), container);
  return stmt.run();
}

Status Store::set_nic_mac(const std::string& container, int index, const std::string& mac) {
  std::lock_guard lock(impl_->mu);
  auto stmt = TRY_CTX(sql::Statement::prepare(impl_->db.get(), "UPDATE nics SET mac = ? WHERE container = ? AND idx = ?",
                                              "set MAC"),
                      container);
  TRY_CTX(stmt.bind_all(mac, container, static_cast<int64_t>(index)), container);
  Status st = stmt.run();
  if (!st && stmt.last_error_code() == SQLITE_CONSTRAINT_UNIQUE)
    return make_error(container + ": MAC " + mac + " is already used by another interface", EEXIST);
  return st;
}

Status Store::add_port_forward(const PortForward& f) {
  std::lock_guard lock(impl_->mu);
  sqlite3* db = impl_->db.get();
  auto tx = TRY_CTX(sql::Transaction::begin(db), f.container);
  auto q = TRY(sql::Statement::prepare(
      db, "SELECT container, container_port FROM port_forwards WHERE proto = ? AND host_port = ?", "find forward"));
  TRY(q.bind_all(f.proto, static_cast<int64_t>(f.host_port)));
  if (TRY(q.step()))
    return make_error(f.proto + "/" + std::to_string(f.host_port) + " is already forwarded to " + q.column_text(0) +
                          ":" + std::to_string(q.column_int(1)),
                      EEXIST);
  auto stmt = TRY_CTX(sql::Statement::prepare(db,
                                              "INSERT INTO port_forwards (proto, host_port, container, container_port) "
                                              "VALUES (?, ?, ?, ?)",
                                              "add port forward"),
                      f.container);
  TRY(stmt.bind_all(f.proto, static_cast<int64_t>(f.host_port), f.container, static_cast<int64_t>(f.container_port)));
  Status st = stmt.run();
  if (!st && stmt.last_error_code() == SQLITE_CONSTRAINT_FOREIGNKEY) return no_such_container(f.container);
  if (!st) return std::move(st).error().context(f.container);
  return tx.commit();
}

Status Store::remove_port_forward(const std::string& container, const std::string& proto, int host_port) {
  std::lock_guard lock(impl_->mu);
  auto stmt = TRY(sql::Statement::prepare(
      impl_->db.get(), "DELETE FROM port_forwards WHERE container = ? AND proto = ? AND host_port = ?",
      "remove port forward"));
  TRY(stmt.bind_all(container, proto, static_cast<int64_t>(host_port)));
  TRY_CTX(stmt.run(), container);
  if (sqlite3_changes(impl_->db.get()) == 0)
    return make_error(container + ": no forward of " + proto + "/" + std::to_string(host_port), ENOENT);
  return {};
}

Result<std::vector<PortForward>> Store::port_forwards(const std::string& container) {
  std::lock_guard lock(impl_->mu);
  const char* q = container.empty()
                      ? "SELECT proto, host_port, container, container_port FROM port_forwards ORDER BY proto, host_port"
                      : "SELECT proto, host_port, container, container_port FROM port_forwards WHERE container = ? "
                        "ORDER BY proto, host_port";
  auto stmt = TRY(sql::Statement::prepare(impl_->db.get(), q, "list port forwards"));
  if (!container.empty()) TRY(stmt.bind(1, container));
  std::vector<PortForward> out;
  while (TRY(stmt.step()))
    out.push_back(PortForward{stmt.column_text(0), static_cast<int>(stmt.column_int(1)), stmt.column_text(2),
                              static_cast<int>(stmt.column_int(3))});
  return out;
}

}  // namespace sysc::db
