#include "swerve_zeromq.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

static struct {
    void *(*ctx_new)(void);
    int (*ctx_term)(void *);
    void *(*socket)(void *, int);
    int (*close)(void *);
    int (*setsockopt)(void *, int, const void *, size_t);
    int (*getsockopt)(void *, int, void *, size_t *);
    int (*bind)(void *, const char *);
    int (*connect)(void *, const char *);
    int (*send)(void *, const void *, size_t, int);
    int (*recv)(void *, void *, size_t, int);
    int (*errno_)(void);
    const char *(*strerror)(int);
} zmq;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[256];

static void load(void) {
    void *library = dlopen("libzmq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(load_error, sizeof load_error, "%s (install Debian's libzmq5)", dlerror());
        return;
    }
    struct { void **slot; const char *name; } symbols[] = {
        {(void **)&zmq.ctx_new, "zmq_ctx_new"}, {(void **)&zmq.ctx_term, "zmq_ctx_term"},
        {(void **)&zmq.socket, "zmq_socket"}, {(void **)&zmq.close, "zmq_close"},
        {(void **)&zmq.setsockopt, "zmq_setsockopt"}, {(void **)&zmq.getsockopt, "zmq_getsockopt"},
        {(void **)&zmq.bind, "zmq_bind"}, {(void **)&zmq.connect, "zmq_connect"},
        {(void **)&zmq.send, "zmq_send"}, {(void **)&zmq.recv, "zmq_recv"},
        {(void **)&zmq.errno_, "zmq_errno"}, {(void **)&zmq.strerror, "zmq_strerror"},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        *symbols[i].slot = dlsym(library, symbols[i].name);
        if (!*symbols[i].slot) {
            snprintf(load_error, sizeof load_error, "libzmq.so.5 has no %s", symbols[i].name);
            zmq.ctx_new = NULL;
            return;
        }
    }
}

int swerve_zmq_load(char *error, size_t capacity) {
    pthread_once(&once, load);
    if (zmq.ctx_new) return 0;
    if (error && capacity) snprintf(error, capacity, "%s", load_error);
    return -1;
}

void *swerve_zmq_ctx_new(void) { return zmq.ctx_new(); }
int swerve_zmq_ctx_term(void *context) { return zmq.ctx_term(context); }
void *swerve_zmq_socket(void *context, int type) { return zmq.socket(context, type); }
int swerve_zmq_close(void *socket) { return zmq.close(socket); }
int swerve_zmq_setsockopt_int(void *socket, int option, int value) {
    return zmq.setsockopt(socket, option, &value, sizeof value);
}
int swerve_zmq_setsockopt_bytes(void *socket, int option, const void *value, size_t length) {
    return zmq.setsockopt(socket, option, value, length);
}
int swerve_zmq_getsockopt_int(void *socket, int option, int *value) {
    size_t length = sizeof *value;
    return zmq.getsockopt(socket, option, value, &length);
}
int swerve_zmq_bind(void *socket, const char *endpoint) { return zmq.bind(socket, endpoint); }
int swerve_zmq_connect(void *socket, const char *endpoint) { return zmq.connect(socket, endpoint); }
int swerve_zmq_send(void *socket, const void *buffer, size_t length, int flags) {
    return zmq.send(socket, buffer, length, flags);
}
int swerve_zmq_recv(void *socket, void *buffer, size_t capacity, int flags) {
    return zmq.recv(socket, buffer, capacity, flags);
}
int swerve_zmq_errno(void) { return zmq.errno_(); }
const char *swerve_zmq_strerror(int error) { return zmq.strerror(error); }
int swerve_zmq_eagain(void) { return EAGAIN; }
