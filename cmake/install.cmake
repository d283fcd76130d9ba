# `cmake --install`: the pocket command, libpocket.so (the C API) and libpocket.a, include/pocket.h
# and the public C++ headers (include/pocket/), a CMake package (find_package(pocket) ->
# pocket::pocket, the C API; with COMPONENTS cpp also pocket::pocket_static and pocket::server,
# the C++ API), a pkg-config file (pocket.pc), the Python bindings and the man page.
# scripts/package turns the same install into a Debian package.
include(CMakePackageConfigHelpers)

install(TARGETS pocket RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(TARGETS pocket_shared EXPORT pocketTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev)
# The static libraries carry the C++ API; their private dependencies (PCRE2, ICU, SQLite, ...)
# become the application's link dependencies, so they are a separate export set that
# pocketConfig.cmake loads only for the `cpp` component (a C API user needs none of them).
set_target_properties(pocket_lib PROPERTIES EXPORT_NAME pocket_static)
set_target_properties(pocket_server PROPERTIES EXPORT_NAME server)
install(TARGETS pocket_lib pocket_server EXPORT pocketCppTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(FILES include/pocket.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(DIRECTORY include/pocket DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev
        FILES_MATCHING PATTERN "*.h")

set(POCKET_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/pocket)
install(EXPORT pocketTargets NAMESPACE pocket:: DESTINATION ${POCKET_CMAKE_DIR} COMPONENT dev)
install(EXPORT pocketCppTargets NAMESPACE pocket:: DESTINATION ${POCKET_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(cmake/pocketConfig.cmake.in
    ${CMAKE_CURRENT_BINARY_DIR}/pocketConfig.cmake INSTALL_DESTINATION ${POCKET_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/pocketConfigVersion.cmake
    COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pocketConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/pocketConfigVersion.cmake
        DESTINATION ${POCKET_CMAKE_DIR} COMPONENT dev)

# pkg-config: the prefix is derived from the .pc file's own place, so an install moved or made with
# `cmake --install --prefix DIR` still points at itself.
file(RELATIVE_PATH POCKET_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
configure_file(cmake/pocket.pc.in ${CMAKE_CURRENT_BINARY_DIR}/pocket.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pocket.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT dev)

# Python bindings, in Debian's layout (lib/python3/dist-packages, not multiarch), with the path
# from the package to libpocket.so recorded so the bindings find the library installed with them.
set(POCKET_PYTHON_DIR lib/python3/dist-packages/pocket)
file(RELATIVE_PATH POCKET_PYTHON_TO_LIB /${POCKET_PYTHON_DIR} /${CMAKE_INSTALL_LIBDIR})
file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/python/_install_paths.py CONTENT
     "# Written by cmake --install: where libpocket.so is, relative to this folder.\nLIBRARY = \"${POCKET_PYTHON_TO_LIB}/libpocket.so.${PROJECT_VERSION_MAJOR}\"\n")
install(FILES python/pocket/__init__.py ${CMAKE_CURRENT_BINARY_DIR}/python/_install_paths.py
        DESTINATION ${POCKET_PYTHON_DIR} COMPONENT python)

# The man page, generated from `pocket --help` of every command (scripts/man-page).
find_program(POCKET_BASH bash)
add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/pocket.1
    COMMAND ${POCKET_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/scripts/man-page $<TARGET_FILE:pocket>
            ${PROJECT_VERSION} > ${CMAKE_CURRENT_BINARY_DIR}/pocket.1
    DEPENDS pocket ${CMAKE_CURRENT_SOURCE_DIR}/scripts/man-page
    COMMENT "Writing the pocket(1) man page from the command's help")
add_custom_target(pocket_man_page ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/pocket.1)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pocket.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
        COMPONENT runtime)

# scripts/package: a Debian package of the same install (CPack's DEB generator; dependencies
# worked out by dpkg-shlibdeps from the binaries).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pocket)
set(CPACK_PACKAGE_VENDOR "pocket")
set(CPACK_PACKAGE_CONTACT "pocket maintainers <pocket@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Run small language models locally: CLI, OpenAI-compatible server, C API, Python bindings")
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEB_COMPONENT_INSTALL OFF)
set(CPACK_STRIP_FILES ON)
include(CPack)
