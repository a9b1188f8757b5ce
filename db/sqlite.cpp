// SQLite plumbing private to db/: statement preparation, binding, stepping and transactions.
#include "db/sqlite.h"

#include <cerrno>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sysc::db::sql {

Error sqlite_error(sqlite3* db, const std::string& op) {
  const char* msg = db ? sqlite3_errmsg(db) : "out of memory";
  return make_error("sqlite: " + op + ": " + msg, EIO);
}

Status exec(sqlite3* db, const char* sql, const std::string& op) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return sqlite_error(db, op);
  return {};
}

namespace {

// Statements not in use, per open connection, by SQL text. A connection is listed from its first
// prepare until it closes; a statement released for a connection not listed is finalized.
struct KeptStatements {
  std::mutex mu;
  std::unordered_map<sqlite3*, std::unordered_multimap<std::string, sqlite3_stmt*>> free;
};

KeptStatements& kept() {
  static KeptStatements k;
  return k;
}

}  // namespace

void DbCloser::operator()(sqlite3* db) const {
  std::vector<sqlite3_stmt*> done;
  {
    std::lock_guard<std::mutex> g(kept().mu);
    if (auto it = kept().free.find(db); it != kept().free.end()) {
      for (auto& [sql, stmt] : it->second) done.push_back(stmt);
      kept().free.erase(it);
    }
  }
  for (sqlite3_stmt* stmt : done) sqlite3_finalize(stmt);
  sqlite3_close_v2(db);
}

void StmtFinalizer::operator()(sqlite3_stmt* stmt) const {
  if (!stmt) return;
  sqlite3_reset(stmt);  // ends its read of the database: a kept statement holds no snapshot
  sqlite3_clear_bindings(stmt);
  {
    std::lock_guard<std::mutex> g(kept().mu);
    auto it = kept().free.find(sqlite3_db_handle(stmt));
    const char* sql = sqlite3_sql(stmt);
    if (it != kept().free.end() && sql) {
      it->second.emplace(sql, stmt);
      return;
    }
  }
  sqlite3_finalize(stmt);
}

Result<Statement> Statement::prepare(sqlite3* db, const char* sql, std::string op) {
  {
    std::lock_guard<std::mutex> g(kept().mu);
    auto& mine = kept().free[db];
    if (auto it = mine.find(sql); it != mine.end()) {
      sqlite3_stmt* stmt = it->second;
      mine.erase(it);
      return Statement(db, StmtPtr(stmt), std::move(op));
    }
  }
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
    sqlite3_finalize(raw);
    return sqlite_error(db, op);
  }
  return Statement(db, StmtPtr(raw), std::move(op));
}

Status Statement::bind(int index, const std::string& value) {
  // SQLITE_TRANSIENT: SQLite copies the text, so the caller's string may go away before step().
  if (sqlite3_bind_text(stmt_.get(), index, value.data(), static_cast<int>(value.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK)
    return sqlite_error(db_, op_);
  return {};
}

Status Statement::bind(int index, int64_t value) {
  if (sqlite3_bind_int64(stmt_.get(), index, value) != SQLITE_OK) return sqlite_error(db_, op_);
  return {};
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  last_rc_ = sqlite3_extended_errcode(db_);
  return sqlite_error(db_, op_);
}

Status Statement::run() {
  bool row = TRY(step());
  if (row) return make_error("sqlite: " + op_ + ": statement returned a row", EIO);
  return {};
}

std::string Statement::column_text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_.get(), column);
  int size = sqlite3_column_bytes(stmt_.get(), column);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

namespace {
Status run_kept(sqlite3* db, const char* sql, const std::string& op) {
  auto stmt = TRY(Statement::prepare(db, sql, op));
  return stmt.run();
}
}  // namespace

Result<Transaction> Transaction::begin(sqlite3* db) {
  TRY(run_kept(db, "BEGIN IMMEDIATE", "begin transaction"));
  return Transaction(db);
}

Transaction::~Transaction() {
  // Nothing to report to: the caller is already returning the error that caused the rollback.
  if (db_) (void)run_kept(db_, "ROLLBACK", "roll back");
}

Status Transaction::commit() {
  sqlite3* db = db_;
  TRY(run_kept(db, "COMMIT", "commit transaction"));
  db_ = nullptr;
  return {};
}

}  // namespace sysc::db::sql
