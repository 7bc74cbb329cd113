/* Tests for core/filters: the semantics of containerd's filters tests
 * (filter_test.go, scanner_test.go) plus Go regexp behaviour, limits and
 * hostile input. Prints "N passed, N failed" last; exits 1 on failure. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filters/filters.h"
#include "filters/regex.h"
#include "util/error.h"
#include "util/mem.h"

static int passed, failed;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (cond) {                                                  \
			passed++;                                            \
		} else {                                                     \
			failed++;                                            \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
		}                                                            \
	} while (0)

/* ---- containerd's test corpus ---- */

struct entry {
	const char *name, *other;
	const char *keys[2], *vals[2];
	size_t nlabels;
};

static const struct entry corpus[] = {
	{"foo", "", {"foo"}, {"true"}, 1},
	{"bar", "", {0}, {0}, 0},
	{"foo", "", {"foo", "more complex label"}, {"present", "present"}, 2},
	{"bar", "", {"bar"}, {"true"}, 1},
	{"fooer", "", {"more complex label with \\ and \""}, {"present"}, 1},
	{"fooer", "", {"more complex label with \\ and \".post"}, {"present"}, 1},
	{"baz", "too complex, yo", {0}, {0}, 0},
	{"bazo", "abc", {0}, {0}, 0},
	{"compound", "", {"foo"}, {"omg_asdf.asdf-qwer"}, 1},
};
#define NCORPUS (sizeof corpus / sizeof corpus[0])
#define ALL ((1u << NCORPUS) - 1)
#define B(i) (1u << (i))

/* as containerd's test adaptor: name/other present when non-empty, labels by joined key */
static bool adapt(void *obj, const char *const *path, size_t n, const char **value)
{
	const struct entry *e = obj;
	if (strcmp(path[0], "name") == 0) {
		*value = e->name;
		return e->name[0] != 0;
	}
	if (strcmp(path[0], "other") == 0) {
		*value = e->other;
		return e->other[0] != 0;
	}
	if (strcmp(path[0], "labels") == 0)
		return filter_get_label(e->keys, e->vals, e->nlabels, path + 1, n - 1, value);
	return false;
}

static unsigned run_list(const char *const *strs, size_t n, char **errmsg, int *code)
{
	struct ucd_error *err = NULL;
	struct filter *f = filter_parse(strs, n, &err);
	*errmsg = NULL;
	*code = 0;
	if (f == NULL) {
		if (err != NULL) {
			*errmsg = xstrdup(err->msg);
			*code = err->code;
		} else {
			*errmsg = xstrdup("(no error set)");
		}
		error_free(err);
		return 0;
	}
	unsigned got = 0;
	for (size_t i = 0; i < NCORPUS; i++)
		if (filter_match(f, adapt, (void *)&corpus[i]))
			got |= 1u << i;
	filter_free(f);
	return got;
}

static void expect(int line, const char *in, unsigned want)
{
	char *msg;
	int code;
	unsigned got = run_list(&in, 1, &msg, &code);
	if (msg != NULL) {
		failed++;
		fprintf(stderr, "FAIL line %d: %s: unexpected error: %s\n", line, in, msg);
		free(msg);
		return;
	}
	CHECK(got == want, "line %d: %s: matched %#x, want %#x", line, in, got, want);
}
#define T(in, want) expect(__LINE__, in, want)

static void expect_err(int line, const char *in, const char *want)
{
	char *msg;
	int code;
	run_list(&in, 1, &msg, &code);
	if (msg == NULL) {
		failed++;
		fprintf(stderr, "FAIL line %d: %s: parsed, want error %s\n", line, in, want);
		return;
	}
	CHECK(code == UCD_INVALID_ARGUMENT, "line %d: code %d", line, code);
	if (want != NULL)
		CHECK(strcmp(msg, want) == 0, "line %d: %s:\n   got  %s\n   want %s", line, in, msg, want);
	free(msg);
}
#define E(in, want) expect_err(__LINE__, in, want)

/* ---- containerd filter_test.go TestFilters ---- */

static void test_containerd_cases(void)
{
	T("", ALL);
	T("name", ALL);
	T("labels.foo", B(0) | B(2) | B(8));
	T("labels.foo,name", B(0) | B(2) | B(8));
	T("labels.foo==true", B(0));
	T("labels.foo==omg_asdf.asdf-qwer", B(8));
	E("labels.|foo|==omg_asdf.asdf-qwer",
	  "filters: parse error: [labels. >|||< foo|==omg_asdf.asdf-qwer]: invalid quote encountered: invalid argument");
	T("name==bar", B(1) | B(3));
	T("name!=bar", B(0) | B(2) | B(4) | B(5) | B(6) | B(7) | B(8));
	T("name==bar,labels.bar", B(3));
	T("other==\"too complex, yo\"", B(6));
	T("other~=[abc]+,name!=foo", B(6) | B(7));
	T("other~=/[abc]+/,name!=foo", B(6) | B(7));
	T("other~=/[abc]{1,2}/,name!=foo", B(6) | B(7));
	T("other~=/[abc]{0,1}\"\\//,name!=foo", 0);   /* valid syntax, matches nothing */
	T("name==bar,labels.bar==true", B(3));
	T("name==bar,labels.bar==wrong", 0);
	T("name==foo,labels.\"more complex label\"", B(2));
	T("labels.\"more complex label with \\\\ and \\\"\"==present", B(4));
	T("labels.\"more complex label with \\\\ and \\\"\".post==present", B(5));
	E("labels.?\"more complex label with \\\\ and \\\"\".post==present",
	  "filters: parse error: [labels. >|?|< \"more complex label with \\\\ and \\\"\".post==present]: "
	  "expected field or quoted: invalid argument");
	E("name==foo,", "filters: parse error: [name==foo,]: expected field or quoted: invalid argument");
	E("labels.", "filters: parse error: [labels.]: expected field or quoted: invalid argument");
	E("image~=,id?=?fbaq",
	  "filters: parse error: [image~= >|,|< id?=?fbaq]: expected value or quoted: invalid argument");
	E("labels.ns/key==value",
	  "filters: parse error: [labels.ns >|/|< key==value]: quoted literal not terminated: invalid argument");
	E("labels.key==/value",
	  "filters: parse error: [labels.key== >|/|< value]: quoted literal not terminated: invalid argument");
}

/* ---- scanner_test.go, through the parser ---- */

static void test_scanner_semantics(void)
{
	/* values: punctuation and dots are part of a bare value */
	T("labels.foo==omg_asdf.asdf-qwer,name", B(8));
	/* unicode values, bare and alt-quoted */
	E("name~=牛,labels.moo=true", "filters: parse error: [name~=牛,labels.moo >|=|< true]: "
				     "unsupported operator \"=\": invalid argument");
	T("name~=牛", 0);
	T("name~=|牛|", 0);
	T("name~=\"asdf\\n\\tfooo\"", 0);
	/* whitespace is skipped before tokens, but not after a value */
	T(" name == foo", B(0) | B(2));
	T("name ==foo", B(0) | B(2));
	T("name==foo, labels.foo", B(0) | B(2));
	E("name==foo ", "filters: parse error: [name==foo >| |< ]: unexpected input:  : invalid argument");
	E("doublevalue=value value", "filters: parse error: [doublevalue >|=|< value value]: "
				     "unsupported operator \"=\": invalid argument");
	E("name==value value", "filters: parse error: [name==value >| |< value]: unexpected input:  : invalid argument");
	E("interrupted=", "filters: parse error: [interrupted >|=|< ]: unsupported operator \"=\": invalid argument");
	E("interrupted==", "filters: parse error: [interrupted==]: expected value or quoted: invalid argument");
	/* a leading quoted field */
	T("\"name\"==foo", B(0) | B(2));
	/* escapes in a quoted value */
	T("other==\"too\\x20complex,\\u0020yo\"", B(6));
	T("other==\"too\\040complex, yo\"", B(6));
	/* the alternative quotes are regexps only */
	T("name~=/^ba/", B(1) | B(3) | B(6) | B(7));
	T("name~=|^ba|", B(1) | B(3) | B(6) | B(7));
	T("name~=/a\\/b/", 0);
	E("name==/bar/", "filters: parse error: [name== >|/|< bar/]: invalid quote encountered: invalid argument");
	E("name==|bar|", "filters: parse error: [name== >|||< bar|]: invalid quote encountered: invalid argument");
	E("name~=/a\\\"b/", "filters: parse error: [name~= >|/|< a\\\"b/]: illegal escape sequence: invalid argument");
	/* illegal quoted */
	E("labels.containerd.io/key==value",
	  "filters: parse error: [labels.containerd.io >|/|< key==value]: quoted literal not terminated: invalid argument");
	E("labels.\"containerd.io\nkey\"==value",
	  "filters: parse error: [labels. >|\"|< containerd.io\nkey\"==value]: quoted literal not terminated: invalid argument");
	E("labels.\"\\g\"", "filters: parse error: [labels. >|\"|< \\g\"]: illegal escape sequence: invalid argument");
	E("labels.\"\\xaz\"",
	  "filters: parse error: [labels. >|\"|< \\xaz\"]: illegal numeric escape sequence: invalid argument");
	/* scanned fine, refused by unquote */
	E("labels.\"\\777\"", "filters: parse error: [labels. >|\"|< \\777\"]: unquoting failed: quote syntax error: "
			      "invalid argument");
	E("labels.\"\\U00110000\"", "filters: parse error: [labels. >|\"|< \\U00110000\"]: unquoting failed: quote "
				    "syntax error: invalid argument");
	/* NUL bytes (only through filter_parse_len) */
	{
		const char in[] = "foo\0bar";
		const char *s = in;
		size_t len = sizeof in - 1;
		struct ucd_error *err = NULL;
		struct filter *f = filter_parse_len(&s, &len, 1, &err);
		CHECK(f == NULL && err != NULL, "NUL input parsed");
		if (err != NULL)
			/* the peek after "foo" records the sticky scanner error */
			CHECK(strcmp(err->msg, "filters: parse error: [foo >|\\x00|< bar]: unexpected null: "
					       "invalid argument") == 0,
			      "NUL: %s", err->msg);
		error_free(err);
		filter_free(f);
	}
}

static void test_operators_and_presence(void)
{
	/* == needs presence; != and ~= see "" for an absent field (containerd) */
	E("labels.bar==", "filters: parse error: [labels.bar==]: expected value or quoted: invalid argument");
	T("labels.bar==\"\"", 0);
	T("labels.bar!=true", ALL & ~B(3));
	T("labels.bar!=\"\"", B(3));
	T("labels.bar~=^$", ALL & ~B(3));
	T("labels.bar~=^.", B(3));
	E("labels.bar~=.", "filters: parse error: [labels.bar~= >|.|< ]: expected value or quoted: invalid argument");
	T("other", B(6) | B(7));
	T("other!=abc", ALL & ~B(7));
	T("nothing", 0);
	T("nothing!=x", ALL);
	T("nothing~=x", 0);
	T("nothing~=x*", ALL);
	/* field paths: quoted parts and dots in label keys */
	T("labels.\"foo\"", B(0) | B(2) | B(8));
	T("labels.\"more complex label\"", B(2));
	T("labels.more.complex", 0);
	/* bad operators */
	E("name=foo", "filters: parse error: [name >|=|< foo]: unsupported operator \"=\": invalid argument");
	E("name===foo", "filters: parse error: [name >|=|< ==foo]: unsupported operator \"===\": invalid argument");
	E("name!~foo", "filters: parse error: [name >|!|< ~foo]: unsupported operator \"!~\": invalid argument");
	E("name<foo",
	  "filters: parse error: [name >|<|< foo]: expected an operator (\"==\"|\"!=\"|\"~=\"): invalid argument");
	E("name ,x", "filters: parse error: [name  >|,|< x]: expected an operator (\"==\"|\"!=\"|\"~=\"): invalid argument");
	E("labels.foo-bar==x",
	  "filters: parse error: [labels.foo >|-|< bar==x]: expected an operator (\"==\"|\"!=\"|\"~=\"): invalid argument");
	/* empty selectors */
	E(",name", "filters: parse error: [ >|,|< name]: expected field or quoted: invalid argument");
	E("name,,id", "filters: parse error: [name, >|,|< id]: expected field or quoted: invalid argument");
	E(" ", "filters: parse error: [ ]: expected field or quoted: invalid argument");
	E("name==.foo", "filters: parse error: [name== >|.|< foo]: expected value or quoted: invalid argument");
	E("name==\"foo\"bar", "filters: parse error: [name==\"foo\" >|b|< ar]: unexpected input: b: invalid argument");
	E("labels..foo", "filters: parse error: [labels. >|.|< foo]: expected field or quoted: invalid argument");
	/* a value may start with a digit, dash, etc. and hold any graphic rune but ',' */
	T("labels.foo==true,name==foo", B(0));
	T("name~=^(foo|bar)$", B(0) | B(1) | B(2) | B(3));
	T("name~=^fo+(er)?$", B(0) | B(2) | B(4) | B(5));
	/* a field with a NUL never exists */
	T("labels.\"foo\\x00\"", 0);
	T("labels.\"foo\\x00\"!=x", ALL);
	/* a value with a NUL equals no C string */
	T("name==\"foo\\000\"", 0);
	T("name!=\"foo\\x00\"", ALL);
}

/* an adaptor that reports a value for an absent field (Go adaptors may) */
static bool absent_with_value(void *obj, const char *const *path, size_t n, const char **value)
{
	*value = "x";
	return false;
}

static void test_adaptor_contract(void)
{
	struct ucd_error *err = NULL;
	const char *s1 = "f==x", *s2 = "f!=x", *s3 = "f~=^x$", *s4 = "f";
	struct filter *f;
	f = filter_parse(&s1, 1, &err);
	CHECK(f && !filter_match(f, absent_with_value, NULL), "== with absent field");
	filter_free(f);
	f = filter_parse(&s2, 1, &err);
	CHECK(f && !filter_match(f, absent_with_value, NULL), "!= sees the value of an absent field");
	filter_free(f);
	f = filter_parse(&s3, 1, &err);
	CHECK(f && filter_match(f, absent_with_value, NULL), "~= sees the value of an absent field");
	filter_free(f);
	f = filter_parse(&s4, 1, &err);
	CHECK(f && !filter_match(f, absent_with_value, NULL), "presence");
	filter_free(f);
	CHECK(err == NULL, "no error");
	CHECK(filter_match(NULL, absent_with_value, NULL), "NULL filter matches");
	filter_free(NULL);
}

static void test_disjunction(void)
{
	char *msg;
	int code;
	{
		const char *l[] = {"name==foo", "name==bar"};
		CHECK(run_list(l, 2, &msg, &code) == (B(0) | B(1) | B(2) | B(3)) && !msg, "or");
		free(msg);
	}
	{
		const char *l[] = {"name==foo,labels.foo==true", "other"};
		CHECK(run_list(l, 2, &msg, &code) == (B(0) | B(6) | B(7)) && !msg, "or of ands");
		free(msg);
	}
	{
		CHECK(run_list(NULL, 0, &msg, &code) == ALL && !msg, "empty list");
		free(msg);
		struct filter *f = filter_parse(NULL, 0, NULL);
		CHECK(f != NULL && filter_is_match_all(f), "empty list is match-all");
		filter_free(f);
	}
	{
		const char *l[] = {"name==nothing", ""};
		CHECK(run_list(l, 2, &msg, &code) == ALL && !msg, "\"\" in a list matches all");
		free(msg);
	}
	{
		const char *l[] = {"name==nothing", "nope"};
		CHECK(run_list(l, 2, &msg, &code) == 0 && !msg, "none");
		free(msg);
		struct filter *f = filter_parse(l, 2, NULL);
		CHECK(f != NULL && !filter_is_match_all(f), "not match-all");
		filter_free(f);
	}
	{
		const char *l[] = {"name==foo", "name==foo,"};
		run_list(l, 2, &msg, &code);
		CHECK(msg && code == UCD_INVALID_ARGUMENT &&
			      strcmp(msg, "filters: parse error: [name==foo,]: expected field or quoted: invalid argument") == 0,
		      "one bad string fails the list: %s", msg ? msg : "(none)");
		free(msg);
	}
}

/* ---- regular expressions ---- */

static void re_case(int line, const char *pat, const char *text, bool want)
{
	char *msg = NULL;
	struct flt_re *re = flt_re_compile(pat, strlen(pat), &msg);
	if (re == NULL) {
		failed++;
		fprintf(stderr, "FAIL line %d: /%s/: %s\n", line, pat, msg);
		free(msg);
		return;
	}
	bool got = flt_re_match(re, text, strlen(text));
	CHECK(got == want, "line %d: /%s/ on \"%s\": %d, want %d", line, pat, text, got, want);
	flt_re_free(re);
}
#define R(pat, text, want) re_case(__LINE__, pat, text, want)

static void re_err(int line, const char *pat, size_t len, const char *want)
{
	char *msg = NULL;
	struct flt_re *re = flt_re_compile(pat, len, &msg);
	CHECK(re == NULL, "line %d: /%s/ compiled", line, pat);
	if (re == NULL && want != NULL)
		CHECK(msg && strcmp(msg, want) == 0, "line %d: /%s/:\n   got  %s\n   want %s", line, pat, msg, want);
	free(msg);
	flt_re_free(re);
}
#define RE(pat, want) re_err(__LINE__, pat, strlen(pat), want)

static void test_regexp(void)
{
	R("abc", "xabcx", true);
	R("^abc$", "abc", true);
	R("^abc$", "abcd", false);
	R("a|b", "b", true);
	R("a+b", "aaab", true);
	R("a+b", "b", false);
	R("a*b", "b", true);
	R("colou?r", "color", true);
	R("a{2}", "a", false);
	R("a{2}", "xaa", true);
	R("^a{2,3}$", "aaaa", false);
	R("^a{2,3}$", "aaa", true);
	R("^a{2,}$", "aaaaa", true);
	R("^a{0}$", "", true);
	R("^(ab){1,2}$", "abab", true);
	R("^(ab){1,2}$", "ababab", false);
	R("a{,2}", "a{,2}", true);   /* not a repeat: literal { */
	R("a{,2}", "aa", false);
	R("a{", "a{", true);
	R("a{01}", "a{01}", true);
	R("[abc]+", "too complex, yo", true);
	R("[^a]", "a", false);
	R("[^a]", "\n", true);
	R(".", "\n", false);
	R("(?s).", "\n", true);
	R("^b", "a\nb", false);
	R("(?m)^b", "a\nb", true);
	R("a$", "a\nb", false);
	R("a$", "a\n", false);
	R("(?m)a$", "a\nb", true);
	R("\\d+", "abc123", true);
	R("^\\D+$", "abc", true);
	R("\\s", "a b", true);
	R("\\s", "a\vb", false);   /* Go's \s has no \v */
	R("[[:space:]]", "a\vb", true);
	R("^\\w+$", "a_1", true);
	R("\\W", "abc", false);
	R("\\bfoo\\b", "a foo b", true);
	R("\\bfoo\\b", "afoob", false);
	R("\\Bfoo", "afoo", true);
	R("(?i)FOO", "xfoo", true);
	R("(?i)k", "\u212a", true);    /* Kelvin sign folds to k */
	R("(?i)\u212a", "K", true);
	R("(?i)σ", "ς", true);
	R("(?i)Σ", "ς", true);
	R("(?i)ǅ", "ǆ", true);
	R("(?i)ß", "ẞ", true);
	R("(?i)i", "İ", false);   /* no simple folding for U+0130 */
	R("(?i)é", "É", true);
	R("(?i)[a-c]+$", "xABC", true);
	R("(?i)[^k]", "\u212a", false);
	R("^\\W$", "ſ", true);
	R("(?i)^\\W$", "ſ", false);   /* Go folds \w before negating */
	R("(?i)^[^\\W]$", "ſ", true);
	R("(?i:a)b", "Ab", true);
	R("(?i:a)b", "AB", false);
	R("a(?i)b|c", "C", true);   /* flags last until the group closes, across | */
	R("(?i)a(?-i)b", "AB", false);
	R("(?i)a(?-i)b", "Ab", true);
	R("(?U)a+", "aaa", true);
	R("a+?b", "aab", true);
	R("[[:alpha:]]+", "abc", true);
	R("[[:^alpha:]]", "abc", false);
	R("[\\d\\-x]", "-", true);
	R("[]a]", "]", true);
	R("[^]a]", "b", true);
	R("[a-]", "-", true);
	R("[\\]]", "]", true);
	R("[[]", "[", true);
	R("\\x41", "A", true);
	R("\\x{1F600}", "😀", true);
	R("\\101", "A", true);
	R("\\Qa.b\\E", "a.b", true);
	R("\\Qa.b\\E", "axb", false);
	R("\\Qa.b", "a.b", true);
	R("\\.", "a.b", true);
	R("\\.", "ab", false);
	R("\\_", "_", true);
	R("牛", "a牛b", true);
	R("^.$", "牛", true);
	R("^..$", "牛", false);
	R("^.$", "\xff", true);          /* an invalid byte is one rune */
	R("^\uFFFD$", "\xff", true);
	R("\\Aa", "ba", false);
	R("a\\z", "ab", false);
	R("a\\z", "ba", true);
	R("", "", true);
	R("", "x", true);
	R("x*", "", true);
	R("^$", "", true);
	R("^*a", "a", true);
	R("a^b", "ab", false);
	R("(?P<name>a)(?<other>b)", "ab", true);
	R("()|a", "b", true);
	R("(a|)+b", "b", true);
	R("(a*)*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", false);
	R("(x+x+)+y", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", false);
	R("(?:a|b)*c", "ababababc", true);
	R("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", "docker.io", true);
	R("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", "Docker.io", false);
	R("^sha256:[a-f0-9]{64}$", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true);
	R("^sha256:[a-f0-9]{64}$", "sha256:0123456789abcdef", false);

	RE("(", "error parsing regexp: missing closing ): `(`");
	RE("(a|b", "error parsing regexp: missing closing ): `(a|b`");
	RE(")", "error parsing regexp: unexpected ): `)`");
	RE("a)b", "error parsing regexp: unexpected ): `a)b`");
	RE("*", "error parsing regexp: missing argument to repetition operator: `*`");
	RE("a|*", "error parsing regexp: missing argument to repetition operator: `*`");
	RE("(*)", "error parsing regexp: missing argument to repetition operator: `*`");
	RE("(?i)*", "error parsing regexp: missing argument to repetition operator: `*`");
	RE("{2}", "error parsing regexp: missing argument to repetition operator: `{2}`");
	RE("a**", "error parsing regexp: invalid nested repetition operator: `**`");
	RE("a*??", "error parsing regexp: invalid nested repetition operator: `*??`");
	RE("a{2}{3}", "error parsing regexp: invalid nested repetition operator: `{2}{3}`");
	RE("[a", "error parsing regexp: missing closing ]: `[a`");
	RE("x[]", "error parsing regexp: missing closing ]: `[]`");
	RE("[z-a]", "error parsing regexp: invalid character class range: `z-a`");
	RE("[[:foo:]]", "error parsing regexp: invalid character class range: `[:foo:]`");
	RE("\\", "error parsing regexp: trailing backslash at end of expression: ``");
	RE("\\q", "error parsing regexp: invalid escape sequence: `\\q`");
	RE("\\1", "error parsing regexp: invalid escape sequence: `\\1`");
	RE("\\8", "error parsing regexp: invalid escape sequence: `\\8`");
	RE("\\C", "error parsing regexp: invalid escape sequence: `\\C`");
	RE("\\x{}", "error parsing regexp: invalid escape sequence: `\\x{}`");
	RE("\\x{110000}", "error parsing regexp: invalid escape sequence: `\\x{110000`");
	RE("\\xg0", "error parsing regexp: invalid escape sequence: `\\xg0`");
	RE("[\\b]", "error parsing regexp: invalid escape sequence: `\\b`");
	RE("a{1001}", "error parsing regexp: invalid repeat count: `{1001}`");
	RE("a{2,1}", "error parsing regexp: invalid repeat count: `{2,1}`");
	RE("a{1000000000}", "error parsing regexp: invalid repeat count: `{1000000000}`");
	RE("(a{100}){100}", "error parsing regexp: invalid repeat count: `{100}`");
	RE("(?z)", "error parsing regexp: invalid or unsupported Perl syntax: `(?z`");
	RE("(?-)", "error parsing regexp: invalid or unsupported Perl syntax: `(?-)`");
	RE("(?i-)", "error parsing regexp: invalid or unsupported Perl syntax: `(?i-)`");
	RE("(?=a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`");
	RE("(?", "error parsing regexp: invalid or unsupported Perl syntax: `(?`");
	RE("(?P<>a)", "error parsing regexp: invalid named capture: `(?P<>`");
	RE("(?P<a-b>x)", "error parsing regexp: invalid named capture: `(?P<a-b>`");
	RE("(?<n", "error parsing regexp: invalid named capture: `(?<n`");
	RE("(?<=a)b", "error parsing regexp: invalid named capture: `(?<=a)b`");
	RE("\\pL", "error parsing regexp: unsupported Unicode character class: `\\pL`");
	RE("[\\p{Greek}]", "error parsing regexp: unsupported Unicode character class: `\\p{Greek}`");
	RE("\xff", "error parsing regexp: invalid UTF-8: `\xff`");
	RE("[\xff]", "error parsing regexp: invalid UTF-8: `\xff]`");
	re_err(__LINE__, "a\0b(", 4, NULL);

	/* limits: nesting, program size */
	{
		char pat[2 * (FLT_RE_MAX_DEPTH + 1) + 2];
		size_t n = 0;
		for (int i = 0; i < FLT_RE_MAX_DEPTH + 1; i++)
			pat[n++] = '(';
		pat[n++] = 'a';
		for (int i = 0; i < FLT_RE_MAX_DEPTH + 1; i++)
			pat[n++] = ')';
		pat[n] = 0;
		char *msg = NULL;
		struct flt_re *re = flt_re_compile(pat, n, &msg);
		CHECK(re == NULL && msg && strstr(msg, "expression nests too deeply"), "deep nesting: %s", msg);
		free(msg);
		flt_re_free(re);
		/* one level less is fine */
		re = flt_re_compile(pat + 1, n - 2, &msg);
		CHECK(re != NULL, "nesting at the limit");
		if (re)
			CHECK(flt_re_match(re, "a", 1), "deep match");
		flt_re_free(re);
	}
	{
		char pat[4096] = "";
		for (int i = 0; i < 11; i++)
			strcat(pat, ".{1000}");
		char *msg = NULL;
		struct flt_re *re = flt_re_compile(pat, strlen(pat), &msg);
		CHECK(re == NULL && msg && strstr(msg, "expression too large"), "too large: %s", msg);
		free(msg);
		flt_re_free(re);
	}
	{
		/* flag groups cannot stack repetitions past the height limit */
		char pat[4096] = "a";
		for (int i = 0; i < 600; i++)
			strcat(pat, "(?i)*");
		char *msg = NULL;
		struct flt_re *re = flt_re_compile(pat, strlen(pat), &msg);
		CHECK(re == NULL && msg && strstr(msg, "nests too deeply"), "stacked repetition: %s", msg);
		free(msg);
		flt_re_free(re);
	}
	{
		/* a big program on a long text stays linear */
		char text[4097];
		memset(text, 'x', 4096);
		text[4096] = 0;
		const char *pat = "(.{0,100}){10}y";
		char *msg = NULL;
		struct flt_re *re = flt_re_compile(pat, strlen(pat), &msg);
		CHECK(re != NULL, "big program: %s", msg);
		clock_t t0 = clock();
		if (re)
			CHECK(!flt_re_match(re, text, 4096), "big program no match");
		double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
		CHECK(secs < 20, "big program took %.1fs", secs);
		flt_re_free(re);
		free(msg);
	}
}

static void test_regexp_in_filters(void)
{
	E("name~=(", "filters: parse error: [name~= >|(|< ]: error parsing regexp: missing closing ): `(`: invalid argument");
	E("name~=/[z-a]/,x", "filters: parse error: [name~= >|/|< [z-a]/,x]: error parsing regexp: invalid character "
			     "class range: `z-a`: invalid argument");
	E("name~=\\pL", NULL);
	/* \d must be escaped twice inside quotes, but not bare */
	T("name~=^\\w+o$", B(0) | B(2) | B(7));
	T("name~=/^\\\\w{3}o$/", B(7));
	E("name~=/\\d/", "filters: parse error: [name~= >|/|< \\d/]: illegal escape sequence: invalid argument");
	T("name~=(?i)^FOO$", B(0) | B(2));
}

/* ---- limits and hostile input ---- */

static void test_limits(void)
{
	char *msg;
	int code;
	/* length */
	char *big = xmalloc(FILTER_MAX_LEN + 2);
	memcpy(big, "name==", 6);
	memset(big + 6, 'a', FILTER_MAX_LEN - 6);
	big[FILTER_MAX_LEN] = 0;
	const char *l1[] = {big};
	CHECK(run_list(l1, 1, &msg, &code) == 0 && msg == NULL, "4096 bytes accepted: %s", msg);
	free(msg);
	big[FILTER_MAX_LEN] = 'a';
	big[FILTER_MAX_LEN + 1] = 0;
	run_list(l1, 1, &msg, &code);
	CHECK(msg && code == UCD_INVALID_ARGUMENT &&
		      strcmp(msg, "filters: filter 0 is 4097 bytes long (at most 4096): invalid argument") == 0,
	      "4097 bytes: %s", msg);
	free(msg);
	free(big);

	/* number of strings */
	const char *many[FILTER_MAX_STRINGS + 1];
	for (size_t i = 0; i < FILTER_MAX_STRINGS + 1; i++)
		many[i] = "name==foo";
	CHECK(run_list(many, FILTER_MAX_STRINGS, &msg, &code) == (B(0) | B(2)) && !msg, "64 strings");
	free(msg);
	run_list(many, FILTER_MAX_STRINGS + 1, &msg, &code);
	CHECK(msg && code == UCD_INVALID_ARGUMENT &&
		      strcmp(msg, "filters: too many filters (65, at most 64): invalid argument") == 0,
	      "65 strings: %s", msg);
	free(msg);

	/* selectors per string */
	char sel[1024] = "name";
	for (int i = 1; i < FILTER_MAX_SELECTORS; i++)
		strcat(sel, ",name");
	T(sel, ALL);
	strcat(sel, ",name");
	E(sel, NULL);
	{
		const char *s = sel;
		struct ucd_error *err = NULL;
		struct filter *f = filter_parse(&s, 1, &err);
		CHECK(!f && err && strstr(err->msg, "too many selectors (at most 64)"), "65 selectors");
		error_free(err);
	}
}

static void test_hostile(void)
{
	/* control characters: not value runes bare, fine inside quotes */
	E("name==a\x01" "b", "filters: parse error: [name==a >|\x01|< b]: unexpected input: \x01: invalid argument");
	T("other==\"too complex,\x01yo\"", 0);
	E("name==\xff", "filters: parse error: [name== >|\xff|< ]: rune error: invalid argument");
	E("name==a\xff", "filters: parse error: [name==a >|\xff|< ]: unexpected input: \xef\xbf\xbd: invalid argument");
	E("\xef\xbf\xbd", "filters: parse error: [ >|\xef|< \xbf\xbd]: rune error: invalid argument");
	E("name==\"\xff\"", "filters: parse error: [name== >|\"|< \xff\"]: rune error: invalid argument");
	/* a format character (U+200B) is not graphic in Go */
	E("name==a\u200b", NULL);
	/* nested and unbalanced quotes */
	T("labels.\"\\\"\\\"\\\"\"", 0);
	T("other==\"\\\"too\\\" complex\"", 0);
	E("labels.\"\"\"", NULL);
	E("name==\"", NULL);
	E("name~=/", NULL);
	E("name~=|", NULL);
	E("\"", NULL);
	E("\"\\", NULL);
	E("labels.\"\\u12\"", NULL);
	E("labels.\"\\", NULL);
	/* a surrogate escape unquotes to U+FFFD, as Go's EncodeRune does */
	T("name==\"\\ud800\",name", 0);
	/* huge repeated input */
	{
		size_t n = 4096;
		char *s = xmalloc(n + 1);
		for (size_t i = 0; i < n; i++)
			s[i] = "\"\\/|=!~,."[i % 9];
		s[n] = 0;
		E(s, NULL);
		memset(s, '(', n);
		memcpy(s, "name~=", 6);
		E(s, NULL);
		memset(s, '"', n);
		E(s, NULL);
		memset(s, '.', n);
		E(s, NULL);
		free(s);
	}
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static void test_fuzz(void)
{
	static const char *const atoms[] = {
		"name", "labels", "other", ".", ",", "==", "!=", "~=", "=", "!", "~", "\"", "/", "|", "\\",
		"\\x", "\\u", "\\\"", "\\\\", "\\/", "a", "foo", "true", " ", "\t", "\n", "\x01", "\xff", "\xc3",
		"牛", "(", ")", "[", "]", "{", "}", "*", "+", "?", "^", "$", "(?i)", "\\d", "\\p", "-", "0",
		"7", "\u200b", "\xef\xbf\xbd", "'", "`", "#", ":",
	};
	int parsed = 0;
	for (int iter = 0; iter < 30000; iter++) {
		char buf[256];
		size_t n = 0, k = rnd() % 24;
		for (size_t i = 0; i < k; i++) {
			const char *a = atoms[rnd() % ARRAY_LEN(atoms)];
			size_t al = strlen(a);
			if (n + al >= sizeof buf)
				break;
			memcpy(buf + n, a, al);
			n += al;
		}
		buf[n] = 0;
		const char *s = buf;
		struct ucd_error *err = NULL;
		struct filter *f = filter_parse(&s, 1, &err);
		if (f != NULL) {
			parsed++;
			for (size_t i = 0; i < NCORPUS; i++)
				filter_match(f, adapt, (void *)&corpus[i]);
		} else if (err == NULL || err->code != UCD_INVALID_ARGUMENT) {
			failed++;
			fprintf(stderr, "FAIL fuzz: %s: no InvalidArgument error\n", buf);
		}
		error_free(err);
		filter_free(f);
	}
	CHECK(parsed > 100, "fuzz parsed %d", parsed);

	static const char *const re_atoms[] = {
		"a", "b", "k", "K", "\u212a", "ſ", "σ", "ς", ".", "|", "(", ")", "(?:", "(?i)", "(?m)", "(?s)", "(?-i)",
		"(?i:", "[", "]", "^", "-", "*", "+", "?", "{", "}", "{2}", "{0,3}", "{1,}", "\\", "\\d", "\\W", "\\b",
		"\\B", "\\A", "\\z", "\\x41", "\\Q", "\\E", "[:alpha:]", "[:^space:]", "$", "\n", "\xff", "牛", "0",
	};
	static const char *const texts[] = {"", "a", "ab\nba", "Kk\u212a", "aaaa", "xſy", "牛\xff", "a-b_c d"};
	int compiled = 0;
	for (int iter = 0; iter < 30000; iter++) {
		char buf[256];
		size_t n = 0, k = rnd() % 16;
		for (size_t i = 0; i < k; i++) {
			const char *a = re_atoms[rnd() % ARRAY_LEN(re_atoms)];
			size_t al = strlen(a);
			if (n + al >= sizeof buf)
				break;
			memcpy(buf + n, a, al);
			n += al;
		}
		char *msg = NULL;
		struct flt_re *re = flt_re_compile(buf, n, &msg);
		if (re != NULL) {
			compiled++;
			for (size_t i = 0; i < ARRAY_LEN(texts); i++)
				flt_re_match(re, texts[i], strlen(texts[i]));
		} else if (msg == NULL || strncmp(msg, "error parsing regexp: ", 22) != 0) {
			failed++;
			fprintf(stderr, "FAIL re fuzz: no message\n");
		}
		free(msg);
		flt_re_free(re);
	}
	CHECK(compiled > 1000, "re fuzz compiled %d", compiled);
}

/* ---- helpers ---- */

static void test_helpers(void)
{
	const char *p1[] = {"foo", "bar"}, *p2[] = {"foo.bar"}, *p3[] = {"foo", ""};
	CHECK(filter_path_equals("foo.bar", p1, 2), "join 2");
	CHECK(filter_path_equals("foo.bar", p2, 1), "join 1");
	CHECK(!filter_path_equals("foo", p1, 2), "short key");
	CHECK(!filter_path_equals("foo.barx", p1, 2), "long key");
	CHECK(!filter_path_equals("foo_bar", p1, 2), "separator");
	CHECK(filter_path_equals("foo.", p3, 2), "empty last");
	CHECK(filter_path_equals("", NULL, 0), "empty path is \"\"");
	CHECK(!filter_path_equals("x", NULL, 0), "empty path vs x");

	const char *keys[] = {"a.b", "c", ""}, *vals[] = {"1", "2", "3"};
	const char *v = NULL;
	const char *ab[] = {"a", "b"}, *q[] = {"a.b"}, *c[] = {"c"}, *d[] = {"d"};
	CHECK(filter_get_label(keys, vals, 3, ab, 2, &v) && strcmp(v, "1") == 0, "label a.b by parts");
	CHECK(filter_get_label(keys, vals, 3, q, 1, &v) && strcmp(v, "1") == 0, "label a.b quoted");
	CHECK(filter_get_label(keys, vals, 3, c, 1, &v) && strcmp(v, "2") == 0, "label c");
	CHECK(!filter_get_label(keys, vals, 3, d, 1, &v), "label d absent");
	CHECK(filter_get_label(keys, vals, 3, NULL, 0, &v) && strcmp(v, "3") == 0, "bare labels looks up \"\"");
	CHECK(!filter_get_label(keys, vals, 2, NULL, 0, &v), "bare labels without \"\" key");
	CHECK(!filter_get_label(NULL, NULL, 0, c, 1, &v), "empty map");

	CHECK(filter_fieldmask_key("labels.foo.bar", "labels") &&
		      strcmp(filter_fieldmask_key("labels.foo.bar", "labels"), "foo.bar") == 0,
	      "mask key with dots");
	CHECK(filter_fieldmask_key("labels", "labels") == NULL, "bare labels");
	CHECK(filter_fieldmask_key("labels.", "labels") && *filter_fieldmask_key("labels.", "labels") == 0, "empty key");
	CHECK(filter_fieldmask_key("labelsx.foo", "labels") == NULL, "other field");
	CHECK(strcmp(filter_fieldmask_key("labels.\"a.b\"", "labels"), "\"a.b\"") == 0, "quotes kept verbatim");
	CHECK(strcmp(filter_fieldmask_key("annotations.x", "annotations"), "x") == 0, "annotations");
	const char *rest = "x";
	CHECK(filter_fieldmask_split("labels.foo.bar", &rest) == 6 && strcmp(rest, "foo.bar") == 0, "split");
	CHECK(filter_fieldmask_split("image", &rest) == 5 && rest == NULL, "split no dot");
	CHECK(filter_fieldmask_split(".x", &rest) == 0 && strcmp(rest, "x") == 0, "split leading dot");
}

int main(void)
{
	test_containerd_cases();
	test_scanner_semantics();
	test_operators_and_presence();
	test_adaptor_contract();
	test_disjunction();
	test_regexp();
	test_regexp_in_filters();
	test_limits();
	test_hostile();
	test_fuzz();
	test_helpers();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
