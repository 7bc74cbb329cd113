/* TOML 1.0 parser. See toml.h for the API and docs/toml.md for the decisions
 * the specification leaves open.
 *
 * The document is first checked as a whole: it must be valid UTF-8 and hold
 * no control character other than tab, LF and CR immediately before LF. TOML
 * forbids every other control character everywhere (bare, in comments and in
 * all four kinds of strings), so after this pass the recursive-descent parser
 * below only has to deal with the grammar.
 *
 * Tables carry a "kind" that encodes how they came to exist, which is all the
 * redefinition rules need:
 *   EXPLICIT  defined by a [header], an [[array]] element, or the root;
 *   IMPLICIT  created as a prefix of a header ([a.b] creates a); a later
 *             [a] may still define it;
 *   DOTTED    created by a dotted key (a.b = 1 creates a); no header may
 *             define it, but headers may go through it to sub-tables;
 *   INLINE    an inline table and everything in it; frozen.
 * Arrays are either static (a literal) or arrays of tables ([[x]]). */
#include "toml/toml.h"

#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deepest nesting of tables and arrays in the tree (root = 0). Everything that
 * recurses (parser, free, freezing inline tables) is bounded by it. */
#define TOML_MAX_DEPTH 128
/* Index a table's keys in a hash once it holds this many. */
#define TOML_HASH_MIN 8

enum table_kind { TK_EXPLICIT, TK_IMPLICIT, TK_DOTTED, TK_INLINE };
enum array_kind { AK_STATIC, AK_TABLES };

struct entry {
	char *key;
	size_t klen;
	int line, col;
	struct toml_value *val;
};

struct toml_value {
	enum toml_type type;
	int line, col;
	int depth;
	int kind; /* enum table_kind or enum array_kind */
	union {
		struct {
			struct entry *e;
			size_t len, cap;
			size_t *idx; /* open addressing, slot = entry index + 1 */
			size_t icap;
		} t;
		struct {
			struct toml_value **v;
			size_t len, cap;
		} a;
		struct {
			char *s;
			size_t len;
		} s;
		int64_t i;
		double f;
		bool b;
		struct toml_datetime dt;
	} u;
};

/* ---------------------------------------------------------------- values */

static struct toml_value *new_value(enum toml_type type, int line, int col, int depth)
{
	struct toml_value *v = xcalloc(1, sizeof *v);
	v->type = type;
	v->line = line;
	v->col = col;
	v->depth = depth;
	return v;
}

void toml_free(struct toml_value *v)
{
	if (v == NULL)
		return;
	switch (v->type) {
	case TOML_TABLE:
		for (size_t i = 0; i < v->u.t.len; i++) {
			free(v->u.t.e[i].key);
			toml_free(v->u.t.e[i].val);
		}
		free(v->u.t.e);
		free(v->u.t.idx);
		break;
	case TOML_ARRAY:
		for (size_t i = 0; i < v->u.a.len; i++)
			toml_free(v->u.a.v[i]);
		free(v->u.a.v);
		break;
	case TOML_STRING:
		free(v->u.s.s);
		break;
	default:
		break;
	}
	free(v);
}

static uint64_t key_hash(const char *k, size_t len)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)k[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void index_insert(struct toml_value *t, size_t i)
{
	size_t mask = t->u.t.icap - 1;
	size_t slot = (size_t)key_hash(t->u.t.e[i].key, t->u.t.e[i].klen) & mask;
	while (t->u.t.idx[slot] != 0)
		slot = (slot + 1) & mask;
	t->u.t.idx[slot] = i + 1;
}

static void index_rebuild(struct toml_value *t)
{
	size_t icap = 16;
	while (icap < t->u.t.len * 2 + 2)
		icap *= 2;
	free(t->u.t.idx);
	t->u.t.idx = xcalloc(icap, sizeof *t->u.t.idx);
	t->u.t.icap = icap;
	for (size_t i = 0; i < t->u.t.len; i++)
		index_insert(t, i);
}

static struct entry *table_find(const struct toml_value *t, const char *key, size_t klen)
{
	if (t->u.t.idx != NULL) {
		size_t mask = t->u.t.icap - 1;
		size_t slot = (size_t)key_hash(key, klen) & mask;
		for (; t->u.t.idx[slot] != 0; slot = (slot + 1) & mask) {
			struct entry *e = &t->u.t.e[t->u.t.idx[slot] - 1];
			if (e->klen == klen && memcmp(e->key, key, klen) == 0)
				return e;
		}
		return NULL;
	}
	for (size_t i = 0; i < t->u.t.len; i++) {
		struct entry *e = &t->u.t.e[i];
		if (e->klen == klen && memcmp(e->key, key, klen) == 0)
			return e;
	}
	return NULL;
}

/* Takes ownership of key (NUL-terminated, klen bytes) and val. */
static void table_add(struct toml_value *t, char *key, size_t klen, int line, int col,
		      struct toml_value *val)
{
	if (t->u.t.len == t->u.t.cap) {
		t->u.t.cap = t->u.t.cap ? t->u.t.cap * 2 : 4;
		t->u.t.e = xrealloc(t->u.t.e, t->u.t.cap * sizeof *t->u.t.e);
	}
	size_t i = t->u.t.len++;
	t->u.t.e[i] = (struct entry){ .key = key, .klen = klen, .line = line, .col = col, .val = val };
	if (t->u.t.len < TOML_HASH_MIN)
		return;
	if (t->u.t.idx == NULL || t->u.t.len * 2 + 2 > t->u.t.icap)
		index_rebuild(t);
	else
		index_insert(t, i);
}

static void array_push(struct toml_value *a, struct toml_value *v)
{
	if (a->u.a.len == a->u.a.cap) {
		a->u.a.cap = a->u.a.cap ? a->u.a.cap * 2 : 4;
		a->u.a.v = xrealloc(a->u.a.v, a->u.a.cap * sizeof *a->u.a.v);
	}
	a->u.a.v[a->u.a.len++] = v;
}

/* Freezes an inline table and the tables its dotted keys created. */
static void freeze(struct toml_value *t)
{
	t->kind = TK_INLINE;
	for (size_t i = 0; i < t->u.t.len; i++)
		if (t->u.t.e[i].val->type == TOML_TABLE)
			freeze(t->u.t.e[i].val);
}

/* ---------------------------------------------------------------- parser */

struct buf {
	char *b;
	size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16;
		while (b->len + n + 1 > cap)
			cap *= 2;
		b->b = xrealloc(b->b, cap);
		b->cap = cap;
	}
	memcpy(b->b + b->len, p, n);
	b->len += n;
	b->b[b->len] = '\0';
}

static void buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

/* Returns the buffer as a NUL-terminated string (never NULL). */
static char *buf_take(struct buf *b, size_t *len)
{
	if (b->b == NULL)
		buf_add(b, "", 0);
	*len = b->len;
	char *s = b->b;
	*b = (struct buf){ 0 };
	return s;
}

struct keypart {
	char *s;
	size_t len;
	int line, col;
};

struct key {
	struct keypart *parts;
	size_t n, cap;
};

static void key_free(struct key *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->parts[i].s);
	free(k->parts);
	*k = (struct key){ 0 };
}

struct parser {
	const char *s;
	size_t n, p;
	int line;
	size_t ls; /* offset where the current line starts */
	const char *file;
	char *err;
	struct toml_value *root, *cur;
	locale_t cloc;
};

static int col_of(const struct parser *P, size_t pos)
{
	size_t c = pos - P->ls + 1;
	return c > INT_MAX ? INT_MAX : (int)c;
}

static int cur_col(const struct parser *P)
{
	return col_of(P, P->p);
}

static bool at_end(const struct parser *P)
{
	return P->p >= P->n;
}

static int peek(const struct parser *P, size_t off)
{
	return P->p + off < P->n ? (unsigned char)P->s[P->p + off] : -1;
}

static void adv(struct parser *P)
{
	if (P->s[P->p] == '\n') {
		if (P->line < INT_MAX)
			P->line++;
		P->ls = P->p + 1;
	}
	P->p++;
}

__attribute__((format(printf, 4, 5)))
static int fail_at(struct parser *P, int line, int col, const char *fmt, ...)
{
	if (P->err != NULL)
		return -1;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	P->err = xasprintf("%s:%d:%d: %s", P->file, line, col, msg);
	return -1;
}

#define fail(P, ...) fail_at((P), (P)->line, cur_col(P), __VA_ARGS__)

/* Describes the character at the cursor for "found ..." in messages. */
static const char *describe(const struct parser *P, char out[32])
{
	int c = peek(P, 0);
	if (c < 0)
		return "end of file";
	if (c == '\n' || c == '\r')
		return "end of line";
	if (c == '\t')
		return "tab";
	if (c == ' ')
		return "space";
	if (c < 0x80) {
		snprintf(out, 32, "'%c'", c);
		return out;
	}
	/* a UTF-8 sequence, already validated */
	uint32_t cp;
	size_t n;
	if (c >= 0xF0) {
		cp = (uint32_t)c & 0x07;
		n = 4;
	} else if (c >= 0xE0) {
		cp = (uint32_t)c & 0x0F;
		n = 3;
	} else {
		cp = (uint32_t)c & 0x1F;
		n = 2;
	}
	for (size_t i = 1; i < n; i++)
		cp = (cp << 6) | ((uint32_t)peek(P, i) & 0x3F);
	snprintf(out, 32, "U+%04X", (unsigned)cp);
	return out;
}

static bool is_bare(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* Appends a key part as written in TOML to a message, quoting if needed. */
static void show_part(struct buf *b, const char *s, size_t len)
{
	bool bare = len > 0;
	for (size_t i = 0; i < len; i++)
		if (!is_bare((unsigned char)s[i]))
			bare = false;
	if (bare) {
		buf_add(b, s, len);
		return;
	}
	buf_addc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf_addc(b, '\\');
			buf_addc(b, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			char tmp[8];
			snprintf(tmp, sizeof tmp, "\\u%04X", c);
			buf_add(b, tmp, strlen(tmp));
		} else {
			buf_addc(b, (char)c);
		}
	}
	buf_addc(b, '"');
}

/* The first n parts of k, dotted, for messages; truncated when long. */
#define KEYBUF 256
static const char *show_key(const struct key *k, size_t n, char out[KEYBUF])
{
	struct buf b = { 0 };
	for (size_t i = 0; i < n && b.len < KEYBUF; i++) {
		if (i > 0)
			buf_addc(&b, '.');
		show_part(&b, k->parts[i].s, k->parts[i].len);
	}
	if (b.len >= KEYBUF)
		snprintf(out, KEYBUF, "%.*s...", KEYBUF - 4, b.b);
	else
		snprintf(out, KEYBUF, "%s", b.b ? b.b : "");
	free(b.b);
	return out;
}

static const char *kind_name(const struct toml_value *v)
{
	switch (v->type) {
	case TOML_TABLE:
		return v->kind == TK_INLINE ? "an inline table" : "a table";
	case TOML_ARRAY:
		return v->kind == AK_TABLES ? "an array of tables" : "an array";
	case TOML_STRING:
		return "a string";
	case TOML_INTEGER:
		return "an integer";
	case TOML_FLOAT:
		return "a float";
	case TOML_BOOL:
		return "a boolean";
	case TOML_DATETIME:
		return "an offset date-time";
	case TOML_DATETIME_LOCAL:
		return "a local date-time";
	case TOML_DATE_LOCAL:
		return "a local date";
	case TOML_TIME_LOCAL:
		return "a local time";
	}
	return "a value";
}

/* ------------------------------------------------------------- encoding */

/* Checks the whole document: valid UTF-8, no control characters except tab,
 * LF and CRLF. Starts at P->p (after a BOM). */
static int check_text(struct parser *P)
{
	const unsigned char *s = (const unsigned char *)P->s;
	size_t n = P->n, i = P->p, ls = P->ls;
	int line = 1;
	while (i < n) {
		unsigned c = s[i];
		int col = (i - ls + 1) > INT_MAX ? INT_MAX : (int)(i - ls + 1);
		if (c < 0x80) {
			if (c == '\n') {
				if (line < INT_MAX)
					line++;
				ls = i + 1;
			} else if (c == '\r') {
				if (i + 1 >= n || s[i + 1] != '\n')
					return fail_at(P, line, col,
						       "carriage return not followed by a newline");
			} else if (c == 0) {
				return fail_at(P, line, col, "nul byte (U+0000) is not allowed");
			} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
				return fail_at(P, line, col,
					       "control character U+%04X is not allowed "
					       "(use an escape sequence in a basic string)", c);
			}
			i++;
			continue;
		}
		size_t need;
		unsigned lo = 0x80, hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0; /* overlong */
			else if (c == 0xED)
				hi = 0x9F; /* surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90; /* overlong */
			else if (c == 0xF4)
				hi = 0x8F; /* above U+10FFFF */
		} else {
			return fail_at(P, line, col, "invalid UTF-8 byte 0x%02X", c);
		}
		for (size_t k = 1; k <= need; k++) {
			if (i + k >= n)
				return fail_at(P, line, col, "truncated UTF-8 sequence at end of file");
			unsigned d = s[i + k];
			if (d < lo || d > hi)
				return fail_at(P, line, col, "invalid UTF-8 sequence");
			lo = 0x80;
			hi = 0xBF;
		}
		i += need + 1;
	}
	return 0;
}

/* ------------------------------------------------------ whitespace & co */

static void skip_ws(struct parser *P)
{
	while (!at_end(P) && (P->s[P->p] == ' ' || P->s[P->p] == '\t'))
		P->p++;
}

static bool at_newline(const struct parser *P)
{
	/* check_text guarantees every CR is followed by LF */
	return !at_end(P) && (P->s[P->p] == '\n' || P->s[P->p] == '\r');
}

static void skip_newline(struct parser *P)
{
	if (P->s[P->p] == '\r')
		P->p++;
	adv(P);
}

static void skip_comment(struct parser *P)
{
	while (!at_end(P) && !at_newline(P))
		P->p++;
}

/* Whitespace, newlines and comments, as allowed between array elements. */
static void skip_ws_nl(struct parser *P)
{
	for (;;) {
		skip_ws(P);
		if (at_end(P))
			return;
		if (P->s[P->p] == '#')
			skip_comment(P);
		else if (at_newline(P))
			skip_newline(P);
		else
			return;
	}
}

/* --------------------------------------------------------------- strings */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void put_utf8(struct buf *b, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	buf_add(b, u, n);
}

/* At a backslash in a basic string. */
static int parse_escape(struct parser *P, struct buf *b, bool multiline)
{
	int line = P->line, col = cur_col(P);
	P->p++;
	int c = peek(P, 0);
	switch (c) {
	case 'b': buf_addc(b, '\b'); P->p++; return 0;
	case 't': buf_addc(b, '\t'); P->p++; return 0;
	case 'n': buf_addc(b, '\n'); P->p++; return 0;
	case 'f': buf_addc(b, '\f'); P->p++; return 0;
	case 'r': buf_addc(b, '\r'); P->p++; return 0;
	case '"': buf_addc(b, '"'); P->p++; return 0;
	case '\\': buf_addc(b, '\\'); P->p++; return 0;
	case 'u':
	case 'U': {
		int ndig = c == 'u' ? 4 : 8;
		uint32_t cp = 0;
		for (int i = 1; i <= ndig; i++) {
			int h = hexval(peek(P, (size_t)i));
			if (h < 0)
				return fail_at(P, line, col,
					       "invalid unicode escape: expected %d hex digits after '\\%c'",
					       ndig, c);
			cp = (cp << 4) | (uint32_t)h;
		}
		if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return fail_at(P, line, col,
				       "invalid unicode escape '\\%c%.*s': not a unicode scalar value",
				       c, ndig, P->s + P->p + 1);
		put_utf8(b, cp);
		P->p += (size_t)ndig + 1;
		return 0;
	}
	case ' ':
	case '\t':
	case '\n':
	case '\r':
		if (multiline) {
			/* line-ending backslash: whitespace up to the newline, then all
			 * whitespace and newlines are trimmed */
			skip_ws(P);
			if (!at_newline(P))
				return fail_at(P, line, col,
					       "invalid escape: a backslash followed by whitespace "
					       "must end the line");
			while (!at_end(P) && (P->s[P->p] == ' ' || P->s[P->p] == '\t' || at_newline(P)))
				adv(P);
			return 0;
		}
		break;
	default:
		break;
	}
	if (c < 0)
		return fail_at(P, line, col, "unterminated string: backslash at end of file");
	if (c == ' ' || c == '\t')
		return fail_at(P, line, col, "invalid escape sequence: backslash followed by whitespace");
	if (c == '\n' || c == '\r')
		return fail_at(P, line, col,
			       "invalid escape: line-ending backslash is only allowed in multi-line strings");
	if (c >= 0x80)
		return fail_at(P, line, col, "invalid escape sequence: backslash followed by non-ASCII");
	return fail_at(P, line, col,
		       "invalid escape sequence '\\%c' (expected \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX or \\UXXXXXXXX)",
		       c);
}

/* At the opening quote of any of the four string kinds. */
static int parse_string(struct parser *P, char **out, size_t *outlen)
{
	int line = P->line, col = cur_col(P);
	char q = P->s[P->p];
	bool literal = q == '\'';
	bool multiline = peek(P, 1) == q && peek(P, 2) == q;
	struct buf b = { 0 };

	if (!multiline) {
		P->p++;
		for (;;) {
			if (at_end(P) || at_newline(P)) {
				free(b.b);
				return fail_at(P, line, col,
					       "unterminated string: expected closing %c before end of %s",
					       q, at_end(P) ? "file" : "line");
			}
			char c = P->s[P->p];
			if (c == q) {
				P->p++;
				break;
			}
			if (c == '\\' && !literal) {
				if (parse_escape(P, &b, false) < 0) {
					free(b.b);
					return -1;
				}
				continue;
			}
			buf_addc(&b, c);
			P->p++;
		}
		*out = buf_take(&b, outlen);
		return 0;
	}

	P->p += 3;
	if (at_newline(P))
		skip_newline(P); /* a newline right after the opening is trimmed */
	for (;;) {
		if (at_end(P)) {
			free(b.b);
			return fail_at(P, line, col,
				       "unterminated multi-line string: expected closing %c%c%c",
				       q, q, q);
		}
		char c = P->s[P->p];
		if (c == q) {
			size_t run = 0;
			while (run < 6 && peek(P, run) == (unsigned char)q)
				run++;
			if (run >= 3) {
				if (run > 5) {
					free(b.b);
					return fail(P, "too many %c characters at the end of a multi-line "
						    "string (at most 2 may precede the closing %c%c%c)",
						    q, q, q, q);
				}
				for (size_t i = 3; i < run; i++)
					buf_addc(&b, q);
				P->p += run;
				break;
			}
			for (size_t i = 0; i < run; i++)
				buf_addc(&b, q);
			P->p += run;
			continue;
		}
		if (c == '\\' && !literal) {
			if (parse_escape(P, &b, true) < 0) {
				free(b.b);
				return -1;
			}
			continue;
		}
		if (c == '\r') {
			/* CRLF is normalised to LF */
			P->p++;
			continue;
		}
		buf_addc(&b, c);
		adv(P);
	}
	*out = buf_take(&b, outlen);
	return 0;
}

/* ------------------------------------------------------------------ keys */

static int parse_simple_key(struct parser *P, struct keypart *kp)
{
	kp->line = P->line;
	kp->col = cur_col(P);
	int c = peek(P, 0);
	if (c == '"' || c == '\'') {
		if (peek(P, 1) == c && peek(P, 2) == c)
			return fail(P, "multi-line strings cannot be used as keys");
		return parse_string(P, &kp->s, &kp->len);
	}
	size_t start = P->p;
	while (!at_end(P) && is_bare((unsigned char)P->s[P->p]))
		P->p++;
	if (P->p == start) {
		char d[32];
		if (c == '=')
			return fail(P, "expected a key before '='");
		return fail(P, "expected a key (bare: A-Za-z0-9_-, or quoted), found %s", describe(P, d));
	}
	kp->len = P->p - start;
	kp->s = xstrndup(P->s + start, kp->len);
	return 0;
}

/* key = simple-key *( ws "." ws simple-key ); leaves trailing ws unread. */
static int parse_key(struct parser *P, struct key *k)
{
	for (;;) {
		if (k->n == TOML_MAX_DEPTH)
			return fail(P, "key has too many dotted parts (more than %d)", TOML_MAX_DEPTH);
		if (k->n == k->cap) {
			k->cap = k->cap ? k->cap * 2 : 4;
			k->parts = xrealloc(k->parts, k->cap * sizeof *k->parts);
		}
		struct keypart *kp = &k->parts[k->n];
		*kp = (struct keypart){ 0 };
		if (parse_simple_key(P, kp) < 0)
			return -1;
		k->n++;
		size_t save = P->p;
		skip_ws(P);
		if (peek(P, 0) != '.') {
			P->p = save;
			return 0;
		}
		P->p++;
		skip_ws(P);
	}
}

/* ---------------------------------------------------- numbers and dates */

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_tok(int c)
{
	return is_bare(c) || c == '+' || c == '.' || c == ':';
}

/* Reads DIGIT *( DIGIT / "_" DIGIT ) in the given base from s[*i..n). */
static bool scan_digits(const char *s, size_t *i, size_t n, int base)
{
	size_t j = *i;
	int d = j < n ? hexval((unsigned char)s[j]) : -1;
	if (d < 0 || d >= base)
		return false;
	j++;
	for (;;) {
		if (j < n && s[j] == '_')
			j++;
		d = j < n ? hexval((unsigned char)s[j]) : -1;
		if (d < 0 || d >= base) {
			if (s[j - 1] == '_')
				return false; /* underscore not followed by a digit */
			break;
		}
		j++;
	}
	*i = j;
	return true;
}

static int parse_number(struct parser *P, const char *s, size_t n, int line, int col,
			struct toml_value **out, int depth)
{
	size_t i = 0;
	bool neg = false, sign = false;
	if (s[0] == '+' || s[0] == '-') {
		sign = true;
		neg = s[0] == '-';
		i++;
	}
	if (n - i == 3 && (memcmp(s + i, "inf", 3) == 0 || memcmp(s + i, "nan", 3) == 0)) {
		*out = new_value(TOML_FLOAT, line, col, depth);
		if (s[i] == 'i')
			(*out)->u.f = neg ? -INFINITY : INFINITY;
		else
			(*out)->u.f = neg ? -NAN : NAN;
		return 0;
	}
	if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'o' || s[i + 1] == 'b')) {
		int base = s[i + 1] == 'x' ? 16 : s[i + 1] == 'o' ? 8 : 2;
		const char *bname = base == 16 ? "hexadecimal" : base == 8 ? "octal" : "binary";
		if (sign)
			return fail_at(P, line, col, "%s integers cannot have a sign", bname);
		size_t j = i + 2;
		if (!scan_digits(s, &j, n, base) || j != n)
			return fail_at(P, line, col,
				       "invalid %s integer `%.*s` (digits may be separated by single "
				       "underscores only)", bname, (int)n, s);
		uint64_t v = 0;
		for (size_t k = i + 2; k < n; k++) {
			if (s[k] == '_')
				continue;
			uint64_t d = (uint64_t)hexval((unsigned char)s[k]);
			if (v > ((uint64_t)INT64_MAX - d) / (uint64_t)base)
				return fail_at(P, line, col, "integer `%.*s` does not fit in 64 bits",
					       (int)n, s);
			v = v * (uint64_t)base + d;
		}
		*out = new_value(TOML_INTEGER, line, col, depth);
		(*out)->u.i = (int64_t)v;
		return 0;
	}

	size_t int_start = i;
	if (!scan_digits(s, &i, n, 10))
		goto bad;
	if (s[int_start] == '0' && i - int_start > 1)
		return fail_at(P, line, col, "leading zeros are not allowed in `%.*s`", (int)n, s);
	bool is_float = false;
	if (i < n && s[i] == '.') {
		i++;
		if (!scan_digits(s, &i, n, 10))
			goto bad;
		is_float = true;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (!scan_digits(s, &i, n, 10))
			goto bad;
		is_float = true;
	}
	if (i != n)
		goto bad;

	if (!is_float) {
		uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		for (size_t k = int_start; k < n; k++) {
			if (s[k] == '_')
				continue;
			uint64_t d = (uint64_t)(s[k] - '0');
			if (v > (lim - d) / 10)
				return fail_at(P, line, col, "integer `%.*s` does not fit in 64 bits",
					       (int)n, s);
			v = v * 10 + d;
		}
		*out = new_value(TOML_INTEGER, line, col, depth);
		(*out)->u.i = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
		return 0;
	}

	char *tmp = xmalloc(n + 1), *end;
	size_t m = 0;
	for (size_t k = 0; k < n; k++)
		if (s[k] != '_')
			tmp[m++] = s[k];
	tmp[m] = '\0';
	if (P->cloc == (locale_t)0)
		P->cloc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	errno = 0;
	double d = P->cloc != (locale_t)0 ? strtod_l(tmp, &end, P->cloc) : strtod(tmp, &end);
	bool ok = *end == '\0';
	free(tmp);
	if (!ok)
		goto bad;
	if (errno == ERANGE && isinf(d))
		return fail_at(P, line, col, "float `%.*s` is out of range", (int)n, s);
	*out = new_value(TOML_FLOAT, line, col, depth);
	(*out)->u.f = d;
	return 0;
bad:
	return fail_at(P, line, col, "invalid number `%.*s`", (int)n, s);
}

static bool digits(const char *s, size_t *i, size_t n, size_t count, int *val)
{
	int v = 0;
	for (size_t k = 0; k < count; k++) {
		if (*i + k >= n || !is_digit((unsigned char)s[*i + k]))
			return false;
		v = v * 10 + (s[*i + k] - '0');
	}
	*i += count;
	*val = v;
	return true;
}

static int days_in_month(int y, int m)
{
	static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

/* partial-time = HH:MM:SS [ "." 1*DIGIT ] */
static const char *scan_time(const char *s, size_t *i, size_t n, struct toml_datetime *dt)
{
	if (!digits(s, i, n, 2, &dt->hour) || *i >= n || s[*i] != ':' ||
	    (++*i, !digits(s, i, n, 2, &dt->minute)) || *i >= n || s[*i] != ':' ||
	    (++*i, !digits(s, i, n, 2, &dt->second)))
		return "expected a time as HH:MM:SS";
	if (*i < n && s[*i] == '.') {
		++*i;
		if (*i >= n || !is_digit((unsigned char)s[*i]))
			return "expected digits after '.' in the seconds";
		int ns = 0, nd = 0;
		while (*i < n && is_digit((unsigned char)s[*i])) {
			if (nd < 9) {
				ns = ns * 10 + (s[*i] - '0');
				nd++;
			}
			++*i;
		}
		while (nd++ < 9)
			ns *= 10;
		dt->nanosecond = ns;
	}
	if (dt->hour > 23)
		return "hour out of range (00-23)";
	if (dt->minute > 59)
		return "minute out of range (00-59)";
	if (dt->second > 60)
		return "second out of range (00-60)";
	return NULL;
}

static const char *scan_datetime(const char *s, size_t n, struct toml_datetime *dt,
				 enum toml_type *type)
{
	size_t i = 0;
	const char *why;
	*dt = (struct toml_datetime){ 0 };
	if ((n >= 2 && s[1] == ':') || (n >= 3 && s[2] == ':')) {
		if ((why = scan_time(s, &i, n, dt)) != NULL)
			return why;
		if (i != n)
			return "unexpected characters after local time";
		*type = TOML_TIME_LOCAL;
		return NULL;
	}
	if (!digits(s, &i, n, 4, &dt->year) || i >= n || s[i] != '-' ||
	    (++i, !digits(s, &i, n, 2, &dt->month)) || i >= n || s[i] != '-' ||
	    (++i, !digits(s, &i, n, 2, &dt->day)))
		return "expected a date as YYYY-MM-DD";
	if (dt->month < 1 || dt->month > 12)
		return "month out of range (01-12)";
	if (dt->day < 1 || dt->day > days_in_month(dt->year, dt->month))
		return "day out of range for the month";
	if (i == n) {
		*type = TOML_DATE_LOCAL;
		return NULL;
	}
	if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
		return "expected 'T' or a space between date and time";
	i++;
	if ((why = scan_time(s, &i, n, dt)) != NULL)
		return why;
	if (i == n) {
		*type = TOML_DATETIME_LOCAL;
		return NULL;
	}
	if (s[i] == 'Z' || s[i] == 'z') {
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		int sign = s[i] == '-' ? -1 : 1, oh, om;
		i++;
		if (!digits(s, &i, n, 2, &oh) || i >= n || s[i] != ':' ||
		    (++i, !digits(s, &i, n, 2, &om)))
			return "expected a time offset as Z or +HH:MM / -HH:MM";
		if (oh > 23 || om > 59)
			return "time offset out of range";
		dt->offset_minutes = sign * (oh * 60 + om);
	} else {
		return "expected a time offset (Z, +HH:MM or -HH:MM) after the time";
	}
	if (i != n)
		return "unexpected characters after date-time";
	dt->has_offset = true;
	*type = TOML_DATETIME;
	return NULL;
}

static bool looks_like_date(const char *s, size_t n)
{
	return n == 10 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) &&
	       s[4] == '-' && is_digit(s[5]) && is_digit(s[6]) && s[7] == '-' && is_digit(s[8]) &&
	       is_digit(s[9]);
}

/* Booleans, numbers, dates and times: everything not starting with a quote
 * or a bracket. */
static int parse_bare_value(struct parser *P, struct toml_value **out, int depth)
{
	int line = P->line, col = cur_col(P);
	size_t start = P->p;
	while (!at_end(P) && is_tok((unsigned char)P->s[P->p]))
		P->p++;
	/* a space may separate date and time: 1979-05-27 07:32:00 */
	if (looks_like_date(P->s + start, P->p - start) && peek(P, 0) == ' ' && is_digit(peek(P, 1))) {
		P->p++;
		while (!at_end(P) && is_tok((unsigned char)P->s[P->p]))
			P->p++;
	}
	const char *s = P->s + start;
	size_t n = P->p - start;
	if (n == 0) {
		char d[32];
		return fail(P, "expected a value, found %s", describe(P, d));
	}
	if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0)) {
		*out = new_value(TOML_BOOL, line, col, depth);
		(*out)->u.b = n == 4;
		return 0;
	}
	bool dateish = (n >= 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) &&
			is_digit(s[3]) && s[4] == '-') ||
		       memchr(s, ':', n) != NULL;
	if (dateish) {
		struct toml_datetime dt;
		enum toml_type type;
		const char *why = scan_datetime(s, n, &dt, &type);
		if (why != NULL)
			return fail_at(P, line, col, "invalid date-time `%.*s`: %s", (int)n, s, why);
		*out = new_value(type, line, col, depth);
		(*out)->u.dt = dt;
		return 0;
	}
	bool numeric = is_digit(s[0]) || s[0] == '+' || s[0] == '-' || s[0] == '.' ||
		       (n == 3 && (memcmp(s, "inf", 3) == 0 || memcmp(s, "nan", 3) == 0));
	if (!numeric) {
		if (n > 64)
			n = 64;
		return fail_at(P, line, col,
			       "expected a value, found `%.*s` (strings must be quoted; booleans are "
			       "lowercase true/false)", (int)n, s);
	}
	return parse_number(P, s, n, line, col, out, depth);
}

/* ---------------------------------------------------------------- values */

static int parse_value(struct parser *P, struct toml_value **out, int depth);

static int check_depth(struct parser *P, int depth)
{
	if (depth > TOML_MAX_DEPTH)
		return fail(P, "nesting too deep (more than %d levels of tables and arrays)",
			    TOML_MAX_DEPTH);
	return 0;
}

static int parse_array(struct parser *P, struct toml_value **out, int depth)
{
	int line = P->line, col = cur_col(P);
	if (check_depth(P, depth) < 0)
		return -1;
	struct toml_value *a = new_value(TOML_ARRAY, line, col, depth);
	a->kind = AK_STATIC;
	P->p++;
	for (;;) {
		skip_ws_nl(P);
		if (at_end(P)) {
			toml_free(a);
			return fail(P, "expected ']' to close the array opened at %d:%d", line, col);
		}
		if (P->s[P->p] == ']') {
			P->p++;
			break;
		}
		struct toml_value *v;
		if (parse_value(P, &v, depth + 1) < 0) {
			toml_free(a);
			return -1;
		}
		array_push(a, v);
		skip_ws_nl(P);
		if (!at_end(P) && P->s[P->p] == ',') {
			P->p++;
			continue;
		}
		if (!at_end(P) && P->s[P->p] == ']') {
			P->p++;
			break;
		}
		char d[32];
		toml_free(a);
		return fail(P, "expected ',' or ']' after array element, found %s", describe(P, d));
	}
	*out = a;
	return 0;
}

/* A copy of a key part: all len bytes, NUL bytes ("\u0000") included (a
 * strndup would stop at the first and leave the entry's klen pointing past
 * its allocation), then a NUL. */
static char *key_copy(const char *s, size_t len)
{
	char *c = xmalloc(len + 1);
	memcpy(c, s, len);
	c[len] = 0;
	return c;
}

/* Walks the dotted prefix of k (all parts but the last) from table t, creating
 * DOTTED tables, and checks that the last part is still free. Sets *dst to
 * the table that receives the last part. */
static int resolve_dotted(struct parser *P, struct toml_value *t, const struct key *k,
			  struct toml_value **dst)
{
	for (size_t i = 0; i + 1 < k->n; i++) {
		const struct keypart *kp = &k->parts[i];
		struct entry *e = table_find(t, kp->s, kp->len);
		if (e == NULL) {
			if (t->depth + 1 > TOML_MAX_DEPTH)
				return fail_at(P, kp->line, kp->col,
					       "nesting too deep (more than %d levels of tables and arrays)",
					       TOML_MAX_DEPTH);
			struct toml_value *nt = new_value(TOML_TABLE, kp->line, kp->col, t->depth + 1);
			nt->kind = TK_DOTTED;
			table_add(t, key_copy(kp->s, kp->len), kp->len, kp->line, kp->col, nt);
			t = nt;
			continue;
		}
		struct toml_value *v = e->val;
				if (v->type == TOML_TABLE && v->kind == TK_IMPLICIT) {
			v->kind = TK_DOTTED; /* now defined by these dotted keys */
			v->line = kp->line;
			v->col = kp->col;
		}
		if (v->type == TOML_TABLE && v->kind == TK_DOTTED) {
			t = v;
			continue;
		}
		char name[KEYBUF];
		show_key(k, i + 1, name);
		if (v->type == TOML_TABLE && v->kind == TK_INLINE)
			return fail_at(P, kp->line, kp->col,
				       "cannot add keys to `%s`: it is an inline table (defined at %d:%d) "
				       "and inline tables cannot be extended", name, v->line, v->col);
		if (v->type == TOML_TABLE)
			return fail_at(P, kp->line, kp->col,
				       "cannot add keys to table `%s` with dotted keys: it is defined by "
				       "a table header at %d:%d", name, v->line, v->col);
		return fail_at(P, kp->line, kp->col,
			       "cannot use `%s` as a table: it is already %s (defined at %d:%d)",
			       name, kind_name(v), e->line, e->col);
	}
	const struct keypart *last = &k->parts[k->n - 1];
	struct entry *e = table_find(t, last->s, last->len);
	if (e != NULL) {
		char name[KEYBUF];
		show_key(k, k->n, name);
		return fail_at(P, last->line, last->col,
			       "duplicate key `%s` (already defined at %d:%d)", name, e->line, e->col);
	}
	*dst = t;
	return 0;
}

/* key ws "=" ws value, into table t; used by the document and inline tables. */
static int parse_keyval(struct parser *P, struct toml_value *t)
{
	struct key k = { 0 };
	struct toml_value *dst = NULL, *v = NULL;
	if (parse_key(P, &k) < 0)
		goto fail;
	skip_ws(P);
	if (peek(P, 0) != '=') {
		char name[KEYBUF], d[32];
		show_key(&k, k.n, name);
		fail(P, "expected '=' after key `%s`, found %s", name, describe(P, d));
		goto fail;
	}
	P->p++;
	skip_ws(P);
	if (resolve_dotted(P, t, &k, &dst) < 0 || parse_value(P, &v, dst->depth + 1) < 0)
		goto fail;
	struct keypart *last = &k.parts[k.n - 1];
	table_add(dst, last->s, last->len, last->line, last->col, v);
	last->s = NULL;
	key_free(&k);
	return 0;
fail:
	key_free(&k);
	return -1;
}

static int parse_inline_table(struct parser *P, struct toml_value **out, int depth)
{
	int line = P->line, col = cur_col(P);
	if (check_depth(P, depth) < 0)
		return -1;
	struct toml_value *t = new_value(TOML_TABLE, line, col, depth);
	t->kind = TK_DOTTED;
	P->p++;
	skip_ws(P);
	if (peek(P, 0) == '}') {
		P->p++;
	} else {
		for (;;) {
			if (parse_keyval(P, t) < 0)
				goto fail;
			skip_ws(P);
			int c = peek(P, 0);
			if (c == ',') {
				P->p++;
				skip_ws(P);
				if (peek(P, 0) == '}') {
					fail(P, "trailing comma is not allowed in an inline table");
					goto fail;
				}
				continue;
			}
			if (c == '}') {
				P->p++;
				break;
			}
			char d[32];
			if (c == '#' || at_newline(P) || c < 0)
				fail(P, "expected ',' or '}' in inline table, found %s "
				     "(inline tables must be on a single line)", describe(P, d));
			else
				fail(P, "expected ',' or '}' after inline table entry, found %s",
				     describe(P, d));
			goto fail;
		}
	}
	freeze(t);
	*out = t;
	return 0;
fail:
	toml_free(t);
	return -1;
}

static int parse_value(struct parser *P, struct toml_value **out, int depth)
{
	int c = peek(P, 0);
	if (c == '"' || c == '\'') {
		int line = P->line, col = cur_col(P);
		char *s;
		size_t len;
		if (parse_string(P, &s, &len) < 0)
			return -1;
		*out = new_value(TOML_STRING, line, col, depth);
		(*out)->u.s.s = s;
		(*out)->u.s.len = len;
		return 0;
	}
	if (c == '[')
		return parse_array(P, out, depth);
	if (c == '{')
		return parse_inline_table(P, out, depth);
	return parse_bare_value(P, out, depth);
}

/* -------------------------------------------------------------- headers */

/* At '[': [key] or [[key]]. Makes the table current. */
static int parse_header(struct parser *P)
{
	int line = P->line, col = cur_col(P);
	bool aot = peek(P, 1) == '[';
	struct key k = { 0 };
	P->p += aot ? 2 : 1;
	skip_ws(P);
	if (parse_key(P, &k) < 0)
		goto fail;
	skip_ws(P);
	if (peek(P, 0) != ']' || (aot && peek(P, 1) != ']')) {
		char name[KEYBUF], d[32];
		show_key(&k, k.n, name);
		if (aot && peek(P, 0) == ']')
			P->p++; /* "[[a]": complain about what follows the first ']' */
		fail(P, "expected '%s' after table name `%s`, found %s", aot ? "]]" : "]", name,
		     describe(P, d));
		goto fail;
	}
	P->p += aot ? 2 : 1;

	struct toml_value *t = P->root;
	for (size_t i = 0; i + 1 < k.n; i++) {
		struct keypart *kp = &k.parts[i];
		struct entry *e = table_find(t, kp->s, kp->len);
		if (e == NULL) {
			if (t->depth + 1 > TOML_MAX_DEPTH) {
				fail_at(P, kp->line, kp->col,
					"nesting too deep (more than %d levels of tables and arrays)",
					TOML_MAX_DEPTH);
				goto fail;
			}
			struct toml_value *nt = new_value(TOML_TABLE, kp->line, kp->col, t->depth + 1);
			nt->kind = TK_IMPLICIT;
			table_add(t, kp->s, kp->len, kp->line, kp->col, nt);
			kp->s = NULL;
			t = nt;
			continue;
		}
		struct toml_value *v = e->val;
		if (v->type == TOML_TABLE && v->kind != TK_INLINE) {
			t = v;
			continue;
		}
		if (v->type == TOML_ARRAY && v->kind == AK_TABLES) {
			t = v->u.a.v[v->u.a.len - 1];
			continue;
		}
		char name[KEYBUF];
		show_key(&k, i + 1, name);
		if (v->type == TOML_TABLE)
			fail_at(P, kp->line, kp->col,
				"cannot extend `%s`: it is an inline table (defined at %d:%d) and "
				"inline tables cannot be extended", name, v->line, v->col);
		else if (v->type == TOML_ARRAY)
			fail_at(P, kp->line, kp->col,
				"cannot extend `%s`: it is a static array (defined at %d:%d), not an "
				"array of tables", name, v->line, v->col);
		else
			fail_at(P, kp->line, kp->col,
				"cannot use `%s` as a table: it is already %s (defined at %d:%d)",
				name, kind_name(v), e->line, e->col);
		goto fail;
	}

	struct keypart *last = &k.parts[k.n - 1];
	struct entry *e = table_find(t, last->s, last->len);
	if (e == NULL) {
		int d = aot ? t->depth + 2 : t->depth + 1;
		if (d > TOML_MAX_DEPTH) {
			fail_at(P, last->line, last->col,
				"nesting too deep (more than %d levels of tables and arrays)",
				TOML_MAX_DEPTH);
			goto fail;
		}
		struct toml_value *nt = new_value(TOML_TABLE, line, col, d);
		nt->kind = TK_EXPLICIT;
		if (aot) {
			struct toml_value *a = new_value(TOML_ARRAY, line, col, t->depth + 1);
			a->kind = AK_TABLES;
			array_push(a, nt);
			table_add(t, last->s, last->len, last->line, last->col, a);
		} else {
			table_add(t, last->s, last->len, last->line, last->col, nt);
		}
		last->s = NULL;
		P->cur = nt;
		key_free(&k);
		return 0;
	}
	struct toml_value *v = e->val;
	char name[KEYBUF];
	show_key(&k, k.n, name);
	if (aot) {
		if (v->type == TOML_ARRAY && v->kind == AK_TABLES) {
			struct toml_value *nt = new_value(TOML_TABLE, line, col, v->depth + 1);
			nt->kind = TK_EXPLICIT;
			array_push(v, nt);
			P->cur = nt;
			key_free(&k);
			return 0;
		}
		if (v->type == TOML_ARRAY)
			fail_at(P, line, col,
				"cannot append to `%s` with [[%s]]: it is a static array (defined at %d:%d)",
				name, name, v->line, v->col);
		else
			fail_at(P, line, col,
				"cannot define array of tables [[%s]]: `%s` is already %s (defined at %d:%d)",
				name, name, kind_name(v), e->line, e->col);
		goto fail;
	}
	if (v->type == TOML_TABLE && v->kind == TK_IMPLICIT) {
		v->kind = TK_EXPLICIT;
		v->line = line;
		v->col = col;
		P->cur = v;
		key_free(&k);
		return 0;
	}
	if (v->type == TOML_TABLE && v->kind == TK_EXPLICIT)
		fail_at(P, line, col, "table [%s] defined more than once (previously at %d:%d)",
			name, v->line, v->col);
	else if (v->type == TOML_TABLE && v->kind == TK_DOTTED)
		fail_at(P, line, col,
			"cannot define table [%s]: it was already created by dotted keys at %d:%d",
			name, v->line, v->col);
	else
		fail_at(P, line, col, "cannot define table [%s]: `%s` is already %s (defined at %d:%d)",
			name, name, kind_name(v), e->line, e->col);
fail:
	key_free(&k);
	return -1;
}

/* ------------------------------------------------------------- document */

static int parse_document(struct parser *P)
{
	P->cur = P->root;
	for (;;) {
		skip_ws(P);
		if (at_end(P))
			return 0;
		int c = P->s[P->p];
		const char *what;
		if (c == '#') {
			skip_comment(P);
			what = "comment";
		} else if (c == '\n' || c == '\r') {
			skip_newline(P);
			continue;
		} else if (c == '[') {
			if (parse_header(P) < 0)
				return -1;
			what = "table header";
		} else {
			if (parse_keyval(P, P->cur) < 0)
				return -1;
			what = "value";
		}
		skip_ws(P);
		if (peek(P, 0) == '#')
			skip_comment(P);
		if (at_end(P))
			return 0;
		if (!at_newline(P)) {
			char d[32];
			return fail(P, "expected a newline or comment after %s, found %s", what,
				    describe(P, d));
		}
		skip_newline(P);
	}
}

struct toml_value *toml_parse(const char *text, size_t len, const char *filename, char **errmsg)
{
	struct parser P = { .s = text, .n = len, .line = 1, .file = filename ? filename : "<input>" };
	if (errmsg != NULL)
		*errmsg = NULL;
	if (text == NULL)
		P.n = 0;
	if (P.n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		P.p = P.ls = 3; /* byte order mark */
	P.root = new_value(TOML_TABLE, 1, 1, 0);
	P.root->kind = TK_EXPLICIT;
	if (check_text(&P) < 0 || parse_document(&P) < 0) {
		toml_free(P.root);
		P.root = NULL;
	}
	if (P.cloc != (locale_t)0)
		freelocale(P.cloc);
	if (errmsg != NULL)
		*errmsg = P.err;
	else
		free(P.err);
	return P.root;
}

struct toml_value *toml_parse_file(const char *path, char **errmsg)
{
	if (errmsg != NULL)
		*errmsg = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errmsg != NULL)
			*errmsg = xasprintf("%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	struct buf b = { 0 };
	char chunk[65536];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			free(b.b);
			if (errmsg != NULL)
				*errmsg = xasprintf("%s: cannot read: %s", path, strerror(e));
			return NULL;
		}
		if (r == 0)
			break;
		buf_add(&b, chunk, (size_t)r);
	}
	close(fd);
	struct toml_value *root = toml_parse(b.b ? b.b : "", b.len, path, errmsg);
	free(b.b);
	return root;
}

/* ------------------------------------------------------------- accessors */

enum toml_type toml_type(const struct toml_value *v)
{
	return v->type;
}

const char *toml_type_name(enum toml_type t)
{
	switch (t) {
	case TOML_TABLE:
		return "table";
	case TOML_ARRAY:
		return "array";
	case TOML_STRING:
		return "string";
	case TOML_INTEGER:
		return "integer";
	case TOML_FLOAT:
		return "float";
	case TOML_BOOL:
		return "boolean";
	case TOML_DATETIME:
		return "datetime";
	case TOML_DATETIME_LOCAL:
		return "datetime-local";
	case TOML_DATE_LOCAL:
		return "date-local";
	case TOML_TIME_LOCAL:
		return "time-local";
	}
	return "unknown";
}

int toml_line(const struct toml_value *v)
{
	return v != NULL ? v->line : 0;
}

int toml_col(const struct toml_value *v)
{
	return v != NULL ? v->col : 0;
}

static bool is_table(const struct toml_value *t)
{
	return t != NULL && t->type == TOML_TABLE;
}

static bool is_array(const struct toml_value *a)
{
	return a != NULL && a->type == TOML_ARRAY;
}

size_t toml_table_len(const struct toml_value *t)
{
	return is_table(t) ? t->u.t.len : 0;
}

const char *toml_table_key(const struct toml_value *t, size_t i)
{
	return toml_table_keyn(t, i, NULL);
}

const char *toml_table_keyn(const struct toml_value *t, size_t i, size_t *len)
{
	if (!is_table(t) || i >= t->u.t.len)
		return NULL;
	if (len != NULL)
		*len = t->u.t.e[i].klen;
	return t->u.t.e[i].key;
}

int toml_table_key_line(const struct toml_value *t, size_t i)
{
	return is_table(t) && i < t->u.t.len ? t->u.t.e[i].line : 0;
}

int toml_table_key_col(const struct toml_value *t, size_t i)
{
	return is_table(t) && i < t->u.t.len ? t->u.t.e[i].col : 0;
}

struct toml_value *toml_table_value(const struct toml_value *t, size_t i)
{
	return is_table(t) && i < t->u.t.len ? t->u.t.e[i].val : NULL;
}

struct toml_value *toml_getn(const struct toml_value *t, const char *key, size_t len)
{
	if (!is_table(t) || key == NULL)
		return NULL;
	struct entry *e = table_find(t, key, len);
	return e != NULL ? e->val : NULL;
}

struct toml_value *toml_get(const struct toml_value *t, const char *key)
{
	return key != NULL ? toml_getn(t, key, strlen(key)) : NULL;
}

size_t toml_array_len(const struct toml_value *a)
{
	return is_array(a) ? a->u.a.len : 0;
}

struct toml_value *toml_array_at(const struct toml_value *a, size_t i)
{
	return is_array(a) && i < a->u.a.len ? a->u.a.v[i] : NULL;
}

const char *toml_string(const struct toml_value *v, size_t *len)
{
	if (v == NULL || v->type != TOML_STRING) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	if (len != NULL)
		*len = v->u.s.len;
	return v->u.s.s;
}

int64_t toml_integer(const struct toml_value *v)
{
	return v != NULL && v->type == TOML_INTEGER ? v->u.i : 0;
}

double toml_float(const struct toml_value *v)
{
	return v != NULL && v->type == TOML_FLOAT ? v->u.f : 0.0;
}

bool toml_bool(const struct toml_value *v)
{
	return v != NULL && v->type == TOML_BOOL && v->u.b;
}

const struct toml_datetime *toml_datetime(const struct toml_value *v)
{
	if (v == NULL)
		return NULL;
	switch (v->type) {
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		return &v->u.dt;
	default:
		return NULL;
	}
}
