// SQLite plumbing private to db/: statement preparation, binding, stepping and transactions.
#include "db/sqlite.h"

#include <cerrno>

namespace sysc::db::sql {

Error sqlite_error(sqlite3* db, const std::string& op) {
  const char* msg = db ? sqlite3_errmsg(db) : "out of memory";
  return make_error("sqlite: " + op + ": " + msg, EIO);
}

Status exec(sqlite3* db, const char* sql, const std::string& op) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return sqlite_error(db, op);
  return {};
}

Result<Statement> Statement::prepare(sqlite3* db, const char* sql, std::string op) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
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

Result<Transaction> Transaction::begin(sqlite3* db) {
  TRY(exec(db, "BEGIN IMMEDIATE", "begin transaction"));
  return Transaction(db);
}

Transaction::~Transaction() {
  // Nothing to report to: the caller is already returning the error that caused the rollback.
  if (db_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

Status Transaction::commit() {
  sqlite3* db = db_;
  TRY(exec(db, "COMMIT", "commit transaction"));
  db_ = nullptr;
  return {};
}

}  // namespace sysc::db::sql
