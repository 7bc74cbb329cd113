/* Go (RE2) regular expressions: a recursive-descent parser that accepts what
 * Go's regexp/syntax accepts with Perl flags (and reports the same errors),
 * a compiler to a small instruction set and a Thompson NFA simulation that
 * answers "does it match anywhere". No captures are kept: the filter language
 * only needs a yes or no. */
#include "filters/regex.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/unicode.h"
#include "util/mem.h"

#define NONE SIZE_MAX

enum { F_FOLD = 1, F_DOTNL = 2, F_ONELINE = 4 };
enum { A_BOT, A_EOT, A_BOL, A_EOL, A_WORDB, A_NWORDB };

struct range {
	uint32_t lo, hi;
};
struct group {
	const struct range *r;
	size_t n;
};

/* A character class. Without case folding everything is flattened into the
 * sorted ranges `r`; with it, negated groups such as \W must stay apart,
 * because Go negates them after folding: a rune is in (?i)\W when no rune of
 * its folding orbit is a word character. */
struct cls {
	struct range *r;
	size_t nr, cap;
	struct group *neg;
	size_t nneg;
	bool fold, negate;
};

enum iop { I_RUNE, I_RUNEFOLD, I_CLASS, I_ANY, I_ANYNOTNL, I_ASSERT, I_SPLIT, I_JMP, I_MATCH };

struct inst {
	uint8_t op;
	uint32_t x, y;   /* rune, class index, assertion or jump targets */
};

struct flt_re {
	struct inst *prog;
	size_t n, cap;
	struct cls **cls;
	size_t ncls;
};

/* ---- character tables (ASCII, as Go defines them) ---- */

static const struct range r_digit[] = {{'0', '9'}};
static const struct range r_perl_space[] = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}};
static const struct range r_word[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
static const struct range r_alnum[] = {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}};
static const struct range r_alpha[] = {{'A', 'Z'}, {'a', 'z'}};
static const struct range r_ascii[] = {{0, 0x7F}};
static const struct range r_blank[] = {{'\t', '\t'}, {' ', ' '}};
static const struct range r_cntrl[] = {{0, 0x1F}, {0x7F, 0x7F}};
static const struct range r_graph[] = {{'!', '~'}};
static const struct range r_lower[] = {{'a', 'z'}};
static const struct range r_print[] = {{' ', '~'}};
static const struct range r_punct[] = {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}};
static const struct range r_space[] = {{'\t', '\r'}, {' ', ' '}};
static const struct range r_upper[] = {{'A', 'Z'}};
static const struct range r_xdigit[] = {{'0', '9'}, {'A', 'F'}, {'a', 'f'}};

#define GROUP(t) {t, sizeof t / sizeof t[0]}

static const struct {
	const char *name;
	struct group g;
} posix_groups[] = {
	{"alnum", GROUP(r_alnum)}, {"alpha", GROUP(r_alpha)}, {"ascii", GROUP(r_ascii)},
	{"blank", GROUP(r_blank)}, {"cntrl", GROUP(r_cntrl)}, {"digit", GROUP(r_digit)},
	{"graph", GROUP(r_graph)}, {"lower", GROUP(r_lower)}, {"print", GROUP(r_print)},
	{"punct", GROUP(r_punct)}, {"space", GROUP(r_space)}, {"upper", GROUP(r_upper)},
	{"word", GROUP(r_word)},   {"xdigit", GROUP(r_xdigit)},
};

/* \d \s \w and their negations */
static bool perl_group(char c, struct group *g, bool *neg)
{
	static const struct group d = GROUP(r_digit), s = GROUP(r_perl_space), w = GROUP(r_word);
	switch (c) {
	case 'd': case 'D': *g = d; break;
	case 's': case 'S': *g = s; break;
	case 'w': case 'W': *g = w; break;
	default: return false;
	}
	*neg = c >= 'A' && c <= 'Z';
	return true;
}

static bool posix_group(const char *name, size_t n, struct group *g, bool *neg)
{
	*neg = n > 0 && name[0] == '^';
	if (*neg) {
		name++;
		n--;
	}
	for (size_t i = 0; i < ARRAY_LEN(posix_groups); i++) {
		if (strlen(posix_groups[i].name) == n && memcmp(posix_groups[i].name, name, n) == 0) {
			*g = posix_groups[i].g;
			return true;
		}
	}
	return false;
}

static bool in_ranges(const struct range *r, size_t n, uint32_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x < r[mid].lo)
			hi = mid;
		else if (x > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* Does any rune of x's case-folding orbit fall in r? */
static bool orbit_in_ranges(const struct range *r, size_t n, uint32_t x)
{
	uint32_t f = x;
	do {
		if (in_ranges(r, n, f))
			return true;
		f = flt_simple_fold(f);
	} while (f != x);
	return false;
}

static bool cls_match(const struct cls *c, uint32_t x)
{
	bool hit;
	if (!c->fold) {
		hit = in_ranges(c->r, c->nr, x);
	} else {
		hit = orbit_in_ranges(c->r, c->nr, x);
		for (size_t j = 0; !hit && j < c->nneg; j++)
			hit = !orbit_in_ranges(c->neg[j].r, c->neg[j].n, x);
	}
	return hit != c->negate;
}

static void cls_add_range(struct cls *c, uint32_t lo, uint32_t hi)
{
	if (c->nr == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 8;
		c->r = xrealloc(c->r, c->cap * sizeof *c->r);
	}
	c->r[c->nr++] = (struct range){lo, hi};
}

static void cls_add_group(struct cls *c, struct group g, bool neg)
{
	if (!neg) {
		for (size_t i = 0; i < g.n; i++)
			cls_add_range(c, g.r[i].lo, g.r[i].hi);
	} else if (!c->fold) {
		uint32_t next = 0;
		for (size_t i = 0; i < g.n; i++) {
			if (g.r[i].lo > next)
				cls_add_range(c, next, g.r[i].lo - 1);
			next = g.r[i].hi + 1;
		}
		if (next <= FLT_MAX_RUNE)
			cls_add_range(c, next, FLT_MAX_RUNE);
	} else {
		c->neg = xrealloc(c->neg, (c->nneg + 1) * sizeof *c->neg);
		c->neg[c->nneg++] = g;
	}
}

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi > y->hi ? -1 : x->hi < y->hi;
}

/* Sorts and merges overlapping or abutting ranges (Go's cleanClass). */
static void cls_finish(struct cls *c)
{
	if (c->nr < 2)
		return;
	qsort(c->r, c->nr, sizeof *c->r, range_cmp);
	size_t w = 1;
	for (size_t i = 1; i < c->nr; i++) {
		if (c->r[i].lo <= c->r[w - 1].hi + 1) {
			if (c->r[i].hi > c->r[w - 1].hi)
				c->r[w - 1].hi = c->r[i].hi;
			continue;
		}
		c->r[w++] = c->r[i];
	}
	c->nr = w;
}

static void cls_free(struct cls *c)
{
	if (c == NULL)
		return;
	free(c->r);
	free(c->neg);
	free(c);
}

/* ---- parse tree ---- */

enum nk { NK_EMPTY, NK_LIT, NK_CLASS, NK_ANY, NK_ANYNOTNL, NK_ASSERT, NK_CAT, NK_ALT, NK_STAR, NK_PLUS, NK_QUEST, NK_REPEAT };

struct node {
	enum nk k;
	bool fold;       /* NK_LIT */
	uint32_t v;      /* NK_LIT rune, NK_CLASS index, NK_ASSERT kind */
	int min, max;    /* NK_REPEAT; max -1 = unbounded */
	int height;
	struct node **sub;
	size_t nsub;
};

struct nvec {
	struct node **v;
	size_t n, cap;
};

struct rp {
	const char *s;
	size_t len, i;
	int depth;
	char *err;
	struct flt_re *re;
};

static struct node *mk(enum nk k, uint32_t v)
{
	struct node *n = xcalloc(1, sizeof *n);
	n->k = k;
	n->v = v;
	n->height = 1;
	return n;
}

static void node_free(struct node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nsub; i++)
		node_free(n->sub[i]);
	free(n->sub);
	free(n);
}

static void nvec_push(struct nvec *a, struct node *n)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 4;
		a->v = xrealloc(a->v, a->cap * sizeof *a->v);
	}
	a->v[a->n++] = n;
}

static void nvec_free(struct nvec *a)
{
	for (size_t i = 0; i < a->n; i++)
		node_free(a->v[i]);
	free(a->v);
	*a = (struct nvec){0};
}

/* Records the first error, in Go's words: error parsing regexp: what: `expr`. */
static void fail(struct rp *p, const char *what, size_t from, size_t to)
{
	if (p->err != NULL)
		return;
	static const char pre[] = "error parsing regexp: ";
	size_t wl = strlen(what), n = to - from;
	char *m = xmalloc(sizeof pre - 1 + wl + 3 + n + 2);
	char *o = m;
	memcpy(o, pre, sizeof pre - 1), o += sizeof pre - 1;
	memcpy(o, what, wl), o += wl;
	memcpy(o, ": `", 3), o += 3;
	memcpy(o, p->s + from, n), o += n;
	memcpy(o, "`", 2);
	p->err = m;
}

static bool check_height(struct rp *p, const struct node *n)
{
	if (n->height <= FLT_RE_MAX_DEPTH)
		return true;
	fail(p, "expression nests too deeply", 0, p->len);
	return false;
}

/* An empty list is the empty match, one element is itself. */
static struct node *collapse(struct rp *p, struct nvec *a, enum nk k)
{
	struct node *n;
	if (a->n == 0) {
		n = mk(NK_EMPTY, 0);
	} else if (a->n == 1) {
		n = a->v[0];
		free(a->v);
	} else {
		n = mk(k, 0);
		n->sub = a->v;
		n->nsub = a->n;
		for (size_t i = 0; i < a->n; i++)
			if (a->v[i]->height + 1 > n->height)
				n->height = a->v[i]->height + 1;
	}
	*a = (struct nvec){0};
	if (!check_height(p, n)) {
		node_free(n);
		return NULL;
	}
	return n;
}

static struct node *lit(uint32_t r, int flags)
{
	struct node *n = mk(NK_LIT, r);
	n->fold = (flags & F_FOLD) && flt_simple_fold(r) != r;
	return n;
}

static struct node *class_node(struct rp *p, struct cls *c)
{
	cls_finish(c);
	struct flt_re *re = p->re;
	re->cls = xrealloc(re->cls, (re->ncls + 1) * sizeof *re->cls);
	re->cls[re->ncls] = c;
	return mk(NK_CLASS, (uint32_t)re->ncls++);
}

static struct cls *cls_new(int flags)
{
	struct cls *c = xcalloc(1, sizeof *c);
	c->fold = flags & F_FOLD;
	return c;
}

static bool decode(struct rp *p, size_t *at, uint32_t *r)
{
	size_t w;
	*r = flt_utf8_decode(p->s + *at, p->len - *at, &w);
	if (*r == FLT_RUNE_ERROR && w == 1) {
		fail(p, "invalid UTF-8", *at, p->len);
		return false;
	}
	*at += w;
	return true;
}

static int unhex(uint32_t c)
{
	if (c >= '0' && c <= '9')
		return (int)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (int)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (int)(c - 'A' + 10);
	return -1;
}

static bool is_alnum(uint32_t c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static bool is_octal(char c) { return c >= '0' && c <= '7'; }

/* A single-rune escape at s[*at] == '\\' (Go's parseEscape). */
static bool parse_escape(struct rp *p, size_t *at, uint32_t *out)
{
	size_t st = *at, t = st + 1;
	if (t >= p->len) {
		fail(p, "trailing backslash at end of expression", 0, 0);
		return false;
	}
	uint32_t c;
	if (!decode(p, &t, &c))
		return false;
	switch (c) {
	case '1': case '2': case '3': case '4': case '5': case '6': case '7':
		/* a lone non-zero digit would be a backreference: unsupported */
		if (t >= p->len || !is_octal(p->s[t]))
			break;
		/* fallthrough */
	case '0': {
		uint32_t r = c - '0';
		for (int k = 1; k < 3 && t < p->len && is_octal(p->s[t]); k++)
			r = r * 8 + (uint32_t)(p->s[t++] - '0');
		*out = r;
		*at = t;
		return true;
	}
	case 'x': {
		if (t >= p->len)
			break;
		if (!decode(p, &t, &c))
			return false;
		if (c == '{') {
			uint32_t r = 0;
			int nhex = 0;
			for (;;) {
				if (t >= p->len)
					goto invalid;
				if (!decode(p, &t, &c))
					return false;
				if (c == '}')
					break;
				int v = unhex(c);
				if (v < 0)
					goto invalid;
				r = r * 16 + (uint32_t)v;
				if (r > FLT_MAX_RUNE)
					goto invalid;
				nhex++;
			}
			if (nhex == 0)
				goto invalid;
			*out = r;
			*at = t;
			return true;
		}
		int x = unhex(c), y = -1;
		if (t < p->len) {
			if (!decode(p, &t, &c))
				return false;
			y = unhex(c);
		}
		if (x < 0 || y < 0)
			break;
		*out = (uint32_t)(x * 16 + y);
		*at = t;
		return true;
	}
	case 'a': *out = '\a'; *at = t; return true;
	case 'f': *out = '\f'; *at = t; return true;
	case 'n': *out = '\n'; *at = t; return true;
	case 'r': *out = '\r'; *at = t; return true;
	case 't': *out = '\t'; *at = t; return true;
	case 'v': *out = '\v'; *at = t; return true;
	default:
		/* escaped punctuation is itself; \q and friends are errors */
		if (c < 0x80 && !is_alnum(c)) {
			*out = c;
			*at = t;
			return true;
		}
	}
invalid:
	fail(p, "invalid escape sequence", st, t);
	return false;
}

/* \p{Greek}, \pL, \P...: Go supports them with its Unicode tables; we have no
 * such tables and say so rather than guess. */
static void unsupported_unicode(struct rp *p, size_t at)
{
	size_t end = at + 2;
	if (end < p->len && p->s[end] == '{') {
		const char *close = memchr(p->s + end, '}', p->len - end);
		end = close ? (size_t)(close - p->s) + 1 : p->len;
	} else if (end < p->len) {
		size_t w;
		flt_utf8_decode(p->s + end, p->len - end, &w);
		end += w;
	}
	fail(p, "unsupported Unicode character class", at, end);
}

/* One class member at s[*t]: a rune or an escape. */
static bool class_char(struct rp *p, size_t *t, size_t start, uint32_t *r)
{
	if (*t >= p->len) {
		fail(p, "missing closing ]", start, p->len);
		return false;
	}
	if (p->s[*t] == '\\')
		return parse_escape(p, t, r);
	return decode(p, t, r);
}

static struct node *parse_class(struct rp *p, int flags)
{
	const char *s = p->s;
	size_t start = p->i, t = start + 1;
	struct cls *c = cls_new(flags);
	if (t < p->len && s[t] == '^') {
		c->negate = true;
		t++;
	}
	bool first = true;   /* a ] right after [ or [^ is a member */
	while (t >= p->len || s[t] != ']' || first) {
		first = false;
		struct group g;
		bool neg;
		if (p->len - t > 2 && s[t] == '[' && s[t + 1] == ':') {
			const char *e = memmem(s + t + 2, p->len - t - 2, ":]", 2);
			if (e != NULL) {
				size_t end = (size_t)(e - s) + 2;
				if (!posix_group(s + t + 2, end - t - 4, &g, &neg)) {
					fail(p, "invalid character class range", t, end);
					goto fail;
				}
				cls_add_group(c, g, neg);
				t = end;
				continue;
			}
		}
		if (p->len - t >= 2 && s[t] == '\\' && (s[t + 1] == 'p' || s[t + 1] == 'P')) {
			unsupported_unicode(p, t);
			goto fail;
		}
		if (p->len - t >= 2 && s[t] == '\\' && perl_group(s[t + 1], &g, &neg)) {
			cls_add_group(c, g, neg);
			t += 2;
			continue;
		}
		size_t rng = t;
		uint32_t lo, hi;
		if (!class_char(p, &t, start, &lo))
			goto fail;
		hi = lo;
		if (p->len - t >= 2 && s[t] == '-' && s[t + 1] != ']') {   /* [a-] is a and - */
			t++;
			if (!class_char(p, &t, start, &hi))
				goto fail;
			if (hi < lo) {
				fail(p, "invalid character class range", rng, t);
				goto fail;
			}
		}
		cls_add_range(c, lo, hi);
	}
	p->i = t + 1;
	return class_node(p, c);
fail:
	cls_free(c);
	return NULL;
}

/* Go's repeatIsValid: no more than n copies of the innermost thing, counting
 * the product of nested counted repetitions. */
static bool repeat_valid(const struct node *n, int max)
{
	if (n->k == NK_REPEAT) {
		int m = n->max;
		if (m == 0)
			return true;
		if (m < 0)
			m = n->min;
		if (m > max)
			return false;
		if (m > 0)
			max /= m;
	}
	for (size_t i = 0; i < n->nsub; i++)
		if (!repeat_valid(n->sub[i], max))
			return false;
	return true;
}

/* Applies a repetition operator (p->i just past it) to the last item. */
static bool apply_repeat(struct rp *p, struct nvec *items, enum nk k, int min, int max, size_t before,
			 size_t last_repeat)
{
	size_t after = p->i;
	if (after < p->len && p->s[after] == '?')   /* non-greedy: no difference for a yes/no match */
		after++;
	if (last_repeat != NONE) {
		fail(p, "invalid nested repetition operator", last_repeat, after);
		return false;
	}
	if (items->n == 0) {
		fail(p, "missing argument to repetition operator", before, after);
		return false;
	}
	struct node *sub = items->v[items->n - 1];
	struct node *r = mk(k, 0);
	r->min = min;
	r->max = max;
	r->sub = xmalloc(sizeof *r->sub);
	r->sub[0] = sub;
	r->nsub = 1;
	r->height = sub->height + 1;
	items->v[items->n - 1] = r;
	if (!check_height(p, r))
		return false;
	if (k == NK_REPEAT && (min >= 2 || max >= 2) && !repeat_valid(r, FLT_RE_MAX_REPEAT)) {
		fail(p, "invalid repeat count", before, after);
		return false;
	}
	p->i = after;
	return true;
}

/* Decimal without leading zeros; -1 when too big (Go's parseInt). */
static bool parse_int(struct rp *p, size_t *t, int *out)
{
	const char *s = p->s;
	size_t k = *t;
	if (k >= p->len || s[k] < '0' || s[k] > '9')
		return false;
	if (k + 1 < p->len && s[k] == '0' && s[k + 1] >= '0' && s[k + 1] <= '9')
		return false;
	int n = 0;
	for (; k < p->len && s[k] >= '0' && s[k] <= '9'; k++) {
		if (n >= 100000000)
			n = -1;
		if (n >= 0)
			n = n * 10 + (s[k] - '0');
	}
	*t = k;
	*out = n;
	return true;
}

/* {n}, {n,} or {n,m} at s[p->i]; false when it is not one (then { is a literal). */
static bool parse_repeat_spec(struct rp *p, int *min, int *max, size_t *after)
{
	size_t k = p->i + 1;
	if (!parse_int(p, &k, min) || k >= p->len)
		return false;
	if (p->s[k] != ',') {
		*max = *min;
	} else {
		k++;
		if (k >= p->len)
			return false;
		if (p->s[k] == '}') {
			*max = -1;
		} else {
			if (!parse_int(p, &k, max))
				return false;
			if (*max < 0)
				*min = -1;
		}
	}
	if (k >= p->len || p->s[k] != '}')
		return false;
	*after = k + 1;
	return true;
}

enum { PF_FLAGS, PF_GROUP, PF_CAPTURE };

static bool valid_utf8(struct rp *p, size_t from, size_t to)
{
	while (from < to) {
		size_t w;
		if (flt_utf8_decode(p->s + from, to - from, &w) == FLT_RUNE_ERROR && w == 1) {
			fail(p, "invalid UTF-8", from, to);
			return false;
		}
		from += w;
	}
	return true;
}

/* s[p->i] is "(?": named capture, flag change or non-capturing group. */
static int parse_perl_flags(struct rp *p, int *flags, int *group_flags)
{
	const char *t = p->s + p->i;
	size_t start = p->i, tl = p->len - p->i;
	bool with_p = tl > 4 && t[2] == 'P' && t[3] == '<';
	if (with_p || (tl > 3 && t[2] == '<')) {
		size_t name_at = with_p ? 4 : 3;
		const char *gt = memchr(t, '>', tl);
		if (gt == NULL) {
			if (valid_utf8(p, start, p->len))
				fail(p, "invalid named capture", start, p->len);
			return -1;
		}
		size_t end = (size_t)(gt - t);
		if (!valid_utf8(p, start + name_at, start + end))
			return -1;
		bool ok = end > name_at;
		for (size_t k = name_at; k < end; k++)
			if (t[k] != '_' && !is_alnum((unsigned char)t[k]))
				ok = false;
		if (!ok) {
			fail(p, "invalid named capture", start, start + end + 1);
			return -1;
		}
		p->i = start + end + 1;
		*group_flags = *flags;
		return PF_CAPTURE;
	}
	size_t k = start + 2;
	int f = *flags, sign = 1;
	bool saw = false;
	while (k < p->len) {
		uint32_t c;
		if (!decode(p, &k, &c))
			return -1;
		switch (c) {
		case 'i':
			f = sign > 0 ? f | F_FOLD : f & ~F_FOLD;
			saw = true;
			continue;
		case 'm':   /* multi-line: ^ and $ match at line ends too */
			f = sign > 0 ? f & ~F_ONELINE : f | F_ONELINE;
			saw = true;
			continue;
		case 's':
			f = sign > 0 ? f | F_DOTNL : f & ~F_DOTNL;
			saw = true;
			continue;
		case 'U':   /* ungreedy: no difference for a yes/no match */
			saw = true;
			continue;
		case '-':
			if (sign < 0)
				break;
			sign = -1;
			saw = false;
			continue;
		case ':':
		case ')':
			if (sign < 0 && !saw)
				break;
			p->i = k;
			if (c == ':') {
				*group_flags = f;
				return PF_GROUP;
			}
			*flags = f;
			return PF_FLAGS;
		}
		break;
	}
	fail(p, "invalid or unsupported Perl syntax", start, k);
	return -1;
}

static struct node *parse_alt(struct rp *p, int *flags, bool in_group);

/* The body of a group, p->i just past its opening; consumes the ')'. */
static struct node *parse_group(struct rp *p, int flags)
{
	if (++p->depth > FLT_RE_MAX_DEPTH) {
		fail(p, "expression nests too deeply", 0, p->len);
		return NULL;
	}
	struct node *n = parse_alt(p, &flags, true);
	p->depth--;
	if (n != NULL)
		p->i++;
	return n;
}

static struct node *parse_concat(struct rp *p, int *flags)
{
	struct nvec items = {0};
	size_t last_repeat = NONE;   /* where the previous token began, if it was a repetition */
	while (p->i < p->len) {
		char c = p->s[p->i];
		if (c == '|' || c == ')')
			break;
		size_t repeat = NONE;
		struct node *n = NULL;
		switch (c) {
		case '(':
			if (p->i + 1 < p->len && p->s[p->i + 1] == '?') {
				int gf;
				int r = parse_perl_flags(p, flags, &gf);
				if (r < 0)
					goto fail;
				if (r == PF_FLAGS)
					break;
				n = parse_group(p, gf);
			} else {
				p->i++;
				n = parse_group(p, *flags);
			}
			if (n == NULL)
				goto fail;
			break;
		case '^':
			n = mk(NK_ASSERT, (*flags & F_ONELINE) ? A_BOT : A_BOL);
			p->i++;
			break;
		case '$':
			n = mk(NK_ASSERT, (*flags & F_ONELINE) ? A_EOT : A_EOL);
			p->i++;
			break;
		case '.':
			n = mk((*flags & F_DOTNL) ? NK_ANY : NK_ANYNOTNL, 0);
			p->i++;
			break;
		case '[':
			if ((n = parse_class(p, *flags)) == NULL)
				goto fail;
			break;
		case '*':
		case '+':
		case '?': {
			size_t before = p->i++;
			enum nk k = c == '*' ? NK_STAR : c == '+' ? NK_PLUS : NK_QUEST;
			if (!apply_repeat(p, &items, k, 0, 0, before, last_repeat))
				goto fail;
			repeat = before;
			break;
		}
		case '{': {
			size_t before = p->i, after;
			int min, max;
			if (!parse_repeat_spec(p, &min, &max, &after)) {
				n = lit('{', *flags);
				p->i++;
				break;
			}
			if (min < 0 || min > FLT_RE_MAX_REPEAT || max > FLT_RE_MAX_REPEAT || (max >= 0 && min > max)) {
				fail(p, "invalid repeat count", before, after);
				goto fail;
			}
			p->i = after;
			if (!apply_repeat(p, &items, NK_REPEAT, min, max, before, last_repeat))
				goto fail;
			repeat = before;
			break;
		}
		case '\\': {
			size_t st = p->i;
			char e = st + 1 < p->len ? p->s[st + 1] : 0;
			struct group g;
			bool neg;
			if (e == 'A' || e == 'z' || e == 'b' || e == 'B') {
				n = mk(NK_ASSERT, e == 'A' ? A_BOT : e == 'z' ? A_EOT : e == 'b' ? A_WORDB : A_NWORDB);
				p->i += 2;
			} else if (e == 'C') {   /* any byte: not supported by Go either */
				fail(p, "invalid escape sequence", st, st + 2);
				goto fail;
			} else if (e == 'Q') {   /* \Q...\E: literal text */
				size_t from = st + 2;
				const char *end = memmem(p->s + from, p->len - from, "\\E", 2);
				size_t to = end ? (size_t)(end - p->s) : p->len;
				p->i = end ? to + 2 : p->len;
				while (from < to) {
					size_t w;
					uint32_t r = flt_utf8_decode(p->s + from, to - from, &w);
					if (r == FLT_RUNE_ERROR && w == 1) {
						fail(p, "invalid UTF-8", from, to);
						goto fail;
					}
					nvec_push(&items, lit(r, *flags));
					from += w;
				}
			} else if (e == 'p' || e == 'P') {
				unsupported_unicode(p, st);
				goto fail;
			} else if (perl_group(e, &g, &neg)) {
				struct cls *cl = cls_new(*flags);
				cls_add_group(cl, g, neg);
				n = class_node(p, cl);
				p->i += 2;
			} else {
				uint32_t r;
				if (!parse_escape(p, &p->i, &r))
					goto fail;
				n = lit(r, *flags);
			}
			break;
		}
		default: {
			uint32_t r;
			if (!decode(p, &p->i, &r))
				goto fail;
			n = lit(r, *flags);
		}
		}
		if (n != NULL)
			nvec_push(&items, n);
		last_repeat = repeat;
	}
	return collapse(p, &items, NK_CAT);
fail:
	nvec_free(&items);
	return NULL;
}

static struct node *parse_alt(struct rp *p, int *flags, bool in_group)
{
	struct nvec alts = {0};
	for (;;) {
		struct node *c = parse_concat(p, flags);
		if (c == NULL)
			goto fail;
		nvec_push(&alts, c);
		if (p->i >= p->len) {
			if (in_group) {
				fail(p, "missing closing )", 0, p->len);
				goto fail;
			}
			break;
		}
		if (p->s[p->i] == '|') {
			p->i++;
			continue;
		}
		if (!in_group) {   /* a ')' with no '(' */
			fail(p, "unexpected )", 0, p->len);
			goto fail;
		}
		break;
	}
	return collapse(p, &alts, NK_ALT);
fail:
	nvec_free(&alts);
	return NULL;
}

/* ---- compiler ---- */

struct cc {
	struct flt_re *re;
	bool too_large;
};

static size_t emit(struct cc *c, enum iop op, uint32_t x, uint32_t y)
{
	struct flt_re *re = c->re;
	if (c->too_large || re->n >= FLT_RE_MAX_INSTS) {
		c->too_large = true;
		return NONE;
	}
	if (re->n == re->cap) {
		re->cap = re->cap ? 2 * re->cap : 16;
		re->prog = xrealloc(re->prog, re->cap * sizeof *re->prog);
	}
	re->prog[re->n] = (struct inst){.op = (uint8_t)op, .x = x, .y = y};
	return re->n++;
}

static uint32_t here(struct cc *c) { return (uint32_t)c->re->n; }

static void patch_x(struct cc *c, size_t at, uint32_t to)
{
	if (at != NONE)
		c->re->prog[at].x = to;
}

static void patch_y(struct cc *c, size_t at, uint32_t to)
{
	if (at != NONE)
		c->re->prog[at].y = to;
}

static void comp(struct cc *c, const struct node *n);

static void comp_star(struct cc *c, const struct node *sub)
{
	uint32_t loop = here(c);
	size_t sp = emit(c, I_SPLIT, loop + 1, 0);
	comp(c, sub);
	emit(c, I_JMP, loop, 0);
	patch_y(c, sp, here(c));
}

static void comp_plus(struct cc *c, const struct node *sub)
{
	uint32_t loop = here(c);
	comp(c, sub);
	emit(c, I_SPLIT, loop, here(c) + 1);
}

static void comp(struct cc *c, const struct node *n)
{
	if (c->too_large)
		return;
	switch (n->k) {
	case NK_EMPTY:
		return;
	case NK_LIT:
		emit(c, n->fold ? I_RUNEFOLD : I_RUNE, n->v, 0);
		return;
	case NK_CLASS:
		emit(c, I_CLASS, n->v, 0);
		return;
	case NK_ANY:
		emit(c, I_ANY, 0, 0);
		return;
	case NK_ANYNOTNL:
		emit(c, I_ANYNOTNL, 0, 0);
		return;
	case NK_ASSERT:
		emit(c, I_ASSERT, n->v, 0);
		return;
	case NK_CAT:
		for (size_t i = 0; i < n->nsub; i++)
			comp(c, n->sub[i]);
		return;
	case NK_ALT: {
		size_t *jumps = xmalloc(n->nsub * sizeof *jumps);
		for (size_t i = 0; i + 1 < n->nsub; i++) {
			size_t sp = emit(c, I_SPLIT, here(c) + 1, 0);
			comp(c, n->sub[i]);
			jumps[i] = emit(c, I_JMP, 0, 0);
			patch_y(c, sp, here(c));
		}
		comp(c, n->sub[n->nsub - 1]);
		for (size_t i = 0; i + 1 < n->nsub; i++)
			patch_x(c, jumps[i], here(c));
		free(jumps);
		return;
	}
	case NK_STAR:
		comp_star(c, n->sub[0]);
		return;
	case NK_PLUS:
		comp_plus(c, n->sub[0]);
		return;
	case NK_QUEST: {
		size_t sp = emit(c, I_SPLIT, here(c) + 1, 0);
		comp(c, n->sub[0]);
		patch_y(c, sp, here(c));
		return;
	}
	case NK_REPEAT: {
		const struct node *sub = n->sub[0];
		if (n->max < 0) {   /* x{n,} = n-1 copies then x+ (x* for n = 0) */
			if (n->min == 0) {
				comp_star(c, sub);
				return;
			}
			for (int i = 0; i < n->min - 1 && !c->too_large; i++)
				comp(c, sub);
			comp_plus(c, sub);
			return;
		}
		for (int i = 0; i < n->min && !c->too_large; i++)
			comp(c, sub);
		/* x{n,m}: the optional copies each skip to the end */
		size_t opt = (size_t)(n->max - n->min);
		size_t *splits = xmalloc((opt ? opt : 1) * sizeof *splits);
		for (size_t i = 0; i < opt; i++) {
			splits[i] = emit(c, I_SPLIT, here(c) + 1, 0);
			comp(c, sub);
		}
		for (size_t i = 0; i < opt; i++)
			patch_y(c, splits[i], here(c));
		free(splits);
		return;
	}
	}
}

void flt_re_free(struct flt_re *re)
{
	if (re == NULL)
		return;
	for (size_t i = 0; i < re->ncls; i++)
		cls_free(re->cls[i]);
	free(re->cls);
	free(re->prog);
	free(re);
}

struct flt_re *flt_re_compile(const char *pat, size_t len, char **msg)
{
	struct flt_re *re = xcalloc(1, sizeof *re);
	struct rp p = {.s = pat, .len = len, .re = re};
	int flags = F_ONELINE;   /* Go's regexp.Compile uses syntax.Perl: ^ $ at text ends */
	struct node *root = parse_alt(&p, &flags, false);
	if (root == NULL) {
		*msg = p.err;
		flt_re_free(re);
		return NULL;
	}
	struct cc c = {.re = re};
	comp(&c, root);
	emit(&c, I_MATCH, 0, 0);
	node_free(root);
	if (c.too_large) {
		fail(&p, "expression too large", 0, len);
		*msg = p.err;
		flt_re_free(re);
		return NULL;
	}
	return re;
}

/* ---- matcher ---- */

struct sset {
	uint32_t *dense, *sparse;
	size_t n;
};

static bool ss_has(const struct sset *s, uint32_t pc)
{
	uint32_t i = s->sparse[pc];
	return i < s->n && s->dense[i] == pc;
}

static void ss_add(struct sset *s, uint32_t pc)
{
	s->sparse[pc] = (uint32_t)s->n;
	s->dense[s->n++] = pc;
}

static bool is_word(int64_t r) { return r >= 0 && r < 0x80 && (is_alnum((uint32_t)r) || r == '_'); }

/* Which assertions hold between runes prev and next (-1: text edge). */
static unsigned context(int64_t prev, int64_t next)
{
	unsigned ctx = 0;
	if (prev < 0)
		ctx |= 1u << A_BOT | 1u << A_BOL;
	if (prev == '\n')
		ctx |= 1u << A_BOL;
	if (next < 0)
		ctx |= 1u << A_EOT | 1u << A_EOL;
	if (next == '\n')
		ctx |= 1u << A_EOL;
	ctx |= is_word(prev) != is_word(next) ? 1u << A_WORDB : 1u << A_NWORDB;
	return ctx;
}

/* Adds pc and everything reachable from it without consuming input; true
 * when that reaches the match instruction. */
static bool add(const struct flt_re *re, struct sset *s, uint32_t *stack, uint32_t pc0, unsigned ctx)
{
	size_t sp = 0;
	stack[sp++] = pc0;
	while (sp > 0) {
		uint32_t pc = stack[--sp];
		if (ss_has(s, pc))
			continue;
		ss_add(s, pc);
		const struct inst *in = &re->prog[pc];
		switch (in->op) {
		case I_MATCH:
			return true;
		case I_JMP:
			stack[sp++] = in->x;
			break;
		case I_SPLIT:
			stack[sp++] = in->y;
			stack[sp++] = in->x;
			break;
		case I_ASSERT:
			if (ctx & (1u << in->x))
				stack[sp++] = pc + 1;
			break;
		default:
			break;
		}
	}
	return false;
}

static bool step_ok(const struct flt_re *re, const struct inst *in, uint32_t r)
{
	switch (in->op) {
	case I_RUNE:
		return r == in->x;
	case I_RUNEFOLD: {
		uint32_t f = r;
		do {
			if (f == in->x)
				return true;
			f = flt_simple_fold(f);
		} while (f != r);
		return false;
	}
	case I_CLASS:
		return cls_match(re->cls[in->x], r);
	case I_ANY:
		return true;
	case I_ANYNOTNL:
		return r != '\n';
	}
	return false;
}

bool flt_re_match(const struct flt_re *re, const char *text, size_t len)
{
	size_t n = re->n;
	/* two sparse sets and a closure stack (each pc pushes at most two) */
	uint32_t local[6 * 32 + 1];
	uint32_t *mem = n <= 32 ? local : xmalloc((6 * n + 1) * sizeof *mem);
	struct sset cur = {mem, mem + n, 0}, nxt = {mem + 2 * n, mem + 3 * n, 0};
	uint32_t *stack = mem + 4 * n;
	/* the sparse arrays may hold anything: membership is checked both ways,
	 * but they are cleared anyway so that no uninitialized value is read */
	memset(mem, 0, 4 * n * sizeof *mem);

	bool matched = false;
	size_t pos = 0, w = 0;
	int64_t prev = -1, next = -1;
	if (len > 0)
		next = flt_utf8_decode(text, len, &w);
	for (;;) {
		if (add(re, &cur, stack, 0, context(prev, next))) {
			matched = true;
			break;
		}
		if (pos >= len)
			break;
		uint32_t r = (uint32_t)next;
		size_t npos = pos + w, nw = 0;
		int64_t nnext = npos < len ? (int64_t)flt_utf8_decode(text + npos, len - npos, &nw) : -1;
		unsigned nctx = context(r, nnext);
		nxt.n = 0;
		for (size_t i = 0; i < cur.n && !matched; i++) {
			uint32_t pc = cur.dense[i];
			if (step_ok(re, &re->prog[pc], r) && add(re, &nxt, stack, pc + 1, nctx))
				matched = true;
		}
		if (matched)
			break;
		struct sset t = cur;
		cur = nxt;
		nxt = t;
		pos = npos;
		w = nw;
		prev = r;
		next = nnext;
	}
	if (mem != local)
		free(mem);
	return matched;
}
