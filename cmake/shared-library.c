/* libpocket.so is built from the objects of libpocket.a (linked whole, see CMakeLists.txt); CMake
   wants at least one source file of its own for a library target, and this is it. */
typedef int pocket_shared_library_has_no_code_of_its_own;
