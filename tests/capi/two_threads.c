/* Two sessions over one loaded model, generating at the same time on two threads, through the C
 * API as an application links it (libpocket.so, C99). Each thread streams its text through the
 * callback, generates a second time from the same prompt (the prefix is reused from the cache),
 * and writes its text to a file; tests/capi/two_threads_test.sh compares the files with what
 * `pocket run` prints for the same prompts.
 *
 *   capi_two_threads MODEL N_TOKENS PROMPT_A OUT_A PROMPT_B OUT_B
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pocket.h"

typedef struct {
    char* data;
    size_t length;
    size_t capacity;
} text_buffer;

typedef struct {
    const pocket_model* model;
    long n_tokens;
    const char* prompt;
    const char* out_path;
    text_buffer streamed;
    int failed;
} job;

static int append_piece(const char* piece, size_t length, void* user_data) {
    text_buffer* buffer = (text_buffer*)user_data;
    if (buffer->length + length + 1 > buffer->capacity) {
        size_t capacity = (buffer->capacity + length + 1) * 2;
        char* grown = (char*)realloc(buffer->data, capacity);
        if (grown == NULL) return 1; /* stop generating */
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->length, piece, length);
    buffer->length += length;
    buffer->data[buffer->length] = '\0';
    return 0;
}

static int fail(job* j, const char* what, pocket_status status) {
    fprintf(stderr, "%s: %s: %s (%s)\n", j->prompt, what, pocket_status_name(status),
            pocket_last_error());
    j->failed = 1;
    return 1;
}

static void* run_job(void* argument) {
    job* j = (job*)argument;
    pocket_session* session = NULL;
    pocket_generate_options options = pocket_generate_default_options();
    pocket_generation first, second;
    pocket_status status;
    FILE* out;

    options.temperature = 0.0f; /* greedy, as `pocket run --temp 0` */
    options.max_tokens = j->n_tokens;
    memset(&first, 0, sizeof first);
    first.struct_size = sizeof first;
    second = first;

    status = pocket_session_create(j->model, NULL, &session);
    if (status != POCKET_OK) {
        fail(j, "session_create", status);
        return NULL;
    }
    status = pocket_session_generate(session, j->prompt, &options, append_piece, &j->streamed,
                                     &first);
    if (status != POCKET_OK) {
        fail(j, "generate", status);
    } else if (j->streamed.length != first.text_length ||
               (first.text_length > 0 && memcmp(j->streamed.data, first.text, first.text_length))) {
        fprintf(stderr, "%s: the streamed pieces differ from the result text\n", j->prompt);
        j->failed = 1;
    } else {
        /* The same prompt again: every prompt token but the last is already cached. */
        char* kept = (char*)malloc(first.text_length + 1);
        if (kept == NULL) {
            j->failed = 1;
        } else {
            memcpy(kept, first.text, first.text_length + 1);
            status = pocket_session_generate(session, j->prompt, &options, NULL, NULL, &second);
            if (status != POCKET_OK) {
                fail(j, "second generate", status);
            } else if (strcmp(kept, second.text) != 0 || second.reused_tokens == 0) {
                fprintf(stderr, "%s: the second generation differs or reused nothing (%ld)\n",
                        j->prompt, (long)second.reused_tokens);
                j->failed = 1;
            }
            out = fopen(j->out_path, "wb");
            if (out == NULL || fwrite(kept, 1, first.text_length, out) != first.text_length) {
                fprintf(stderr, "cannot write %s\n", j->out_path);
                j->failed = 1;
            }
            if (out != NULL) fclose(out);
            free(kept);
        }
    }
    pocket_session_free(session);
    return NULL;
}

int main(int argc, char** argv) {
    pocket_model* model = NULL;
    pocket_status status;
    pthread_t threads[2];
    job jobs[2];
    int i;

    if (argc != 7) {
        fprintf(stderr, "usage: %s MODEL N_TOKENS PROMPT_A OUT_A PROMPT_B OUT_B\n", argv[0]);
        return 2;
    }
    if (pocket_api_version() < POCKET_API_VERSION) {
        fprintf(stderr, "library API version %d is older than the header's %d\n",
                pocket_api_version(), POCKET_API_VERSION);
        return 1;
    }
    status = pocket_model_load(argv[1], NULL, &model);
    if (status != POCKET_OK) {
        fprintf(stderr, "load %s: %s\n", argv[1], pocket_last_error());
        return 1;
    }
    for (i = 0; i < 2; ++i) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].model = model;
        jobs[i].n_tokens = strtol(argv[2], NULL, 10);
        jobs[i].prompt = argv[3 + 2 * i];
        jobs[i].out_path = argv[4 + 2 * i];
    }
    for (i = 0; i < 2; ++i) {
        if (pthread_create(&threads[i], NULL, run_job, &jobs[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    for (i = 0; i < 2; ++i) pthread_join(threads[i], NULL);
    pocket_model_free(model);
    for (i = 0; i < 2; ++i) free(jobs[i].streamed.data);
    return jobs[0].failed || jobs[1].failed ? 1 : 0;
}
