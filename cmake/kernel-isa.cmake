# Architecture-specific kernel sources. Every instruction set's kernels live in their own folder
# under src/kernels/ and are compiled with that set's flags; the dispatcher picks one at run time.
# x86-64 builds compile avx2/ and avx512/, AArch64 builds compile neon/; the scalar reference is
# always built.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
    set(POCKET_TARGET_AARCH64 ON)
else()
    set(POCKET_TARGET_AARCH64 OFF)
endif()

# Removes the other architecture's kernel folders from the source list named by `var`, and sets
# the per-file instruction-set flags of the ones kept.
function(pocket_select_kernel_sources var)
    set(sources ${${var}})
    if(POCKET_TARGET_AARCH64)
        list(FILTER sources EXCLUDE REGEX "/src/kernels/(avx2|avx512)/")
        # NEON is baseline ARMv8-A; only the *_dotprod.cpp files use the ARMv8.2-A dot-product
        # instructions, and the dispatcher calls them only when the CPU reports them (HWCAP).
        set(dotprod ${sources})
        list(FILTER dotprod INCLUDE REGEX "/src/kernels/neon/.*_dotprod\\.cpp$")
        set_source_files_properties(${dotprod} PROPERTIES COMPILE_OPTIONS "-march=armv8.2-a+dotprod")
    else()
        list(FILTER sources EXCLUDE REGEX "/src/kernels/neon/")
        set(avx2 ${sources})
        list(FILTER avx2 INCLUDE REGEX "/src/kernels/avx2/")
        set_source_files_properties(${avx2} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
        set(avx512 ${sources})
        list(FILTER avx512 INCLUDE REGEX "/src/kernels/avx512/")
        set_source_files_properties(${avx512} PROPERTIES COMPILE_OPTIONS
            "-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-mavx512bf16;-mfma;-mf16c;-mamx-tile;-mamx-int8")
    endif()
    set(${var} ${sources} PARENT_SCOPE)
endfunction()
