// llama.cpp's own MXFP4 quantizer, for the interop test (mxfp4-interop.mjs builds this against node-llama-cpp's
// prebuilt libllama): llama_model_quantize with ftype MOSTLY_MXFP4_MOE and pure = true. Without `pure`, MXFP4_MOE
// on a dense model writes Q8_0 (only 3-D expert tensors become MXFP4); with it every weight matrix whose row length
// is whole blocks becomes MXFP4 (the others fall back, e.g. to F16), the token embedding included.
#include "llama.h"
#include <cstdio>
#include <cstdlib>
int main(int argc, char** argv) {
    if (argc < 3) { fprintf(stderr, "usage: llq IN OUT [keep-output]\n"); return 2; }
    llama_backend_init();
    llama_model_quantize_params p = llama_model_quantize_default_params();
    p.ftype = LLAMA_FTYPE_MOSTLY_MXFP4_MOE;
    p.pure = true;
    p.nthread = 2;
    if (argc > 3) p.quantize_output_tensor = false;
    const uint32_t rc = llama_model_quantize(argv[1], argv[2], &p);
    printf("llama_model_quantize -> %u\n", rc);
    return rc == 0 ? 0 : 1;
}
