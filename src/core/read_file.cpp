#include "pocket/core/read_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "pocket/core/error.h"

namespace pocket {

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open '", path.string(), "': ", std::strerror(errno));
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (in.bad()) fail("cannot read '", path.string(), "'");
    return bytes.str();
}

}  // namespace pocket
