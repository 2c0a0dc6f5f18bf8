# package.cmake - the Debian package, built by CPack from the install rules
# (install.cmake): statestored_<version>_amd64.deb. scripts/package.sh runs
# it on a Release build configured with -DCMAKE_INSTALL_PREFIX=/usr.
#
# The maintainer scripts (scripts/debian) create the statestored user and
# /var/lib/statestored, and on purge remove both, as Debian's redis-server
# does. Debian policy's copyright and changelog are in the doc directory.

# The package's changelog is written by hand; a version bump must add an
# entry, or the package would claim the previous version's history.
file(STRINGS ${CMAKE_SOURCE_DIR}/scripts/debian/changelog ss_changelog_head LIMIT_COUNT 1)
if(NOT ss_changelog_head MATCHES "^statestored \\(${PROJECT_VERSION}\\) ")
  message(FATAL_ERROR "scripts/debian/changelog's first entry is not version ${PROJECT_VERSION}: "
                      "add one for the version project() declares")
endif()
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/debian/changelog.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/debian
  COMMAND ${SS_GZIP} -9 -n -c ${CMAKE_SOURCE_DIR}/scripts/debian/changelog
          > ${CMAKE_BINARY_DIR}/debian/changelog.gz
  DEPENDS ${CMAKE_SOURCE_DIR}/scripts/debian/changelog VERBATIM)
add_custom_target(ss_debian_changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/debian/changelog.gz)
# Installed by `cmake --install` too: a license and a changelog belong in
# any install's doc directory. (A component only the package installs
# would make cpack build the tree twice, once per component.)
install(FILES ${CMAKE_BINARY_DIR}/debian/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${CMAKE_SOURCE_DIR}/LICENSE RENAME copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME statestored)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "statestored maintainers <maintainers@users.noreply.b-seed-244ec1ef.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "durable checkpoint store for data pipelines")
# The synopsis above is the Description's first line; CPack indents this
# text below it and writes its empty line as " .".
set(CPACK_PACKAGE_DESCRIPTION
"statestored keeps where each data pipeline stopped. A checkpoint it
acknowledges has been fdatasync'd to an append-only log, so it survives
kill -9, power loss and restarts; a compare-and-set on per-checkpoint
revisions fences zombie workers. One small single-threaded daemon speaks
a line protocol and RESP2/RESP3 (any Redis client) on one port.

This package ships the daemon with a hardened systemd unit, the
statestore-cli client and the statestore-check offline log tool.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# dpkg-shlibdeps reads the binaries' NEEDED entries: libev4 and libc6 today,
# and whatever the daemon links tomorrow, never a list kept by hand.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# postinst calls adduser.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_STRIP_FILES ON)
# The maintainer scripts go into the control archive as 0755 and conffiles
# as 0644, whatever modes the checkout gave them. CPack writes every member
# of the package as root:root itself, so cpack needs no fakeroot.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/scripts/debian/conffiles
    ${CMAKE_SOURCE_DIR}/scripts/debian/postinst
    ${CMAKE_SOURCE_DIR}/scripts/debian/prerm
    ${CMAKE_SOURCE_DIR}/scripts/debian/postrm)
include(CPack)
