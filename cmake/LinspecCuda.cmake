# Decides whether the CUDA backend is built. AUTO builds it whenever nvcc is found, so CI
# (CUDA toolkit present, no GPU) compiles and links every kernel even though it cannot run
# them. Sets LINSPEC_HAVE_CUDA.
set(LINSPEC_HAVE_CUDA OFF)
if(NOT LINSPEC_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Hopper (sm_90a for wgmma-era features, sm_90 PTX-compatible) and Ampere as the older arch.
      set(CMAKE_CUDA_ARCHITECTURES "90a;80")
    endif()
    enable_language(CUDA)
    # CUDA 13 ships no libnvToolsExt; some CMake 3.25 builds still tag that target as
    # deprecated unconditionally. An empty placeholder keeps FindCUDAToolkit working.
    if(NOT TARGET CUDA::nvToolsExt)
      add_library(CUDA::nvToolsExt INTERFACE IMPORTED)
    endif()
    find_package(CUDAToolkit REQUIRED)
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(LINSPEC_HAVE_CUDA ON)
  elseif(LINSPEC_CUDA STREQUAL "ON")
    message(FATAL_ERROR "LINSPEC_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
message(STATUS "linspec: CUDA backend ${LINSPEC_HAVE_CUDA}")
