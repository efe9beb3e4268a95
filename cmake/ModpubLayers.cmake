# One static library per layer of src/modpub (ARCHITECTURE.md, "Layers"), and what makes
# the build keep the layers.
#
# modpub_layer(<target> FOLDERS <folder>... [LAYERS <layer>...]
#              [PUBLIC <dep>...] [PRIVATE <dep>...])
#
#   FOLDERS  the folders of src/modpub the layer owns; its sources are globbed from them
#            (CONFIGURE_DEPENDS: a new .cpp joins its folder's layer on the next build).
#   LAYERS   the layers its sources and headers include directly. Only layers declared
#            before it may be named, so the graph has no cycle. Every layer but modpub_base
#            links modpub_base implicitly.
#   PUBLIC / PRIVATE  external libraries: PUBLIC when the layer's headers include them (their
#            include directories and compile definitions must reach every user), else PRIVATE.
#
# Enforcement: a layer's sources are compiled against an include root of its own,
# ${CMAKE_BINARY_DIR}/layers/<target>, generated here at configure time, whose
# modpub/<folder> entries are symlinks to src/modpub/<folder> for the layer's own folders,
# base, and the folders of every layer it reaches through LAYERS (transitively: a header it
# includes may include theirs). `src` itself is never on a layer's include path, and layers
# export no include directory of modpub's, so `#include "modpub/<higher layer>/x.hpp"` in a
# layer's .cpp or in a header that .cpp includes is
#   fatal error: modpub/<higher layer>/x.hpp: No such file or directory
# Programs and tests link modpub_src (the whole `src`) and may include anything.
# What it does not see: a relative include that climbs out of its folder
# ("../jobs/spool.hpp"; scripts/check-layers reports those), and a header that no source of
# its own layer includes (today every header has its .cpp, which includes it first).

set(MODPUB_LAYER_ROOT "${CMAKE_BINARY_DIR}/layers")

function(modpub_layer name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "FOLDERS;LAYERS;PUBLIC;PRIVATE")
  if(arg_UNPARSED_ARGUMENTS OR NOT arg_FOLDERS)
    message(FATAL_ERROR "modpub_layer(${name}): usage: modpub_layer(<target> FOLDERS <folder>... "
                        "[LAYERS <layer>...] [PUBLIC <dep>...] [PRIVATE <dep>...])")
  endif()

  get_property(owned GLOBAL PROPERTY MODPUB_LAYER_FOLDERS)
  foreach(folder IN LISTS arg_FOLDERS)
    if(NOT IS_DIRECTORY "${PROJECT_SOURCE_DIR}/src/modpub/${folder}")
      message(FATAL_ERROR "modpub_layer(${name}): src/modpub/${folder} does not exist")
    endif()
    if(folder IN_LIST owned)
      message(FATAL_ERROR "modpub_layer(${name}): src/modpub/${folder} already belongs to a layer")
    endif()
  endforeach()

  # What the layer's sources may include: its folders, base, and everything below it.
  set(layers ${arg_LAYERS})
  if(NOT name STREQUAL "modpub_base")
    list(PREPEND layers modpub_base)
  endif()
  list(REMOVE_DUPLICATES layers)
  set(visible ${arg_FOLDERS})
  foreach(dep IN LISTS layers)
    get_property(declared GLOBAL PROPERTY MODPUB_LAYER_${dep}_VISIBLE SET)
    if(NOT declared)
      message(FATAL_ERROR "modpub_layer(${name}): ${dep} is not a layer declared before ${name} "
                          "(layers may only use the layers below them)")
    endif()
    get_property(dep_visible GLOBAL PROPERTY MODPUB_LAYER_${dep}_VISIBLE)
    list(APPEND visible ${dep_visible})
  endforeach()
  list(REMOVE_DUPLICATES visible)
  list(SORT visible)
  set_property(GLOBAL PROPERTY MODPUB_LAYER_${name}_VISIBLE ${visible})
  set_property(GLOBAL PROPERTY MODPUB_LAYER_${name}_FOLDERS ${arg_FOLDERS})
  set_property(GLOBAL PROPERTY MODPUB_LAYER_${name}_LAYERS ${arg_LAYERS})
  set_property(GLOBAL APPEND PROPERTY MODPUB_LAYER_FOLDERS ${arg_FOLDERS})
  set_property(GLOBAL APPEND PROPERTY MODPUB_LAYERS ${name})

  # The include root: add the missing links, drop the ones the layer may no longer see.
  set(root "${MODPUB_LAYER_ROOT}/${name}")
  file(MAKE_DIRECTORY "${root}/modpub")
  file(GLOB present LIST_DIRECTORIES true RELATIVE "${root}/modpub" "${root}/modpub/*")
  foreach(entry IN LISTS present)
    if(NOT entry IN_LIST visible)
      file(REMOVE "${root}/modpub/${entry}")  # a symlink: removed, never followed
    endif()
  endforeach()
  foreach(folder IN LISTS visible)
    if(NOT EXISTS "${root}/modpub/${folder}")
      file(CREATE_LINK "${PROJECT_SOURCE_DIR}/src/modpub/${folder}" "${root}/modpub/${folder}"
           SYMBOLIC)
    endif()
  endforeach()

  set(globs)
  foreach(folder IN LISTS arg_FOLDERS)
    list(APPEND globs "${PROJECT_SOURCE_DIR}/src/modpub/${folder}/*.cpp")
  endforeach()
  file(GLOB sources CONFIGURE_DEPENDS ${globs})
  if(sources)
    add_library(${name} STATIC ${sources})
    target_include_directories(${name} PRIVATE "${root}")
    target_link_libraries(${name} PUBLIC ${layers} ${arg_PUBLIC}
                          PRIVATE ${arg_PRIVATE} modpub_warnings)
  else()
    # Headers only (base today): nothing to compile here; its headers are compiled, with
    # each user's include root, by the layers above.
    add_library(${name} INTERFACE)
    target_link_libraries(${name} INTERFACE ${layers} ${arg_PUBLIC} ${arg_PRIVATE})
  endif()
endfunction()

# After the last modpub_layer: every folder of src/modpub belongs to exactly one layer (a new
# folder stops the build until it is given one), and ${MODPUB_LAYER_ROOT}/layers.tsv records
# the graph the targets say (scripts/check-layers reads it).
function(modpub_layers_done)
  file(GLOB folders LIST_DIRECTORIES true CONFIGURE_DEPENDS RELATIVE
       "${PROJECT_SOURCE_DIR}/src/modpub" "${PROJECT_SOURCE_DIR}/src/modpub/*")
  get_property(owned GLOBAL PROPERTY MODPUB_LAYER_FOLDERS)
  foreach(folder IN LISTS folders)
    if(IS_DIRECTORY "${PROJECT_SOURCE_DIR}/src/modpub/${folder}" AND NOT folder IN_LIST owned)
      message(FATAL_ERROR "src/modpub/${folder} belongs to no layer: add it to a "
                          "modpub_layer() in CMakeLists.txt and to ARCHITECTURE.md")
    endif()
  endforeach()

  get_property(all GLOBAL PROPERTY MODPUB_LAYERS)
  set(tsv "# target\tfolders\tlayers it links\tfolders it may include\n")
  foreach(layer IN LISTS all)
    foreach(p FOLDERS LAYERS VISIBLE)
      get_property(${p} GLOBAL PROPERTY MODPUB_LAYER_${layer}_${p})
      string(REPLACE ";" " " ${p} "${${p}}")
    endforeach()
    string(APPEND tsv "${layer}\t${FOLDERS}\t${LAYERS}\t${VISIBLE}\n")
  endforeach()
  file(CONFIGURE OUTPUT "${MODPUB_LAYER_ROOT}/layers.tsv" CONTENT "${tsv}")
endfunction()
