/*
 * node-hyper's own C declarations of hyper's C API (hyper::ffi, built with
 * `--cfg hyper_unstable_ffi`). Written from the Rust signatures in hyper's
 * src/ffi (the .rs files); hyper's published crate ships no header.
 *
 * This file is the single source of truth for the declarations. native/hyper/build.rs
 * parses it and generates a typed function-pointer table plus const assertions that
 * fail `cargo build` if any declaration drifts from the pinned hyper crate, and
 * test/declarations.test.ts checks every declared function is defined in the archive.
 *
 * Format rules (kept simple so build.rs can parse them): one declaration per line
 * (continuation lines allowed until ';'), no macros other than the #defines below,
 * pointer stars attached to the parameter name side ("const uint8_t *buf").
 */
#ifndef NODE_HYPER_HYPER_FFI_H
#define NODE_HYPER_HYPER_FFI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants ---- */
#define HYPER_ITER_CONTINUE 0
#define HYPER_ITER_BREAK 1
#define HYPER_HTTP_VERSION_NONE 0
#define HYPER_HTTP_VERSION_1_0 10
#define HYPER_HTTP_VERSION_1_1 11
#define HYPER_HTTP_VERSION_2 20
/* 32-bit values even where size_t is 64-bit. */
#define HYPER_IO_PENDING 4294967295u
#define HYPER_IO_ERROR 4294967294u
#define HYPER_POLL_READY 0
#define HYPER_POLL_PENDING 1
#define HYPER_POLL_ERROR 3

/* ---- enums ---- */
typedef enum hyper_code {
  HYPERE_OK = 0,
  HYPERE_ERROR = 1,
  HYPERE_INVALID_ARG = 2,
  HYPERE_UNEXPECTED_EOF = 3,
  HYPERE_ABORTED_BY_CALLBACK = 4,
  HYPERE_FEATURE_NOT_ENABLED = 5,
  HYPERE_INVALID_PEER_MESSAGE = 6
} hyper_code;

typedef enum hyper_task_return_type {
  HYPER_TASK_EMPTY = 0,
  HYPER_TASK_ERROR = 1,
  HYPER_TASK_CLIENTCONN = 2,
  HYPER_TASK_RESPONSE = 3,
  HYPER_TASK_BUF = 4
} hyper_task_return_type;

/* ---- opaque types ---- */
typedef struct hyper_body hyper_body;
typedef struct hyper_buf hyper_buf;
typedef struct hyper_clientconn hyper_clientconn;
typedef struct hyper_clientconn_options hyper_clientconn_options;
typedef struct hyper_context hyper_context;
typedef struct hyper_error hyper_error;
typedef struct hyper_executor hyper_executor;
typedef struct hyper_headers hyper_headers;
typedef struct hyper_io hyper_io;
typedef struct hyper_request hyper_request;
typedef struct hyper_response hyper_response;
typedef struct hyper_task hyper_task;
typedef struct hyper_waker hyper_waker;

/* ---- callbacks ---- */
typedef int (*hyper_body_foreach_callback)(void *userdata, const hyper_buf *chunk);
typedef int (*hyper_body_data_callback)(void *userdata, hyper_context *ctx, hyper_buf **chunk);
typedef void (*hyper_request_on_informational_callback)(void *userdata, hyper_response *resp);
typedef int (*hyper_headers_foreach_callback)(void *userdata, const uint8_t *name, size_t name_len, const uint8_t *value, size_t value_len);
typedef size_t (*hyper_io_read_callback)(void *userdata, hyper_context *ctx, uint8_t *buf, size_t buf_len);
typedef size_t (*hyper_io_write_callback)(void *userdata, hyper_context *ctx, const uint8_t *buf, size_t buf_len);

/* ---- functions ---- */
const char *hyper_version(void);

hyper_body *hyper_body_new(void);
void hyper_body_free(hyper_body *body);
hyper_task *hyper_body_data(hyper_body *body);
hyper_task *hyper_body_foreach(hyper_body *body, hyper_body_foreach_callback func, void *userdata);
void hyper_body_set_userdata(hyper_body *body, void *userdata);
void hyper_body_set_data_func(hyper_body *body, hyper_body_data_callback func);

hyper_buf *hyper_buf_copy(const uint8_t *buf, size_t len);
const uint8_t *hyper_buf_bytes(const hyper_buf *buf);
size_t hyper_buf_len(const hyper_buf *buf);
void hyper_buf_free(hyper_buf *buf);

hyper_task *hyper_clientconn_handshake(hyper_io *io, hyper_clientconn_options *options);
hyper_task *hyper_clientconn_send(hyper_clientconn *conn, hyper_request *req);
void hyper_clientconn_free(hyper_clientconn *conn);
hyper_clientconn_options *hyper_clientconn_options_new(void);
void hyper_clientconn_options_set_preserve_header_case(hyper_clientconn_options *opts, int enabled);
void hyper_clientconn_options_set_preserve_header_order(hyper_clientconn_options *opts, int enabled);
void hyper_clientconn_options_free(hyper_clientconn_options *opts);
void hyper_clientconn_options_exec(hyper_clientconn_options *opts, const hyper_executor *exec);
hyper_code hyper_clientconn_options_http2(hyper_clientconn_options *opts, int enabled);
hyper_code hyper_clientconn_options_http1_allow_multiline_headers(hyper_clientconn_options *opts, int enabled);

void hyper_error_free(hyper_error *err);
hyper_code hyper_error_code(const hyper_error *err);
size_t hyper_error_print(const hyper_error *err, uint8_t *dst, size_t dst_len);

hyper_request *hyper_request_new(void);
void hyper_request_free(hyper_request *req);
hyper_code hyper_request_set_method(hyper_request *req, const uint8_t *method, size_t method_len);
hyper_code hyper_request_set_uri(hyper_request *req, const uint8_t *uri, size_t uri_len);
hyper_code hyper_request_set_uri_parts(hyper_request *req, const uint8_t *scheme, size_t scheme_len, const uint8_t *authority, size_t authority_len, const uint8_t *path_and_query, size_t path_and_query_len);
hyper_code hyper_request_set_version(hyper_request *req, int version);
hyper_headers *hyper_request_headers(hyper_request *req);
hyper_code hyper_request_set_body(hyper_request *req, hyper_body *body);
hyper_code hyper_request_on_informational(hyper_request *req, hyper_request_on_informational_callback callback, void *data);

void hyper_response_free(hyper_response *resp);
uint16_t hyper_response_status(const hyper_response *resp);
const uint8_t *hyper_response_reason_phrase(const hyper_response *resp);
size_t hyper_response_reason_phrase_len(const hyper_response *resp);
int hyper_response_version(const hyper_response *resp);
hyper_headers *hyper_response_headers(hyper_response *resp);
hyper_body *hyper_response_body(hyper_response *resp);

void hyper_headers_foreach(const hyper_headers *headers, hyper_headers_foreach_callback func, void *userdata);
hyper_code hyper_headers_set(hyper_headers *headers, const uint8_t *name, size_t name_len, const uint8_t *value, size_t value_len);
hyper_code hyper_headers_add(hyper_headers *headers, const uint8_t *name, size_t name_len, const uint8_t *value, size_t value_len);

hyper_io *hyper_io_new(void);
void hyper_io_free(hyper_io *io);
void hyper_io_set_userdata(hyper_io *io, void *data);
void hyper_io_set_read(hyper_io *io, hyper_io_read_callback func);
void hyper_io_set_write(hyper_io *io, hyper_io_write_callback func);

const hyper_executor *hyper_executor_new(void);
void hyper_executor_free(const hyper_executor *exec);
hyper_code hyper_executor_push(const hyper_executor *exec, hyper_task *task);
hyper_task *hyper_executor_poll(const hyper_executor *exec);
void hyper_task_free(hyper_task *task);
void *hyper_task_value(hyper_task *task);
hyper_task_return_type hyper_task_type(hyper_task *task);
void hyper_task_set_userdata(hyper_task *task, void *userdata);
void *hyper_task_userdata(hyper_task *task);
hyper_waker *hyper_context_waker(hyper_context *cx);
void hyper_waker_free(hyper_waker *waker);
void hyper_waker_wake(hyper_waker *waker);

#ifdef __cplusplus
}
#endif

#endif /* NODE_HYPER_HYPER_FFI_H */
