// Thin RAII over the SQLite C API for the RAG store: a connection, prepared statements with typed
// binds and columns, and a transaction guard that rolls back unless committed. Errors become
// pocket::Error naming the database and the statement.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pocket::rag::sql {

struct DbCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
    void operator()(sqlite3_stmt* st) const { sqlite3_finalize(st); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

DbPtr open(const std::filesystem::path& path, bool read_only);
// Runs one or more statements without results; throws with `what` as context.
void exec(sqlite3* db, std::string_view sql);

class Stmt {
  public:
    Stmt(sqlite3* db, std::string_view sql);
    // Binds are 1-based, as in SQLite.
    Stmt& bind(int i, int64_t v);
    Stmt& bind(int i, double v);
    Stmt& bind(int i, std::string_view v);
    Stmt& bind_blob(int i, std::span<const float> v);
    // True while a row is available.
    bool step();
    // Runs a statement that returns no rows.
    void run();
    void reset();

    int64_t int64(int col) const { return sqlite3_column_int64(st_.get(), col); }
    double real(int col) const { return sqlite3_column_double(st_.get(), col); }
    std::string text(int col) const;
    // A float32 BLOB copied out (SQLite's blob pointer may sit at any byte offset of a page).
    void floats(int col, std::vector<float>& out) const;
    bool is_null(int col) const { return sqlite3_column_type(st_.get(), col) == SQLITE_NULL; }

  private:
    sqlite3* db_;
    std::string sql_;
    std::unique_ptr<sqlite3_stmt, StmtFinalizer> st_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() ran.
class Transaction {
  public:
    explicit Transaction(sqlite3* db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

  private:
    sqlite3* db_;
    bool done_ = false;
};

}  // namespace pocket::rag::sql
