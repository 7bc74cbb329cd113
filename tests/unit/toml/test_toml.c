/* Unit tests for core/toml: focused cases, then the upstream toml-test corpus
 * (valid/ must parse to the expected tagged JSON, invalid/ must be rejected
 * with a "FILE:LINE:COL: message" error).
 *
 *   test_toml [CORPUS_DIR]      (or UCD_TOML_TEST_DIR=...)
 *
 * Prints TAP-like lines and "N passed, N failed"; exits 1 on any failure and
 * 77 (skip) when the unit cases pass but the corpus is not installed. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "toml/toml.h"
#include "toml_json.h"

#define DEFAULT_CORPUS "/usr/share/gocode/src/github.com/BurntSushi/toml/internal/toml-test/tests"

/* Corpus cases that are not TOML 1.0, with the reason. */
static const struct {
	const char *name;
	const char *reason;
} allowlist[] = {
	{ "valid/string/escape-esc",
	  "\\e is a TOML 1.1 escape; toml-test itself excludes this case for TOML 1.0.0" },
};

static int ntest, npass, nfail, nskip;

__attribute__((format(printf, 2, 3)))
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;
	ntest++;
	if (ok)
		npass++;
	else
		nfail++;
	printf("%s %d - ", ok ? "ok" : "not ok", ntest);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void diag(const char *s)
{
	printf("#   %s\n", s ? s : "(null)");
}

/* ---------------------------------------------------------- unit cases */

static struct toml_value *parse(const char *text, char **err)
{
	return toml_parse(text, strlen(text), "t.toml", err);
}

/* Parsing must fail with an error starting with `prefix`. */
static void expect_error(const char *name, const char *text, size_t len, const char *prefix)
{
	char *err = NULL;
	struct toml_value *root = toml_parse(text, len, "t.toml", &err);
	bool ok = root == NULL && err != NULL && strncmp(err, prefix, strlen(prefix)) == 0;
	check(ok, "error: %s", name);
	if (!ok) {
		printf("#   want prefix: %s\n", prefix);
		diag(err);
	}
	toml_free(root);
	free(err);
}

static void expect_ok(const char *name, const char *text)
{
	char *err = NULL;
	struct toml_value *root = parse(text, &err);
	check(root != NULL, "accept: %s", name);
	if (root == NULL)
		diag(err);
	toml_free(root);
	free(err);
}

static char *repeat(const char *pre, const char *a, size_t n, const char *mid, const char *b,
		    size_t m, const char *post)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t len = strlen(pre) + la * n + strlen(mid) + lb * m + strlen(post);
	char *s = malloc(len + 1), *p = s;
	if (s == NULL)
		abort();
	p = stpcpy(p, pre);
	for (size_t i = 0; i < n; i++)
		p = stpcpy(p, a);
	p = stpcpy(p, mid);
	for (size_t i = 0; i < m; i++)
		p = stpcpy(p, b);
	stpcpy(p, post);
	return s;
}

static void test_errors(void)
{
	const char *t;
	t = "a = 1\nfoo x = 2\n";
	expect_error("missing '='", t, strlen(t), "t.toml:2:5: expected '=' after key `foo`");
	t = "[a]\nx = 1\n[a]\n";
	expect_error("table twice", t, strlen(t), "t.toml:3:1: table [a] defined more than once");
	t = "x = \"abc\ny = 1\n";
	expect_error("unterminated string", t, strlen(t), "t.toml:1:5: unterminated string");
	t = "x = [1,,2]\n";
	expect_error("double comma", t, strlen(t), "t.toml:1:8: expected a value, found ','");
	t = "a = {b = 1,}\n";
	expect_error("inline trailing comma", t, strlen(t), "t.toml:1:12: trailing comma");
	t = "\n\n  k = 0x_1\n";
	expect_error("bad hex", t, strlen(t), "t.toml:3:7: invalid hexadecimal integer `0x_1`");
	t = "a = 1\na = 2\n";
	expect_error("duplicate key", t, strlen(t), "t.toml:2:1: duplicate key `a` (already defined at 1:1)");
	t = "[x]\n\"a b\".c = 1\n\"a b\".c = 2\n";
	expect_error("duplicate dotted key", t, strlen(t), "t.toml:3:7: duplicate key `\"a b\".c`");
	t = "a = [1, 2\nb = 3\n";
	expect_error("array not closed", t, strlen(t), "t.toml:2:1: expected ',' or ']' after array element, found 'b'");
	t = "d = 2023-02-29\n";
	expect_error("feb 29 in non-leap year", t, strlen(t), "t.toml:1:5: invalid date-time `2023-02-29`: day out of range");
	t = "d = 1900-02-29\n";
	expect_error("feb 29 in 1900", t, strlen(t), "t.toml:1:5: invalid date-time");
	t = "i = 9223372036854775808\n";
	expect_error("int64 overflow", t, strlen(t), "t.toml:1:5: integer `9223372036854775808` does not fit");
	t = "i = -9223372036854775809\n";
	expect_error("int64 underflow", t, strlen(t), "t.toml:1:5: integer");
	t = "i = 0x8000000000000000\n";
	expect_error("hex overflow", t, strlen(t), "t.toml:1:5: integer");
	t = "f = 1e400\n";
	expect_error("float overflow", t, strlen(t), "t.toml:1:5: float `1e400` is out of range");
	t = "s = \"\\uD800\"\n";
	expect_error("surrogate escape", t, strlen(t), "t.toml:1:6: invalid unicode escape");
	t = "s = \"\\U00110000\"\n";
	expect_error("escape above U+10FFFF", t, strlen(t), "t.toml:1:6: invalid unicode escape");
	t = "a = {}\na.b = 1\n";
	expect_error("extend inline table with dotted key", t, strlen(t), "t.toml:2:1: cannot add keys to `a`");
	t = "a = [{}]\n[[a]]\n";
	expect_error("append to static array", t, strlen(t), "t.toml:2:1: cannot append to `a`");
	t = "[a.b.c]\n[a]\nb.d = 1\n[a.b]\n";
	expect_error("header after dotted keys used an implicit table", t, strlen(t),
		     "t.toml:4:1: cannot define table [a.b]: it was already created by dotted keys at 3:1");
	t = "v = true false\n";
	expect_error("text after value", t, strlen(t), "t.toml:1:10: expected a newline or comment after value, found 'f'");
	t = "x = value\n";
	expect_error("unquoted string", t, strlen(t), "t.toml:1:5: expected a value, found `value`");

	/* every message is "FILE:LINE:COL: lowercase..." */
	char *err = NULL;
	toml_free(parse("[a]\n[a]\n", &err));
	const char *m = err ? strchr(err, ' ') : NULL;
	check(m != NULL && islower((unsigned char)m[1]), "error: message is lowercase");
	free(err);
	err = NULL;

	/* errmsg may be NULL */
	check(toml_parse("x =", 3, "t.toml", NULL) == NULL, "error: NULL errmsg pointer accepted");

	check(toml_parse_file("/nonexistent/dir/c.toml", &err) == NULL && err != NULL &&
		      strstr(err, "/nonexistent/dir/c.toml") != NULL,
	      "error: toml_parse_file on a missing file");
	diag(err);
	free(err);
}

static void test_nesting(void)
{
	char *s = repeat("x = ", "[", 128, "", "]", 128, "\n");
	expect_ok("128 nested arrays", s);
	free(s);
	s = repeat("x = ", "[", 129, "", "]", 129, "\n");
	expect_error("129 nested arrays", s, strlen(s), "t.toml:1:133: nesting too deep");
	free(s);
	s = repeat("x = ", "[", 1000000, "", "", 0, "");
	expect_error("a million '['", s, strlen(s), "t.toml:1:133: nesting too deep");
	free(s);
	s = repeat("x = ", "{a=", 100000, "1", "}", 100000, "\n");
	expect_error("deep inline tables", s, strlen(s), "t.toml:1:");
	free(s);
	s = repeat("x = ", "[{a=", 100000, "1", "}]", 100000, "\n");
	expect_error("deep arrays of inline tables", s, strlen(s), "t.toml:1:");
	free(s);
	s = repeat("", "a.", 100000, "b = 1\n", "", 0, "");
	expect_error("key with 100000 parts", s, strlen(s), "t.toml:1:");
	free(s);
	s = repeat("[", "a.", 127, "b]\n", "c.", 100, "d = 1\n");
	expect_error("header depth + dotted depth", s, strlen(s), "t.toml:2:");
	free(s);
	s = repeat("", "[[a]]\n", 100000, "", "", 0, "");
	expect_ok("100000 array-of-tables elements", s);
	free(s);
}

static void test_encoding(void)
{
	expect_error("NUL byte after value", "a = 1\0\n", 7, "t.toml:1:6: nul byte");
	expect_error("NUL byte in string", "a = \"x\0\"\n", 9, "t.toml:1:7: nul byte");
	expect_error("NUL byte in comment", "# \0\n", 4, "t.toml:1:3: nul byte");
	const char *t = "a = \"\xff\"\n";
	expect_error("invalid UTF-8 byte", t, strlen(t), "t.toml:1:6: invalid UTF-8");
	t = "a = \"\xc0\xaf\"\n";
	expect_error("overlong UTF-8", t, strlen(t), "t.toml:1:6: invalid UTF-8");
	t = "a = \"\xed\xa0\x80\"\n";
	expect_error("UTF-8 surrogate", t, strlen(t), "t.toml:1:6: invalid UTF-8");
	t = "a = \"\xf4\x90\x80\x80\"\n";
	expect_error("UTF-8 above U+10FFFF", t, strlen(t), "t.toml:1:6: invalid UTF-8");
	t = "# x\n# \xe2\x82";
	expect_error("truncated UTF-8 at end", t, strlen(t), "t.toml:2:3: truncated UTF-8");
	t = "a = 1\rb = 2\n";
	expect_error("bare carriage return", t, strlen(t), "t.toml:1:6: carriage return");
	t = "a = \"\x1b\"\n";
	expect_error("raw escape character in string", t, strlen(t), "t.toml:1:6: control character U+001B");
	t = "k = 1\n\xef\xbb\xbfj = 2\n";
	expect_error("BOM not at start", t, strlen(t), "t.toml:2:1: expected a key");

	char *err = NULL;
	t = "\xef\xbb\xbfk = \"\xc3\xa9\xf0\x9f\x98\x80\"\r\nj = 2\r\n";
	struct toml_value *root = parse(t, &err);
	check(root != NULL && toml_integer(toml_get(root, "j")) == 2 &&
		      strcmp(toml_string(toml_get(root, "k"), NULL), "\xc3\xa9\xf0\x9f\x98\x80") == 0 &&
		      toml_col(toml_get(root, "k")) == 5,
	      "accept: BOM, CRLF and non-ASCII");
	if (root == NULL)
		diag(err);
	toml_free(root);
	free(err);
}

static void test_lookups(void)
{
	const char *text =
		"title = \"x\"\n"
		"[server]\n"
		"port = 8080\n"
		"hosts = [\"a\", \"b\"]\n"
		"[[plugin]]\n"
		"name = \"p1\"\n"
		"[[plugin]]\n"
		"name = \"p2\"\n"
		"nul = \"a\\u0000b\"\n"
		"z = 1\n"
		"a = 2\n"
		"\"q\\u0000k\" = 3\n"
		"ml = \"\"\"\r\nline1\r\n  line2 \\\r\n   joined\"\"\"\n"
		"t = 1979-05-27 07:32:00.123456789123-08:00\n"
		"f = -0.0\n"
		"minint = -9223372036854775808\n"
		"maxint = 9223372036854775807\n"
		"leap = 2000-02-29\n"
		"sec60 = 23:59:60\n";
	char *err = NULL;
	struct toml_value *root = parse(text, &err);
	check(root != NULL && toml_type(root) == TOML_TABLE, "lookup: document parses");
	if (root == NULL) {
		diag(err);
		free(err);
		return;
	}
	check(toml_table_len(root) == 3 && strcmp(toml_table_key(root, 0), "title") == 0 &&
		      strcmp(toml_table_key(root, 1), "server") == 0 &&
		      strcmp(toml_table_key(root, 2), "plugin") == 0 && toml_table_key(root, 3) == NULL,
	      "lookup: root keys in document order");
	struct toml_value *server = toml_get(root, "server");
	struct toml_value *port = toml_get(server, "port");
	check(toml_type(port) == TOML_INTEGER && toml_integer(port) == 8080 && toml_line(port) == 3 &&
		      toml_col(port) == 8,
	      "lookup: server.port = 8080 at 3:8");
	check(toml_table_key_line(server, 1) == 4 && toml_table_key_col(server, 1) == 1,
	      "lookup: key position");
	check(toml_line(server) == 2 && toml_col(server) == 1, "lookup: table position is its header");
	struct toml_value *hosts = toml_get(server, "hosts");
	check(toml_array_len(hosts) == 2 && strcmp(toml_string(toml_array_at(hosts, 1), NULL), "b") == 0 &&
		      toml_array_at(hosts, 2) == NULL && toml_line(toml_array_at(hosts, 1)) == 4 &&
		      toml_col(toml_array_at(hosts, 1)) == 15,
	      "lookup: toml_array_at");
	check(toml_get(port, "x") == NULL && toml_get(server, "nope") == NULL &&
		      toml_array_at(server, 0) == NULL && toml_table_len(hosts) == 0,
	      "lookup: wrong type and absent keys give NULL");
	struct toml_value *plugin = toml_get(root, "plugin");
	struct toml_value *p2 = toml_array_at(plugin, 1);
	check(toml_array_len(plugin) == 2 &&
		      strcmp(toml_string(toml_get(toml_array_at(plugin, 0), "name"), NULL), "p1") == 0 &&
		      toml_line(p2) == 7,
	      "lookup: array of tables");
	size_t len = 0;
	const char *nul = toml_string(toml_get(p2, "nul"), &len);
	check(len == 3 && memcmp(nul, "a\0b", 4) == 0, "lookup: string with U+0000 keeps its length");
	check(strcmp(toml_table_key(p2, 2), "z") == 0 && strcmp(toml_table_key(p2, 3), "a") == 0,
	      "lookup: table keys keep document order, not sorted");
	size_t klen = 0;
	const char *k = toml_table_keyn(p2, 4, &klen);
	check(klen == 3 && memcmp(k, "q\0k", 3) == 0 && toml_getn(p2, "q\0k", 3) != NULL &&
		      toml_get(p2, "q") == NULL,
	      "lookup: key with U+0000");
	/* a U+0000 in a dotted key's table part (found by fuzz_toml: the
	 * table's key was copied only up to the NUL, and lookups read past it) */
	char *derr = NULL;
	static const char dotted[] = "[x]\n\"a\\u0000b\".c = 1\n\"a\\u0000b\".d = 2\n";
	struct toml_value *droot = toml_parse(dotted, sizeof dotted - 1, "t.toml", &derr);
	const struct toml_value *dt_ab = toml_getn(toml_get(droot, "x"), "a\0b", 3);
	check(droot != NULL && dt_ab != NULL && toml_integer(toml_get(dt_ab, "c")) == 1 &&
		      toml_integer(toml_get(dt_ab, "d")) == 2 && toml_getn(toml_get(droot, "x"), "a", 1) == NULL,
	      "lookup: dotted key whose table part holds U+0000");
	if (droot == NULL)
		diag(derr);
	toml_free(droot);
	free(derr);
	check(strcmp(toml_string(toml_get(p2, "ml"), NULL), "line1\n  line2 joined") == 0,
	      "lookup: multi-line string, CRLF normalised, line-ending backslash");
	const struct toml_datetime *dt = toml_datetime(toml_get(p2, "t"));
	check(toml_type(toml_get(p2, "t")) == TOML_DATETIME && dt->year == 1979 && dt->hour == 7 &&
		      dt->nanosecond == 123456789 && dt->has_offset && dt->offset_minutes == -480,
	      "lookup: offset date-time");
	double f = toml_float(toml_get(p2, "f"));
	check(f == 0.0 && signbit(f), "lookup: -0.0");
	check(toml_integer(toml_get(p2, "minint")) == INT64_MIN &&
		      toml_integer(toml_get(p2, "maxint")) == INT64_MAX,
	      "lookup: int64 limits");
	check(toml_type(toml_get(p2, "leap")) == TOML_DATE_LOCAL &&
		      toml_datetime(toml_get(p2, "leap"))->day == 29 &&
		      toml_datetime(toml_get(p2, "sec60"))->second == 60,
	      "lookup: leap day and leap second");
	check(strcmp(toml_type_name(TOML_DATE_LOCAL), "date-local") == 0, "lookup: toml_type_name");
	toml_free(root);

	/* many keys: the hash index must keep order and find everything */
	size_t cap = 2000 * 24, off = 0;
	char *big = malloc(cap);
	for (int i = 0; i < 2000; i++)
		off += (size_t)snprintf(big + off, cap - off, "k%d = %d\n", (i * 7919) % 2000, i);
	root = toml_parse(big, off, "big.toml", &err);
	bool ok = root != NULL && toml_table_len(root) == 2000;
	for (int i = 0; ok && i < 2000; i++) {
		char name[16];
		snprintf(name, sizeof name, "k%d", (i * 7919) % 2000);
		ok = strcmp(toml_table_key(root, (size_t)i), name) == 0 &&
		     toml_integer(toml_get(root, name)) == i;
	}
	check(ok, "lookup: 2000 keys");
	toml_free(root);
	memcpy(big + off, "k5 = 1\n", 8);
	root = toml_parse(big, off + 7, "big.toml", &err);
	check(root == NULL && err != NULL && strstr(err, "duplicate key `k5`") != NULL,
	      "lookup: duplicate found among 2000 keys");
	free(err);
	free(big);
}

static void test_tables(void)
{
	expect_ok("sub-table of a dotted-key table",
		  "[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true\n");
	expect_ok("dotted keys into an implicit table", "[a.b.c]\nz = 9\n[a]\nb.d = 1\n");
	expect_ok("sub-tables of array-of-tables elements", "[[a]]\n[a.b]\nx = 1\n[[a]]\n[a.b]\nx = 2\n");
	expect_ok("implicit then explicit", "[a.b]\n[a]\n");
	expect_ok("dotted keys in inline table", "a = { b.c = 1, b.d = 2 }\n");
	expect_error("dotted key into inline sub-table", "a = { b = {c = 1}, b.d = 2 }\n", 28,
		     "t.toml:1:20: cannot add keys to `b`");
	const char *t = "[a.b.c]\nz = 9\n[a]\nb.c.t = 9\n";
	expect_error("dotted keys into a header-defined table", t, strlen(t), "t.toml:4:3: cannot add keys to table `b.c`");
	t = "a = 1\n[a.b]\n";
	expect_error("header through an integer", t, strlen(t), "t.toml:2:2: cannot use `a` as a table: it is already an integer");

	char *err = NULL;
	struct toml_value *root = parse("[[a]]\nx = 1\n[a.b]\ny = 2\n[[a]]\nx = 3\n", &err);
	struct toml_value *a = toml_get(root, "a");
	check(root != NULL && toml_array_len(a) == 2 &&
		      toml_integer(toml_get(toml_get(toml_array_at(a, 0), "b"), "y")) == 2 &&
		      toml_get(toml_array_at(a, 1), "b") == NULL,
	      "tables: header goes into the last array-of-tables element");
	toml_free(root);
	free(err);
}

/* Truncated and mutated inputs must never crash or leak (run under ASan). */
static void robustness(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return;
	char buf[65536];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	for (size_t len = 0; len <= n; len++) {
		char *err = NULL;
		toml_free(toml_parse(buf, len, "r.toml", &err));
		free(err);
	}
	static const char bytes[] = "[]{}\"'=.,#\n\\ \t0aZ_-+:\xc3\xff";
	unsigned seed = 12345;
	for (int i = 0; i < 300 && n > 0; i++) {
		char copy[65536];
		memcpy(copy, buf, n);
		for (int k = 0; k < 3; k++) {
			seed = seed * 1103515245 + 12345;
			copy[(seed >> 8) % n] = bytes[(seed >> 20) % (sizeof bytes - 1)];
		}
		char *err = NULL;
		toml_free(toml_parse(copy, n, "r.toml", &err));
		free(err);
	}
}

/* --------------------------------------------------------------- corpus */

struct list {
	char **v;
	size_t n, cap;
};

static void walk(const char *root, const char *rel, struct list *out)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/%s", root, rel);
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char sub[4096], full[8192];
		snprintf(sub, sizeof sub, "%s/%s", rel, de->d_name);
		snprintf(full, sizeof full, "%s/%s", root, sub);
		struct stat st;
		if (stat(full, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			walk(root, sub, out);
			continue;
		}
		size_t len = strlen(sub);
		if (len < 5 || strcmp(sub + len - 5, ".toml") != 0)
			continue;
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 64;
			out->v = realloc(out->v, out->cap * sizeof *out->v);
			if (out->v == NULL)
				abort();
		}
		out->v[out->n++] = strndup(sub, len - 5);
	}
	closedir(d);
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "PATH:LINE:COL: m..." with a lowercase message. */
static bool well_formed_error(const char *err, const char *path)
{
	size_t pl = strlen(path);
	if (err == NULL || strncmp(err, path, pl) != 0 || err[pl] != ':')
		return false;
	const char *p = err + pl + 1;
	for (int field = 0; field < 2; field++) {
		if (!isdigit((unsigned char)*p) || *p == '0')
			return false;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p++ != ':')
			return false;
	}
	return p[0] == ' ' && islower((unsigned char)p[1]);
}

static void run_case(const char *root, const char *name, int *vpass, int *ipass, int *vtotal,
		     int *itotal)
{
	char path[8192];
	snprintf(path, sizeof path, "%s/%s.toml", root, name);
	for (size_t i = 0; i < sizeof allowlist / sizeof allowlist[0]; i++) {
		if (strcmp(allowlist[i].name, name) == 0) {
			ntest++;
			nskip++;
			printf("ok %d - %s # SKIP %s\n", ntest, name, allowlist[i].reason);
			return;
		}
	}
	bool valid = strncmp(name, "valid/", 6) == 0;
	char *err = NULL;
	struct toml_value *v = toml_parse_file(path, &err);
	if (!valid) {
		++*itotal;
		bool ok = v == NULL && well_formed_error(err, path);
		*ipass += ok;
		check(ok, "%s", name);
		if (v != NULL)
			diag("parsed successfully but must be rejected");
		else if (!ok)
			diag(err);
		else
			printf("#   %s\n", err + strlen(root) + 1);
		toml_free(v);
		free(err);
		return;
	}
	++*vtotal;
	if (v == NULL) {
		check(false, "%s", name);
		diag(err);
		free(err);
		return;
	}
	char jpath[8192], why[2048] = "";
	snprintf(jpath, sizeof jpath, "%s/%s.json", root, name);
	json_object *exp = json_object_from_file(jpath);
	bool ok = exp != NULL && tj_compare(exp, v, "$", why, sizeof why);
	*vpass += ok;
	check(ok, "%s", name);
	if (exp == NULL)
		diag("cannot read the expected JSON");
	else if (!ok)
		diag(why);
	json_object_put(exp);
	toml_free(v);
	robustness(path);
}

int main(int argc, char **argv)
{
	const char *root = argc > 1 ? argv[1] : getenv("UCD_TOML_TEST_DIR");
	if (root == NULL || *root == '\0')
		root = DEFAULT_CORPUS;

	test_errors();
	test_nesting();
	test_encoding();
	test_lookups();
	test_tables();

	struct stat st;
	int rc = 0;
	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		printf("# toml-test corpus not found at %s; corpus cases skipped\n", root);
		rc = 77;
	} else {
		struct list cases = { 0 };
		walk(root, "valid", &cases);
		walk(root, "invalid", &cases);
		qsort(cases.v, cases.n, sizeof *cases.v, cmpstr);
		int vpass = 0, ipass = 0, vtotal = 0, itotal = 0;
		for (size_t i = 0; i < cases.n; i++) {
			run_case(root, cases.v[i], &vpass, &ipass, &vtotal, &itotal);
			free(cases.v[i]);
		}
		free(cases.v);
		printf("# corpus: valid %d/%d, invalid %d/%d, skipped %d (allowlist)\n", vpass, vtotal,
		       ipass, itotal, nskip);
		if (cases.n == 0) {
			printf("# no cases found under %s\n", root);
			nfail++;
		}
	}
	printf("1..%d\n", ntest);
	printf("%d passed, %d failed\n", npass, nfail);
	if (nfail > 0)
		return 1;
	return rc;
}
