# Warnings and sanitizers applied to every linspec target through linspec_options.
add_library(linspec_options INTERFACE)
target_compile_options(linspec_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers>)
if(LINSPEC_SANITIZE)
  target_compile_options(linspec_options INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined>)
  target_link_options(linspec_options INTERFACE -fsanitize=address,undefined)
endif()
