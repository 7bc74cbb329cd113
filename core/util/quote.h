/* Go's %q: how containerd quotes names in its error messages, so ours read
 * the same ("container \"x\" in namespace \"default\": not found"). */
#pragma once

/* Returns a malloc'd, double-quoted copy of s with Go's escapes; valid UTF-8
 * passes through, stray bytes become \xNN. */
char *go_quote(const char *s);
