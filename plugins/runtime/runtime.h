/* io.containerd.runtime.v2.task internals: the task manager (manager.c),
 * shim binaries (shim_binary.c), bundles (bundle.c), runc options
 * (options.c). Everything runs on the daemon's loop thread. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include <ucontainerd/ucontainerd.h>

#include "runtime_ops.h"

struct ttrpc_conn;

struct rt_config {
	const char *runc_shim;
	const char *binary_name;
	const char *root;
	bool systemd_cgroup;
};

struct rt_task {
	struct rt_task *next;
	struct runtime *rt;
	char *ns, *id;
	char *bundle;
	char *shim;                /* the shim binary, resolved */
	struct ttrpc_conn *conn;   /* NULL while (re)connecting or after the shim died */
	struct shim_log *log;      /* the bundle's `log` FIFO, copied into the daemon's log */
	bool creating;             /* until the shim answers Create: not listed, not usable (as containerd) */
	bool deleting;             /* our own Delete/Shutdown: a closing connection is expected */
	bool gone;                 /* the shim died: being cleaned up */
	int refs;
};

struct runtime {
	const struct ucd_host *host;
	const struct ucd_init_ctx *ic;
	struct rt_config cfg;
	struct ucd_runtime_env env;
	char *state;               /* <state>/io.containerd.runtime.v2.task */
	char *exe_dir;             /* the daemon binary's directory: shims are looked up there first */
	struct rt_task *tasks;
	bool detached;
};

/* manager.c */
extern const struct ucd_runtime_ops rt_ops;

/* shim_binary.c: runs `<shim> ... start|delete` without blocking the loop. */
/* The binary for a runtime name, or NULL and *err. */
char *shim_resolve(struct runtime *rt, const char *runtime, struct ucd_error **err);
/* `start`: done gets the address the shim printed, or an error. */
void shim_start(struct runtime *rt, struct rt_task *t, const uint8_t *opts, size_t opts_len,
		void (*done)(void *arg, char *address, struct ucd_error *err), void *arg);
/* `delete`: done gets the packed DeleteResponse the shim printed, or an error. */
void shim_delete(struct runtime *rt, struct rt_task *t,
		 void (*done)(void *arg, const uint8_t *resp, size_t len, struct ucd_error *err), void *arg);

/* shim_log.c: the `log` FIFO of the bundle (created if missing). */
int shim_log_open(struct runtime *rt, struct rt_task *t, struct ucd_error **err);
void shim_log_close(struct rt_task *t);

/* bundle.c */
/* An existing bundle (one an older version made): checked as the
 * daemon's own directories are (host->dir_ensure), 0700, its files 0600. */
int bundle_secure(struct runtime *rt, const char *bundle, struct ucd_error **err);
int bundle_create(struct runtime *rt, struct rt_task *t, const uint8_t *spec, size_t spec_len,
		  struct ucd_error **err);
void bundle_remove(struct runtime *rt, const char *bundle);
/* A small file of the bundle (address, shim-binary-path), NULL if absent. */
char *bundle_read(const char *bundle, const char *name);
int bundle_write(struct runtime *rt, const char *bundle, const char *name, const char *value,
		 struct ucd_error **err);

/* options.c: the task's options with the configured defaults filled in
 * (runc options only); returns a malloc'ed packed Any (or NULL, 0). */
uint8_t *options_merge(struct runtime *rt, const char *runtime, const uint8_t *task_opts, size_t task_len,
		       const uint8_t *rt_opts, size_t rt_len, size_t *out_len);

/* Errors through the host (the daemon frees them). */
#define RT_ERR(rt, err, code, ...) ((rt)->host->error_new((err), (code), 0, __VA_ARGS__))
