/* containerd's filter language: the scanner, unquoting and parser follow
 * containerd's filters package rule for rule (including its quirks, such as
 * the sticky first scanner error and where positions point), so that a filter
 * parses, fails and matches here exactly as it does in containerd. */
#include "filters/filters.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "filters/regex.h"
#include "filters/unicode.h"
#include "util/error.h"
#include "util/mem.h"

/* ---- scanner ---- */

enum {
	T_EOF = -1,
	T_QUOTED = -2,
	T_VALUE = -3,
	T_FIELD = -4,
	T_SEP = -5,
	T_OP = -6,
	T_ILLEGAL = -7,
};

struct scanner {
	const char *in;
	size_t len;
	size_t pos;    /* start of the current rune */
	size_t ppos;   /* end of the current rune */
	bool value;    /* an operator was seen: the next bare token is a value */
	const char *err;   /* the FIRST error only, as containerd keeps it */
};

struct token {
	int32_t tok;
	size_t pos;
	size_t at, len;   /* its text */
};

static void sc_error(struct scanner *s, const char *msg)
{
	if (s->err == NULL)
		s->err = msg;
}

static int32_t sc_next(struct scanner *s)
{
	if (s->pos >= s->len)
		return T_EOF;
	s->pos = s->ppos;
	size_t w;
	uint32_t r = flt_utf8_decode(s->in + s->ppos, s->len - s->ppos, &w);
	s->ppos += w;
	if (r == FLT_RUNE_ERROR) {   /* containerd rejects even a well-formed U+FFFD */
		if (w > 0) {
			sc_error(s, "rune error");
			return T_ILLEGAL;
		}
		return T_EOF;
	}
	if (r == 0) {
		sc_error(s, "unexpected null");
		return T_ILLEGAL;
	}
	return (int32_t)r;
}

static int32_t sc_peek(struct scanner *s)
{
	size_t pos = s->pos, ppos = s->ppos;
	int32_t ch = sc_next(s);
	s->pos = pos;
	s->ppos = ppos;
	return ch;
}

static bool is_field_rune(int32_t r)
{
	return r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9');
}

static bool is_quote_rune(int32_t r) { return r == '/' || r == '|' || r == '"'; }
static bool is_operator_rune(int32_t r) { return r == '=' || r == '!' || r == '~'; }

static bool is_value_rune(int32_t r)
{
	return r >= 0 && r != ',' && !flt_is_space((uint32_t)r) && flt_is_graphic((uint32_t)r);
}

static int digit_val(int32_t ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return 16;
}

static int32_t scan_digits(struct scanner *s, int32_t ch, int base, int n, bool *legal)
{
	while (n > 0 && digit_val(ch) < base) {
		ch = sc_next(s);
		n--;
	}
	*legal = n == 0;
	if (n > 0)
		sc_error(s, "illegal numeric escape sequence");
	return ch;
}

/* After a backslash; returns the rune that follows the escape. */
static int32_t scan_escape(struct scanner *s, int32_t quote, bool *legal)
{
	int32_t ch = sc_next(s);
	*legal = false;
	switch (ch) {
	case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v': case '\\':
		*legal = true;
		return sc_next(s);
	case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
		return scan_digits(s, ch, 8, 3, legal);
	case 'x':
		return scan_digits(s, sc_next(s), 16, 2, legal);
	case 'u':
		return scan_digits(s, sc_next(s), 16, 4, legal);
	case 'U':
		return scan_digits(s, sc_next(s), 16, 8, legal);
	}
	if (ch == quote) {
		*legal = true;
		return sc_next(s);
	}
	sc_error(s, "illegal escape sequence");
	return ch;
}

static bool scan_quoted(struct scanner *s, int32_t quote)
{
	bool illegal = false;
	int32_t ch = sc_next(s);
	while (ch != quote) {
		if (ch == '\n' || ch < 0) {
			sc_error(s, "quoted literal not terminated");
			return false;
		}
		if (ch == '\\') {
			bool legal;
			ch = scan_escape(s, quote, &legal);
			if (!legal)
				illegal = true;
		} else {
			ch = sc_next(s);
		}
	}
	return !illegal;
}

static struct token sc_scan(struct scanner *s)
{
	int32_t ch = sc_next(s);
	size_t pos = s->pos;
	for (;;) {
		if (ch == T_EOF || ch == T_ILLEGAL)
			break;
		if (is_quote_rune(ch)) {
			bool ok = scan_quoted(s, ch);
			return (struct token){ok ? T_QUOTED : T_ILLEGAL, pos, pos, s->ppos - pos};
		}
		if (ch == ',' || ch == '.') {
			s->value = false;
			return (struct token){T_SEP, pos, pos, s->ppos - pos};
		}
		if (is_operator_rune(ch)) {
			while (is_operator_rune(sc_peek(s)))
				sc_next(s);
			s->value = true;
			return (struct token){T_OP, pos, pos, s->ppos - pos};
		}
		if (flt_is_space((uint32_t)ch)) {
			ch = sc_next(s);
			pos = s->pos;
			continue;
		}
		if (s->value) {
			while (is_value_rune(sc_peek(s)))
				sc_next(s);
			s->value = false;
			return (struct token){T_VALUE, pos, pos, s->ppos - pos};
		}
		if (is_field_rune(ch)) {
			while (is_field_rune(sc_peek(s)))
				sc_next(s);
			return (struct token){T_FIELD, pos, pos, s->ppos - pos};
		}
		break;
	}
	/* EOF, an illegal rune, or any other rune as a token of its own */
	return (struct token){ch, s->pos, s->pos, 0};
}

/* ---- unquoting (Go string syntax, with / and | as extra quotes) ---- */

struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->cap - b->n < n + 1) {
		b->cap = (b->n + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void sb_byte(struct sbuf *b, unsigned char c) { sb_put(b, (const char *)&c, 1); }

static void sb_rune(struct sbuf *b, uint32_t r)
{
	char enc[4];
	sb_put(b, enc, flt_utf8_encode(r, enc));
}

static bool unquote(const char *s, size_t n, struct sbuf *out)
{
	if (n < 2 || s[0] != s[n - 1])
		return false;
	char q = s[0];
	if (q != '"' && q != '\'' && q != '|' && q != '/')
		return false;
	s++;
	n -= 2;
	if (memchr(s, '\n', n) != NULL)
		return false;
	sb_put(out, "", 0);
	while (n > 0) {
		unsigned char c = (unsigned char)s[0];
		if (c == (unsigned char)q)
			return false;
		if (c >= 0x80) {
			size_t w;
			sb_rune(out, flt_utf8_decode(s, n, &w));
			s += w, n -= w;
			continue;
		}
		if (c != '\\') {
			sb_byte(out, c);
			s++, n--;
			continue;
		}
		if (n <= 1)
			return false;
		c = (unsigned char)s[1];
		s += 2, n -= 2;
		switch (c) {
		case 'a': sb_byte(out, '\a'); break;
		case 'b': sb_byte(out, '\b'); break;
		case 'f': sb_byte(out, '\f'); break;
		case 'n': sb_byte(out, '\n'); break;
		case 'r': sb_byte(out, '\r'); break;
		case 't': sb_byte(out, '\t'); break;
		case 'v': sb_byte(out, '\v'); break;
		case 'x': case 'u': case 'U': {
			size_t k = c == 'x' ? 2 : c == 'u' ? 4 : 8;
			if (n < k)
				return false;
			uint32_t v = 0;
			for (size_t j = 0; j < k; j++) {
				int d = digit_val((unsigned char)s[j]);
				if (d > 15)
					return false;
				v = v << 4 | (uint32_t)d;
			}
			s += k, n -= k;
			if (c == 'x') {   /* a single byte, possibly not UTF-8 */
				sb_byte(out, (unsigned char)v);
				break;
			}
			if (v > FLT_MAX_RUNE)
				return false;
			sb_rune(out, v);   /* a surrogate becomes U+FFFD, as Go encodes it */
			break;
		}
		case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
			uint32_t v = c - '0';
			if (n < 2)
				return false;
			for (int j = 0; j < 2; j++) {
				if (s[j] < '0' || s[j] > '7')
					return false;
				v = v << 3 | (uint32_t)(s[j] - '0');
			}
			s += 2, n -= 2;
			if (v > 255)
				return false;
			sb_byte(out, (unsigned char)v);
			break;
		}
		case '\\':
			sb_byte(out, '\\');
			break;
		case '\'': case '"': case '|': case '/':
			if (c != (unsigned char)q)
				return false;
			sb_byte(out, c);
			break;
		default:
			return false;
		}
	}
	return true;
}

/* ---- parser ---- */

enum sel_op { OP_PRESENT, OP_EQUAL, OP_NOT_EQUAL, OP_MATCHES };

struct selector {
	char **path;
	size_t npath;
	bool nul_in_path;   /* no C object has such a field: it is always absent */
	enum sel_op op;
	char *value;
	size_t vlen;
	size_t vpos;   /* where the value stood in its filter string */
	struct flt_re *re;
};

struct conj {
	struct selector *sel;
	size_t n;
};

struct filter {
	struct conj *c;
	size_t n;
	bool all;
};

struct parser {
	struct scanner sc;
	const char *in;
	size_t len;
	char *err;   /* "parse error: [...]: what" */
};

static void sel_clear(struct selector *s)
{
	for (size_t i = 0; i < s->npath; i++)
		free(s->path[i]);
	free(s->path);
	free(s->value);
	flt_re_free(s->re);
	*s = (struct selector){0};
}

static void conj_clear(struct conj *c)
{
	for (size_t i = 0; i < c->n; i++)
		sel_clear(&c->sel[i]);
	free(c->sel);
	*c = (struct conj){0};
}

static void put_input(struct sbuf *b, const char *s, size_t n)
{
	/* the input is echoed as is, except that a NUL would cut the message */
	for (const char *z; n > 0 && (z = memchr(s, 0, n)) != NULL; n -= (size_t)(z - s) + 1, s = z + 1) {
		sb_put(b, s, (size_t)(z - s));
		sb_put(b, "\\x00", 4);
	}
	sb_put(b, s, n);
}

/* containerd's parseError: the input with the offending byte marked. */
__attribute__((format(printf, 3, 4)))
static bool mkerr(struct parser *p, size_t pos, const char *fmt, ...)
{
	if (p->err != NULL)
		return false;
	va_list ap;
	va_start(ap, fmt);
	char *what;
	if (vasprintf(&what, fmt, ap) < 0)
		oom();
	va_end(ap);
	struct sbuf b = {0};
	sb_put(&b, "parse error: [", 14);
	if (pos < p->len) {
		put_input(&b, p->in, pos);
		sb_put(&b, " >|", 3);
		put_input(&b, p->in + pos, 1);
		sb_put(&b, "|< ", 3);
		put_input(&b, p->in + pos + 1, p->len - pos - 1);
	} else {
		put_input(&b, p->in, p->len);
	}
	sb_put(&b, "]: ", 3);
	sb_put(&b, what, strlen(what));
	free(what);
	p->err = b.p;
	return false;
}

static const char *scan_err(struct parser *p) { return p->sc.err ? p->sc.err : "illegal input"; }

static bool p_unquote(struct parser *p, const struct token *t, bool allow_alt, struct sbuf *out)
{
	char q = p->in[t->at];
	if (!allow_alt && q != '\'' && q != '"')
		return mkerr(p, t->pos, "invalid quote encountered");
	if (!unquote(p->in + t->at, t->len, out)) {
		free(out->p);
		*out = (struct sbuf){0};
		return mkerr(p, t->pos, "unquoting failed: quote syntax error");
	}
	return true;
}

static bool p_field(struct parser *p, struct selector *s)
{
	struct token t = sc_scan(&p->sc);
	struct sbuf f = {0};
	switch (t.tok) {
	case T_FIELD:
		sb_put(&f, p->in + t.at, t.len);
		break;
	case T_QUOTED:
		if (!p_unquote(p, &t, false, &f))
			return false;
		break;
	case T_ILLEGAL:
		return mkerr(p, t.pos, "%s", scan_err(p));
	default:
		return mkerr(p, t.pos, "expected field or quoted");
	}
	if (memchr(f.p, 0, f.n) != NULL)
		s->nul_in_path = true;
	s->path = xrealloc(s->path, (s->npath + 1) * sizeof *s->path);
	s->path[s->npath++] = f.p;
	return true;
}

static bool p_fieldpath(struct parser *p, struct selector *s)
{
	if (!p_field(p, s))
		return false;
	while (sc_peek(&p->sc) == '.') {
		struct token t = sc_scan(&p->sc);
		if (t.tok != T_SEP)
			return mkerr(p, t.pos, "expected a field separator (`.`)");
		if (!p_field(p, s))
			return false;
	}
	return true;
}

static bool p_operator(struct parser *p, enum sel_op *op)
{
	struct token t = sc_scan(&p->sc);
	switch (t.tok) {
	case T_OP:
		if (t.len == 2 && memcmp(p->in + t.at, "==", 2) == 0)
			*op = OP_EQUAL;
		else if (t.len == 2 && memcmp(p->in + t.at, "!=", 2) == 0)
			*op = OP_NOT_EQUAL;
		else if (t.len == 2 && memcmp(p->in + t.at, "~=", 2) == 0)
			*op = OP_MATCHES;
		else
			return mkerr(p, t.pos, "unsupported operator \"%.*s\"", (int)t.len, p->in + t.at);
		return true;
	case T_ILLEGAL:
		return mkerr(p, t.pos, "%s", scan_err(p));
	}
	return mkerr(p, t.pos, "expected an operator (\"==\"|\"!=\"|\"~=\")");
}

static bool p_value(struct parser *p, struct selector *s, size_t *pos)
{
	struct token t = sc_scan(&p->sc);
	struct sbuf v = {0};
	*pos = t.pos;
	switch (t.tok) {
	case T_VALUE:
	case T_FIELD:
		sb_put(&v, p->in + t.at, t.len);
		break;
	case T_QUOTED:
		/* /regexp/ and |regexp| only after ~= */
		if (!p_unquote(p, &t, s->op == OP_MATCHES, &v))
			return false;
		break;
	case T_ILLEGAL:
		return mkerr(p, t.pos, "%s", scan_err(p));
	default:
		return mkerr(p, t.pos, "expected value or quoted");
	}
	s->value = v.p;
	s->vlen = v.n;
	return true;
}

static bool p_selector(struct parser *p, struct selector *s)
{
	if (!p_fieldpath(p, s))
		return false;
	int32_t next = sc_peek(&p->sc);
	if (next == ',' || next == T_EOF) {
		s->op = OP_PRESENT;
		return true;
	}
	if (!p_operator(p, &s->op))
		return false;
	return p_value(p, s, &s->vpos);
}

/* A rune as Go's string(rune) prints it: negative tokens become U+FFFD. */
static const char *rune_str(int32_t r, char buf[5])
{
	size_t n = flt_utf8_encode(r < 0 ? FLT_RUNE_ERROR : (uint32_t)r, buf);
	buf[n] = 0;
	return buf;
}

static bool p_selectors(struct parser *p, struct conj *c)
{
	struct selector s = {0};
	for (;;) {
		bool ok = p_selector(p, &s);
		c->sel = xrealloc(c->sel, (c->n + 1) * sizeof *c->sel);
		c->sel[c->n++] = s;   /* kept even when incomplete, so that it is freed */
		s = (struct selector){0};
		if (!ok)
			return false;
		int32_t next = sc_peek(&p->sc);
		if (next == T_EOF)
			return true;
		if (next != ',') {
			char buf[5];
			return mkerr(p, p->sc.ppos, "unexpected input: %s", rune_str(next, buf));
		}
		struct token t = sc_scan(&p->sc);
		if (t.tok != T_SEP)
			return mkerr(p, t.pos, "expected a separator");
		if (c->n >= FILTER_MAX_SELECTORS)
			return mkerr(p, t.pos, "too many selectors (at most %d)", FILTER_MAX_SELECTORS);
	}
}

static void filter_clear(struct filter *f)
{
	for (size_t i = 0; i < f->n; i++)
		conj_clear(&f->c[i]);
	free(f->c);
}

void filter_free(struct filter *f)
{
	if (f == NULL)
		return;
	filter_clear(f);
	free(f);
}

struct filter *filter_parse_len(const char *const *strs, const size_t *lens, size_t n, struct ucd_error **err)
{
	if (n > FILTER_MAX_STRINGS) {
		error_set(err, UCD_INVALID_ARGUMENT, 0, "filters: too many filters (%zu, at most %d): invalid argument",
			  n, FILTER_MAX_STRINGS);
		return NULL;
	}
	struct filter *f = xcalloc(1, sizeof *f);
	f->all = n == 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = strs[i] ? strs[i] : "";
		size_t len = lens ? lens[i] : strlen(s);
		if (len > FILTER_MAX_LEN) {
			error_set(err, UCD_INVALID_ARGUMENT, 0,
				  "filters: filter %zu is %zu bytes long (at most %d): invalid argument", i, len,
				  FILTER_MAX_LEN);
			filter_free(f);
			return NULL;
		}
		if (len == 0) {   /* containerd: the empty filter matches everything */
			f->all = true;
			continue;
		}
		struct parser p = {.sc = {.in = s, .len = len}, .in = s, .len = len};
		struct conj c = {0};
		if (!p_selectors(&p, &c)) {
			error_set(err, UCD_INVALID_ARGUMENT, 0, "filters: %s: invalid argument", p.err);
			free(p.err);
			conj_clear(&c);
			filter_free(f);
			return NULL;
		}
		f->c = xrealloc(f->c, (f->n + 1) * sizeof *f->c);
		f->c[f->n++] = c;
	}
	/* containerd compiles ~= expressions only when matching, and an invalid
	 * one then matches nothing (it is only logged); we refuse it, but only
	 * once all strings parsed, so that a syntax error anywhere is the error
	 * reported, as containerd reports it */
	for (size_t i = 0, k = 0; i < n; i++) {
		const char *s = strs[i] ? strs[i] : "";
		size_t len = lens ? lens[i] : strlen(s);
		if (len == 0)
			continue;
		struct conj *c = &f->c[k++];
		for (size_t j = 0; j < c->n; j++) {
			struct selector *sel = &c->sel[j];
			if (sel->op != OP_MATCHES)
				continue;
			char *msg = NULL;
			sel->re = flt_re_compile(sel->value, sel->vlen, &msg);
			if (sel->re == NULL) {
				struct parser p = {.in = s, .len = len};
				mkerr(&p, sel->vpos, "%s", msg);
				error_set(err, UCD_INVALID_ARGUMENT, 0, "filters: %s: invalid argument", p.err);
				free(p.err);
				free(msg);
				filter_free(f);
				return NULL;
			}
		}
	}
	return f;
}

struct filter *filter_parse(const char *const *strs, size_t n, struct ucd_error **err)
{
	return filter_parse_len(strs, NULL, n, err);
}

bool filter_is_match_all(const struct filter *f) { return f == NULL || f->all; }

static bool sel_match(const struct selector *s, filter_get_fn get, void *obj)
{
	const char *v = NULL;
	bool present = false;
	if (!s->nul_in_path)
		present = get(obj, (const char *const *)s->path, s->npath, &v);
	if (v == NULL)
		v = "";
	if (s->op == OP_PRESENT)
		return present;
	size_t vl = strlen(v);
	if (s->op == OP_MATCHES)
		return flt_re_match(s->re, v, vl);
	bool equal = vl == s->vlen && memcmp(v, s->value, vl) == 0;
	return s->op == OP_EQUAL ? present && equal : !equal;
}

bool filter_match(const struct filter *f, filter_get_fn get, void *obj)
{
	if (f == NULL || f->all)
		return true;
	for (size_t i = 0; i < f->n; i++) {
		const struct conj *c = &f->c[i];
		size_t j = 0;
		while (j < c->n && sel_match(&c->sel[j], get, obj))
			j++;
		if (j == c->n)
			return true;
	}
	return false;
}

/* ---- helpers ---- */

bool filter_path_equals(const char *key, const char *const *path, size_t n)
{
	const char *k = key;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && *k++ != '.')
			return false;
		size_t l = strlen(path[i]);
		if (strncmp(k, path[i], l) != 0)
			return false;
		k += l;
	}
	return *k == 0;
}

bool filter_get_label(const char *const *keys, const char *const *vals, size_t nlabels,
		      const char *const *subpath, size_t n, const char **value)
{
	for (size_t i = 0; i < nlabels; i++) {
		if (keys[i] != NULL && filter_path_equals(keys[i], subpath, n)) {
			*value = vals[i] ? vals[i] : "";
			return true;
		}
	}
	return false;
}

const char *filter_fieldmask_key(const char *path, const char *prefix)
{
	size_t l = strlen(prefix);
	if (strncmp(path, prefix, l) == 0 && path[l] == '.')
		return path + l + 1;
	return NULL;
}

size_t filter_fieldmask_split(const char *path, const char **rest)
{
	const char *dot = strchr(path, '.');
	*rest = dot ? dot + 1 : NULL;
	return dot ? (size_t)(dot - path) : strlen(path);
}
