/// The few libzmq calls Swerve's KV-event publisher makes, resolved at run time from Debian's libzmq5
/// (`libzmq.so.5`) with dlopen, so the server builds and runs on a machine without libzmq and only
/// `--kv-events-config` needs it. Constants are libzmq's own (zmq.h, ABI 5).
#ifndef SWERVE_ZEROMQ_H
#define SWERVE_ZEROMQ_H

#include <stddef.h>

#define SWERVE_ZMQ_PUB 1
#define SWERVE_ZMQ_SUB 2
#define SWERVE_ZMQ_DEALER 5
#define SWERVE_ZMQ_ROUTER 6
#define SWERVE_ZMQ_SUBSCRIBE 6
#define SWERVE_ZMQ_RCVMORE 13
#define SWERVE_ZMQ_LINGER 17
#define SWERVE_ZMQ_SNDHWM 23
#define SWERVE_ZMQ_RCVTIMEO 27
#define SWERVE_ZMQ_XPUB_NODROP 69
#define SWERVE_ZMQ_DONTWAIT 1
#define SWERVE_ZMQ_SNDMORE 2

/// Loads libzmq once (thread-safe). 0 on success; -1 with a message in `error` when the library or one of
/// its symbols is missing.
int swerve_zmq_load(char *error, size_t capacity);

void *swerve_zmq_ctx_new(void);
int swerve_zmq_ctx_term(void *context);
void *swerve_zmq_socket(void *context, int type);
int swerve_zmq_close(void *socket);
int swerve_zmq_setsockopt_int(void *socket, int option, int value);
int swerve_zmq_setsockopt_bytes(void *socket, int option, const void *value, size_t length);
int swerve_zmq_getsockopt_int(void *socket, int option, int *value);
int swerve_zmq_bind(void *socket, const char *endpoint);
int swerve_zmq_connect(void *socket, const char *endpoint);
/// zmq_send: bytes sent, or -1 (errno in swerve_zmq_errno).
int swerve_zmq_send(void *socket, const void *buffer, size_t length, int flags);
/// zmq_recv: the frame's full length (may exceed `capacity`; the rest is cut), or -1.
int swerve_zmq_recv(void *socket, void *buffer, size_t capacity, int flags);
int swerve_zmq_errno(void);
const char *swerve_zmq_strerror(int error);
/// EAGAIN as libzmq reports it (the platform's value).
int swerve_zmq_eagain(void);

#endif
