// Schema migrations of the sysc database: the numbered steps and the code that applies them.
#include "db/migrations.h"

#include <cerrno>
#include <iterator>

#include "db/sqlite.h"

namespace sysc::db {
namespace {

// Append only. A released step never changes: a new table or column is a new step at the end
// (e.g. 2: addresses, 3: port forwards), so every older database walks the same path.
constexpr Migration kMigrations[] = {
    {1, "create containers",
     "CREATE TABLE containers ("
     "  name       TEXT PRIMARY KEY,"
     "  template   TEXT NOT NULL,"
     "  rootfs     TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  state      TEXT NOT NULL"
     "             CHECK (state IN ('STOPPED', 'STARTING', 'RUNNING', 'STOPPING')),"
     "  init_pid   INTEGER NOT NULL DEFAULT 0,"
     "  shim_pid   INTEGER NOT NULL DEFAULT 0,"
     "  started_at INTEGER NOT NULL DEFAULT 0,"
     "  last_exit  TEXT NOT NULL DEFAULT ''"
     ");"},
    {2, "network: nics and port forwards",
     "CREATE TABLE nics ("
     "  container TEXT NOT NULL REFERENCES containers(name) ON DELETE CASCADE,"
     "  idx       INTEGER NOT NULL,"
     "  mac       TEXT NOT NULL UNIQUE,"
     "  ipv4      INTEGER UNIQUE,"
     "  PRIMARY KEY (container, idx)"
     ");"
     "CREATE TABLE port_forwards ("
     "  proto          TEXT NOT NULL CHECK (proto IN ('tcp', 'udp')),"
     "  host_port      INTEGER NOT NULL CHECK (host_port BETWEEN 1 AND 65535),"
     "  container      TEXT NOT NULL REFERENCES containers(name) ON DELETE CASCADE,"
     "  container_port INTEGER NOT NULL CHECK (container_port BETWEEN 1 AND 65535),"
     "  PRIMARY KEY (proto, host_port)"
     ");"},
    {3, "storage backend and image of each container",
     "ALTER TABLE containers ADD COLUMN storage TEXT NOT NULL DEFAULT 'dir';"
     "ALTER TABLE containers ADD COLUMN image TEXT NOT NULL DEFAULT '';"},
    // Unprivileged containers: each one's host uid/gid range (base .. base+size-1), kept for its
    // life, and where the ids on disk of its rootfs start (0 = not shifted; shift_complete 0 =
    // a chown shift to rootfs_shift was interrupted and is redone).
    {4, "idmap ranges",
     "CREATE TABLE idmaps ("
     "  container      TEXT PRIMARY KEY REFERENCES containers(name) ON DELETE CASCADE,"
     "  host_base      INTEGER NOT NULL UNIQUE CHECK (host_base > 0),"
     "  size           INTEGER NOT NULL CHECK (size > 0),"
     "  rootfs_shift   INTEGER NOT NULL DEFAULT 0,"
     "  shift_complete INTEGER NOT NULL DEFAULT 1 CHECK (shift_complete IN (0, 1))"
     ");"},
    // Unprivileged became the default for new containers: the containers that exist now were
    // made privileged by default and stay so. lxcd writes security.privileged = true into the
    // config of each one without the key, then drops its row (Manager::recover).
    {5, "containers kept privileged",
     "CREATE TABLE privileged_pins ("
     "  container TEXT PRIMARY KEY REFERENCES containers(name) ON DELETE CASCADE"
     ");"
     "INSERT INTO privileged_pins (container) SELECT name FROM containers;"},
};

constexpr bool versions_are_consecutive() {
  int expected = 1;
  for (const Migration& m : kMigrations)
    if (m.version != expected++) return false;
  return true;
}
static_assert(versions_are_consecutive(), "migration versions must run 1, 2, 3, ... in order");

Status set_schema_version(sqlite3* db, int version) {
  // PRAGMA takes no bound parameters; the number comes from kMigrations, never from input.
  std::string sql = "PRAGMA user_version = " + std::to_string(version);
  return sql::exec(db, sql.c_str(), "set user_version");
}

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

int latest_schema_version() { return kMigrations[std::size(kMigrations) - 1].version; }

Result<int> read_schema_version(sqlite3* db) {
  auto stmt = TRY(sql::Statement::prepare(db, "PRAGMA user_version", "read user_version"));
  bool row = TRY(stmt.step());
  if (!row) return make_error("sqlite: read user_version: no row", EIO);
  return static_cast<int>(stmt.column_int(0));
}

Status migrate(sqlite3* db, const std::string& path) {
  // The version is read inside the write transaction, so two processes opening a fresh
  // database at once cannot both apply step 1.
  auto tx = TRY_CTX(sql::Transaction::begin(db), path);
  int current = TRY_CTX(read_schema_version(db), path);
  int latest = latest_schema_version();
  if (current > latest)
    return make_error(path + ": database schema version " + std::to_string(current) +
                          " is newer than this sysc supports (" + std::to_string(latest) +
                          "); it was written by a newer sysc, upgrade sysc to use it",
                      EPROTONOSUPPORT);
  if (current == latest) return {};  // nothing to do; the transaction rolls back a no-op

  for (const Migration& m : kMigrations) {
    if (m.version <= current) continue;
    TRY_CTX(sql::exec(db, m.sql, "migration " + std::to_string(m.version) + " (" + m.what + ")"), path);
    TRY_CTX(set_schema_version(db, m.version), path);
  }
  TRY_CTX(tx.commit(), path);
  return {};
}

}  // namespace sysc::db
