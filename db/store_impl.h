// Store::Impl, shared by the files of db/ that implement Store (store.cpp, network.cpp). Private to db/.
#pragma once

#include <mutex>

#include "db/sqlite.h"
#include "db/store.h"

namespace sysc::db {

Error no_such_container(const std::string& name);

struct Store::Impl {
  std::mutex mu;
  sql::DbPtr db;

  // One UPDATE/DELETE of a single container by name; ENOENT when no row matched.
  template <class... Args>
  Status change_one(const std::string& name, const char* sql_text, const char* op, const Args&... args) {
    std::lock_guard lock(mu);
    auto stmt = TRY_CTX(sql::Statement::prepare(db.get(), sql_text, op), name);
    TRY_CTX(stmt.bind_all(args...), name);
    TRY_CTX(stmt.run(), name);
    if (sqlite3_changes(db.get()) == 0) return no_such_container(name);
    return {};
  }
};

}  // namespace sysc::db
