/*
 * json.c - JSON output of the perfuse command (list --json, stat --json).
 *
 * Strings come from filesystems and may hold any byte but NUL, so they
 * are escaped with care: '"' and '\\', every control character (as \b,
 * \f, \n, \r, \t or \u00XX), DEL as \u007f, and U+2028 and U+2029 (legal
 * JSON, not legal JavaScript).  JSON text must be UTF-8: a byte that does
 * not belong to a well-formed UTF-8 sequence (overlong forms, surrogates
 * and code points past U+10FFFF included) becomes U+FFFD, the replacement
 * character, written \ufffd.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/*
 * The length of the well-formed UTF-8 sequence at s (its first byte at
 * least 0x80), or 0 when there is none.  *cp gets the code point.
 */
static size_t utf8_seq(const unsigned char *s, unsigned long *cp)
{
	unsigned long v, min;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		v = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		v = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		v = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	for (i = 1; i < len; i++) {
		/* A NUL ends the string: it is no continuation byte either. */
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

void json_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	putc('"', f);
	while (*s) {
		unsigned long cp;
		size_t len;

		if (*s == '"' || *s == '\\') {
			putc('\\', f);
			putc(*s++, f);
			continue;
		}
		if (*s < 0x20 || *s == 0x7f) {
			switch (*s) {
			case '\b': fputs("\\b", f); break;
			case '\f': fputs("\\f", f); break;
			case '\n': fputs("\\n", f); break;
			case '\r': fputs("\\r", f); break;
			case '\t': fputs("\\t", f); break;
			default: fprintf(f, "\\u%04x", *s); break;
			}
			s++;
			continue;
		}
		if (*s < 0x80) {
			putc(*s++, f);
			continue;
		}
		len = utf8_seq(s, &cp);
		if (len == 0) {
			fputs("\\ufffd", f);
			s++;
		} else if (cp == 0x2028 || cp == 0x2029) {
			fprintf(f, "\\u%04lx", cp);
			s += len;
		} else {
			fwrite(s, 1, len, f);
			s += len;
		}
	}
	putc('"', f);
}

void json_key(FILE *f, int *first, const char *key)
{
	if (!*first)
		fputs(", ", f);
	*first = 0;
	json_string(f, key);
	fputs(": ", f);
}
