"""Speed internals (private): the CPU GEMM, the lean Adam, the subnormal flush, CUDA graphs."""
