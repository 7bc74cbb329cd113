/* Every mapping of core/services/tasks_xlate.c, field by field: a Tasks
 * request goes in, the packed shim request is decoded again and checked;
 * a canned packed shim answer goes in, the Tasks response is checked, and
 * packed and decoded as a client would to prove it is a valid message. */
#include <stdlib.h>
#include <string.h>

#include "services/tasks_xlate.h"
#include "../../harness/tap.h"
#include "util/error.h"

typedef Containerd__Services__Tasks__V1__CreateTaskRequest CreateReq;

/* Decodes a packed shim request with its type's descriptor. */
static void *decode(const ProtobufCMessageDescriptor *d, struct xlate_buf *b)
{
	void *m = protobuf_c_message_unpack(d, NULL, b->len, b->data);
	xlate_buf_fini(b);
	return m;
}

static void test_create(void)
{
	CreateReq r = CONTAINERD__SERVICES__TASKS__V1__CREATE_TASK_REQUEST__INIT;
	Containerd__Types__Mount m0 = CONTAINERD__TYPES__MOUNT__INIT;
	char *opts[] = { "lowerdir=/a:/b", "upperdir=/u" };
	m0.type = "overlay";
	m0.source = "overlay";
	m0.target = "/ignored";
	m0.options = opts;
	m0.n_options = 2;
	Containerd__Types__Mount *rootfs[] = { &m0 };
	Google__Protobuf__Any o = GOOGLE__PROTOBUF__ANY__INIT;
	o.type_url = "containerd.runc.v1.Options";
	r.container_id = "c1";
	r.rootfs = rootfs;
	r.n_rootfs = 1;
	r.stdin = "/fifo/in";
	r.stdout = "/fifo/out";
	r.stderr = "/fifo/err";
	r.terminal = 1;
	r.options = &o;   /* goes to the plugin as task_options, not into the request */
	struct xlate_buf b;
	xlate_create(&r, &b);
	Containerd__Task__V2__CreateTaskRequest *s = decode(&containerd__task__v2__create_task_request__descriptor, &b);
	CHECK(s != NULL);
	CHECK_STR(s->id, "c1");
	CHECK_STR(s->bundle, "");
	CHECK(s->n_rootfs == 1);
	CHECK_STR(s->rootfs[0]->type, "overlay");
	CHECK_STR(s->rootfs[0]->source, "overlay");
	CHECK_STR(s->rootfs[0]->target, "");   /* containerd copies type, source, options only */
	CHECK(s->rootfs[0]->n_options == 2);
	CHECK_STR(s->rootfs[0]->options[1], "upperdir=/u");
	CHECK_STR(s->stdin, "/fifo/in");
	CHECK_STR(s->stdout, "/fifo/out");
	CHECK_STR(s->stderr, "/fifo/err");
	CHECK(s->terminal == 1);
	CHECK_STR(s->checkpoint, "");
	CHECK(s->options == NULL);
	protobuf_c_message_free_unpacked(&s->base, NULL);

	/* no mounts at all */
	CreateReq e = CONTAINERD__SERVICES__TASKS__V1__CREATE_TASK_REQUEST__INIT;
	e.container_id = "c2";
	xlate_create(&e, &b);
	s = decode(&containerd__task__v2__create_task_request__descriptor, &b);
	CHECK(s != NULL && s->n_rootfs == 0 && strcmp(s->id, "c2") == 0 && !s->terminal);
	protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void test_simple_requests(void)
{
	struct xlate_buf b;
	xlate_start("c1", "e1", &b);
	Containerd__Task__V2__StartRequest *st = decode(&containerd__task__v2__start_request__descriptor, &b);
	CHECK(st && strcmp(st->id, "c1") == 0 && strcmp(st->exec_id, "e1") == 0);
	protobuf_c_message_free_unpacked(&st->base, NULL);

	xlate_delete("c1", "e2", &b);
	Containerd__Task__V2__DeleteRequest *de = decode(&containerd__task__v2__delete_request__descriptor, &b);
	CHECK(de && strcmp(de->id, "c1") == 0 && strcmp(de->exec_id, "e2") == 0);
	protobuf_c_message_free_unpacked(&de->base, NULL);

	xlate_state("c1", "", &b);
	Containerd__Task__V2__StateRequest *sr = decode(&containerd__task__v2__state_request__descriptor, &b);
	CHECK(sr && strcmp(sr->id, "c1") == 0 && sr->exec_id[0] == 0);
	protobuf_c_message_free_unpacked(&sr->base, NULL);

	xlate_close_io("c1", "e3", &b);
	Containerd__Task__V2__CloseIORequest *ci = decode(&containerd__task__v2__close_iorequest__descriptor, &b);
	CHECK(ci && strcmp(ci->id, "c1") == 0 && strcmp(ci->exec_id, "e3") == 0 && ci->stdin);
	protobuf_c_message_free_unpacked(&ci->base, NULL);

	xlate_pause("c1", &b);
	Containerd__Task__V2__PauseRequest *pa = decode(&containerd__task__v2__pause_request__descriptor, &b);
	CHECK(pa && strcmp(pa->id, "c1") == 0);
	protobuf_c_message_free_unpacked(&pa->base, NULL);

	xlate_resume("c1", &b);
	Containerd__Task__V2__ResumeRequest *re = decode(&containerd__task__v2__resume_request__descriptor, &b);
	CHECK(re && strcmp(re->id, "c1") == 0);
	protobuf_c_message_free_unpacked(&re->base, NULL);

	xlate_pids("c1", &b);
	Containerd__Task__V2__PidsRequest *pi = decode(&containerd__task__v2__pids_request__descriptor, &b);
	CHECK(pi && strcmp(pi->id, "c1") == 0);
	protobuf_c_message_free_unpacked(&pi->base, NULL);

	xlate_wait("c1", "e4", &b);
	Containerd__Task__V2__WaitRequest *wa = decode(&containerd__task__v2__wait_request__descriptor, &b);
	CHECK(wa && strcmp(wa->id, "c1") == 0 && strcmp(wa->exec_id, "e4") == 0);
	protobuf_c_message_free_unpacked(&wa->base, NULL);

	xlate_stats("c1", &b);
	Containerd__Task__V2__StatsRequest *sa = decode(&containerd__task__v2__stats_request__descriptor, &b);
	CHECK(sa && strcmp(sa->id, "c1") == 0);
	protobuf_c_message_free_unpacked(&sa->base, NULL);
}

static void test_kill(void)
{
	Containerd__Services__Tasks__V1__KillRequest r = CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
	r.container_id = "c1";
	r.signal = 9;
	r.all = 1;
	struct xlate_buf b;
	xlate_kill(&r, &b);
	Containerd__Task__V2__KillRequest *k = decode(&containerd__task__v2__kill_request__descriptor, &b);
	CHECK(k && strcmp(k->id, "c1") == 0 && k->exec_id[0] == 0 && k->signal == 9 && k->all);
	protobuf_c_message_free_unpacked(&k->base, NULL);
	/* an exec process: containerd's process.Kill drops `all` */
	r.exec_id = "e1";
	r.signal = 15;
	xlate_kill(&r, &b);
	k = decode(&containerd__task__v2__kill_request__descriptor, &b);
	CHECK(k && strcmp(k->exec_id, "e1") == 0 && k->signal == 15 && !k->all);
	protobuf_c_message_free_unpacked(&k->base, NULL);
}

static void test_exec_resize_update(void)
{
	Containerd__Services__Tasks__V1__ExecProcessRequest r = CONTAINERD__SERVICES__TASKS__V1__EXEC_PROCESS_REQUEST__INIT;
	Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
	spec.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Process";
	spec.value.data = (uint8_t *)"{\"args\":[\"sh\"]}";
	spec.value.len = strlen((char *)spec.value.data);
	r.container_id = "c1";
	r.exec_id = "e1";
	r.stdin = "i";
	r.stdout = "o";
	r.stderr = "e";
	r.terminal = 1;
	r.spec = &spec;
	struct xlate_buf b;
	xlate_exec(&r, &b);
	Containerd__Task__V2__ExecProcessRequest *x = decode(&containerd__task__v2__exec_process_request__descriptor, &b);
	CHECK(x && strcmp(x->id, "c1") == 0 && strcmp(x->exec_id, "e1") == 0);
	CHECK(x && strcmp(x->stdin, "i") == 0 && strcmp(x->stdout, "o") == 0 && strcmp(x->stderr, "e") == 0);
	CHECK(x && x->terminal);
	CHECK(x && x->spec && strcmp(x->spec->type_url, spec.type_url) == 0 && x->spec->value.len == spec.value.len &&
	      memcmp(x->spec->value.data, spec.value.data, spec.value.len) == 0);
	protobuf_c_message_free_unpacked(&x->base, NULL);

	Containerd__Services__Tasks__V1__ResizePtyRequest rp = CONTAINERD__SERVICES__TASKS__V1__RESIZE_PTY_REQUEST__INIT;
	rp.container_id = "c1";
	rp.exec_id = "e1";
	rp.width = 80;
	rp.height = 25;
	xlate_resize_pty(&rp, &b);
	Containerd__Task__V2__ResizePtyRequest *rs = decode(&containerd__task__v2__resize_pty_request__descriptor, &b);
	CHECK(rs && strcmp(rs->id, "c1") == 0 && strcmp(rs->exec_id, "e1") == 0 && rs->width == 80 && rs->height == 25);
	protobuf_c_message_free_unpacked(&rs->base, NULL);

	Containerd__Services__Tasks__V1__UpdateTaskRequest u = CONTAINERD__SERVICES__TASKS__V1__UPDATE_TASK_REQUEST__INIT;
	Containerd__Services__Tasks__V1__UpdateTaskRequest__AnnotationsEntry a1 =
		CONTAINERD__SERVICES__TASKS__V1__UPDATE_TASK_REQUEST__ANNOTATIONS_ENTRY__INIT;
	Containerd__Services__Tasks__V1__UpdateTaskRequest__AnnotationsEntry a2 =
		CONTAINERD__SERVICES__TASKS__V1__UPDATE_TASK_REQUEST__ANNOTATIONS_ENTRY__INIT;
	a1.key = "k1";
	a1.value = "v1";
	a2.key = "k2";
	a2.value = "";
	Containerd__Services__Tasks__V1__UpdateTaskRequest__AnnotationsEntry *ann[] = { &a1, &a2 };
	Google__Protobuf__Any res = GOOGLE__PROTOBUF__ANY__INIT;
	res.type_url = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
	res.value.data = (uint8_t *)"{}";
	res.value.len = 2;
	u.container_id = "c1";
	u.resources = &res;
	u.annotations = ann;
	u.n_annotations = 2;
	xlate_update(&u, &b);
	Containerd__Task__V2__UpdateTaskRequest *up = decode(&containerd__task__v2__update_task_request__descriptor, &b);
	CHECK(up && strcmp(up->id, "c1") == 0);
	CHECK(up && up->resources && strcmp(up->resources->type_url, res.type_url) == 0 && up->resources->value.len == 2);
	CHECK(up && up->n_annotations == 2 && strcmp(up->annotations[0]->key, "k1") == 0 &&
	      strcmp(up->annotations[0]->value, "v1") == 0 && strcmp(up->annotations[1]->key, "k2") == 0);
	protobuf_c_message_free_unpacked(&up->base, NULL);
	/* no resources, no annotations */
	Containerd__Services__Tasks__V1__UpdateTaskRequest u0 = CONTAINERD__SERVICES__TASKS__V1__UPDATE_TASK_REQUEST__INIT;
	u0.container_id = "c1";
	xlate_update(&u0, &b);
	up = decode(&containerd__task__v2__update_task_request__descriptor, &b);
	CHECK(up && up->resources == NULL && up->n_annotations == 0);
	protobuf_c_message_free_unpacked(&up->base, NULL);
}

/* Packs `m` and decodes it as `d`: what a client receives. */
static void *roundtrip(const ProtobufCMessage *m, const ProtobufCMessageDescriptor *d)
{
	struct xlate_buf b;
	xlate_pack(m, &b);
	return decode(d, &b);
}

static Google__Protobuf__Timestamp ts_exited = { PROTOBUF_C_MESSAGE_INIT(&google__protobuf__timestamp__descriptor), 1700000000, 123 };

static void test_responses(void)
{
	struct ucd_error *e = NULL;
	ProtobufCMessage *shim = NULL;
	struct xlate_buf b;

	Containerd__Task__V2__CreateTaskResponse cr = CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
	cr.pid = 4242;
	xlate_pack(&cr.base, &b);
	Containerd__Services__Tasks__V1__CreateTaskResponse co = CONTAINERD__SERVICES__TASKS__V1__CREATE_TASK_RESPONSE__INIT;
	CHECK(xlate_create_resp(b.data, b.len, "c1", &co, &shim, &e) == 0);
	CHECK(strcmp(co.container_id, "c1") == 0 && co.pid == 4242);
	protobuf_c_message_free_unpacked(shim, NULL);
	xlate_buf_fini(&b);

	Containerd__Task__V2__StartResponse sr = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
	sr.pid = 77;
	xlate_pack(&sr.base, &b);
	Containerd__Services__Tasks__V1__StartResponse so = CONTAINERD__SERVICES__TASKS__V1__START_RESPONSE__INIT;
	CHECK(xlate_start_resp(b.data, b.len, &so, &shim, &e) == 0 && so.pid == 77);
	protobuf_c_message_free_unpacked(shim, NULL);
	xlate_buf_fini(&b);

	Containerd__Task__V2__DeleteResponse dr = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	dr.pid = 10;
	dr.exit_status = 137;
	dr.exited_at = &ts_exited;
	xlate_pack(&dr.base, &b);
	Containerd__Services__Tasks__V1__DeleteResponse dout = CONTAINERD__SERVICES__TASKS__V1__DELETE_RESPONSE__INIT;
	CHECK(xlate_delete_resp(b.data, b.len, "e1", &dout, &shim, &e) == 0);
	Containerd__Services__Tasks__V1__DeleteResponse *dc =
		roundtrip(&dout.base, &containerd__services__tasks__v1__delete_response__descriptor);
	CHECK(dc && strcmp(dc->id, "e1") == 0 && dc->pid == 10 && dc->exit_status == 137);
	CHECK(dc && dc->exited_at && dc->exited_at->seconds == 1700000000 && dc->exited_at->nanos == 123);
	protobuf_c_message_free_unpacked(&dc->base, NULL);
	protobuf_c_message_free_unpacked(shim, NULL);
	xlate_buf_fini(&b);

	Containerd__Task__V2__WaitResponse wr = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
	wr.exit_status = 3;
	wr.exited_at = &ts_exited;
	xlate_pack(&wr.base, &b);
	Containerd__Services__Tasks__V1__WaitResponse wo = CONTAINERD__SERVICES__TASKS__V1__WAIT_RESPONSE__INIT;
	CHECK(xlate_wait_resp(b.data, b.len, &wo, &shim, &e) == 0);
	CHECK(wo.exit_status == 3 && wo.exited_at && wo.exited_at->seconds == 1700000000);
	protobuf_c_message_free_unpacked(shim, NULL);
	xlate_buf_fini(&b);

	Containerd__V1__Types__ProcessInfo p1 = CONTAINERD__V1__TYPES__PROCESS_INFO__INIT;
	Containerd__V1__Types__ProcessInfo p2 = CONTAINERD__V1__TYPES__PROCESS_INFO__INIT;
	Google__Protobuf__Any info = GOOGLE__PROTOBUF__ANY__INIT;
	info.type_url = "containerd.runc.v1.ProcessDetails";
	info.value.data = (uint8_t *)"\x0a\x02" "e1";
	info.value.len = 4;
	p1.pid = 1;
	p2.pid = 20;
	p2.info = &info;
	Containerd__V1__Types__ProcessInfo *procs[] = { &p1, &p2 };
	Containerd__Task__V2__PidsResponse pr = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
	pr.processes = procs;
	pr.n_processes = 2;
	xlate_pack(&pr.base, &b);
	Containerd__Services__Tasks__V1__ListPidsResponse po = CONTAINERD__SERVICES__TASKS__V1__LIST_PIDS_RESPONSE__INIT;
	CHECK(xlate_pids_resp(b.data, b.len, &po, &shim, &e) == 0);
	Containerd__Services__Tasks__V1__ListPidsResponse *pc =
		roundtrip(&po.base, &containerd__services__tasks__v1__list_pids_response__descriptor);
	CHECK(pc && pc->n_processes == 2 && pc->processes[0]->pid == 1 && pc->processes[0]->info == NULL);
	CHECK(pc && pc->processes[1]->pid == 20 && pc->processes[1]->info &&
	      strcmp(pc->processes[1]->info->type_url, "containerd.runc.v1.ProcessDetails") == 0 &&
	      pc->processes[1]->info->value.len == 4);
	protobuf_c_message_free_unpacked(&pc->base, NULL);
	protobuf_c_message_free_unpacked(shim, NULL);
	xlate_buf_fini(&b);

	Containerd__Task__V2__StatsResponse str = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
	Google__Protobuf__Any stats = GOOGLE__PROTOBUF__ANY__INIT;
	stats.type_url = "io.containerd.cgroups.v2.Metrics";
	stats.value.data = (uint8_t *)"\x08\x01";
	stats.value.len = 2;
	str.stats = &stats;
	xlate_pack(&str.base, &b);
	TaskMetric mo = CONTAINERD__TYPES__METRIC__INIT;
	Google__Protobuf__Timestamp mts;
	CHECK(xlate_stats_resp(b.data, b.len, "c1", 1700000000123456789LL, &mts, &mo, &shim, &e) == 0);
	TaskMetric *mc = roundtrip(&mo.base, &containerd__types__metric__descriptor);
	CHECK(mc && strcmp(mc->id, "c1") == 0 && mc->timestamp && mc->timestamp->seconds == 1700000000 &&
	      mc->timestamp->nanos == 123456789);
	CHECK(mc && mc->data && strcmp(mc->data->type_url, "io.containerd.cgroups.v2.Metrics") == 0 &&
	      mc->data->value.len == 2);
	protobuf_c_message_free_unpacked(&mc->base, NULL);
	protobuf_c_message_free_unpacked(shim, NULL);
	xlate_buf_fini(&b);
}

static void test_state(void)
{
	struct ucd_error *e = NULL;
	ProtobufCMessage *shim = NULL;
	struct xlate_buf b;
	Containerd__Task__V2__StateResponse st = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
	st.id = "c1";
	st.bundle = "/run/bundle";
	st.pid = 123;
	st.status = CONTAINERD__V1__TYPES__STATUS__STOPPED;
	st.stdin = "/in";
	st.stdout = "/out";
	st.stderr = "/err";
	st.terminal = 1;
	st.exit_status = 2;
	st.exited_at = &ts_exited;
	st.exec_id = "e1";
	xlate_pack(&st.base, &b);
	TaskProcess p = CONTAINERD__V1__TYPES__PROCESS__INIT;
	CHECK(xlate_state_resp(b.data, b.len, "e1", &p, &shim, &e) == 0);
	TaskProcess *pc = roundtrip(&p.base, &containerd__v1__types__process__descriptor);
	CHECK(pc && strcmp(pc->id, "e1") == 0 && pc->container_id[0] == 0);
	CHECK(pc && pc->pid == 123 && pc->status == CONTAINERD__V1__TYPES__STATUS__STOPPED);
	CHECK(pc && strcmp(pc->stdin, "/in") == 0 && strcmp(pc->stdout, "/out") == 0 && strcmp(pc->stderr, "/err") == 0);
	CHECK(pc && pc->terminal && pc->exit_status == 2 && pc->exited_at && pc->exited_at->nanos == 123);
	protobuf_c_message_free_unpacked(&pc->base, NULL);
	protobuf_c_message_free_unpacked(shim, NULL);
	xlate_buf_fini(&b);

	/* every status the API knows passes; anything else reads UNKNOWN */
	for (int s = 0; s <= 5; s++)
		CHECK((int)xlate_status(s) == s);
	CHECK(xlate_status(6) == CONTAINERD__V1__TYPES__STATUS__UNKNOWN);
	CHECK(xlate_status(-1) == CONTAINERD__V1__TYPES__STATUS__UNKNOWN);
	st.status = (Containerd__V1__Types__Status)42;
	xlate_pack(&st.base, &b);
	TaskProcess p2 = CONTAINERD__V1__TYPES__PROCESS__INIT;
	CHECK(xlate_state_resp(b.data, b.len, "c1", &p2, &shim, &e) == 0 &&
	      p2.status == CONTAINERD__V1__TYPES__STATUS__UNKNOWN);
	protobuf_c_message_free_unpacked(shim, NULL);
	xlate_buf_fini(&b);

	TaskProcess u = CONTAINERD__V1__TYPES__PROCESS__INIT;
	xlate_process_unknown("c9", &u);
	CHECK(strcmp(u.id, "c9") == 0 && u.status == CONTAINERD__V1__TYPES__STATUS__UNKNOWN && u.pid == 0 &&
	      u.exited_at == NULL);
}

static void test_bad_answers(void)
{
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff };
	struct ucd_error *e = NULL;
	ProtobufCMessage *shim = (ProtobufCMessage *)1;
	Containerd__Services__Tasks__V1__WaitResponse wo = CONTAINERD__SERVICES__TASKS__V1__WAIT_RESPONSE__INIT;
	CHECK(xlate_wait_resp(junk, sizeof junk, &wo, &shim, &e) == -UCD_INTERNAL);
	CHECK(shim == NULL);
	CHECK(e && e->code == UCD_INTERNAL && strstr(e->msg, "Wait") != NULL);
	CHECK_STR(e ? e->msg : NULL, "invalid Wait response from the shim (4 bytes)");
	error_free(e);
	e = NULL;
	TaskProcess p = CONTAINERD__V1__TYPES__PROCESS__INIT;
	CHECK(xlate_state_resp(junk, sizeof junk, "c1", &p, &shim, &e) == -UCD_INTERNAL && e != NULL);
	error_free(e);
	e = NULL;
	/* an empty answer is a valid message with every field zero */
	CHECK(xlate_wait_resp(NULL, 0, &wo, &shim, &e) == 0 && wo.exit_status == 0 && wo.exited_at == NULL);
	protobuf_c_message_free_unpacked(shim, NULL);
}

static void test_events(void)
{
	Google__Protobuf__Timestamp ts;
	Containerd__Events__TaskExit ex;
	Containerd__Events__TaskDelete de;
	xlate_task_exit("c1", 55, 137, 1700000001, 5, &ts, &ex, &de);
	Containerd__Events__TaskExit *exc = roundtrip(&ex.base, &containerd__events__task_exit__descriptor);
	CHECK(exc && strcmp(exc->container_id, "c1") == 0 && strcmp(exc->id, "c1") == 0 && exc->pid == 55 &&
	      exc->exit_status == 137 && exc->exited_at && exc->exited_at->seconds == 1700000001 &&
	      exc->exited_at->nanos == 5);
	protobuf_c_message_free_unpacked(&exc->base, NULL);
	Containerd__Events__TaskDelete *dec = roundtrip(&de.base, &containerd__events__task_delete__descriptor);
	CHECK(dec && strcmp(dec->container_id, "c1") == 0 && dec->id[0] == 0 && dec->pid == 55 &&
	      dec->exit_status == 137 && dec->exited_at && dec->exited_at->seconds == 1700000001);
	protobuf_c_message_free_unpacked(&dec->base, NULL);
}

int main(void)
{
	test_create();
	test_simple_requests();
	test_kill();
	test_exec_resize_update();
	test_responses();
	test_state();
	test_bad_answers();
	test_events();
	return tap_done();
}
