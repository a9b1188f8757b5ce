// Schema migrations of the sysc database, private to db/: an ordered list of numbered steps,
// with PRAGMA user_version recording the last one applied.
#pragma once

#include <sqlite3.h>

#include <span>
#include <string>

#include "common/result.h"

namespace sysc::db {

struct Migration {
  int version;       // 1, 2, 3, ... in order, never renumbered once released
  const char* what;  // for error messages: "create containers"
  const char* sql;   // constant schema SQL, may hold several statements
};

// Every migration sysc knows, oldest first.
std::span<const Migration> migrations();
// The schema version this build writes: the last entry of migrations().
int latest_schema_version();

Result<int> read_schema_version(sqlite3* db);

// Applies the pending migrations in one transaction. Refuses a database whose version is newer
// than latest_schema_version() (written by a newer sysc). `path` names the database in errors.
Status migrate(sqlite3* db, const std::string& path);

}  // namespace sysc::db
