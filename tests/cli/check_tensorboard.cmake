# SPDX-License-Identifier: MIT
# cmake -DDIR=<folder> -DTAGS=train/loss,train/lr -P check_tensorboard.cmake: DIR holds an event file
# (events.out.tfevents.*) that names every tag of TAGS (the records themselves are checked by tests/io).
file(GLOB files "${DIR}/events.out.tfevents.*")
list(LENGTH files n)
if(n EQUAL 0)
  message(FATAL_ERROR "${DIR}: no events.out.tfevents.* file")
endif()
list(GET files 0 f)
file(READ "${f}" bytes HEX)
string(REPLACE "," ";" tags "${TAGS}")
foreach(tag IN LISTS tags)
  string(HEX "${tag}" hex)
  string(FIND "${bytes}" "${hex}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${f}: no scalar tagged ${tag}")
  endif()
endforeach()
message(STATUS "${f}: ${tags}")
