/* ucontainerd plugin SDK: declarative configuration.
 *
 * A plugin does not parse TOML. It declares its settings as a table of
 * fields, each naming a TOML key, its type and where its value goes in the
 * plugin's own config struct (offsetof). The daemon:
 *
 *   1. allocates `config_size` zeroed bytes (struct ucd_plugin_desc),
 *   2. stores every field's default (`default_toml`, or the zero value),
 *   3. overlays the operator's table `[plugins."<type>.<id>"]` from
 *      config.toml, refusing unknown keys and wrong types with
 *      "FILE:LINE:COL: ..." (the plugin's status becomes `error`, init is
 *      not called),
 *   4. hands the struct to init as `ic->config`, and frees it after close.
 *
 * The same table lets `ucontainerd config default` print every installed
 * plugin's section, defaults and `# doc` comments included, without running
 * any plugin code but the entry function.
 *
 * Example:
 *
 *   struct ovl_config {
 *           const char *root_path;
 *           bool sync_remove;
 *           const char *const *mount_options;
 *   };
 *   static const struct ucd_config_field ovl_fields[] = {
 *           UCD_FIELD_STRING(struct ovl_config, root_path, "root_path", "\"\"",
 *                            "where snapshots live; empty: <root>/<uri>"),
 *           UCD_FIELD_BOOL(struct ovl_config, sync_remove, "sync_remove", "false",
 *                          "remove snapshots synchronously"),
 *           UCD_FIELD_STRING_ARRAY(struct ovl_config, mount_options, "mount_options",
 *                                  "[]", "extra overlay mount options"),
 *           UCD_FIELD_END,
 *   };
 *
 * Memory: every string and array the daemon stores in the config struct is
 * owned by the daemon, read-only for the plugin, and valid until the plugin's
 * close() has returned (or until init returns, if init does not return 0).
 * Copy what you need longer.
 */
#ifndef UCONTAINERD_CONFIG_H
#define UCONTAINERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The type of a field, and the C type of its member in the config struct.
 * Values are part of the ABI: new types are appended (with an ABI minor
 * bump); a daemon refuses a plugin using a type it does not know. */
enum ucd_config_type {
	/* `const char *`, never NULL ("" when empty). TOML: a string. */
	UCD_CONFIG_STRING = 1,
	/* `bool`. TOML: true / false. */
	UCD_CONFIG_BOOL = 2,
	/* `int64_t`. TOML: an integer. */
	UCD_CONFIG_INT = 3,
	/* `double`. TOML: a float; an integer is accepted and converted. */
	UCD_CONFIG_FLOAT = 4,
	/* `int64_t` nanoseconds. TOML: a Go-style duration string as containerd
	 * writes them ("10s", "1m30s", "250ms", "1h", "0"), or an integer
	 * meaning nanoseconds. */
	UCD_CONFIG_DURATION = 5,
	/* `const char *const *`, NULL-terminated, never NULL itself (an empty
	 * array is a pointer to NULL). TOML: an array of strings. */
	UCD_CONFIG_STRING_ARRAY = 6,
	/* A struct embedded in the config struct at `offset`, whose members are
	 * described by `sub` (offsets relative to that embedded struct). TOML: a
	 * sub-table, `[plugins."<uri>".<name>]`. `default_toml` must be NULL:
	 * the defaults are those of the sub-fields. */
	UCD_CONFIG_TABLE = 7,
};

/* One setting. Tables of fields end with UCD_FIELD_END (name == NULL). The
 * struct's layout is part of the ABI and never grows: `reserved` is there
 * for future use and must be zero (the UCD_FIELD_* macros do that). */
struct ucd_config_field {
	/* TOML key, unique within its table. Prefer containerd's snake_case
	 * names when the setting means the same thing as in containerd. */
	const char *name;
	/* enum ucd_config_type */
	uint32_t type;
	/* offsetof() of the member in the plugin's config struct (or in the
	 * embedded struct, for fields of a UCD_CONFIG_TABLE's `sub`). */
	size_t offset;
	/* The default as TOML value text, exactly as it would appear after
	 * `key = ` in config.toml: "\"overlayfs\"", "true", "42", "0.5",
	 * "\"10s\"", "[\"a\", \"b\"]". NULL means the zero value ("" , false,
	 * 0, 0.0, "0s", []). A default that does not parse as this field's type
	 * makes the plugin fail to load, so a typo is found on the first run. */
	const char *default_toml;
	/* Documentation, printed as `# ` comments above the key by
	 * `ucontainerd config default`. May hold several lines separated by
	 * '\n'. NULL for none (please write one). */
	const char *doc;
	/* UCD_CONFIG_TABLE: the embedded struct's fields, ended by
	 * UCD_FIELD_END. NULL for every other type. */
	const struct ucd_config_field *sub;
	/* Must be zero. */
	uintptr_t reserved[2];
};

/* Compile-time check that a member has the C type its field type stores
 * into (GCC and Clang; C++ gets no check). Adds 0 to the offset. */
#if defined(__cplusplus)
#define UCD_FIELD_CHECK_(st, member, ctype) 0
#else
#define UCD_FIELD_CHECK_(st, member, ctype) \
	(0 * sizeof(char[__builtin_types_compatible_p(__typeof__(((st *)0)->member), ctype) ? 1 : -1]))
#endif

#define UCD_FIELD_(st, member, ctype, t, name, def, doc) \
	{ (name), (t), offsetof(st, member) + UCD_FIELD_CHECK_(st, member, ctype), (def), (doc), NULL, { 0, 0 } }

/* Fields whose struct member has the right C type; `st` is the config struct
 * type, `member` its member, the rest as in struct ucd_config_field. */
#define UCD_FIELD_STRING(st, member, name, def, doc) \
	UCD_FIELD_(st, member, const char *, UCD_CONFIG_STRING, name, def, doc)
#define UCD_FIELD_BOOL(st, member, name, def, doc) \
	UCD_FIELD_(st, member, bool, UCD_CONFIG_BOOL, name, def, doc)
#define UCD_FIELD_INT(st, member, name, def, doc) \
	UCD_FIELD_(st, member, int64_t, UCD_CONFIG_INT, name, def, doc)
#define UCD_FIELD_FLOAT(st, member, name, def, doc) \
	UCD_FIELD_(st, member, double, UCD_CONFIG_FLOAT, name, def, doc)
#define UCD_FIELD_DURATION(st, member, name, def, doc) \
	UCD_FIELD_(st, member, int64_t, UCD_CONFIG_DURATION, name, def, doc)
#define UCD_FIELD_STRING_ARRAY(st, member, name, def, doc) \
	UCD_FIELD_(st, member, const char *const *, UCD_CONFIG_STRING_ARRAY, name, def, doc)
/* `sub` is the embedded struct's field table. */
#define UCD_FIELD_TABLE(st, member, name, sub_fields, doc) \
	{ (name), UCD_CONFIG_TABLE, offsetof(st, member), NULL, (doc), (sub_fields), { 0, 0 } }
#define UCD_FIELD_END { NULL, 0, 0, NULL, NULL, NULL, { 0, 0 } }

/* Handy conversions for UCD_CONFIG_DURATION values. */
#define UCD_NSEC_PER_MSEC INT64_C(1000000)
#define UCD_NSEC_PER_SEC INT64_C(1000000000)

#ifdef __cplusplus
}
#endif

#endif
