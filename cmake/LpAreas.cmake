# lp_include_areas(): the CMakeLists.txt of examples/, tools/ and bench/.
# Each area there registers itself in its own fragment (<dir>/*.cmake or
# <dir>/<name>/CMakeLists.txt), so areas never edit each other's build files.
# A macro, not a function: what a fragment sets stays in the directory's
# scope, as if the fragment were written there.
macro(lp_include_areas)
  file(GLOB LP_FRAGMENTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cmake)
  foreach(fragment ${LP_FRAGMENTS})
    include(${fragment})
  endforeach()
  file(GLOB LP_SUBDIRS CONFIGURE_DEPENDS
       ${CMAKE_CURRENT_SOURCE_DIR}/*/CMakeLists.txt)
  foreach(sub ${LP_SUBDIRS})
    get_filename_component(dir ${sub} DIRECTORY)
    add_subdirectory(${dir})
  endforeach()
endmacro()
