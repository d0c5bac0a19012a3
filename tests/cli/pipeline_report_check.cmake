# SPDX-License-Identifier: MIT
# Runs `pmc pipeline --config CONFIG --out OUT` in the project root (the config's ../shared paths) and checks its
# report headless: index.html is one complete page with every section (data, config, provenance, losses, accuracy,
# paired tests, examples) and both loss panels, and every figure has a PNG beside its SVG: the PNG signature, an
# 8-bit RGB IHDR, and the IEND chunk (with its CRC) at the end. Without ../shared it prints the skip marker.
# Arguments: -DPMC=pmc -DCONFIG=... -DOUT=... -DSOURCE=project root -DSHARED=../shared [-DSETS=n]
if(NOT EXISTS ${SHARED}/data/benchmarks/medmcqa/dev.json OR NOT EXISTS ${SHARED}/data/corpus)
  message("[pmc-skip] ${SHARED} is absent: the real-data recipe needs the shared corpus and benchmarks")
  return()
endif()
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${PMC} pipeline --config ${CONFIG} --out ${OUT} WORKING_DIRECTORY ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pmc pipeline failed (${rc}):\n${err}")
endif()
set(report ${OUT}/report)
file(READ ${report}/index.html page)
if(NOT page MATCHES "^<!DOCTYPE html>" OR NOT page MATCHES "</body></html>\n$")
  message(FATAL_ERROR "index.html is not one complete page")
endif()
foreach(id data config provenance losses accuracy paired-tests examples)
  if(NOT page MATCHES "<section id=\"${id}\">")
    message(FATAL_ERROR "index.html has no section '${id}'")
  endif()
endforeach()
foreach(tag section figure table pre ol div)
  string(REGEX MATCHALL "<${tag}[ >]" opened "${page}")
  string(REGEX MATCHALL "</${tag}>" closed "${page}")
  list(LENGTH opened n_open)
  list(LENGTH closed n_close)
  if(NOT n_open EQUAL n_close)
    message(FATAL_ERROR "index.html: ${n_open} <${tag}> but ${n_close} </${tag}>")
  endif()
endforeach()
# the data section names every input with its counts, the split and the commit; examples show answers
foreach(pattern "medmcqa_tune.jsonl</td><td>instruction tuning \\(response-only loss\\)</td><td>[0-9]+ records"
                "a seeded split of the [0-9]+ MedMCQA items read" "evaluation set .medqa_test. \\(medqa\\)"
                "<td>commit</td><td>[0-9a-f]+|<td>commit</td><td>unknown" "<td>CPU GEMM kernel</td>"
                "<figure id=\"loss_injection\">" "<figure id=\"loss_tuning\">" "[(]gold[)]</b>"
                "<h3>medqa_test \\(medqa\\)</h3>" "<h3>medmcqa_heldout \\(medmcqa\\)</h3>" "<h3>pubmedqa_test \\(pubmedqa\\)</h3>")
  if(NOT page MATCHES "${pattern}")
    message(FATAL_ERROR "index.html does not match '${pattern}'")
  endif()
endforeach()
foreach(figure loss_injection loss_tuning loss)
  if(NOT EXISTS ${report}/${figure}.svg)
    message(FATAL_ERROR "no ${figure}.svg")
  endif()
  file(READ ${report}/${figure}.png hex HEX)
  string(LENGTH "${hex}" n)
  math(EXPR bytes "${n} / 2")
  string(SUBSTRING "${hex}" 0 16 signature)
  string(SUBSTRING "${hex}" 24 8 ihdr)
  string(SUBSTRING "${hex}" 48 4 depth_type)
  math(EXPR tail "${n} - 24")
  string(SUBSTRING "${hex}" ${tail} 24 iend)
  if(NOT signature STREQUAL "89504e470d0a1a0a" OR NOT ihdr STREQUAL "49484452" OR NOT depth_type STREQUAL "0802"
     OR NOT iend STREQUAL "0000000049454e44ae426082")
    message(FATAL_ERROR "${figure}.png is not an 8-bit RGB PNG ending in IEND")
  endif()
  message("${figure}.png: ${bytes} bytes")
endforeach()
message("report checked: 7 sections, 3 figures as SVG and PNG")
