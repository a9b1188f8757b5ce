// Unit tests for db::Store: schema, CRUD, errors, reopening, refusal of newer schemas, concurrency.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "db/migrations.h"
#include "db/sqlite.h"

#include <sqlite3.h>

#include "db/store.h"

using sysc::db::ContainerRecord;
using sysc::db::State;
using sysc::db::Store;

namespace {

ContainerRecord make_record(const std::string& name) {
  ContainerRecord rec;
  rec.name = name;
  rec.template_name = "debian";
  rec.rootfs = "/var/lib/sysc/containers/" + name + "/rootfs";
  rec.created_at = 1700000000;
  return rec;
}

Store open_memory() {
  auto store = Store::open(":memory:");
  EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
  return std::move(store).value();
}

// A fresh directory under /tmp for file databases, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char templ[] = "/tmp/sysc-test-db-XXXXXX";
    char* dir = mkdtemp(templ);
    if (dir) path_ = dir;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  bool ok() const { return !path_.empty(); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes the 4-byte big-endian user_version at offset 60 of the SQLite file header (documented
// file format), the way a future sysc with more migrations would leave it.
bool poke_user_version(const std::string& path, uint32_t version) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  unsigned char be[4] = {static_cast<unsigned char>(version >> 24), static_cast<unsigned char>(version >> 16),
                         static_cast<unsigned char>(version >> 8), static_cast<unsigned char>(version)};
  bool ok = ::pwrite(fd, be, sizeof be, 60) == static_cast<ssize_t>(sizeof be);
  ::close(fd);
  return ok;
}

}  // namespace

TEST(DbState, StringRoundTrip) {
  for (State s : {State::Stopped, State::Starting, State::Running, State::Stopping}) {
    auto back = sysc::db::state_from_string(sysc::db::to_string(s));
    ASSERT_TRUE(back.has_value()) << sysc::db::to_string(s);
    EXPECT_EQ(*back, s);
  }
  EXPECT_STREQ(sysc::db::to_string(State::Stopped), "STOPPED");
  EXPECT_STREQ(sysc::db::to_string(State::Starting), "STARTING");
  EXPECT_STREQ(sysc::db::to_string(State::Running), "RUNNING");
  EXPECT_STREQ(sysc::db::to_string(State::Stopping), "STOPPING");
  EXPECT_FALSE(sysc::db::state_from_string("running").has_value());
  EXPECT_FALSE(sysc::db::state_from_string("").has_value());
  EXPECT_FALSE(sysc::db::state_from_string("PAUSED").has_value());
}

TEST(DbStore, SchemaVersionAfterOpen) {
  Store store = open_memory();
  EXPECT_EQ(store.schema_version(), sysc::db::latest_schema_version());
}

TEST(DbStore, InsertGetListOrderedByName) {
  Store store = open_memory();
  ContainerRecord web = make_record("web1");
  web.state = State::Running;
  web.init_pid = 1234;
  web.shim_pid = 1200;
  web.started_at = 1700000100;
  web.last_exit = "halted";
  ASSERT_TRUE(store.insert(web).ok());
  ASSERT_TRUE(store.insert(make_record("db1")).ok());
  ASSERT_TRUE(store.insert(make_record("app1")).ok());

  auto got = store.get("web1");
  ASSERT_TRUE(got.ok()) << got.error().message;
  ASSERT_TRUE(got->has_value());
  const ContainerRecord& r = **got;
  EXPECT_EQ(r.name, "web1");
  EXPECT_EQ(r.template_name, "debian");
  EXPECT_EQ(r.rootfs, web.rootfs);
  EXPECT_EQ(r.created_at, 1700000000);
  EXPECT_EQ(r.state, State::Running);
  EXPECT_EQ(r.init_pid, 1234);
  EXPECT_EQ(r.shim_pid, 1200);
  EXPECT_EQ(r.started_at, 1700000100);
  EXPECT_EQ(r.last_exit, "halted");

  auto missing = store.get("nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  auto all = store.list();
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "app1");
  EXPECT_EQ((*all)[1].name, "db1");
  EXPECT_EQ((*all)[2].name, "web1");
}

TEST(DbStore, ValuesAreBoundNotSpliced) {
  Store store = open_memory();
  ContainerRecord rec = make_record("quote1");
  rec.last_exit = "it's'; DROP TABLE containers; --";
  ASSERT_TRUE(store.insert(rec).ok());
  auto got = store.get("quote1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->last_exit, rec.last_exit);
}

TEST(DbStore, DuplicateInsertIsEexist) {
  Store store = open_memory();
  ASSERT_TRUE(store.insert(make_record("web1")).ok());
  auto st = store.insert(make_record("web1"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, EEXIST);
  EXPECT_EQ(st.error().message, "web1: already exists");
}

TEST(DbStore, SetRunningThenRecordExit) {
  Store store = open_memory();
  ASSERT_TRUE(store.insert(make_record("web1")).ok());
  ASSERT_TRUE(store.set_state("web1", State::Starting).ok());
  auto starting = store.get("web1");
  ASSERT_TRUE(starting.ok() && starting->has_value());
  EXPECT_EQ((*starting)->state, State::Starting);

  ASSERT_TRUE(store.set_running("web1", State::Running, 4242, 4200, 1700000500).ok());
  auto running = store.get("web1");
  ASSERT_TRUE(running.ok() && running->has_value());
  EXPECT_EQ((*running)->state, State::Running);
  EXPECT_EQ((*running)->init_pid, 4242);
  EXPECT_EQ((*running)->shim_pid, 4200);
  EXPECT_EQ((*running)->started_at, 1700000500);

  ASSERT_TRUE(store.record_exit("web1", "killed by SIGKILL").ok());
  auto stopped = store.get("web1");
  ASSERT_TRUE(stopped.ok() && stopped->has_value());
  EXPECT_EQ((*stopped)->state, State::Stopped);
  EXPECT_EQ((*stopped)->init_pid, 0);
  EXPECT_EQ((*stopped)->shim_pid, 0);
  EXPECT_EQ((*stopped)->started_at, 1700000500);  // kept: when it last started
  EXPECT_EQ((*stopped)->last_exit, "killed by SIGKILL");
}

TEST(DbStore, RemoveThenGetIsEmpty) {
  Store store = open_memory();
  ASSERT_TRUE(store.insert(make_record("web1")).ok());
  ASSERT_TRUE(store.remove("web1").ok());
  auto got = store.get("web1");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  // The name is free again.
  EXPECT_TRUE(store.insert(make_record("web1")).ok());
}

TEST(DbStore, MissingContainerIsEnoent) {
  Store store = open_memory();
  std::vector<sysc::Status> results;
  results.push_back(store.set_running("web1", State::Running, 1, 2, 3));
  results.push_back(store.set_state("web1", State::Stopping));
  results.push_back(store.record_exit("web1", "halted"));
  results.push_back(store.remove("web1"));
  for (const auto& st : results) {
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ENOENT);
    EXPECT_EQ(st.error().message, "web1: no such container");
  }
}

TEST(DbStore, FileDatabaseKeepsDataAndVersionAcrossReopen) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string path = dir.file("sysc.db");
  {
    auto store = Store::open(path);
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_TRUE(store->insert(make_record("web1")).ok());
    ASSERT_TRUE(store->set_running("web1", State::Running, 10, 9, 100).ok());
  }
  auto store = Store::open(path);
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(store->schema_version(), sysc::db::latest_schema_version());
  auto got = store->get("web1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->state, State::Running);
  EXPECT_EQ((*got)->init_pid, 10);
}

// Migration 5 pins the containers that exist when it runs (made while privileged was the
// default), and only those.
TEST(DbStore, MigrationFivePinsTheContainersThatExisted) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string path = dir.file("sysc.db");
  {
    auto store = Store::open(path);
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_TRUE(store->insert(make_record("old1")).ok());
    ASSERT_TRUE(store->insert(make_record("old2")).ok());
  }
  {  // back to the schema of version 4, as an older sysc left it
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, "DROP TABLE privileged_pins; PRAGMA user_version = 4;", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = Store::open(path);
  ASSERT_TRUE(store.ok()) << store.error().message;
  ASSERT_TRUE(store->insert(make_record("new1")).ok());
  auto pins = store->privileged_pins();
  ASSERT_TRUE(pins.ok()) << pins.error().message;
  EXPECT_EQ(*pins, (std::vector<std::string>{"old1", "old2"}));
  ASSERT_TRUE(store->done_privileged_pin("old1").ok());
  ASSERT_TRUE(store->remove("old2").ok());  // a destroyed container takes its pin along
  EXPECT_TRUE(store->privileged_pins()->empty());
}

TEST(DbStore, NewerSchemaIsRefused) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string path = dir.file("sysc.db");
  {
    auto store = Store::open(path);
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_TRUE(store->insert(make_record("web1")).ok());
  }  // last connection closed: the WAL is checkpointed into the main file
  ASSERT_TRUE(poke_user_version(path, 99));

  auto store = Store::open(path);
  ASSERT_FALSE(store.ok());
  const std::string& msg = store.error().message;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("99"), std::string::npos) << msg;
  EXPECT_NE(msg.find("newer"), std::string::npos) << msg;
}

TEST(DbStore, ConcurrentInsertsFromThreads) {
  Store store = open_memory();
  constexpr int kThreads = 8, kRows = 100;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRows; ++i)
        if (!store.insert(make_record("t" + std::to_string(t) + "-c" + std::to_string(i))).ok()) ++failures[t];
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  auto all = store.list();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), static_cast<size_t>(kThreads * kRows));
}

// Two Store objects on one file stand in for lxcd and a second process: each has its own
// connection, so they contend on SQLite's file locks, which WAL plus the busy timeout resolve.
TEST(DbStore, TwoStoresOnOneFileBothWrite) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string path = dir.file("sysc.db");
  auto a = Store::open(path);
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto b = Store::open(path);
  ASSERT_TRUE(b.ok()) << b.error().message;

  constexpr int kRows = 200;
  std::string error_a, error_b;
  auto writer = [kRows](Store& store, const std::string& prefix, std::string& error) {
    for (int i = 0; i < kRows && error.empty(); ++i) {
      std::string name = prefix + std::to_string(i);
      auto st = store.insert(make_record(name));
      if (st.ok()) st = store.set_running(name, State::Running, i + 1, i + 2, i);
      if (!st.ok()) error = st.error().message;
    }
  };
  std::thread ta(writer, std::ref(*a), "a", std::ref(error_a));
  std::thread tb(writer, std::ref(*b), "b", std::ref(error_b));
  ta.join();
  tb.join();
  EXPECT_EQ(error_a, "");
  EXPECT_EQ(error_b, "");

  for (Store* s : {&*a, &*b}) {
    auto all = s->list();
    ASSERT_TRUE(all.ok()) << all.error().message;
    EXPECT_EQ(all->size(), static_cast<size_t>(2 * kRows));
  }
}

// The same with a real second process. Both sides open after fork (a connection must never
// cross a fork), so they also race on applying migration 1 to the fresh file.
TEST(DbStore, SecondProcessWritesTheSameFile) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string path = dir.file("sysc.db");

  constexpr int kRows = 200;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto child = Store::open(path);
    if (!child.ok()) _exit(2);
    for (int i = 0; i < kRows; ++i)
      if (!child->insert(make_record("child" + std::to_string(i))).ok()) _exit(3);
    _exit(0);
  }
  auto parent = Store::open(path);
  std::string error = parent.ok() ? "" : parent.error().message;
  for (int i = 0; i < kRows && error.empty(); ++i) {
    auto st = parent->insert(make_record("parent" + std::to_string(i)));
    if (!st.ok()) error = st.error().message;
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_EQ(error, "");
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(parent->schema_version(), sysc::db::latest_schema_version());
  auto all = parent->list();
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_EQ(all->size(), static_cast<size_t>(2 * kRows));
}

// Prepared statements are kept per connection and reused: a released statement is reset (no
// read snapshot held) and its bindings cleared; two in use at once are two statements; closing
// the connection finalizes what it kept.
TEST(SqlStatements, KeptPerConnectionAndReusedClean) {
  namespace sql = sysc::db::sql;
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &raw), SQLITE_OK);
  sql::DbPtr db(raw);
  ASSERT_TRUE(sql::exec(db.get(), "CREATE TABLE t (x INTEGER)", "create").ok());
  auto statements = [&] {
    int n = 0;
    for (sqlite3_stmt* s = sqlite3_next_stmt(db.get(), nullptr); s; s = sqlite3_next_stmt(db.get(), s)) {
      EXPECT_FALSE(sqlite3_stmt_busy(s)) << sqlite3_sql(s);
      ++n;
    }
    return n;
  };
  const char* insert = "INSERT INTO t (x) VALUES (?1)";
  {
    auto st = sql::Statement::prepare(db.get(), insert, "insert");
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(st->bind(1, int64_t{7}).ok());
    ASSERT_TRUE(st->run().ok());
  }
  EXPECT_EQ(statements(), 1) << "the statement was not kept";
  {
    auto st = sql::Statement::prepare(db.get(), insert, "insert");  // the kept one: no binding left
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(st->run().ok());
    auto again = sql::Statement::prepare(db.get(), insert, "insert");  // in use: a second one
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(statements(), 2);
  }
  EXPECT_EQ(statements(), 2);
  {
    // A SELECT left mid-result is reset when released.
    auto st = sql::Statement::prepare(db.get(), "SELECT x FROM t ORDER BY x", "select");
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(st->step().ok());
  }
  EXPECT_EQ(statements(), 3);
  auto count = sql::Statement::prepare(db.get(), "SELECT count(*), count(x) FROM t", "count");
  ASSERT_TRUE(count.ok());
  ASSERT_TRUE(count->step().ok());
  EXPECT_EQ(count->column_int(0), 2);
  EXPECT_EQ(count->column_int(1), 1) << "a kept statement kept its old binding";
}
