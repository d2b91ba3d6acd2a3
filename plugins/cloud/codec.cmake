# SPDX-License-Identifier: Apache-2.0
# qtdcodec: the wire codec (frames, TTLV), the password functions, the session state machine
# (cloud_fsm.c) and the modem (AT) parsers. Pure code with no I/O beyond the AT dialogue
# helper; it allocates with plain malloc and returns -errno internally (exempt from the host
# allocator: the simulator and the fuzzers use it without an agent). Who may link it: the
# cloud plugin, the httpota plugin (the plan signature), the simulator (sim/), the unit
# tests, the fuzzers and the benchmarks; never the core (agent/, lua/, store/), which knows
# no platform.
set(QTD_CODEC_DIR ${CMAKE_CURRENT_LIST_DIR})
add_library(qtdcodec STATIC ${QTD_CODEC_DIR}/cloud_frame.c ${QTD_CODEC_DIR}/cloud_ttlv.c
  ${QTD_CODEC_DIR}/cloud_auth.c ${QTD_CODEC_DIR}/cloud_modem.c ${QTD_CODEC_DIR}/cloud_fsm.c
  ${QTD_CODEC_DIR}/cloud_ota_info.c)
set_target_properties(qtdcodec PROPERTIES POSITION_INDEPENDENT_CODE ON C_VISIBILITY_PRESET hidden)
target_include_directories(qtdcodec PUBLIC ${QTD_CODEC_DIR}
  ${CMAKE_SOURCE_DIR}/agent/include ${CMAKE_SOURCE_DIR}/plugins/include)
target_link_libraries(qtdcodec PUBLIC OpenSSL::Crypto)

