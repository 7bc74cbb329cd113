/* The event exchange: envelopes, filters (topic, namespace, event fields),
 * unsubscribing oneself or another subscriber in the middle of a broadcast,
 * and containerd's topic rule. Run under ASan, the deferred frees are checked. */
#include <stdlib.h>

#include "../../harness/tap.h"
#include "containerd/events/namespace.pb-c.h"
#include "events/events.h"
#include "filters/filters.h"
#include "util/error.h"
#include "util/mem.h"

struct sink {
	struct events *ex;
	struct events_sub *sub;
	struct events_sub *victim;   /* unsubscribed by this sink on its first event */
	int n;
	char topic[64], ns[64], type[96];
	bool leave;                  /* unsubscribe itself on its first event */
};

static void deliver(void *arg, const events_envelope *env)
{
	struct sink *s = arg;
	s->n++;
	snprintf(s->topic, sizeof s->topic, "%s", env->topic);
	snprintf(s->ns, sizeof s->ns, "%s", env->namespace_);
	snprintf(s->type, sizeof s->type, "%s", env->event ? env->event->type_url : "");
	if (s->leave && s->sub != NULL) {
		events_unsubscribe(s->ex, s->sub);
		s->sub = NULL;
	}
	if (s->victim != NULL) {
		events_unsubscribe(s->ex, s->victim);
		s->victim = NULL;
	}
}

static struct filter *parse(const char *f)
{
	struct ucd_error *e = NULL;
	struct filter *flt = filter_parse(&f, 1, &e);
	if (flt == NULL)
		printf("# filter `%s`: %s\n", f, e ? e->msg : "?");
	error_free(e);
	return flt;
}

static void publish_create(struct events *ex, const char *ns, const char *name)
{
	Containerd__Events__NamespaceCreate ev = CONTAINERD__EVENTS__NAMESPACE_CREATE__INIT;
	ev.name = (char *)name;
	events_publish(ex, ns, "/namespaces/create", &ev.base);
}

static int topic_ok(const char *t)
{
	struct ucd_error *e = NULL;
	int r = events_validate_topic(t, &e);
	if (r < 0 && (e == NULL || e->code != UCD_INVALID_ARGUMENT))
		return -2;
	error_free(e);
	return r == 0;
}

int main(void)
{
	struct events *ex = events_new();
	struct sink all = {.ex = ex}, by_topic = {.ex = ex}, by_field = {.ex = ex}, by_ns = {.ex = ex};
	all.sub = events_subscribe(ex, NULL, deliver, &all);
	by_topic.sub = events_subscribe(ex, parse("topic==\"/namespaces/delete\""), deliver, &by_topic);
	by_field.sub = events_subscribe(ex, parse("event.name==wanted"), deliver, &by_field);
	by_ns.sub = events_subscribe(ex, parse("namespace==k8s.io"), deliver, &by_ns);

	publish_create(ex, "default", "other");
	CHECK(all.n == 1);
	CHECK_STR(all.topic, "/namespaces/create");
	CHECK_STR(all.ns, "default");
	CHECK_STR(all.type, "containerd.events.NamespaceCreate");   /* containerd's typeurl naming */
	CHECK(by_topic.n == 0 && by_field.n == 0 && by_ns.n == 0);

	publish_create(ex, "k8s.io", "wanted");
	CHECK(all.n == 2 && by_field.n == 1 && by_ns.n == 1 && by_topic.n == 0);

	/* forwarded events of a type nobody knows still reach unfiltered subscribers */
	events_forward(ex, "default", "/namespaces/delete", 5, 6, "example.com/Unknown", (const uint8_t *)"\x0a\x01x", 3);
	CHECK(all.n == 3 && by_topic.n == 1 && by_field.n == 1);

	/* one subscriber leaves, another removes a third, during the same broadcast */
	struct sink quitter = {.ex = ex, .leave = true}, killer = {.ex = ex};
	quitter.sub = events_subscribe(ex, NULL, deliver, &quitter);
	killer.sub = events_subscribe(ex, NULL, deliver, &killer);
	killer.victim = by_ns.sub;
	by_ns.sub = NULL;
	publish_create(ex, "k8s.io", "x");
	CHECK(quitter.n == 1 && killer.n == 1);
	int ns_before = by_ns.n;
	publish_create(ex, "k8s.io", "y");
	CHECK(quitter.n == 1);            /* gone */
	CHECK(by_ns.n == ns_before);      /* removed by another subscriber */
	CHECK(killer.n == 2 && all.n == 5);

	CHECK(topic_ok("/namespaces/create") == 1);
	CHECK(topic_ok("/a") == 1);
	CHECK(topic_ok("") == 0);
	CHECK(topic_ok("namespaces") == 0);
	CHECK(topic_ok("/") == 0);
	CHECK(topic_ok("/a//b") == 0);
	CHECK(topic_ok("/a/b/") == 0);
	CHECK(topic_ok("/a b") == 0);

	events_unsubscribe(ex, all.sub);
	events_free(ex);   /* frees the subscribers still registered */
	return tap_done();
}
