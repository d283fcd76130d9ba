/* Streams a continuation of a prompt to stdout through the C API.
 *   generate MODEL PROMPT [MAX_TOKENS]
 * Build against an installed pocket with CMake (find_package(pocket), see ../CMakeLists.txt) or
 * pkg-config: cc generate.c $(pkg-config --cflags --libs pocket) -o generate */
#include <stdio.h>
#include <stdlib.h>

#include <pocket.h>

static int print_piece(const char* piece, size_t length, void* user_data) {
    (void)user_data;
    fwrite(piece, 1, length, stdout);
    fflush(stdout);
    return 0; /* go on */
}

int main(int argc, char** argv) {
    pocket_model* model = NULL;
    pocket_session* session = NULL;
    pocket_generate_options options = pocket_generate_default_options();
    pocket_generation result = {0};
    int code = 1;

    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL PROMPT [MAX_TOKENS]\n", argv[0]);
        return 2;
    }
    if (pocket_model_load(argv[1], NULL, &model) != POCKET_OK) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], pocket_last_error());
        return 1;
    }
    if (pocket_session_create(model, NULL, &session) != POCKET_OK) {
        fprintf(stderr, "cannot create a session: %s\n", pocket_last_error());
        goto done;
    }
    options.temperature = 0.0f; /* greedy: the same text every run */
    options.max_tokens = argc > 3 ? atol(argv[3]) : 64;
    result.struct_size = sizeof result;
    if (pocket_session_generate(session, argv[2], &options, print_piece, NULL, &result) !=
        POCKET_OK) {
        fprintf(stderr, "\ngeneration failed: %s\n", pocket_last_error());
        goto done;
    }
    fprintf(stderr, "\n[pocket %s: %ld prompt tokens, %ld generated, %.1f ms]\n", pocket_version(),
            (long)result.prompt_tokens, (long)result.completion_tokens,
            result.prompt_ms + result.generate_ms);
    code = 0;
done:
    pocket_session_free(session);
    pocket_model_free(model);
    return code;
}
