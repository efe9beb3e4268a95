# Install rules and the Debian package (CPack), for a git server that runs modpub:
#   cmake --build build && cpack -G DEB --config build/CPackConfig.cmake -B <out dir>
# (or `cpack -G DEB` inside the build directory). The package is modpub_<version>_<arch>.deb:
#   /usr/bin/{modpub,modpub-hook,modpubd}       the programs, stripped
#   /lib/systemd/system/modpubd.service         the unit (systemd/modpubd.service)
#   /etc/modpub/modpub.toml                     conffile, from examples/modpub.toml; 0640
#                                               root:modpub (dpkg-statoverride in postinst:
#                                               it may hold webhook secrets, and modpubd and
#                                               the git users' hooks read it)
#   /usr/lib/sysusers.d/modpub.conf             the system user and group modpub
#   /usr/share/doc/modpub/                      README, hooks, examples
# packaging/deb/ holds the maintainer scripts (user, /var/lib/modpub, the unit) and the
# conffiles list. Installing does not build: build first (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY,
# so that packaging what was built takes seconds, not a rebuild of every test program).
# The unit's ExecStart is /usr/bin/modpubd: installed anywhere else, the unit needs editing.
if(MODPUB_UNIT_ONLY)
  return()  # no programs to install
endif()

set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
# Destinations are the package's paths relative to the root: the package's prefix is "/",
# and `cmake --install <build> --prefix <dir>` lays the same tree out below <dir>, writing
# nothing outside it.
set(CPACK_PACKAGING_INSTALL_PREFIX /)
set(MODPUB_DOC_DIR usr/share/doc/modpub)
install(TARGETS modpub modpub-hook modpubd RUNTIME DESTINATION usr/bin)
install(FILES systemd/modpubd.service DESTINATION lib/systemd/system)
install(FILES examples/modpub.toml DESTINATION etc/modpub
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES packaging/deb/sysusers.conf DESTINATION usr/lib/sysusers.d RENAME modpub.conf)
install(FILES README.md ARCHITECTURE.md DESTINATION ${MODPUB_DOC_DIR})
install(FILES hooks/README.md DESTINATION ${MODPUB_DOC_DIR} RENAME hooks.md)
install(DIRECTORY examples/ DESTINATION ${MODPUB_DOC_DIR}/examples)

set(CPACK_PACKAGE_NAME modpub)
set(CPACK_PACKAGE_VENDOR "modpub")
set(MODPUB_PACKAGE_MAINTAINER "modpub maintainers <modpub@example.com>"
    CACHE STRING "The Debian package's Maintainer field")
set(CPACK_PACKAGE_CONTACT "${MODPUB_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "publish private Go modules from git version tags")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "Git hooks check every pushed version tag as the go command would and queue it;\n"
       "the modpubd daemon builds the module zip, .mod and .info and writes them to\n"
       "GOPROXY storage (a directory, Athens' disk layout or S3), optionally signing\n"
       "them into a checksum database, and serves them over HTTP.")
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # modpub_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
# Shared libraries as dpkg-shlibdeps finds them in the binaries (dpkg-dev); git for the
# mirrors' fetches; libcurl is loaded on first use (storage/curl_lib.hpp), for s3:// only.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "git, systemd | adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libcurl4")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/deb/conffiles" "${PROJECT_SOURCE_DIR}/packaging/deb/postinst"
    "${PROJECT_SOURCE_DIR}/packaging/deb/prerm" "${PROJECT_SOURCE_DIR}/packaging/deb/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)  # scripts 0755, conffiles 0644
include(CPack)
