# The web UI (ui/ at the top of the tree) embedded into the binary: ui_embed.cmake turns every
# file there into one generated C++ source, rebuilt when any UI file (or the generator) changes.
# CONFIGURE_DEPENDS: adding or removing a UI file re-runs the configure step.
file(GLOB_RECURSE DEEPKB_UI_FILES CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/ui/*")
set(DEEPKB_UI_SOURCE "${CMAKE_CURRENT_BINARY_DIR}/ui_assets_data.cc")
add_custom_command(
  OUTPUT "${DEEPKB_UI_SOURCE}"
  COMMAND "${CMAKE_COMMAND}" "-DUI_DIR=${PROJECT_SOURCE_DIR}/ui" "-DOUT=${DEEPKB_UI_SOURCE}"
          -P "${CMAKE_CURRENT_SOURCE_DIR}/ui_embed.cmake"
  DEPENDS ${DEEPKB_UI_FILES} "${CMAKE_CURRENT_SOURCE_DIR}/ui_embed.cmake"
  COMMENT "Embedding the web UI (ui/)"
  VERBATIM)
add_library(deepkb_ui_assets STATIC "${DEEPKB_UI_SOURCE}")
target_include_directories(deepkb_ui_assets PUBLIC "${PROJECT_SOURCE_DIR}/src")
