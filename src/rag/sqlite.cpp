#include "sqlite.h"

#include <cstring>

#include "pocket/core/error.h"

namespace pocket::rag::sql {

DbPtr open(const std::filesystem::path& path, bool read_only) {
    sqlite3* raw = nullptr;
    const int flags =
        (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
        SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.string().c_str(), &raw, flags, nullptr);
    DbPtr db(raw);
    if (rc != SQLITE_OK) {
        fail("rag store ", path.string(),
             ": cannot open: ", raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    }
    sqlite3_busy_timeout(raw, 5000);
    sqlite3_extended_result_codes(raw, 1);
    return db;
}

void exec(sqlite3* db, std::string_view sql) {
    char* err = nullptr;
    const std::string s(sql);
    if (sqlite3_exec(db, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errmsg(db);
        sqlite3_free(err);
        fail("rag store ", sqlite3_db_filename(db, "main"), ": ", msg, " (in: ", s.substr(0, 80),
             ")");
    }
}

Stmt::Stmt(sqlite3* db, std::string_view sql) : db_(db), sql_(sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql_.c_str(), static_cast<int>(sql_.size()), &raw, nullptr) !=
        SQLITE_OK) {
        fail("rag store ", sqlite3_db_filename(db, "main"), ": ", sqlite3_errmsg(db),
             " (preparing: ", sql_.substr(0, 80), ")");
    }
    st_.reset(raw);
}

Stmt& Stmt::bind(int i, int64_t v) {
    sqlite3_bind_int64(st_.get(), i, v);
    return *this;
}
Stmt& Stmt::bind(int i, double v) {
    sqlite3_bind_double(st_.get(), i, v);
    return *this;
}
Stmt& Stmt::bind(int i, std::string_view v) {
    sqlite3_bind_text(st_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
}
Stmt& Stmt::bind_blob(int i, std::span<const float> v) {
    sqlite3_bind_blob(st_.get(), i, v.data(), static_cast<int>(v.size_bytes()), SQLITE_TRANSIENT);
    return *this;
}

bool Stmt::step() {
    const int rc = sqlite3_step(st_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("rag store ", sqlite3_db_filename(db_, "main"), ": ", sqlite3_errmsg(db_),
         " (running: ", sql_.substr(0, 80), ")");
}

void Stmt::run() {
    while (step()) {
    }
    reset();
}

void Stmt::reset() {
    sqlite3_reset(st_.get());
    sqlite3_clear_bindings(st_.get());
}

std::string Stmt::text(int col) const {
    const auto* p = sqlite3_column_text(st_.get(), col);
    const int n = sqlite3_column_bytes(st_.get(), col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n))
             : std::string();
}

void Stmt::floats(int col, std::vector<float>& out) const {
    const void* p = sqlite3_column_blob(st_.get(), col);
    const auto n = static_cast<size_t>(sqlite3_column_bytes(st_.get(), col));
    out.resize(n / sizeof(float));
    if (!out.empty()) std::memcpy(out.data(), p, out.size() * sizeof(float));
}

Transaction::Transaction(sqlite3* db) : db_(db) {
    exec(db, "BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
    exec(db_, "COMMIT");
    done_ = true;
}

}  // namespace pocket::rag::sql
