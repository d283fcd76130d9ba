// In-memory bzip2 decompression (libbz2), so `pocket eval` reads hellaswag_val_full.txt.bz2 as
// distributed instead of asking for a decompressed copy.
#include <bzlib.h>

#include <algorithm>
#include <climits>
#include <string>

#include "pocket/eval/multiple_choice.h"

namespace pocket::eval {
namespace {

// Owns one decompression stream; BZ2_bzDecompressEnd runs however the loop exits.
class Bz2Stream {
  public:
    explicit Bz2Stream(std::string_view source) {
        if (BZ2_bzDecompressInit(&s_, 0, 0) != BZ_OK) {
            throw DataError(cat(source, ": cannot start bzip2 decompression"));
        }
    }
    ~Bz2Stream() { BZ2_bzDecompressEnd(&s_); }
    Bz2Stream(const Bz2Stream&) = delete;
    Bz2Stream& operator=(const Bz2Stream&) = delete;
    bz_stream* get() { return &s_; }

  private:
    bz_stream s_{};
};

}  // namespace

std::string bunzip2(std::string_view compressed, std::string_view source) {
    std::string out;
    size_t consumed = 0;
    // A .bz2 file may hold several streams back to back (pbzip2, `cat a.bz2 b.bz2`).
    while (consumed < compressed.size()) {
        Bz2Stream stream(source);
        bz_stream* s = stream.get();
        const std::string_view rest = compressed.substr(consumed);
        const size_t in_len = std::min<size_t>(rest.size(), UINT_MAX);
        s->next_in = const_cast<char*>(rest.data());  // libbz2's API is not const-correct
        s->avail_in = static_cast<unsigned>(in_len);
        int rc = BZ_OK;
        while (rc != BZ_STREAM_END) {
            if (out.capacity() - out.size() < (1 << 16)) {
                out.reserve(std::max<size_t>(out.capacity() * 2, out.size() + (1 << 20)));
            }
            const size_t before = out.size();
            const size_t room = out.capacity() - before;
            out.resize(out.capacity());
            s->next_out = out.data() + before;
            s->avail_out = static_cast<unsigned>(std::min<size_t>(room, UINT_MAX));
            rc = BZ2_bzDecompress(s);
            out.resize(before + (room - s->avail_out));
            if (rc != BZ_OK && rc != BZ_STREAM_END) {
                throw DataError(cat(source, ": corrupt bzip2 data (libbz2 error ", rc, ")"));
            }
            if (rc == BZ_OK && s->avail_in == 0 && s->avail_out != 0) {
                throw DataError(cat(source, ": truncated bzip2 data"));
            }
        }
        consumed += in_len - s->avail_in;
        // Anything after the last stream that is not another stream is not ours to guess at.
        if (consumed < compressed.size() && !compressed.substr(consumed).starts_with("BZh")) {
            throw DataError(
                cat(source, ": unexpected bytes after the bzip2 stream at offset ", consumed));
        }
    }
    return out;
}

}  // namespace pocket::eval
