#include "events/events.h"

#include <string.h>
#include <time.h>

#include "containerd/events/container.pb-c.h"
#include "containerd/events/content.pb-c.h"
#include "containerd/events/image.pb-c.h"
#include "containerd/events/namespace.pb-c.h"
#include "containerd/events/snapshot.pb-c.h"
#include "containerd/events/task.pb-c.h"
#include "filters/filters.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "util/error.h"
#include "util/identifiers.h"
#include "util/list.h"
#include "util/mem.h"
#include "util/pbfield.h"

struct events_sub {
	struct list node;
	struct filter *filter;
	void (*deliver)(void *arg, const events_envelope *env);
	void *arg;
};

struct events {
	struct list subs;
	/* A subscriber may unsubscribe itself (or another) while being
	 * delivered to: removal during a broadcast is deferred to its end. */
	int broadcasting;
	struct list dead;
};

struct events *events_new(void)
{
	struct events *ex = xcalloc(1, sizeof *ex);
	list_init(&ex->subs);
	list_init(&ex->dead);
	return ex;
}

static void sub_free(struct events_sub *s)
{
	filter_free(s->filter);
	free(s);
}

void events_free(struct events *ex)
{
	if (ex == NULL)
		return;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &ex->subs)
		sub_free(list_entry(pos, struct events_sub, node));
	list_for_each_safe(pos, tmp, &ex->dead)
		sub_free(list_entry(pos, struct events_sub, node));
	free(ex);
}

struct events_sub *events_subscribe(struct events *ex, struct filter *f,
				    void (*deliver)(void *arg, const events_envelope *env), void *arg)
{
	struct events_sub *s = xcalloc(1, sizeof *s);
	s->filter = f;
	s->deliver = deliver;
	s->arg = arg;
	list_add_tail(&ex->subs, &s->node);
	return s;
}

void events_unsubscribe(struct events *ex, struct events_sub *sub)
{
	list_del(&sub->node);
	sub->deliver = NULL;
	if (ex->broadcasting)
		list_add_tail(&ex->dead, &sub->node);
	else
		sub_free(sub);
}

/* The event types containerd's filters can look into (`event.<field>`):
 * an envelope whose type_url names one of these is decoded for it. */
static const ProtobufCMessageDescriptor *const event_types[] = {
	&containerd__events__container_create__descriptor,
	&containerd__events__container_update__descriptor,
	&containerd__events__container_delete__descriptor,
	&containerd__events__content_delete__descriptor,
	&containerd__services__images__v1__image_create__descriptor,
	&containerd__services__images__v1__image_update__descriptor,
	&containerd__services__images__v1__image_delete__descriptor,
	&containerd__events__namespace_create__descriptor,
	&containerd__events__namespace_update__descriptor,
	&containerd__events__namespace_delete__descriptor,
	&containerd__events__snapshot_prepare__descriptor,
	&containerd__events__snapshot_commit__descriptor,
	&containerd__events__snapshot_remove__descriptor,
	&containerd__events__task_create__descriptor,
	&containerd__events__task_start__descriptor,
	&containerd__events__task_delete__descriptor,
	&containerd__events__task_io__descriptor,
	&containerd__events__task_exit__descriptor,
	&containerd__events__task_oom__descriptor,
	&containerd__events__task_exec_added__descriptor,
	&containerd__events__task_exec_started__descriptor,
	&containerd__events__task_paused__descriptor,
	&containerd__events__task_resumed__descriptor,
	&containerd__events__task_checkpointed__descriptor,
};

/* One envelope on its way to the subscribers; its event is decoded at most
 * once, and only if some filter asks for an event field. */
struct envelope_view {
	const events_envelope *env;
	ProtobufCMessage *event;
	bool decoded;
};

static const ProtobufCMessage *view_event(struct envelope_view *v)
{
	if (v->decoded)
		return v->event;
	v->decoded = true;
	const Google__Protobuf__Any *any = v->env->event;
	if (any == NULL || any->type_url == NULL)
		return NULL;
	/* containerd's typeurl names events by their full name, sometimes behind a host prefix */
	const char *name = strrchr(any->type_url, '/');
	name = name ? name + 1 : any->type_url;
	for (size_t i = 0; i < ARRAY_LEN(event_types); i++) {
		if (strcmp(event_types[i]->name, name) == 0) {
			v->event = protobuf_c_message_unpack(event_types[i], NULL, any->value.len, any->value.data);
			break;
		}
	}
	return v->event;
}

/* containerd's envelope adaptor: namespace, topic, event, event.<field>. */
static bool envelope_field(void *obj, const char *const *path, size_t n, const char **value)
{
	struct envelope_view *v = obj;
	const events_envelope *env = v->env;
	if (n == 0)
		return false;
	if (strcmp(path[0], "event") == 0 && n > 1)
		return pbfield_get(view_event(v), path + 1, n - 1, value);
	if (strcmp(path[0], "namespace") == 0 && n == 1) {
		*value = env->namespace_;
		return true;
	}
	if (strcmp(path[0], "topic") == 0 && n == 1) {
		*value = env->topic;
		return true;
	}
	if (strcmp(path[0], "event") == 0 && n == 1) {
		*value = env->event && env->event->type_url ? env->event->type_url : "";
		return true;
	}
	return false;
}

static void broadcast(struct events *ex, events_envelope *env)
{
	struct envelope_view view = {.env = env};
	ex->broadcasting++;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &ex->subs) {
		struct events_sub *s = list_entry(pos, struct events_sub, node);
		if (s->deliver == NULL)
			continue;
		if (s->filter != NULL && !filter_match(s->filter, envelope_field, &view))
			continue;
		s->deliver(s->arg, env);
	}
	if (view.event != NULL)
		protobuf_c_message_free_unpacked(view.event, NULL);
	if (--ex->broadcasting == 0) {
		list_for_each_safe(pos, tmp, &ex->dead) {
			list_del(pos);
			sub_free(list_entry(pos, struct events_sub, node));
		}
	}
}

void events_forward(struct events *ex, const char *ns, const char *topic, int64_t ts_sec, int32_t ts_nsec,
		    const char *type_url, const uint8_t *value, size_t len)
{
	if (ts_sec < 0) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		ts_sec = now.tv_sec;
		ts_nsec = (int32_t)now.tv_nsec;
	}
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = ts_sec;
	ts.nanos = ts_nsec;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	any.type_url = (char *)type_url;
	any.value.data = (uint8_t *)value;
	any.value.len = len;
	events_envelope env = CONTAINERD__SERVICES__EVENTS__V1__ENVELOPE__INIT;
	env.timestamp = &ts;
	env.namespace_ = (char *)ns;
	env.topic = (char *)topic;
	env.event = &any;
	broadcast(ex, &env);
}

void events_publish(struct events *ex, const char *ns, const char *topic, const ProtobufCMessage *event)
{
	if (list_empty(&ex->subs))
		return;   /* nobody listens: skip the packing */
	size_t len = protobuf_c_message_get_packed_size(event);
	autofree uint8_t *value = xmalloc(len);
	protobuf_c_message_pack(event, value);
	events_forward(ex, ns, topic, -1, 0, event->descriptor->name, value, len);
}

int events_validate_topic(const char *topic, struct ucd_error **err)
{
	if (topic == NULL || topic[0] == 0)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "must not be empty for event: invalid argument");
	if (topic[0] != '/')
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "must start with '/': invalid argument");
	if (topic[1] == 0)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "must have at least one component: invalid argument");
	autofree char *copy = xstrdup(topic + 1);
	char *save = NULL;
	/* strtok_r would skip empty components; walk by hand so "//" is caught. */
	for (char *c = copy; c != NULL; c = save) {
		save = strchr(c, '/');
		if (save != NULL)
			*save++ = 0;
		if (identifier_validate(c, err) < 0)
			return error_wrap(err, "failed validation on component \"%s\"", c);
	}
	return 0;
}
