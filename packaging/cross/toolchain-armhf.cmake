# Cross-compiling qthingd for 32-bit ARM (armhf) with Debian's gcc-arm-linux-gnueabihf and
# the armhf libraries of Debian multiarch (dpkg --add-architecture armhf; the -dev:armhf
# packages): packaging/cross/build-armhf.sh sets it up and builds.
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=packaging/cross/toolchain-armhf.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
# Debian multiarch: libraries in /usr/lib/arm-linux-gnueabihf, found through this
# architecture and through armhf pkg-config files only.
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/arm-linux-gnueabihf/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
