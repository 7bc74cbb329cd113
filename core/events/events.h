/* The event exchange: containerd's events model on the loop thread.
 *
 * Services publish typed events (`containerd.events.NamespaceCreate` ...) on
 * a topic (`/namespaces/create`) in a namespace; the exchange wraps each in a
 * containerd.services.events.v1.Envelope (timestamp, namespace, topic, Any)
 * and hands it to every subscriber whose filters match. Filters are
 * containerd's, over the envelope fields `namespace` and `topic` (and
 * `event`, present for every envelope). */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>
#include <ucontainerd/error.h>

#include "containerd/services/events/v1/events.pb-c.h"

typedef Containerd__Services__Events__V1__Envelope events_envelope;

struct events;
struct events_sub;
struct filter;

struct events *events_new(void);
/* Subscribers still registered are dropped without notice. */
void events_free(struct events *ex);

/* Publishes `event`, packed into an Any whose type_url is the message's full
 * protobuf name, exactly as containerd's typeurl names its event types. */
void events_publish(struct events *ex, const char *ns, const char *topic, const ProtobufCMessage *event);
/* Publishes an already-packed event (the Publish and Forward RPCs, shims).
 * ts_sec < 0 stamps it with the current time. */
void events_forward(struct events *ex, const char *ns, const char *topic, int64_t ts_sec, int32_t ts_nsec,
		    const char *type_url, const uint8_t *value, size_t len);

/* `deliver` runs on the loop for each matching envelope; the envelope is
 * valid only during the call. The subscription takes ownership of `f`
 * (NULL matches everything). */
struct events_sub *events_subscribe(struct events *ex, struct filter *f,
				    void (*deliver)(void *arg, const events_envelope *env), void *arg);
void events_unsubscribe(struct events *ex, struct events_sub *sub);

/* containerd's topic rule: "/" then one or more identifiers joined by "/". */
int events_validate_topic(const char *topic, struct ucd_error **err);
