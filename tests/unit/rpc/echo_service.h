/* The echo service (echo_service.c) on /ucd.test.Echo/. */
#pragma once
#include <stddef.h>

#include "containerd/services/events/v1/events.pb-c.h"
#include "rpc/rpc.h"

typedef Containerd__Services__Events__V1__PublishRequest Req;
typedef Containerd__Services__Events__V1__Envelope Env;

/* Calls ended by cancellation, and calls a handler still keeps. */
extern int echo_cancelled, echo_live_calls;
extern const struct rpc_method echo_methods[];
extern const size_t echo_n_methods;
/* The loop the methods' timers run on. */
void echo_init(uv_loop_t *loop);
