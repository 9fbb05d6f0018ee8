# Everything around the binaries that a host installation needs, and the Debian package.
#
#   cmake --install build --prefix /usr/local      (deploy/install.sh)
#   cd build && cpack -G DEB                       (kapsel_<version>_<arch>.deb, prefix /usr)
#
# Installed, relative to the prefix unless absolute:
#   lib/systemd/system/kapseld.{service,socket}    ExecStart= points at PREFIX/bin/kapseld
#   lib/systemd/system/kapsel-shutdown.service      stops the containers at shutdown (kapselctl)
#   lib/tmpfiles.d/kapsel.conf, lib/sysusers.d/kapsel.conf
#   share/bash-completion/completions/kapselctl
#   share/man/man1/kapselctl.1.gz, share/man/man8/kapseld.8.gz (when help2man is installed)
#   /etc/kapsel/kapseld.json                        never overwritten by cmake --install; a
#                                                  conffile of the package
# systemd, systemd-tmpfiles and systemd-sysusers all look under /usr/local/lib as well as
# /usr/lib, so both prefixes work without copies in /etc.

set(KAPSEL_SYSTEMD_SOURCE_DIR ${PROJECT_SOURCE_DIR}/systemd)
set(KAPSEL_DEPLOY_DIR ${PROJECT_SOURCE_DIR}/deploy)

# The service unit names /usr/bin/kapseld (the package's path); the prefix is only known at
# install time (cpack installs with /usr, deploy/install.sh with /usr/local), so the unit is
# rewritten then.
install(CODE "
  foreach(unit kapseld.service kapsel-shutdown.service)
    file(READ \"${KAPSEL_SYSTEMD_SOURCE_DIR}/\${unit}\" kapsel_unit)
    string(REPLACE \"/usr/bin/kapsel\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/kapsel\"
      kapsel_unit \"\${kapsel_unit}\")
    file(WRITE \"${CMAKE_BINARY_DIR}/packaging/\${unit}\" \"\${kapsel_unit}\")
  endforeach()
")
install(FILES ${CMAKE_BINARY_DIR}/packaging/kapseld.service
  ${CMAKE_BINARY_DIR}/packaging/kapsel-shutdown.service
  ${KAPSEL_SYSTEMD_SOURCE_DIR}/kapseld.socket DESTINATION lib/systemd/system)
install(FILES ${KAPSEL_SYSTEMD_SOURCE_DIR}/tmpfiles.d/kapsel.conf DESTINATION lib/tmpfiles.d)
install(FILES ${KAPSEL_SYSTEMD_SOURCE_DIR}/sysusers.d/kapsel.conf DESTINATION lib/sysusers.d)
install(FILES ${KAPSEL_DEPLOY_DIR}/bash-completion/kapselctl
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)

# kapseld reads /etc/kapsel/kapseld.json whatever its prefix. An administrator's file is kept.
install(CODE "
  if(NOT EXISTS \"\$ENV{DESTDIR}/etc/kapsel/kapseld.json\")
    file(INSTALL \"${KAPSEL_DEPLOY_DIR}/kapseld.json\" DESTINATION /etc/kapsel
      PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  else()
    message(STATUS \"Keeping: \$ENV{DESTDIR}/etc/kapsel/kapseld.json\")
  endif()
")

# Man pages from the programs' own --help (help2man) and the sections in deploy/man/*.h2m.
find_program(KAPSEL_HELP2MAN help2man)
if(KAPSEL_HELP2MAN)
  set(kapsel_man_pages)
  foreach(page kapseld:8 kapselctl:1)
    string(REPLACE ":" ";" page ${page})
    list(GET page 0 prog)
    list(GET page 1 section)
    set(out ${CMAKE_BINARY_DIR}/packaging/${prog}.${section}.gz)
    add_custom_command(OUTPUT ${out}
      COMMAND bash ${KAPSEL_DEPLOY_DIR}/man/gen-man.sh $<TARGET_FILE:${prog}> ${section}
        ${PROJECT_VERSION} ${out}
      DEPENDS ${prog} ${KAPSEL_DEPLOY_DIR}/man/gen-man.sh ${KAPSEL_DEPLOY_DIR}/man/${prog}.h2m
      COMMENT "Generating the man page ${prog}(${section})"
      VERBATIM)
    list(APPEND kapsel_man_pages ${out})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(man ALL DEPENDS ${kapsel_man_pages})
else()
  message(STATUS "help2man not found: no man pages (deploy/install-deps.sh installs it)")
endif()

# --- the Debian package --------------------------------------------------------------------------
# cpack -G DEB from the build directory. Runtime libraries come from dpkg-shlibdeps (dpkg-dev).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME kapsel)
set(CPACK_PACKAGE_VENDOR kapsel)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "kapsel maintainers <kapsel@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Linux container engine: kapseld daemon and kapselctl")
set(CPACK_PACKAGE_DESCRIPTION
  "kapsel runs containers on a Linux host: kapseld, a daemon that keeps containers, images,\n\
networks and events in SQLite and serves a gRPC API on a Unix socket (socket-activated by\n\
systemd), kapsel-shim, one per container, and kapselctl, a docker-like command line.\n\
Containers keep running while the daemon restarts. Members of the kapsel group may use it.")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The packaged binaries are stripped (the build keeps its debug info).
set(CPACK_STRIP_FILES ON)
# /usr/bin/kapseld, /usr/lib/systemd/system, ...; /etc/kapsel as it is (the DEB generator installs
# with DESTDIR and CMAKE_INSTALL_PREFIX=/usr; CPACK_SET_DESTDIR would make it /usr/local).
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Beyond the shared libraries: /bin/kill of ExecReload= (procps).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "procps")
# busybox-static: kapseld's built-in busybox:latest image; tini: the init of run --init;
# bash-completion loads the completion.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "busybox-static, tini")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bash-completion")
# Maintainer scripts (deploy/debian/) and the conffile list, with dpkg's permissions (0755 for
# scripts, 0644 for conffiles).
configure_file(${KAPSEL_DEPLOY_DIR}/debian/conffiles ${CMAKE_BINARY_DIR}/packaging/debian/conffiles
  COPYONLY)
foreach(script postinst prerm postrm)
  configure_file(${KAPSEL_DEPLOY_DIR}/debian/${script}
    ${CMAKE_BINARY_DIR}/packaging/debian/${script} COPYONLY)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_BINARY_DIR}/packaging/debian/conffiles
  ${CMAKE_BINARY_DIR}/packaging/debian/postinst
  ${CMAKE_BINARY_DIR}/packaging/debian/prerm
  ${CMAKE_BINARY_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packaging)
include(CPack)
