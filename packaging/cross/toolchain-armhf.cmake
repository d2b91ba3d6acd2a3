# Cross-compiling qthingd for 32-bit ARM (armhf) with Debian's gcc-arm-linux-gnueabihf.
# The armhf libraries come from one of two places:
#  - a sysroot, given as CMAKE_SYSROOT: a directory the armhf .deb packages were unpacked
#    into. packaging/cross/build-armhf.sh makes one in BUILD_DIR/sysroot and builds:
#      cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=packaging/cross/toolchain-armhf.cmake \
#            -DCMAKE_SYSROOT=$PWD/build-armhf/sysroot
#  - without CMAKE_SYSROOT, the machine itself through Debian multiarch (dpkg
#    --add-architecture armhf; the -dev:armhf packages installed beside the amd64 ones).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
# Debian multiarch paths (/usr/lib/arm-linux-gnueabihf), in the sysroot or on the machine;
# libraries and pkg-config files of armhf only.
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)
if(CMAKE_SYSROOT)
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${CMAKE_SYSROOT}")
  set(ENV{PKG_CONFIG_LIBDIR}
    "${CMAKE_SYSROOT}/usr/lib/arm-linux-gnueabihf/pkgconfig:${CMAKE_SYSROOT}/usr/share/pkgconfig")
  set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
else()
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/arm-linux-gnueabihf/pkgconfig:/usr/share/pkgconfig")
endif()
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
