// SQLite plumbing private to db/: owning handles, bound statements, transactions, and the
// one error shape for SQLite failures ("sqlite: OP: errmsg", code EIO).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"

namespace sysc::db::sql {

// Prepared statements are kept per connection once used, keyed by their SQL text, and reused
// (reset, bindings cleared): preparing costs more than most of lxcd's queries themselves. A
// connection's kept statements are finalized when it closes.
struct DbCloser {
  void operator()(sqlite3* db) const;
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const;  // back to its connection's kept statements
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// "sqlite: OP: <sqlite3_errmsg(db)>" with code EIO.
Error sqlite_error(sqlite3* db, const std::string& op);

// Runs constant SQL (schema, pragmas). Never pass text that holds values: bind them instead.
Status exec(sqlite3* db, const char* sql, const std::string& op);

// A prepared statement; values only ever reach SQLite through bind().
class Statement {
 public:
  static Result<Statement> prepare(sqlite3* db, const char* sql, std::string op);

  // Parameters are numbered from 1, as in SQLite.
  Status bind(int index, const std::string& value);
  Status bind(int index, int64_t value);
  // Binds the arguments to parameters 1..N in order.
  template <class... Args>
  Status bind_all(const Args&... args) {
    int index = 0;
    Status status;
    ((status.ok() ? (void)(status = bind(++index, to_bindable(args))) : (void)0), ...);
    return status;
  }

  // true when a row is ready to read, false when the statement is done.
  Result<bool> step();
  // Steps once and expects no row (INSERT/UPDATE/DELETE).
  Status run();

  int64_t column_int(int column) const { return sqlite3_column_int64(stmt_.get(), column); }
  std::string column_text(int column) const;

  // The extended result code of the last failed step, e.g. SQLITE_CONSTRAINT_PRIMARYKEY.
  int last_error_code() const { return last_rc_; }

 private:
  Statement(sqlite3* db, StmtPtr stmt, std::string op) : db_(db), stmt_(std::move(stmt)), op_(std::move(op)) {}

  static const std::string& to_bindable(const std::string& v) { return v; }
  static std::string to_bindable(const char* v) { return v; }
  static int64_t to_bindable(int64_t v) { return v; }
  static int64_t to_bindable(int v) { return v; }

  sqlite3* db_;
  StmtPtr stmt_;
  std::string op_;
  int last_rc_ = SQLITE_OK;
};

// BEGIN IMMEDIATE .. COMMIT; rolls back unless commit() succeeded. IMMEDIATE takes the write
// lock up front, so the busy timeout covers it (a deferred transaction that later upgrades to a
// writer can fail with SQLITE_BUSY at once in WAL mode).
class Transaction {
 public:
  static Result<Transaction> begin(sqlite3* db);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Status commit();

 private:
  explicit Transaction(sqlite3* db) : db_(db) {}
  sqlite3* db_;  // null once committed or rolled back
};

}  // namespace sysc::db::sql
