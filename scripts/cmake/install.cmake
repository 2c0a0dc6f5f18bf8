# install.cmake - what `cmake --install` places, and where: the programs an
# operator runs, their man pages, the systemd unit, an example config and
# the Prometheus alert rules. Test programs and statestore-bench are never
# installed (bench is the benchmark scripts' and the torture's load tool,
# not an operator's; see README "Installing the package").
#
# Paths under the prefix follow GNUInstallDirs. Two do not live under it when
# the prefix is /usr, which is the package's: the config goes to /etc, and
# the unit to /lib/systemd/system (Debian 12's place for a package's units).
# GNUInstallDirs decides that special case when cmake configures; these
# rules decide it when the install runs, from the prefix it runs with, so
# `cmake --install build --prefix /usr` and cpack (which installs with
# prefix /usr into a staging DESTDIR) get the same layout as a build
# configured with -DCMAKE_INSTALL_PREFIX=/usr.
include(GNUInstallDirs)

install(TARGETS statestored statestore-cli statestore-check
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Man pages: hand-written roff in scripts/man, installed gzip'd (Debian
# policy 12.1; man reads both). gzip -n keeps the name and time out of the
# file, so two builds make the same bytes.
set(SS_MAN_PAGES statestored.1 statestore-cli.1 statestore-check.1 statestored.conf.5)
find_program(SS_GZIP gzip REQUIRED)
set(ss_man_gz)
foreach(page ${SS_MAN_PAGES})
  set(src ${CMAKE_SOURCE_DIR}/scripts/man/${page})
  set(gz ${CMAKE_BINARY_DIR}/man/${page}.gz)
  add_custom_command(OUTPUT ${gz}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
    COMMAND ${SS_GZIP} -9 -n -c ${src} > ${gz}
    DEPENDS ${src} VERBATIM)
  list(APPEND ss_man_gz ${gz})
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
  install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(ss_man ALL DEPENDS ${ss_man_gz})

# The rules file is Prometheus's to load, not statestored's: it is installed
# as documentation of the package (share/statestored), and the operator
# copies it into their Prometheus's rule_files. /etc/prometheus/rules would
# be read only where Prometheus runs on this host, with its own config
# naming that directory, and a package may not edit another's config.
install(FILES ${CMAKE_SOURCE_DIR}/scripts/statestored-alerts.yml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/statestored)

# The example config and the unit: /etc and /lib/systemd/system under prefix
# /usr, <prefix>/etc and <prefix>/lib/systemd/system elsewhere (decided at
# install time: see the top). file(INSTALL) adds DESTDIR itself.
install(CODE [[
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(ss_etc "/etc")
    set(ss_units "/lib/systemd/system")
  else()
    set(ss_etc "${CMAKE_INSTALL_PREFIX}/etc")
    set(ss_units "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
  endif()
]])
install(CODE "
  file(INSTALL DESTINATION \"\${ss_etc}/statestored\" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES \"${CMAKE_SOURCE_DIR}/scripts/statestored.conf\")
  file(INSTALL DESTINATION \"\${ss_units}\" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES \"${CMAKE_SOURCE_DIR}/scripts/statestored.service\")
")
